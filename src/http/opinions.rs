//! `/api/opinions`: the units' review of what citizens said — decide, reply,
//! publish, classify, merge, transfer — and the bureau's reminders and
//! extension decisions. Unit staff see and change only the opinions their
//! unit answers; the data bureau (admin) sees all.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use crate::domain::deadlines::DeadlineState;
use crate::domain::event::EventStatus;
use crate::domain::opinion::{self, AdoptionState, Decision, ExtensionDecision, OpinionSource, reply_deadline};
use crate::domain::plan::parse_local_or_rfc3339;
use crate::domain::staff::{Role, Staff};
use crate::domain::time::{end_of_local_day, local_date, now, shanghai};
use crate::domain::values::{Code, Invalid};
use crate::store::events::Event;
use crate::store::opinions::{
    Actor, Extension, NewOpinion, Opinion, OpinionFields, OpinionFilter, Reminder, SideRecord, Transfer,
};

/// An opinion with the state of its reply deadline.
#[derive(Serialize, ToSchema)]
pub struct OpinionView {
    #[serde(flatten)]
    pub opinion: Opinion,
    /// `open`, `overdue`, `met`, `late` or `calendar_missing`.
    pub deadline: DeadlineState,
    pub state_label: &'static str,
}

pub fn view(opinion: Opinion) -> OpinionView {
    OpinionView {
        deadline: reply_deadline(opinion.due_date, opinion.published_at, now()),
        state_label: opinion.state.label(),
        opinion,
    }
}

/// Whether `staff` may see and change `opinion`.
fn answers(staff: &Staff, opinion: &Opinion) -> bool {
    match staff.role {
        Role::Admin => true,
        Role::UnitStaff => staff.unit_id == Some(opinion.unit_id),
        Role::Moderator | Role::Host => false,
    }
}

/// The opinion, if `staff` may work on it (404 for others' opinions, so
/// their existence does not leak).
pub(super) async fn own_opinion(state: &AppState, staff: &Staff, id: i64) -> ApiResult<Opinion> {
    if !matches!(staff.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff work on opinions",
        ));
    }
    let opinion = state.store.opinion(id).await?;
    if answers(staff, &opinion) {
        Ok(opinion)
    } else {
        Err(ApiError::not_found("opinion"))
    }
}

/// The reply due date for an event's opinions: `reply_working_days` after the
/// event ended (or after `received`, if later or the event has not ended).
/// `None` when the calendar does not cover the year: never guessed.
pub(super) fn due_date(state: &AppState, event: &Event, received: DateTime<Utc>) -> Option<NaiveDate> {
    let from = event.ended_at.map_or(received, |end| end.max(received));
    state
        .calendar
        .add_working_days(local_date(from), state.settings.reply_working_days)
        .ok()
}

/// Record the live room's opinions of an ended event for its lead host unit.
pub async fn capture(state: &AppState, event: &Event) -> ApiResult<u64> {
    let Some(lead) = event.hosts.first() else {
        return Ok(0);
    };
    let due = due_date(state, event, event.ended_at.unwrap_or_else(now));
    Ok(state.store.capture_opinions(event.id, lead.id, due).await?)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub event: Option<i64>,
    /// Unit code; unit staff always see their own unit's.
    pub unit: Option<String>,
    pub state: Option<AdoptionState>,
    pub source: Option<OpinionSource>,
    pub topic: Option<String>,
    /// Text to find in the opinion, its reply or the nickname (substring, works for Chinese).
    pub q: Option<String>,
    /// Received on or after this date (Beijing), `YYYY-MM-DD`.
    pub from: Option<NaiveDate>,
    /// Received on or before this date (Beijing), `YYYY-MM-DD`.
    pub to: Option<NaiveDate>,
    /// Only hand-off tasks (questions not answered on air).
    #[serde(default)]
    pub handoff: bool,
    /// Only opinions whose reply is overdue (not published, past the due date).
    #[serde(default)]
    pub overdue: bool,
    pub published: Option<bool>,
    #[serde(default)]
    pub include_merged: bool,
    /// At most 1000; 200 when absent.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The filter a list or export uses, with unit staff held to their unit.
pub(super) async fn filter_for(state: &AppState, staff: &Staff, q: &ListQuery) -> ApiResult<OpinionFilter> {
    if !matches!(staff.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff work on opinions",
        ));
    }
    let mut unit_id = match q.unit.as_deref() {
        Some(code) => {
            let code = Code::parse("unit", code)?;
            Some(
                state
                    .store
                    .unit_by_code(code.as_str())
                    .await
                    .map_err(|_| ApiError::invalid(format!("there is no unit with code `{code}`")))?
                    .id,
            )
        }
        None => None,
    };
    if staff.role == Role::UnitStaff {
        if unit_id.is_some_and(|u| Some(u) != staff.unit_id) {
            return Err(ApiError::forbidden("unit staff see only their own unit's opinions"));
        }
        unit_id = staff.unit_id;
    }
    let topic = q.topic.as_deref().map(opinion::topic).transpose()?;
    let text =
        q.q.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
    if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
        return Err(Invalid::new("q", "search for at most 100 characters").into());
    }
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(Invalid::new("limit", "must be between 1 and 1000").into());
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(Invalid::new("offset", "must not be negative").into());
    }
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(Invalid::new("from", "must not be after `to`").into());
        }
    }
    Ok(OpinionFilter {
        event_id: q.event,
        unit_id,
        state: q.state,
        source: q.source,
        topic,
        text,
        from: q.from.and_then(|d| d.pred_opt()).map(end_of_local_day),
        until: q.to.map(end_of_local_day),
        handoff_only: q.handoff,
        overdue_only: q.overdue,
        published: q.published,
        include_merged: q.include_merged,
        today: local_date(now()),
        limit,
        offset,
    })
}

/// List opinions: overdue first, then by due date.
#[utoipa::path(get, path = "/api/opinions", tag = "opinions", params(ListQuery),
    responses((status = 200, body = Vec<OpinionView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<OpinionView>>> {
    let filter = filter_for(&state, &staff.0, &q).await?;
    let opinions = state.store.list_opinions(&filter).await?;
    Ok(Json(opinions.into_iter().map(view).collect()))
}

/// One opinion with its history: merged opinions, transfers, extension requests, reminders.
#[derive(Serialize, ToSchema)]
pub struct OpinionDetail {
    #[serde(flatten)]
    pub opinion: OpinionView,
    pub merged: Vec<OpinionView>,
    pub transfers: Vec<Transfer>,
    pub extensions: Vec<Extension>,
    pub reminders: Vec<Reminder>,
}

/// One opinion and its history.
#[utoipa::path(get, path = "/api/opinions/{id}", tag = "opinions", params(("id" = i64, Path)),
    responses((status = 200, body = OpinionDetail), (status = 404, body = ErrorBody)), security(("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
) -> ApiResult<Json<OpinionDetail>> {
    let opinion = own_opinion(&state, &staff.0, id).await?;
    detail(&state, opinion).await.map(Json)
}

async fn detail(state: &AppState, opinion: Opinion) -> ApiResult<OpinionDetail> {
    let id = opinion.id;
    Ok(OpinionDetail {
        merged: state.store.merged_opinions(id).await?.into_iter().map(view).collect(),
        transfers: state.store.transfers(id).await?,
        extensions: state.store.extensions(Some(id)).await?,
        reminders: state.store.reminders(id).await?,
        opinion: view(opinion),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpinionBody {
    pub text: String,
    /// The person's name or nickname as they gave it; 网友 when absent.
    pub nickname: Option<String>,
    pub topic: Option<String>,
    /// When it was received (受理): RFC 3339 or local Beijing time; now when absent.
    pub received_at: Option<String>,
}

/// Type in an opinion collected offline (paper forms at an open day, letters).
#[utoipa::path(post, path = "/api/events/{id}/opinions", tag = "opinions", params(("id" = i64, Path)),
    request_body = NewOpinionBody,
    responses((status = 201, body = OpinionView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(event_id): Path<i64>,
    Json(body): Json<NewOpinionBody>,
) -> ApiResult<(StatusCode, Json<OpinionView>)> {
    let event = state.store.event(event_id).await?;
    if !staff.0.manages(&event.host_ids()) {
        return Err(ApiError::forbidden(
            "only the data bureau and the event's host units record its opinions",
        ));
    }
    if matches!(event.status, EventStatus::Draft | EventStatus::Cancelled) {
        return Err(ApiError::conflict(
            "wrong_status",
            "opinions are recorded for announced, live or ended events",
        ));
    }
    let text = opinion::opinion_text(&body.text)?;
    let nickname = crate::domain::question::Nickname::parse(body.nickname.as_deref())?;
    let topic = body
        .topic
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(opinion::topic)
        .transpose()?;
    let received_at = body
        .received_at
        .as_deref()
        .map(parse_local_or_rfc3339)
        .transpose()?
        .unwrap_or_else(now);
    if received_at > now() {
        return Err(Invalid::new("received_at", "must not be in the future").into());
    }
    // The staff member's own unit answers it when it hosts the event; else the lead host.
    let unit_id = staff
        .0
        .unit_id
        .filter(|u| event.host_ids().contains(u))
        .or_else(|| event.hosts.first().map(|h| h.id))
        .ok_or_else(|| ApiError::conflict("no_host", "the event has no host unit"))?;
    let new = NewOpinion {
        event_id,
        unit_id,
        text: &text,
        nickname: nickname.as_str(),
        topic: topic.as_deref(),
        received_at,
        due_date: due_date(&state, &event, received_at),
        created_by: staff.0.id,
    };
    let created = state.store.create_opinion(&new).await?;
    Ok((StatusCode::CREATED, Json(view(created))))
}

#[derive(Serialize, ToSchema)]
pub struct CaptureResult {
    /// Opinions added now (those recorded before are kept as they are).
    pub added: u64,
}

/// Record the live room's approved questions, comments and screened poll
/// answers as opinions (idempotent; runs by itself when the event ends).
#[utoipa::path(post, path = "/api/events/{id}/opinions/capture", tag = "opinions", params(("id" = i64, Path)),
    responses((status = 200, body = CaptureResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn capture_route(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(event_id): Path<i64>,
) -> ApiResult<Json<CaptureResult>> {
    let event = state.store.event(event_id).await?;
    if !staff.0.manages(&event.host_ids()) {
        return Err(ApiError::forbidden(
            "only the data bureau and the event's host units collect its opinions",
        ));
    }
    if !matches!(event.status, EventStatus::Ended | EventStatus::MaterialsPublished) {
        return Err(ApiError::conflict(
            "wrong_status",
            "opinions are collected once the event has ended",
        ));
    }
    Ok(Json(CaptureResult {
        added: capture(&state, &event).await?,
    }))
}

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
            "conflict",
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
    Path(id): Path<i64>,
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
        "merged",
        format!(
            "opinion {} is merged into {}: work on that one",
            o.id,
            o.merged_into.unwrap_or_default()
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
    Path(id): Path<i64>,
) -> ApiResult<Json<OpinionView>> {
    let o = own_opinion(&state, &staff.0, id).await?;
    if o.merged_into.is_some() {
        return Err(merged_error(&o));
    }
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            "already_published",
            "the reply is published already",
        ));
    }
    Decision::parse(o.state, o.reason.as_deref(), o.reply.as_deref())?.publishable()?;
    let mut after = o.fields();
    after.published_at = Some(now());
    after.replied_by = Some(staff.0.id);
    one(
        &state,
        o,
        after,
        "opinion.publish",
        Actor::Staff(staff.0.id),
        SideRecord::None,
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub ids: Vec<i64>,
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
    pub ids: Vec<i64>,
}

/// Merge duplicates into this opinion: it keeps their sources (listed under
/// `merged`) and adds up their support; they leave the review list.
#[utoipa::path(post, path = "/api/opinions/{id}/merge", tag = "opinions", params(("id" = i64, Path)), request_body = MergeBody,
    responses((status = 200, body = OpinionDetail), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn merge(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
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
                "not_mergeable",
                format!("opinion {other} is merged already, published, or answered by another unit"),
            ));
        }
        if !state.store.merged_opinions(other).await?.is_empty() {
            return Err(ApiError::conflict(
                "not_mergeable",
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
    Path(id): Path<i64>,
    Json(body): Json<TransferBody>,
) -> ApiResult<Json<OpinionView>> {
    let o = own_opinion(&state, &staff.0, id).await?;
    let reason = opinion::reason("reason", &body.reason)?;
    let code = Code::parse("unit", &body.unit)?;
    let to = state
        .store
        .unit_by_code(code.as_str())
        .await
        .map_err(|_| ApiError::invalid(format!("there is no unit with code `{code}`")))?;
    if to.id == o.unit_id {
        return Err(Invalid::new("unit", "the opinion is with that unit already").into());
    }
    if o.published_at.is_some() || o.merged_into.is_some() {
        return Err(ApiError::conflict(
            "not_transferable",
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// The new due date asked for (`YYYY-MM-DD`, Beijing), a working day after the current one.
    pub due_date: NaiveDate,
    pub reason: String,
}

/// Ask the data bureau for more time to reply (延期).
#[utoipa::path(post, path = "/api/opinions/{id}/extensions", tag = "opinions", params(("id" = i64, Path)), request_body = ExtensionBody,
    responses((status = 201, body = Extension), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn request_extension(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
    Json(body): Json<ExtensionBody>,
) -> ApiResult<(StatusCode, Json<Extension>)> {
    let o = own_opinion(&state, &staff.0, id).await?;
    let reason = opinion::reason("reason", &body.reason)?;
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            "already_published",
            "the reply is published: nothing to extend",
        ));
    }
    if o.due_date.is_some_and(|d| body.due_date <= d) {
        return Err(Invalid::new("due_date", "must be after the current due date").into());
    }
    match state.calendar.is_working_day(body.due_date) {
        Ok(true) => {}
        Ok(false) => return Err(Invalid::new("due_date", "must be a working day").into()),
        Err(e) => return Err(Invalid::new("due_date", e.to_string()).into()),
    }
    let ext = state
        .store
        .request_extension(&o, body.due_date, &reason, staff.0.id)
        .await?;
    Ok((StatusCode::CREATED, Json(ext)))
}

/// Extension requests waiting for the bureau's decision (admin: all; unit staff: their unit's).
#[utoipa::path(get, path = "/api/extensions", tag = "opinions",
    responses((status = 200, body = Vec<Extension>), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn pending_extensions(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<Vec<Extension>>> {
    if !matches!(staff.0.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff see extension requests",
        ));
    }
    let mut out = Vec::new();
    for ext in state.store.extensions(None).await? {
        let o = state.store.opinion(ext.opinion_id).await?;
        if answers(&staff.0, &o) {
            out.push(ext);
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecisionBody {
    pub grant: bool,
    pub note: Option<String>,
}

/// The bureau grants or refuses an extension; a grant moves the due date.
#[utoipa::path(post, path = "/api/extensions/{id}/decision", tag = "opinions", params(("id" = i64, Path)),
    request_body = ExtensionDecisionBody,
    responses((status = 200, body = OpinionDetail), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn decide_extension(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
    Json(body): Json<ExtensionDecisionBody>,
) -> ApiResult<Json<OpinionDetail>> {
    staff.require_admin()?;
    let ext = state.store.extension(id).await?;
    if ext.decision != ExtensionDecision::Pending.as_str() {
        return Err(ApiError::conflict("decided", "this request was decided already"));
    }
    let note = body.note.as_deref().map(|n| opinion::reason("note", n)).transpose()?;
    let o = state.store.opinion(ext.opinion_id).await?;
    let mut after = o.fields();
    let decision = if body.grant {
        after.due_date = Some(ext.requested_due);
        ExtensionDecision::Granted
    } else {
        ExtensionDecision::Refused
    };
    let side = SideRecord::ExtensionDecided {
        id,
        decision,
        note: note.as_deref(),
    };
    let action = if body.grant {
        "opinion.extension_granted"
    } else {
        "opinion.extension_refused"
    };
    let mut changed = state
        .store
        .change_opinions(&[(o, after)], action, Actor::Staff(staff.0.id), side)
        .await?;
    let o = changed
        .pop()
        .ok_or_else(|| ApiError::internal("decide_extension", &"returned nothing"))?;
    detail(&state, o).await.map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderBody {
    pub note: Option<String>,
}

/// The data bureau reminds the unit to reply (催办).
#[utoipa::path(post, path = "/api/opinions/{id}/reminders", tag = "opinions", params(("id" = i64, Path)), request_body = ReminderBody,
    responses((status = 201, body = Reminder), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn remind(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
    Json(body): Json<ReminderBody>,
) -> ApiResult<(StatusCode, Json<Reminder>)> {
    staff.require_admin()?;
    let o = state.store.opinion(id).await?;
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            "already_published",
            "the reply is published: nothing to remind",
        ));
    }
    let note = body
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| opinion::reason("note", n))
        .transpose()?;
    let r = state.store.remind(&o, note.as_deref(), staff.0.id).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// `YYYY-MM-DD` in Beijing.
pub fn local_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai()).format("%Y-%m-%d").to_string()
}
