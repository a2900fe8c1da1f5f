//! The interview transcript (访谈实录) of an event: when the event has ended
//! the unit assembles it from the text feed and the published questions with
//! their live answers (in time order), edits it, and publishes it with the
//! materials; an event with a text feed has its materials complete only
//! once its transcript is published. Public once published, as JSON, a
//! printable page, or a Word document.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::lookup::managed_event;
use super::record::html::escape_html;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::EventId;
use crate::domain::staff::Staff;
use crate::domain::time::to_local_string;
use crate::domain::transcript::{TranscriptEntry, assemble, check_entries, masked};
use crate::store::events::Event;

const NOT_YOURS: &str = "only the data bureau and the event's host units edit its transcript";
const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// A transcript as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct TranscriptView {
    pub event_id: EventId,
    pub title: String,
    pub entries: Vec<TranscriptEntry>,
    /// False for a fresh assembly the unit has not saved yet.
    pub saved: bool,
    pub assembled_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
}

/// The ended event, when `staff` manages it.
async fn ended(state: &AppState, staff: &Staff, id: EventId) -> ApiResult<Event> {
    let event = managed_event(state, staff, id, NOT_YOURS).await?;
    if !matches!(event.status, EventStatus::Ended | EventStatus::MaterialsPublished) {
        return Err(ApiError::conflict(
            ErrorCode::NotEnded,
            "the transcript is assembled once the event has ended",
        ));
    }
    Ok(event)
}

/// What the event left: its text feed and published questions with their answers.
async fn assembled(state: &AppState, event: &Event) -> ApiResult<Vec<TranscriptEntry>> {
    let updates = state.store.public_updates(event.id).await?;
    let questions = state.store.approved_questions(event.id).await?;
    Ok(assemble(&updates, &questions))
}

/// The transcript `viewer` may read: the published one for everyone; for
/// the event's managers after the end, the saved draft or a fresh assembly.
async fn readable(state: &AppState, viewer: Option<&Staff>, id: EventId) -> ApiResult<TranscriptView> {
    let event = state.store.event(id).await?;
    let saved = state.store.transcript(id).await?;
    let manager = viewer.is_some_and(|s| s.manages(&event.host_ids()));
    let view = |entries: Vec<TranscriptEntry>, t: Option<&crate::store::transcripts::Transcript>| TranscriptView {
        event_id: id,
        title: event.about.title.clone(),
        entries,
        saved: t.is_some(),
        assembled_at: t.map(|t| t.assembled_at),
        updated_at: t.map(|t| t.updated_at),
        published_at: t.and_then(|t| t.published_at),
    };
    match (&saved, manager) {
        (Some(t), false) if t.published_at.is_some() => Ok(view(masked(&t.entries), Some(t))),
        (_, false) => Err(ApiError::not_found("transcript")),
        (Some(t), true) => Ok(view(t.entries.clone(), Some(t))),
        (None, true) if matches!(event.status, EventStatus::Ended | EventStatus::MaterialsPublished) => {
            Ok(view(assembled(state, &event).await?, None))
        }
        (None, true) => Err(ApiError::conflict(
            ErrorCode::NotEnded,
            "the transcript is assembled once the event has ended",
        )),
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    #[default]
    Json,
    Html,
    Docx,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    /// `json` (default), `html` (a printable page) or `docx` (a Word document).
    pub format: Option<TranscriptFormat>,
}

/// The transcript: public once published; the event's managers read the
/// draft (or a fresh assembly) from the end of the event.
#[utoipa::path(get, path = "/api/events/{id}/transcript", tag = "materials", params(("id" = i64, Path), TranscriptQuery),
    responses(
        (status = 200, description = "the transcript", content(
            (TranscriptView = "application/json"),
            (String = "text/html"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        )),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Path(id): Path<EventId>,
    Query(q): Query<TranscriptQuery>,
) -> ApiResult<Response> {
    let view = readable(&state, viewer.as_ref(), id).await?;
    Ok(match q.format.unwrap_or_default() {
        TranscriptFormat::Json => Json(view).into_response(),
        TranscriptFormat::Html => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], render_html(&view)).into_response()
        }
        TranscriptFormat::Docx => {
            let bytes = render_docx(&view).map_err(|e| ApiError::internal("transcript document", &e))?;
            super::exports::attachment(bytes, DOCX_TYPE, &format!("transcript-{id}.docx"))
        }
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AssembleBody {
    /// Replace a saved transcript with a fresh assembly (the edits are lost).
    #[serde(default)]
    pub replace: bool,
}

/// Assemble the transcript from the text feed and the published questions
/// with their answers, and save it as the draft.
#[utoipa::path(post, path = "/api/events/{id}/transcript/assemble", tag = "materials", params(("id" = i64, Path)),
    request_body = AssembleBody,
    responses((status = 200, body = TranscriptView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn assemble_route(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<AssembleBody>,
) -> ApiResult<Json<TranscriptView>> {
    let event = ended(&state, &staff, id).await?;
    if state.store.transcript(id).await?.is_some() && !body.replace {
        return Err(ApiError::conflict(
            ErrorCode::Conflict,
            "a transcript is saved already: send replace: true to start again from the event",
        ));
    }
    let entries = assembled(&state, &event).await?;
    if entries.is_empty() {
        return Err(
            crate::domain::values::Invalid::new("entries", "the event left no text feed and no questions").into(),
        );
    }
    state.store.save_transcript(id, &entries, true, staff.id).await?;
    Ok(Json(readable(&state, Some(&staff), id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptBody {
    /// The whole transcript as edited, in order.
    pub entries: Vec<TranscriptEntry>,
}

/// Save the unit's edits (published already: the public sees them at once).
#[utoipa::path(put, path = "/api/events/{id}/transcript", tag = "materials", params(("id" = i64, Path)),
    request_body = TranscriptBody,
    responses((status = 200, body = TranscriptView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn save(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<TranscriptBody>,
) -> ApiResult<Json<TranscriptView>> {
    ended(&state, &staff, id).await?;
    let entries = check_entries(body.entries)?;
    state.store.save_transcript(id, &entries, false, staff.id).await?;
    Ok(Json(readable(&state, Some(&staff), id).await?))
}

/// Publish the saved transcript (part of the materials: with a text feed,
/// the materials deadline is met once both are published).
#[utoipa::path(post, path = "/api/events/{id}/transcript/publish", tag = "materials", params(("id" = i64, Path)),
    responses((status = 200, body = TranscriptView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<TranscriptView>> {
    ended(&state, &staff, id).await?;
    let Some(saved) = state.store.transcript(id).await? else {
        return Err(ApiError::not_found("saved transcript (assemble it first)"));
    };
    if saved.published_at.is_some() || !state.store.publish_transcript(id, staff.id).await? {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyPublished,
            "the transcript is published already",
        ));
    }
    tracing::info!(event_id = id.0, by = staff.id.0, "transcript published");
    Ok(Json(readable(&state, Some(&staff), id).await?))
}

fn label(e: &TranscriptEntry) -> String {
    match (e.kind.label(), e.speaker.as_str()) {
        (kind, "") => kind.to_owned(),
        (kind, speaker) => format!("{kind} · {speaker}"),
    }
}

/// A printable page: every text escaped, no script.
fn render_html(v: &TranscriptView) -> String {
    let e = escape_html;
    let mut h = String::with_capacity(8 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t} · 访谈实录</title>\n<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body class=\"record transcript\">\n<header><h1>{t}</h1><p>访谈实录</p></header>\n<main>\n",
        t = e(&v.title)
    );
    if v.published_at.is_none() {
        h.push_str("<p class=\"record-draft\">预览：本实录尚未发布。</p>\n");
    }
    h.push_str("<ol class=\"transcript-entries\">\n");
    for entry in &v.entries {
        let _ = writeln!(
            h,
            "<li class=\"entry-{kind}\"><p class=\"record-meta\"><time datetime=\"{at}\">{local}</time> {who}</p>\
             <p class=\"record-text\">{text}</p></li>",
            kind = entry.kind.as_str(),
            at = entry.at.to_rfc3339(),
            local = e(&to_local_string(entry.at)),
            who = e(&label(entry)),
            text = e(&entry.text).replace('\n', "<br>"),
        );
    }
    h.push_str("</ol>\n</main>\n<footer>北京市大兴区 · 政务开放日 / 政策公开讲</footer>\n</body>\n</html>\n");
    h
}

/// The transcript as a Word document.
fn render_docx(v: &TranscriptView) -> Result<Vec<u8>, docx_rs::DocxError> {
    use docx_rs::{Docx, Paragraph, Run};
    let mut doc = Docx::new()
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text(&v.title).bold().size(36)))
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("访谈实录").size(28)));
    for entry in &v.entries {
        let meta = format!("{}  {}", to_local_string(entry.at), label(entry));
        doc = doc.add_paragraph(Paragraph::new().add_run(Run::new().add_text(meta).bold().size(21)));
        for line in entry.text.lines() {
            doc = doc.add_paragraph(Paragraph::new().add_run(Run::new().add_text(line).size(24)));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build().pack(&mut out)?;
    Ok(out.into_inner())
}
