//! Telling the people on an in-person event's list: the notice (time, place,
//! what to bring, a link to their own page), the notice again with the new
//! time after a reschedule, the cancellation. Every attempt is recorded in
//! the participant messages.
//!
//! A reschedule or cancellation marks who is owed a message in its own
//! transaction (`store::owed_messages`); [`pay_owed`] claims each person,
//! sends, records and clears the debt. It runs right after the change, at
//! the next notice round, and from [`sweep_owed`] every minute on every
//! node, so a crash between the commit and the sending delays the messages
//! but does not lose them.

use std::time::Duration;

use super::AppState;
use super::error::ApiResult;
use crate::domain::identity::{PhoneNumber, VerificationToken};
use crate::domain::ids::IdentityId;
use crate::domain::time::to_local_string;
use crate::identity::sms::{AttendanceNotice, Sms};
use crate::store::attendance::MessageKind;
use crate::store::events::Event;

/// Who to tell: their reference, and their number (verified identity or sealed).
pub type Recipient = (String, Option<IdentityId>, Option<String>);

/// How often every node looks for messages a list is still owed.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How a page link is made for the people on the list.
fn notice_link(base: &str, token: &VerificationToken) -> String {
    // In the fragment: the token never reaches a server's log.
    format!("{base}/notice.html#{}", token.expose())
}

/// What every message about one event says: when, where, what to bring.
struct Letter {
    when: String,
    place: String,
    bring: String,
}

impl Letter {
    async fn of(state: &AppState, event: &Event) -> ApiResult<Self> {
        let bring = state
            .store
            .attendance_settings(event.id)
            .await?
            .bring
            .unwrap_or_default();
        Ok(Self {
            when: event.about.starts_at.map(to_local_string).unwrap_or_default(),
            place: event.about.venue.clone().unwrap_or_else(|| "见活动公告".into()),
            bring: if bring.is_empty() {
                "请携带身份证件，".to_owned()
            } else {
                format!("{bring}，")
            },
        })
    }
}

/// The number a person on the list is reached at, if any.
async fn phone_of(
    state: &AppState,
    identity: Option<IdentityId>,
    sealed: Option<String>,
) -> ApiResult<Option<PhoneNumber>> {
    let sealed = match (sealed, identity) {
        (Some(s), _) => Some(s),
        (None, Some(identity)) => state.store.sealed_phone(identity).await?,
        (None, None) => None,
    };
    Ok(sealed.as_deref().and_then(|s| state.verifier.keys().unseal(s)))
}

/// Send `kind` to one person and record the result: a notice (or the notice
/// of the new time) comes with a new page link under `base`, a cancellation
/// with none. Whether the sender took it.
async fn send_one(
    state: &AppState,
    event: &Event,
    letter: &Letter,
    base: &str,
    (reference, identity, sealed): Recipient,
    kind: MessageKind,
) -> ApiResult<bool> {
    let token = (kind != MessageKind::Cancel).then(VerificationToken::generate);
    let link = token.as_ref().map(|t| notice_link(base, t)).unwrap_or_default();
    let result = match phone_of(state, identity, sealed).await? {
        Some(phone) => {
            let sms = match kind {
                MessageKind::Cancel => Sms::attendance_cancelled(&phone, &event.about.title),
                MessageKind::Notice | MessageKind::Reschedule => {
                    let notice = AttendanceNotice {
                        title: &event.about.title,
                        when: &letter.when,
                        place: &letter.place,
                        bring: &letter.bring,
                        link: &link,
                    };
                    Sms::attendance(&phone, &notice, kind == MessageKind::Reschedule)
                }
            };
            state.verifier.sender().send(&sms).await
        }
        None => Err("no mobile number on the list".to_owned()),
    };
    let delivered = result.is_ok();
    if let Some(token) = &token {
        state
            .store
            .record_participant_notice(&reference, &token.digest(), delivered)
            .await?;
    }
    state
        .store
        .record_message(&reference, kind, delivered, result.err().as_deref())
        .await?;
    Ok(delivered)
}

/// Send the notice to each of `people`: (sent, failed).
pub async fn send_notices(
    state: &AppState,
    event: &Event,
    base: &str,
    people: Vec<Recipient>,
) -> ApiResult<(usize, usize)> {
    let letter = Letter::of(state, event).await?;
    let (mut sent, mut failed) = (0, 0);
    for person in people {
        if send_one(state, event, &letter, base, person, MessageKind::Notice).await? {
            sent += 1;
        } else {
            failed += 1;
        }
    }
    Ok((sent, failed))
}

/// Send what `event`'s list is owed after a reschedule or a cancellation,
/// each person claimed first (another sender may be on it) and cleared once
/// the attempt is recorded: (sent, failed).
pub async fn pay_owed(state: &AppState, event: &Event) -> ApiResult<(usize, usize)> {
    let owed = state.store.owed_messages(event.id).await?;
    if owed.is_empty() {
        return Ok((0, 0));
    }
    let letter = Letter::of(state, event).await?;
    let (mut sent, mut failed) = (0, 0);
    for person in owed {
        let Some(claim) = state.store.claim_owed(&person).await? else {
            continue;
        };
        let base = person.owed_link_base.clone().unwrap_or_default();
        let recipient = (
            person.reference.clone(),
            person.identity_id,
            person.phone_sealed.clone(),
        );
        let delivered = send_one(state, event, &letter, &base, recipient, person.kind()).await?;
        state.store.settle_owed(&person, claim).await?;
        if delivered {
            sent += 1;
        } else {
            failed += 1;
        }
    }
    Ok((sent, failed))
}

/// Pay what every event's list is still owed (a sender died, or another
/// node's claim ran out).
pub async fn sweep_owed(state: &AppState) -> ApiResult<()> {
    for event_id in state.store.events_owed_messages().await? {
        let event = state.store.event(event_id).await?;
        let (sent, failed) = pay_owed(state, &event).await?;
        if sent + failed > 0 {
            tracing::info!(
                event_id = event_id.0,
                sent,
                failed,
                "owed list messages sent by the sweep"
            );
        }
    }
    Ok(())
}
