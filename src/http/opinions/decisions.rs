//! Deciding on opinions: the adoption state, the reply and its publication,
//! bulk changes, merging duplicates and transfers to another unit.

use chrono::{DateTime, Utc};

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::AppState;
use super::super::auth::CurrentStaff;
use super::super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::super::lookup;
use super::{OpinionDetail, OpinionView, detail, own_opinion, view};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::OpinionId;
use crate::domain::opinion::{self, AdoptionState, Decision};
use crate::domain::time::now;
use crate::domain::values::{Code, Invalid};
use crate::store::opinions::{Actor, Opinion, OpinionFields, SideRecord};

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub state: Option<AdoptionState>,
    /// Why not adopted (required for `not_adopted`); `""` clears it.
    pub reason: Option<String>,
    /// The reply to the public; `""` clears it.
    pub reply: Option<String>,
    /// `""` clears it.
    pub topic: Option<String>,
    /// The `updated_at` you read; the change is refused if it changed since.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The fields after applying `body` to `o`, checked.
fn decided(o: &Opinion, body: &DecisionBody) -> ApiResult<OpinionFields> {
    let mut f = o.fields();
    let state = body.state.unwrap_or(f.state);
    let reason = body.reason.as_deref().or(f.reason.as_deref());
    let reply = body.reply.as_deref().or(f.reply.as_deref());
    let d = Decision::parse(state, reason, reply)?;
    if f.published_at.is_some() {
        d.publishable()?;
    }
    (f.state, f.reason, f.reply) = (d.state, d.reason, d.reply);
    if let Some(t) = body.topic.as_deref() {
        f.topic = if t.trim().is_empty() {
            None
        } else {
            Some(opinion::topic(t)?)
        };
    }
    Ok(f)
}

fn fresh(o: &Opinion, seen: Option<DateTime<Utc>>) -> ApiResult<()> {
    match seen {
        Some(at) if at != o.updated_at => Err(ApiError::conflict(
            ErrorCode::Conflict,
            "the opinion was changed by someone else; reload it and try again",
        )),
        _ => Ok(()),
    }
}

/// Decide the adoption state, write the reply, set the topic. A published
/// reply stays published with the new text (the audit log keeps the old).
#[utoipa::path(patch, path = "/api/opinions/{id}", tag = "opinions", params(("id" = i64, Path)), request_body = DecisionBody,
    responses((status = 200, body = OpinionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Json(body): Json<DecisionBody>,
) -> ApiResult<Json<OpinionView>> {
    let o = own_opinion(&state, &staff.0, id).await?;
    fresh(&o, body.updated_at)?;
    if o.merged_into.is_some() {
        return Err(merged_error(&o));
    }
    let after = decided(&o, &body)?;
    one(
        &state,
        o,
        after,
        "opinion.decide",
        Actor::Staff(staff.0.id),
        SideRecord::None,
    )
    .await
}

fn merged_error(o: &Opinion) -> ApiError {
    ApiError::conflict(
        ErrorCode::Merged,
        format!(
            "opinion {} is merged into {}: work on that one",
            o.id,
            o.merged_into.map_or(0, |m| m.0)
        ),
    )
}

async fn one(
    state: &AppState,
    before: Opinion,
    after: OpinionFields,
    action: &str,
    actor: Actor<'_>,
    side: SideRecord<'_>,
) -> ApiResult<Json<OpinionView>> {
    let mut changed = state
        .store
        .change_opinions(&[(before, after)], action, actor, side)
        .await?;
    let opinion = changed
        .pop()
        .ok_or_else(|| ApiError::internal("change_opinions", &"returned nothing"))?;
    Ok(Json(view(opinion)))
}

/// Publish the reply (答复): it shows on the event's public page with its
/// adoption state, and the reply deadline is met (or late) as of now.
#[utoipa::path(post, path = "/api/opinions/{id}/publish", tag = "opinions", params(("id" = i64, Path)),
    responses((status = 200, body = OpinionView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<OpinionView>> {
    let o = own_opinion(&state, &staff.0, id).await?;
    if o.merged_into.is_some() {
        return Err(merged_error(&o));
    }
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyPublished,
            "the reply is published already",
        ));
    }
    Decision::parse(o.state, o.reason.as_deref(), o.reply.as_deref())?.publishable()?;
    let mut after = o.fields();
    after.published_at = Some(now());
    after.replied_by = Some(staff.0.id);
    let published = one(
        &state,
        o,
        after,
        "opinion.publish",
        Actor::Staff(staff.0.id),
        SideRecord::None,
    )
    .await?;
    tell_askers(&state, &published.0.opinion, &headers).await?;
    Ok(published)
}

/// The askers of a published reply (its own and those of the opinions
/// merged into it) are told by text message, in the background: the
/// gateway's retries never hold up the unit. Each attempt is recorded.
async fn tell_askers(state: &AppState, opinion: &Opinion, headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let mut ids: Vec<OpinionId> = state
        .store
        .merged_opinions(opinion.id)
        .await?
        .iter()
        .filter(|m| m.notify)
        .map(|m| m.id)
        .collect();
    if opinion.notify {
        ids.push(opinion.id);
    }
    if ids.is_empty() {
        return Ok(());
    }
    let link = super::super::share::event_url(&public_base(state, headers), opinion.event_id);
    let (verifier, title) = (state.verifier.clone(), opinion.event_title.clone());
    tokio::spawn(async move {
        for id in ids {
            if let Err(e) = verifier.tell_asker(id, &title, &link).await {
                tracing::warn!(opinion = id.0, error = %e, "telling the asker could not be recorded");
            }
        }
    });
    Ok(())
}

/// Where the public reaches this site: the first `--public-origins`, else
/// the request's own host.
pub(crate) fn public_base(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(origin) = state.settings.public_origins.first() {
        return origin.clone();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("127.0.0.1:8080");
    let scheme = if state.settings.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub ids: Vec<OpinionId>,
    pub state: Option<AdoptionState>,
    pub reason: Option<String>,
    pub topic: Option<String>,
}

/// Change the state, reason or topic of many opinions at once (all or none).
#[utoipa::path(post, path = "/api/opinions/bulk", tag = "opinions", request_body = BulkBody,
    responses((status = 200, body = Vec<OpinionView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn bulk(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Json(body): Json<BulkBody>,
) -> ApiResult<Json<Vec<OpinionView>>> {
    if body.ids.is_empty() || body.ids.len() > 500 {
        return Err(Invalid::new("ids", "give 1 to 500 opinion ids").into());
    }
    if body.state.is_none() && body.topic.is_none() && body.reason.is_none() {
        return Err(Invalid::new("state", "say what to change: state, reason or topic").into());
    }
    let mut ids = body.ids.clone();
    ids.sort_unstable();
    ids.dedup();
    let patch = DecisionBody {
        state: body.state,
        reason: body.reason.clone(),
        reply: None,
        topic: body.topic.clone(),
        updated_at: None,
    };
    let mut changes = Vec::with_capacity(ids.len());
    for id in ids {
        let o = own_opinion(&state, &staff.0, id).await?;
        if o.merged_into.is_some() {
            return Err(merged_error(&o));
        }
        let after = decided(&o, &patch)?;
        changes.push((o, after));
    }
    let changed = state
        .store
        .change_opinions(&changes, "opinion.bulk", Actor::Staff(staff.0.id), SideRecord::None)
        .await?;
    Ok(Json(changed.into_iter().map(view).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// Opinions to merge into this one (duplicates of it).
    pub ids: Vec<OpinionId>,
}

/// Merge duplicates into this opinion: it keeps their sources (listed under
/// `merged`) and adds up their support; they leave the review list.
#[utoipa::path(post, path = "/api/opinions/{id}/merge", tag = "opinions", params(("id" = i64, Path)), request_body = MergeBody,
    responses((status = 200, body = OpinionDetail), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn merge(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Json(body): Json<MergeBody>,
) -> ApiResult<Json<OpinionDetail>> {
    let primary = own_opinion(&state, &staff.0, id).await?;
    if primary.merged_into.is_some() {
        return Err(merged_error(&primary));
    }
    let mut ids = body.ids.clone();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > 100 || ids.contains(&id) {
        return Err(Invalid::new("ids", "give 1 to 100 other opinions to merge into this one").into());
    }
    let mut changes = Vec::with_capacity(ids.len() + 1);
    let mut support = primary.support;
    for other in ids {
        let o = own_opinion(&state, &staff.0, other).await?;
        if o.merged_into.is_some() || o.published_at.is_some() || o.unit_id != primary.unit_id {
            return Err(ApiError::conflict(
                ErrorCode::NotMergeable,
                format!("opinion {other} is merged already, published, or answered by another unit"),
            ));
        }
        if !state.store.merged_opinions(other).await?.is_empty() {
            return Err(ApiError::conflict(
                ErrorCode::NotMergeable,
                format!("opinion {other} has opinions merged into it"),
            ));
        }
        support += o.support;
        let mut after = o.fields();
        after.merged_into = Some(id);
        changes.push((o, after));
    }
    let mut after = primary.fields();
    after.support = support;
    changes.push((primary, after));
    let mut changed = state
        .store
        .change_opinions(&changes, "opinion.merge", Actor::Staff(staff.0.id), SideRecord::None)
        .await?;
    let primary = changed
        .pop()
        .ok_or_else(|| ApiError::internal("merge", &"returned nothing"))?;
    detail(&state, primary).await.map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The code of the unit it belongs to.
    pub unit: String,
    pub reason: String,
}

/// Transfer an opinion to the unit it belongs to; the transfer is recorded
/// and the receiving unit answers it from now on.
#[utoipa::path(post, path = "/api/opinions/{id}/transfer", tag = "opinions", params(("id" = i64, Path)), request_body = TransferBody,
    responses((status = 200, body = OpinionView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn transfer(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Json(body): Json<TransferBody>,
) -> ApiResult<Json<OpinionView>> {
    let o = own_opinion(&state, &staff.0, id).await?;
    let reason = opinion::reason("reason", &body.reason)?;
    let code = Code::parse("unit", &body.unit)?;
    let to = lookup::unit(&state, code.as_str()).await?;
    if to.id == o.unit_id {
        return Err(Invalid::new("unit", "the opinion is with that unit already").into());
    }
    if o.published_at.is_some() || o.merged_into.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::NotTransferable,
            "a published or merged opinion stays where it is",
        ));
    }
    let mut after = o.fields();
    after.unit_id = to.id;
    let side = SideRecord::Transfer {
        from_unit: o.unit_id,
        to_unit: to.id,
        reason: &reason,
    };
    one(&state, o, after, "opinion.transfer", Actor::Staff(staff.0.id), side).await
}
