//! Sockets per address. For viewers: one client address may hold only so many
//! (`--viewer-sockets-per-address`), so one machine cannot open a thousand
//! sockets and show a thousand viewers. Counted per node, every room
//! together; a slot is taken before the WebSocket upgrade and given back when
//! the connection ends (the guard's drop, on every path).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The open sockets of each address on this node. Used twice: for viewer
/// sockets per client address (here, the hub) and for TCP connections per
/// peer address (`crate::server`).
#[derive(Default)]
pub struct Addresses {
    // A std mutex: held for a map update only, never across an await.
    open: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Default)]
struct Entry {
    open: u32,
    /// A refusal was reported since the address last had nothing open.
    refusal_noted: bool,
}

/// One socket of an address; dropping it gives the slot back.
pub struct AddressSlot {
    addresses: Arc<Addresses>,
    ip: IpAddr,
}

impl Addresses {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one more socket of `ip`, or `None` when it holds `max`
    /// already (`max` 0: no cap).
    pub fn claim(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<AddressSlot> {
        self.claim_noting(ip, max).ok()
    }

    /// [`Self::claim`], and when refused whether this is the first refusal
    /// since `ip` last had nothing open (to log once per episode).
    pub fn claim_noting(self: &Arc<Self>, ip: IpAddr, max: u32) -> Result<AddressSlot, bool> {
        let mut open = self.open();
        let entry = open.entry(ip).or_default();
        if max > 0 && entry.open >= max {
            return Err(!std::mem::replace(&mut entry.refusal_noted, true));
        }
        entry.open += 1;
        Ok(AddressSlot {
            addresses: self.clone(),
            ip,
        })
    }

    /// Sockets `ip` holds now.
    pub fn count(&self, ip: IpAddr) -> u32 {
        self.open().get(&ip).map_or(0, |e| e.open)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.addresses.open();
        if let Some(entry) = open.get_mut(&self.ip) {
            entry.open -= 1;
            if entry.open == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_address_and_given_back_on_drop() {
        let a = Arc::new(Addresses::default());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        let first = a.claim(ip, 2).unwrap();
        let _second = a.claim(ip, 2).unwrap();
        assert!(a.claim(ip, 2).is_none(), "the third socket of one address");
        assert!(a.claim(other, 2).is_some(), "another address is not affected");
        drop(first);
        assert_eq!(a.count(ip), 1);
        assert!(a.claim(ip, 2).is_some());
        assert!(a.claim(ip, 0).is_some(), "0: no cap");
        assert!(
            a.open().get(&other).is_none(),
            "no entry left for an address with no socket"
        );
    }
}
