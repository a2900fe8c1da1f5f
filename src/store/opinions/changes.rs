//! Writing opinions: capture from the live room, offline entries, the
//! unit's changes (each conditional on `updated_at`), and the asker's rating.

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::{Actor, NewOpinion, Opinion, OpinionAuthor, OpinionFields, SideRecord};
use crate::domain::ids::{EventId, OpinionId, StaffId, UnitId};
use crate::domain::opinion::Rating;
use crate::domain::question::ViewerKey;
use crate::domain::time::now;
use crate::store::tx::{AuditLine, Tx, on_tx};
use crate::store::{Store, StoreError, StoreResult};

type At = chrono::DateTime<Utc>;

fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the opinion changed meanwhile; reload it and try again".into())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Store {
    /// Record what citizens said in an event's live room as opinions for
    /// `unit_id`: approved questions and comments and screened open-text poll
    /// answers that are not recorded yet (rejected and hidden ones stay out;
    /// the audit log keeps them). Approved questions without an on-air answer
    /// become hand-off tasks; answered ones start as 已解答 with the answer.
    /// Idempotent; returns how many were added.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn capture_opinions(
        &self,
        event_id: EventId,
        unit_id: UnitId,
        due_date: Option<NaiveDate>,
    ) -> StoreResult<u64> {
        const POSTS: &str = "INSERT INTO opinions (event_id, unit_id, source, source_ref, text, nickname, viewer_key,
               identity_id, notify, state, reply, handoff, support, received_at, due_date, created_at, updated_at)
             SELECT q.event_id, $2, q.kind, 'q:' || q.id, q.text, q.nickname, q.viewer_key,
               q.identity_id, q.notify AND q.identity_id IS NOT NULL,
               CASE WHEN q.kind = 'question' AND q.answered THEN 'answered' ELSE 'pending' END,
               CASE WHEN q.kind = 'question' AND q.answered THEN q.answer END,
               q.kind = 'question' AND NOT q.answered,
               q.upvotes + 1, q.created_at, $3, $4, $4
             FROM questions q WHERE q.event_id = $1 AND q.status = 'approved'
             ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING";
        const ANSWERS: &str = "INSERT INTO opinions (event_id, unit_id, source, source_ref, text, nickname, viewer_key,
               state, handoff, support, received_at, due_date, created_at, updated_at)
             SELECT p.event_id, $2, 'poll_answer', 'p:' || v.poll_id || ':' || v.viewer_key, v.text, '网友',
               v.viewer_key, 'pending', FALSE, 1, v.updated_at, $3, $4, $4
             FROM poll_votes v JOIN polls p ON p.id = v.poll_id
             WHERE p.event_id = $1 AND v.text IS NOT NULL AND v.text_status = 'approved'
             ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING";
        let at = now();
        let mut tx = self.begin().await?;
        let mut added = 0;
        for sql in [POSTS, ANSWERS] {
            added += on_tx!(&mut tx, c => sqlx::query(sql).bind(event_id).bind(unit_id).bind(due_date).bind(at)
                .execute(c).await.map(|r| r.rows_affected()))?;
        }
        if added > 0 {
            let after = serde_json::json!({ "added": added }).to_string();
            let line = AuditLine::by(("system", "capture"), event_id, "opinion.capture").change(None, Some(after));
            tx.audit(line, at).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// An opinion typed in: by staff (an offline open day's paper form, a
    /// letter, what a representative said in person), or written by a person
    /// on the list from their notice page.
    #[tracing::instrument(skip(self, new), fields(event_id = new.event_id.0), err(level = "debug"))]
    pub async fn create_opinion(&self, new: &NewOpinion<'_>) -> StoreResult<Opinion> {
        const SQL: &str =
            "INSERT INTO opinions (event_id, unit_id, source, text, nickname, topic, state, handoff, support,
               received_at, due_date, created_by, created_at, updated_at, via, speaker_group, participant_id)
             VALUES ($1, $2, 'offline', $3, $4, $5, 'pending', FALSE, 1, $6, $7, $8, $9, $9, $10, $11,
               (SELECT id FROM participants WHERE reference = $12)) RETURNING id";
        let at = now();
        let (staff, participant) = match new.author {
            OpinionAuthor::Staff(id) => (Some(id), None),
            OpinionAuthor::Participant(reference) => (None, Some(reference)),
        };
        let mut tx = self.begin().await?;
        let id: OpinionId = on_tx!(&mut tx, c => sqlx::query_scalar(SQL)
            .bind(new.event_id)
            .bind(new.unit_id)
            .bind(new.text)
            .bind(new.nickname)
            .bind(new.topic)
            .bind(new.received_at)
            .bind(new.due_date)
            .bind(staff)
            .bind(at)
            .bind(new.via)
            .bind(new.speaker_group)
            .bind(participant)
            .fetch_one(c)
            .await)?;
        let after = serde_json::json!({
            "text": new.text, "nickname": new.nickname, "topic": new.topic,
            "via": new.via, "speaker_group": new.speaker_group,
        })
        .to_string();
        // A participant is a citizen: audited as a viewer, named by their reference.
        let participant_actor = participant.map(|r| format!("participant:{r}")).unwrap_or_default();
        let line = match new.author {
            OpinionAuthor::Staff(by) => AuditLine::staff(by, new.event_id, "opinion.create"),
            OpinionAuthor::Participant(_) => {
                AuditLine::by(("viewer", &participant_actor), new.event_id, "opinion.create")
            }
        };
        tx.audit(line.on(id).change(None, Some(after)), at).await?;
        tx.commit().await?;
        self.opinion(id).await
    }

    /// Apply `changes` (each an opinion as read and its new fields) in one
    /// transaction with an audit entry each; refused as a whole if any of them
    /// changed since it was read. Returns the opinions as they are now.
    #[tracing::instrument(skip(self, changes, side), fields(n = changes.len()), err(level = "debug"))]
    pub async fn change_opinions(
        &self,
        changes: &[(Opinion, OpinionFields)],
        action: &str,
        actor: Actor<'_>,
        side: SideRecord<'_>,
    ) -> StoreResult<Vec<Opinion>> {
        let at = now();
        let (kind, who) = actor.parts();
        let mut tx = self.begin().await?;
        for (before, after) in changes {
            update_opinion(&mut tx, before, after, at).await?;
            let line = AuditLine::by((kind, &who), before.event_id, action)
                .on(before.id)
                .change(Some(json(&before.fields())), Some(json(after)));
            tx.audit(line, at).await?;
        }
        write_side_record(&mut tx, changes, side, who.parse::<i64>().ok().map(StaffId), at).await?;
        tx.commit().await?;
        let mut now_ = Vec::with_capacity(changes.len());
        for (before, _) in changes {
            now_.push(self.opinion(before.id).await?);
        }
        Ok(now_)
    }

    /// The asker rates a published reply, once.
    #[tracing::instrument(skip(self, viewer), err(level = "debug"))]
    pub async fn rate_opinion(&self, opinion: &Opinion, viewer: &ViewerKey, rating: Rating) -> StoreResult<Opinion> {
        const SQL: &str = "UPDATE opinions SET rating = $1, rated_at = $2
             WHERE id = $3 AND viewer_key = $4 AND published_at IS NOT NULL AND rating IS NULL";
        let at = now();
        let mut tx = self.begin().await?;
        let done = on_tx!(&mut tx, c => sqlx::query(SQL).bind(rating.as_str()).bind(at).bind(opinion.id).bind(&viewer.0)
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done != 1 {
            return Err(StoreError::Conflict("this reply was rated already".into()));
        }
        let after = serde_json::json!({ "rating": rating }).to_string();
        let line = AuditLine::by(("viewer", &viewer.0), opinion.event_id, "opinion.rate")
            .on(opinion.id)
            .change(None, Some(after));
        tx.audit(line, at).await?;
        tx.commit().await?;
        self.opinion(opinion.id).await
    }
}

/// Write `after` over the opinion, if it is still as `before` was read.
async fn update_opinion(tx: &mut Tx<'_>, before: &Opinion, after: &OpinionFields, at: At) -> StoreResult<()> {
    const UPDATE: &str = "UPDATE opinions SET unit_id = $1, topic = $2, state = $3, reason = $4, reply = $5,
           support = $6, merged_into = $7, due_date = $8, replied_by = $9, published_at = $10, updated_at = $11
         WHERE id = $12 AND updated_at = $13";
    let done = on_tx!(tx, c => sqlx::query(UPDATE)
        .bind(after.unit_id)
        .bind(&after.topic)
        .bind(after.state.as_str())
        .bind(&after.reason)
        .bind(&after.reply)
        .bind(after.support)
        .bind(after.merged_into)
        .bind(after.due_date)
        .bind(after.replied_by)
        .bind(after.published_at)
        .bind(at)
        .bind(before.id)
        .bind(before.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if done != 1 {
        return Err(changed_meanwhile());
    }
    Ok(())
}

/// The record written beside a change: a transfer, or the decision on an
/// extension request (refused if it was decided meanwhile). `by`: the staff member.
async fn write_side_record(
    tx: &mut Tx<'_>,
    changes: &[(Opinion, OpinionFields)],
    side: SideRecord<'_>,
    by: Option<StaffId>,
    at: At,
) -> StoreResult<()> {
    const TRANSFER: &str = "INSERT INTO opinion_transfers (opinion_id, from_unit, to_unit, reason, by_user, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)";
    const DECIDE: &str = "UPDATE opinion_extensions SET decision = $1, decision_note = $2, decided_by = $3,
           decided_at = $4 WHERE id = $5 AND decision = 'pending'";
    match side {
        SideRecord::None => {}
        SideRecord::Transfer {
            from_unit,
            to_unit,
            reason,
        } => {
            let (opinion, _) = changes
                .first()
                .ok_or_else(|| StoreError::Conflict("nothing to transfer".into()))?;
            on_tx!(tx, c => sqlx::query(TRANSFER).bind(opinion.id).bind(from_unit).bind(to_unit).bind(reason)
                .bind(by).bind(at).execute(c).await.map(|_| ()))?;
        }
        SideRecord::ExtensionDecided { id, decision, note } => {
            let done = on_tx!(tx, c => sqlx::query(DECIDE).bind(decision.as_str()).bind(note).bind(by).bind(at)
                .bind(id).execute(c).await.map(|r| r.rows_affected()))?;
            if done != 1 {
                return Err(StoreError::Conflict(
                    "the extension request was decided meanwhile".into(),
                ));
            }
        }
    }
    Ok(())
}
