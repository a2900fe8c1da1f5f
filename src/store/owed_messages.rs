//! The messages a list is owed after a reschedule or a cancellation: marked
//! in the change's transaction ([`owe_change`]), claimed one person at a
//! time by a sender, cleared once sent and recorded. At least once: a sender
//! that dies after its claim leaves the person to the next one after
//! [`CLAIM_LEASE`].

use chrono::{DateTime, Duration, Utc};

use super::attendance::MessageKind;
use super::tx::{Tx, on_tx};
use super::{Store, StoreResult, on_pool};
use crate::domain::ids::{EventId, IdentityId};
use crate::domain::time::now;

/// How long a claim holds before another sender may take the person over.
pub const CLAIM_LEASE: Duration = Duration::minutes(5);

/// One person owed a message: who, how to reach them, what and with which
/// link base.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwedMessage {
    pub reference: String,
    pub identity_id: Option<IdentityId>,
    pub phone_sealed: Option<String>,
    /// `reschedule` or `cancel`.
    pub owed_message: String,
    pub owed_link_base: Option<String>,
}

impl OwedMessage {
    pub fn kind(&self) -> MessageKind {
        if self.owed_message == "cancel" {
            MessageKind::Cancel
        } else {
            MessageKind::Reschedule
        }
    }
}

/// A claim on one person's message, to clear once it is sent.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    at: DateTime<Utc>,
}

/// Mark, in the change's transaction `tx`, who on `event_id`'s list is owed
/// `kind`: after a reschedule those notified already (the notice again, with
/// the new time and a new link under `link_base`), after a cancellation
/// everyone who signed up, was chosen or invited and did not withdraw. A
/// later change replaces an earlier debt and any claim on it.
pub(crate) async fn owe_change(
    tx: &mut Tx<'_>,
    event_id: EventId,
    kind: MessageKind,
    link_base: &str,
) -> StoreResult<()> {
    const RESCHEDULED: &str =
        "UPDATE participants SET owed_message = 'reschedule', owed_link_base = $2, owed_claimed_at = NULL
         WHERE event_id = $1 AND status = 'chosen' AND kind <> 'walk_in' AND notified_at IS NOT NULL";
    const CANCELLED: &str =
        "UPDATE participants SET owed_message = 'cancel', owed_link_base = $2, owed_claimed_at = NULL
         WHERE event_id = $1 AND status <> 'withdrawn' AND kind <> 'walk_in'";
    let sql = match kind {
        MessageKind::Cancel => CANCELLED,
        MessageKind::Reschedule | MessageKind::Notice => RESCHEDULED,
    };
    on_tx!(tx, c => sqlx::query(sql).bind(event_id).bind(link_base).execute(c).await.map(|_| ()))?;
    Ok(())
}

impl Store {
    /// The people of `event_id` owed a message that no live claim holds, in
    /// list order.
    pub async fn owed_messages(&self, event_id: EventId) -> StoreResult<Vec<OwedMessage>> {
        const SQL: &str = "SELECT reference, identity_id, phone_sealed, owed_message, owed_link_base FROM participants
             WHERE event_id = $1 AND owed_message IS NOT NULL AND (owed_claimed_at IS NULL OR owed_claimed_at < $2)
             ORDER BY id";
        let stale = now() - CLAIM_LEASE;
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).bind(stale).fetch_all(p).await)?)
    }

    /// The events with messages owed that no live claim holds.
    pub async fn events_owed_messages(&self) -> StoreResult<Vec<EventId>> {
        const SQL: &str = "SELECT DISTINCT event_id FROM participants
             WHERE owed_message IS NOT NULL AND (owed_claimed_at IS NULL OR owed_claimed_at < $1) ORDER BY event_id";
        let stale = now() - CLAIM_LEASE;
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(stale).fetch_all(p).await)?)
    }

    /// Claim `owed` for this sender: `None` when another sender holds it or
    /// it was paid or replaced meanwhile.
    pub async fn claim_owed(&self, owed: &OwedMessage) -> StoreResult<Option<Claim>> {
        const SQL: &str = "UPDATE participants SET owed_claimed_at = $1
             WHERE reference = $2 AND owed_message = $3 AND (owed_claimed_at IS NULL OR owed_claimed_at < $4)";
        let at = now();
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(at).bind(&owed.reference).bind(&owed.owed_message)
            .bind(at - CLAIM_LEASE).execute(p).await.map(|r| r.rows_affected()))?;
        Ok((done == 1).then_some(Claim { at }))
    }

    /// The message of `owed` was sent (or tried) and recorded: clear the
    /// debt, unless a later change replaced it meanwhile.
    pub async fn settle_owed(&self, owed: &OwedMessage, claim: Claim) -> StoreResult<()> {
        const SQL: &str = "UPDATE participants SET owed_message = NULL, owed_link_base = NULL, owed_claimed_at = NULL
             WHERE reference = $1 AND owed_message = $2 AND owed_claimed_at = $3";
        on_pool!(self, write p => sqlx::query(SQL).bind(&owed.reference).bind(&owed.owed_message).bind(claim.at)
            .execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
