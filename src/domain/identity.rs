//! Verified posting (后台实名、前台自愿): a room's identity mode, the mainland
//! mobile number a viewer proves, the one-time code that proves it, and the
//! server's keys that keep the number out of the database.
//!
//! What is stored about a verified viewer: a keyed hash of the number
//! (HMAC-SHA256 with the server's identity secret: the same number always
//! gives the same hash, so one person is one identity, and the database alone
//! does not give the number back), the number masked (`138****5678`) and the
//! number sealed (ChaCha20-Poly1305 with a key from the same secret) for the
//! unit's follow-up call (回访). The public only ever sees the nickname.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::masking::digit;
use super::names::names;
use super::question::ViewerKey;
use super::values::Invalid;

names! {
    /// Who may take part in a room. Watching never needs anything.
    #[derive(Hash, Default, ToSchema)]
    pub enum IdentityMode {
        /// Asking, commenting, upvoting, voting and reporting need a verified
        /// mainland mobile number (the default).
        #[default]
        Verified = "verified" / "手机号验证后互动",
        /// Anyone may take part with the browser's viewer token (a unit may
        /// choose it, e.g. for a lecture with a known audience).
        Open = "open" / "免验证互动",
    }
}

/// A mainland mobile number: 11 digits, `1[3-9]…`, as the viewer may type
/// it (`+86 138-1234-5678`, full-width digits, spaces) normalized.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("phone", "enter a mainland mobile number of 11 digits, like 13812345678");
        let trimmed = s.trim();
        let (plus, rest) = match trimmed.strip_prefix(['+', '＋']) {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(13);
        for c in rest.chars() {
            match digit(c) {
                Some(d) => digits.push(char::from(b'0' + d)),
                None if matches!(c, ' ' | '-' | '\u{3000}' | '－' | '(' | ')') => {}
                None => return Err(bad()),
            }
            if digits.len() > 15 {
                return Err(bad());
            }
        }
        let national = match (plus, digits.len()) {
            (true, 13) => digits.strip_prefix("86"),
            (false, 15) => digits.strip_prefix("0086"),
            (false, 13) => digits.strip_prefix("86"),
            (false, 11) => Some(digits.as_str()),
            _ => None,
        }
        .ok_or_else(bad)?;
        let b = national.as_bytes();
        if b.len() != 11 || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(bad());
        }
        Ok(Self(national.to_owned()))
    }

    /// `138****5678`: what staff and the viewer themself see.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The 11 digits: only for the sender and the unit's follow-up call.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// A 6-digit one-time code.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// Minutes a code stays valid.
    pub const MINUTES: i64 = 5;
    /// Tries a code allows (right or wrong) before it is spent.
    pub const TRIES: i64 = 5;

    /// A uniformly random code (rejection sampling: no digit is likelier).
    pub fn generate() -> Self {
        loop {
            let n = u32::from_le_bytes(super::random::bytes());
            // The largest multiple of 10^6 below 2^32: above it, draw again.
            if n < 4_294_000_000 {
                return Self(format!("{:06}", n % 1_000_000));
            }
        }
    }

    /// Six digits as typed (spaces and full-width digits allowed).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut code = String::with_capacity(6);
        for c in s.chars() {
            match digit(c) {
                Some(d) if code.len() < 6 => code.push(char::from(b'0' + d)),
                None if c.is_whitespace() => {}
                _ => return Err(Invalid::new("code", "the code is the 6 digits of the text message")),
            }
        }
        if code.len() != 6 {
            return Err(Invalid::new("code", "the code is the 6 digits of the text message"));
        }
        Ok(Self(code))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(<redacted>)")
    }
}

/// What a browser keeps once its viewer is verified (64 lowercase hex
/// characters); the store keeps only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationToken(String);

impl VerificationToken {
    pub fn generate() -> Self {
        Self(super::random::hex_token::<32>())
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps: a leaked table does not sign anyone in.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for VerificationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationToken(<redacted>)")
    }
}

/// The keyed hash of a number: one person's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneHash(pub String);

impl PhoneHash {
    /// The identity's public handle, in place of a viewer token's: the same
    /// for every browser and tab of the person, so upvotes, votes, limits and
    /// bans hold per person.
    pub fn viewer_key(&self) -> ViewerKey {
        let digest = Sha256::digest(format!("minsheng viewer {}", self.0).as_bytes());
        ViewerKey(hex(&digest[..8]))
    }
}

/// The server's identity secret, turned into the keys it is used for.
/// Every node of a cluster needs the same secret.
#[derive(Clone)]
pub struct IdentityKeys {
    hash: [u8; 32],
    seal: [u8; 32],
}

/// The shortest secret accepted (characters).
pub const MIN_SECRET_CHARS: usize = 32;

impl IdentityKeys {
    pub fn from_secret(secret: &str) -> Result<Self, Invalid> {
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(Invalid::new(
                "identity_secret",
                format!("the identity secret needs at least {MIN_SECRET_CHARS} characters"),
            ));
        }
        Ok(Self {
            hash: hmac(secret.as_bytes(), b"minsheng phone hash v1"),
            seal: hmac(secret.as_bytes(), b"minsheng phone seal v1"),
        })
    }

    /// A new random secret (64 hex characters).
    pub fn generate_secret() -> String {
        super::random::hex_token::<32>()
    }

    pub fn phone_hash(&self, phone: &PhoneNumber) -> PhoneHash {
        PhoneHash(hex(&hmac(&self.hash, phone.0.as_bytes())))
    }

    /// What the store keeps of a code sent to `phone`.
    pub fn code_hash(&self, phone: &PhoneHash, code: &OneTimeCode) -> String {
        hex(&hmac(&self.hash, format!("code {} {}", phone.0, code.0).as_bytes()))
    }

    /// The number encrypted (random nonce, then ciphertext and tag; hex).
    pub fn seal(&self, phone: &PhoneNumber) -> String {
        self.seal_bytes(phone.0.as_bytes())
    }

    /// The number back from [`IdentityKeys::seal`]; `None` when it was sealed
    /// with another secret or altered.
    pub fn unseal(&self, sealed: &str) -> Option<PhoneNumber> {
        let plain = self.unseal_bytes(sealed)?;
        PhoneNumber::parse(std::str::from_utf8(&plain).ok()?).ok()
    }

    /// Any small secret encrypted with the server's key (a staff member's
    /// second-factor secret too): random nonce, ciphertext and tag, in hex.
    pub fn seal_bytes(&self, plain: &[u8]) -> String {
        let nonce: [u8; 12] = super::random::bytes();
        let cipher = ChaCha20Poly1305::new((&self.seal).into());
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("sealing a short secret cannot fail");
        let mut out = hex(&nonce);
        out.push_str(&hex(&sealed));
        out
    }

    /// What [`IdentityKeys::seal_bytes`] sealed; `None` for another key or an alteration.
    pub fn unseal_bytes(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = unhex(sealed)?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let cipher = ChaCha20Poly1305::new((&self.seal).into());
        cipher.decrypt(Nonce::from_slice(nonce), body).ok()
    }
}

impl std::fmt::Debug for IdentityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKeys(<redacted>)")
    }
}

/// Whether two strings are equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_taken_as_people_type_them() {
        for typed in [
            "13812345678",
            " 138 1234 5678 ",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "008613812345678",
            "8613812345678",
            "１３８１２３４５６７８",
        ] {
            assert_eq!(PhoneNumber::parse(typed).unwrap().expose(), "13812345678", "{typed}");
        }
        for bad in [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "23812345678",
            "010-12345678",
            "1381234567a",
            "+1 13812345678",
            "1381234５678 x",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
        let phone = PhoneNumber::parse("13812345678").unwrap();
        assert_eq!(phone.masked(), "138****5678");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(138****5678)");
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = OneTimeCode::generate();
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(OneTimeCode::parse(" 012 345 ").unwrap().expose(), "012345");
        assert_eq!(OneTimeCode::parse("０１２３４５").unwrap().expose(), "012345");
        for bad in ["12345", "1234567", "12345a", ""] {
            assert!(OneTimeCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", OneTimeCode::generate()), "OneTimeCode(<redacted>)");
    }

    #[test]
    fn the_hash_is_keyed_and_the_seal_opens_only_with_its_secret() {
        let keys = IdentityKeys::from_secret(&IdentityKeys::generate_secret()).unwrap();
        let other = IdentityKeys::from_secret(&IdentityKeys::generate_secret()).unwrap();
        let phone = PhoneNumber::parse("13812345678").unwrap();
        assert_eq!(keys.phone_hash(&phone), keys.phone_hash(&phone));
        assert_ne!(keys.phone_hash(&phone), other.phone_hash(&phone));
        assert!(!keys.phone_hash(&phone).0.contains("13812345678"));
        let sealed = keys.seal(&phone);
        assert_ne!(sealed, keys.seal(&phone), "a fresh nonce each time");
        assert!(!sealed.contains("13812345678"));
        assert_eq!(keys.unseal(&sealed), Some(phone.clone()));
        assert_eq!(other.unseal(&sealed), None);
        let mut altered = sealed.clone();
        altered.replace_range(30..31, if &sealed[30..31] == "0" { "1" } else { "0" });
        assert_eq!(keys.unseal(&altered), None);
        assert_eq!(keys.unseal("zz"), None);
        assert!(IdentityKeys::from_secret("too short").is_err());
        let hash = keys.phone_hash(&phone);
        assert_eq!(hash.viewer_key(), hash.viewer_key());
        assert!(ViewerKey::parse(&hash.viewer_key().0).is_some());
        let code = OneTimeCode::parse("123456").unwrap();
        assert!(same(&keys.code_hash(&hash, &code), &keys.code_hash(&hash, &code)));
        assert!(!same(
            &keys.code_hash(&hash, &code),
            &keys.code_hash(&hash, &OneTimeCode::parse("123457").unwrap())
        ));
    }

    #[test]
    fn verification_tokens_are_kept_as_digests() {
        let token = VerificationToken::generate();
        assert_eq!(VerificationToken::parse(token.expose()), Some(token.clone()));
        assert_eq!(token.digest().len(), 64);
        assert_ne!(token.digest(), token.expose());
        assert!(VerificationToken::parse("abc").is_none());
    }
}
