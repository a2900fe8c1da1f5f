//! Retention of viewers' personal data (个人信息保护法): a set time after an
//! event ended, what links its posts, votes and opinions to a person is
//! removed — addresses, verified identities, the asker's link for a notice —
//! while the questions, answers, opinions and replies stay, anonymous.
//! And a viewer's own request to be forgotten.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::{EventId, IdentityId};
use crate::domain::question::ViewerKey;
use crate::domain::time::now;
use crate::store::tx::on_tx;

/// What one run removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    pub events: Vec<EventId>,
    /// Rows whose client address was removed (posts, upvotes, votes, bans, codes).
    pub addresses: u64,
    /// Posts and opinions whose link to a verified identity was removed.
    pub identity_links: u64,
    /// Verified identities removed (no event within retention uses them).
    pub identities: u64,
}

impl Store {
    /// Remove the personal data of every event that ended before `before`
    /// and was not swept yet; then the identities nothing refers to any more.
    pub async fn sweep_personal_data(&self, before: DateTime<Utc>) -> StoreResult<Removed> {
        const DUE: &str = "SELECT id FROM events WHERE ended_at IS NOT NULL AND ended_at < $1
             AND personal_data_removed_at IS NULL ORDER BY id";
        let due: Vec<EventId> = on_pool!(self, read p => sqlx::query_scalar(DUE).bind(before).fetch_all(p).await)?;
        let mut removed = Removed::default();
        for event in due {
            let (addresses, links) = self.sweep_event(event).await?;
            removed.addresses += addresses;
            removed.identity_links += links;
            removed.events.push(event);
        }
        removed.identities = self.drop_unused_identities(before).await?;
        Ok(removed)
    }

    async fn sweep_event(&self, event: EventId) -> StoreResult<(u64, u64)> {
        const ADDRESSES: [&str; 4] = [
            "UPDATE questions SET ip = NULL WHERE event_id = $1 AND ip IS NOT NULL",
            "UPDATE upvotes SET ip = NULL WHERE ip IS NOT NULL AND question_id IN (SELECT id FROM questions WHERE event_id = $1)",
            "UPDATE poll_votes SET ip = NULL WHERE ip IS NOT NULL AND poll_id IN (SELECT id FROM polls WHERE event_id = $1)",
            "UPDATE bans SET ip = NULL WHERE event_id = $1 AND ip IS NOT NULL AND NOT permanent",
        ];
        const LINKS: [&str; 4] = [
            "UPDATE participants SET identity_id = NULL, name = '（已清理）', street = NULL, reason = NULL,
               phone_sealed = NULL, phone_masked = '—', notice_token = NULL
             WHERE event_id = $1 AND name <> '（已清理）'",
            "UPDATE questions SET identity_id = NULL WHERE event_id = $1 AND identity_id IS NOT NULL",
            "UPDATE opinions SET identity_id = NULL, notify = FALSE, viewer_key = NULL
             WHERE event_id = $1 AND (identity_id IS NOT NULL OR viewer_key IS NOT NULL)",
            "UPDATE opinion_notices SET phone_masked = '—'
             WHERE opinion_id IN (SELECT id FROM opinions WHERE event_id = $1) AND phone_masked <> '—'",
        ];
        const DONE: &str = "UPDATE events SET personal_data_removed_at = $1 WHERE id = $2";
        let mut tx = self.begin().await?;
        let mut addresses = 0;
        for sql in ADDRESSES {
            addresses +=
                on_tx!(&mut tx, c => sqlx::query(sql).bind(event).execute(c).await.map(|r| r.rows_affected()))?;
        }
        let mut links = 0;
        for sql in LINKS {
            links += on_tx!(&mut tx, c => sqlx::query(sql).bind(event).execute(c).await.map(|r| r.rows_affected()))?;
        }
        on_tx!(&mut tx, c => sqlx::query(DONE).bind(now()).bind(event).execute(c).await.map(|_| ()))?;
        tx.commit().await?;
        Ok((addresses, links))
    }

    /// Identities verified before `before` that no post, opinion or
    /// unexpired verification refers to.
    async fn drop_unused_identities(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM identities WHERE verified_at < $1
             AND NOT EXISTS (SELECT 1 FROM questions q WHERE q.identity_id = identities.id)
             AND NOT EXISTS (SELECT 1 FROM opinions o WHERE o.identity_id = identities.id)
             AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.identity_id = identities.id)
             AND NOT EXISTS (SELECT 1 FROM verifications v WHERE v.identity_id = identities.id AND v.expires_at > $2)";
        Ok(
            on_pool!(self, write p => sqlx::query(SQL).bind(before).bind(now()).execute(p).await
            .map(|r| r.rows_affected()))?,
        )
    }

    /// A viewer's request to be forgotten: the addresses of what their key
    /// posted, upvoted and voted are removed, and their verified identity
    /// (if any) with every link to it. Published posts stay, anonymous.
    pub async fn forget_viewer(&self, key: &ViewerKey, identity: Option<IdentityId>) -> StoreResult<Removed> {
        const ADDRESSES: [&str; 3] = [
            "UPDATE questions SET ip = NULL WHERE viewer_key = $1 AND ip IS NOT NULL",
            "UPDATE upvotes SET ip = NULL WHERE viewer_key = $1 AND ip IS NOT NULL",
            "UPDATE poll_votes SET ip = NULL WHERE viewer_key = $1 AND ip IS NOT NULL",
        ];
        const UNLINK: [&str; 3] = [
            "UPDATE questions SET identity_id = NULL WHERE identity_id = $1",
            "UPDATE participants SET identity_id = NULL WHERE identity_id = $1",
            "UPDATE opinions SET identity_id = NULL, notify = FALSE WHERE identity_id = $1",
        ];
        const OPINIONS: &str = "UPDATE opinions SET viewer_key = NULL WHERE viewer_key = $1";
        const IDENTITY: &str = "DELETE FROM identities WHERE id = $1";
        let mut removed = Removed::default();
        let mut tx = self.begin().await?;
        for sql in ADDRESSES {
            removed.addresses +=
                on_tx!(&mut tx, c => sqlx::query(sql).bind(&key.0).execute(c).await.map(|r| r.rows_affected()))?;
        }
        removed.identity_links +=
            on_tx!(&mut tx, c => sqlx::query(OPINIONS).bind(&key.0).execute(c).await.map(|r| r.rows_affected()))?;
        if let Some(identity) = identity {
            for sql in UNLINK {
                removed.identity_links +=
                    on_tx!(&mut tx, c => sqlx::query(sql).bind(identity).execute(c).await.map(|r| r.rows_affected()))?;
            }
            removed.identities +=
                on_tx!(&mut tx, c => sqlx::query(IDENTITY).bind(identity).execute(c).await.map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        Ok(removed)
    }
}
