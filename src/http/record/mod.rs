//! The materials package (活动实录) of an event: what the 政务开放日 / 政策公开讲
//! column publishes once the event is over — the announcement, the questions
//! with their on-air answers, the poll results, the video and the adoption
//! summary with the published replies — as JSON, a standalone HTML page and
//! an Excel workbook. Publishing it marks the materials deadline.
//!
//! The package is built from the store on every request, so it always shows
//! the replies published so far. Citizen text (nicknames, questions, open-text
//! poll answers, opinions) is masked for personal data; every text in the HTML
//! is escaped, and the page needs no inline script or style (strict CSP).

use crate::store::attendance::Participation;
use crate::store::reviews::ReviewCounts;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::events::{EventView, view};
use super::exports::{XLSX_TYPE, attachment};
use super::feedback::{PublicReply, StateCount, event_opinions, published_replies};
use super::lookup::managed_event;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::{EventForm, EventKind, EventStatus, Transition};
use crate::domain::ids::{EventId, PollId, PostId};
use crate::domain::masking::mask_personal_data;
use crate::domain::poll::{PollKind, PollStatus, PublicPoll};
use crate::domain::staff::Staff;
use crate::domain::time::{now, shanghai, to_local_string};
use crate::domain::values::optional_url;
use crate::export::to_xlsx;
use crate::store::StoreError;
use crate::store::events::Event;

pub(crate) mod html;
mod sheets;

pub use html::{Shell, escape_html, render_html};
use sheets::tables;

const HTML_TYPE: &str = "text/html; charset=utf-8";

/// An event's materials package (活动实录).
#[derive(Serialize, ToSchema)]
pub struct MaterialsPackage {
    pub event_id: EventId,
    /// Whether the package is public; otherwise this is a staff preview.
    pub published: bool,
    pub materials_published_at: Option<DateTime<Utc>>,
    pub announcement: Announcement,
    /// Approved questions in the order they were asked.
    pub questions: Vec<RecordQuestion>,
    /// Opened and closed polls in creation order.
    pub polls: Vec<PollResult>,
    /// The video of the event (a policy lecture's explanation video).
    pub video_url: Option<String>,
    pub adoption: AdoptionSummary,
    /// Reports received and appeals upheld in the live room (举报受理).
    pub moderation: ReviewCounts,
    /// Who took part: in person (applicants, chosen, invited, notified on time, attended, by group) and online.
    pub participation: Participation,
    /// The interview transcript (访谈实录), once published: its page.
    pub transcript_url: Option<String>,
    /// The published replies, by reply date.
    pub replies: Vec<PublicReply>,
    pub generated_at: DateTime<Utc>,
}

/// The announcement (公告) as it stood when the event ran.
#[derive(Serialize, ToSchema)]
pub struct Announcement {
    pub title: String,
    pub kind: EventKind,
    /// 政务开放日 or 政策公开讲.
    pub kind_label: &'static str,
    pub theme: Option<String>,
    /// Host units (short names), in order.
    pub host_units: Vec<String>,
    pub form: EventForm,
    pub form_label: &'static str,
    pub summary: String,
    pub starts_at: Option<DateTime<Utc>>,
    /// `starts_at` in Asia/Shanghai (`+08:00`).
    pub starts_at_local: Option<String>,
    pub duration_minutes: Option<i64>,
    pub venue: Option<String>,
    pub agenda: Option<String>,
    /// 网民参与方式.
    pub participation: Option<String>,
    pub stream_url: Option<String>,
}

/// A question as the record shows it; personal data in it is masked.
#[derive(Serialize, ToSchema)]
pub struct RecordQuestion {
    /// 1, 2, … in the order asked.
    pub number: i64,
    pub id: PostId,
    pub nickname: String,
    pub text: String,
    pub upvotes: i64,
    /// The answer given on air, if any.
    pub answer: Option<String>,
    pub asked_at: DateTime<Utc>,
}

/// A poll and, when its results may be shown, its final tally.
#[derive(Serialize, ToSchema)]
pub struct PollResult {
    pub id: PollId,
    pub title: String,
    /// `single_choice`, `multiple_choice`, `rating` or `open_text`.
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// `open` or `closed`.
    pub status: &'static str,
    /// False for a poll that shows its results only after closing and is still open.
    pub results_shown: bool,
    pub voters: Option<i64>,
    /// Votes per option (ratings: per score 1–5; open text: the most given answers, masked).
    pub counts: Vec<OptionCount>,
    /// Ratings: the mean score.
    pub average: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct OptionCount {
    pub label: String,
    pub count: i64,
}

/// How the event's opinions were taken up (采纳情况).
#[derive(Serialize, ToSchema)]
pub struct AdoptionSummary {
    /// Opinions collected (merged duplicates counted once).
    pub collected: i64,
    /// Replies published.
    pub published: i64,
    /// Collected opinions whose reply is not published yet.
    pub awaiting_reply: i64,
    /// Published replies per adoption state.
    pub by_state: Vec<StateCount>,
}

/// Build the package from the store.
async fn assemble(state: &AppState, event: &Event) -> ApiResult<MaterialsPackage> {
    let questions = state
        .store
        .approved_questions(event.id)
        .await?
        .iter()
        .enumerate()
        .map(|(i, q)| RecordQuestion {
            number: i as i64 + 1,
            id: q.id,
            // As every viewer sees them: personal data masked by the store.
            nickname: q.nickname.clone(),
            text: q.text.clone(),
            upvotes: q.upvotes,
            answer: q.answer.clone().filter(|a| !a.trim().is_empty()),
            asked_at: q.created_at,
        })
        .collect();
    let polls = state.store.public_polls(event.id).await?;
    let opinions = event_opinions(state, event.id).await?;
    let (replies, by_state) = published_replies(&opinions);
    let moderation = state.store.review_counts(event.id).await?;
    let notice_due = event.about.starts_at.and_then(|s| {
        state
            .calendar
            .sub_working_days(crate::domain::time::local_date(s), 1)
            .ok()
    });
    let participation = state.store.participation(event.id, notice_due).await?;
    let collected = opinions.len() as i64;
    let published = replies.len() as i64;
    Ok(MaterialsPackage {
        event_id: event.id,
        published: event.status == EventStatus::MaterialsPublished,
        materials_published_at: event.materials_published_at,
        announcement: announcement(event),
        questions,
        polls: polls.iter().map(poll_result).collect(),
        video_url: event.video_url.clone(),
        adoption: AdoptionSummary {
            collected,
            published,
            awaiting_reply: (collected - published).max(0),
            by_state,
        },
        moderation,
        participation,
        transcript_url: state
            .store
            .transcript(event.id)
            .await?
            .and_then(|t| t.published_at)
            .map(|_| format!("/api/events/{}/transcript?format=html", event.id)),
        replies,
        generated_at: now(),
    })
}

fn announcement(e: &Event) -> Announcement {
    Announcement {
        title: e.about.title.clone(),
        kind: e.about.kind,
        kind_label: kind_label(e.about.kind),
        theme: e.theme.as_ref().map(|t| t.name.clone()),
        host_units: e.hosts.iter().map(|h| h.short_name.clone()).collect(),
        form: e.about.form,
        form_label: form_label(e.about.form),
        summary: e.about.summary.clone(),
        starts_at: e.about.starts_at,
        starts_at_local: e.about.starts_at.map(to_local_string),
        duration_minutes: e.about.duration_minutes,
        venue: e.about.venue.clone(),
        agenda: e.about.agenda.clone(),
        participation: e.about.participation.clone(),
        stream_url: e.about.stream_url.clone(),
    }
}

fn kind_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::OpenDay => "政务开放日",
        EventKind::Lecture => "政策公开讲",
    }
}

fn form_label(form: EventForm) -> &'static str {
    match form {
        EventForm::Online => "线上直播",
        EventForm::Offline => "线下",
        EventForm::OnlineOffline => "线上线下结合",
    }
}

fn poll_result(p: &PublicPoll) -> PollResult {
    let tally = p.tally.as_ref().filter(|_| p.results_public());
    let counts = match (p.spec.kind, tally) {
        (_, None) => Vec::new(),
        (PollKind::OpenText, Some(t)) => t
            .words
            .iter()
            .map(|w| OptionCount {
                label: mask_personal_data(&w.text).into_owned(),
                count: w.count,
            })
            .collect(),
        (PollKind::Rating, Some(t)) => (1..)
            .zip(&t.counts)
            .map(|(score, &count)| OptionCount {
                label: format!("{score}分"),
                count,
            })
            .collect(),
        (PollKind::SingleChoice | PollKind::MultipleChoice, Some(t)) => p
            .spec
            .options
            .iter()
            .zip(t.counts.iter().chain(std::iter::repeat(&0)))
            .map(|(label, &count)| OptionCount {
                label: label.clone(),
                count,
            })
            .collect(),
    };
    PollResult {
        id: p.id,
        title: p.spec.title.clone(),
        kind: p.spec.kind.as_str(),
        kind_label: match p.spec.kind {
            PollKind::SingleChoice => "单选",
            PollKind::MultipleChoice => "多选",
            PollKind::Rating => "评分",
            PollKind::OpenText => "开放式回答",
        },
        status: p.status.as_str(),
        results_shown: tally.is_some(),
        voters: tally.map(|t| t.voters),
        counts,
        average: tally.and_then(|t| t.average),
    }
}

/// Whether `viewer` may read the package now: everyone once it is published;
/// before that only the event's managers, once the event has ended. Others
/// get 404, so an unpublished package does not show that it exists.
fn readable(event: &Event, viewer: Option<&Staff>) -> ApiResult<()> {
    if event.status == EventStatus::MaterialsPublished {
        return Ok(());
    }
    if !viewer.is_some_and(|s| s.manages(&event.host_ids())) {
        return Err(ApiError::not_found("materials package"));
    }
    if event.status == EventStatus::Ended {
        Ok(())
    } else {
        Err(ApiError::conflict(
            ErrorCode::NotEnded,
            "the materials package can be previewed once the event has ended",
        ))
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    #[default]
    Json,
    Html,
    Xlsx,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// `json` (default), `html` or `xlsx`; `html` and `xlsx` are downloads.
    pub format: Option<RecordFormat>,
}

/// The materials package (活动实录): public once published; the event's
/// managers may preview it from the end of the event.
#[utoipa::path(get, path = "/api/events/{id}/record", tag = "materials", params(("id" = i64, Path), RecordQuery),
    responses(
        (status = 200, description = "the package", content(
            (MaterialsPackage = "application/json"),
            (String = "text/html"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_record(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Path(id): Path<EventId>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Response> {
    let event = state.store.event(id).await?;
    readable(&event, viewer.as_ref())?;
    let package = assemble(&state, &event).await?;
    Ok(match q.format.unwrap_or_default() {
        RecordFormat::Json => Json(package).into_response(),
        RecordFormat::Html => attachment(
            render_html(&package, Shell::Download).into_bytes(),
            HTML_TYPE,
            &format!("record-{id}.html"),
        ),
        RecordFormat::Xlsx => {
            let bytes = to_xlsx(&tables(&package)).map_err(|e| ApiError::internal("materials workbook", &e))?;
            attachment(bytes, XLSX_TYPE, &format!("record-{id}.xlsx"))
        }
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PublishRecordBody {
    /// The video of the event; the event's own when absent. Required for a
    /// policy lecture that has none.
    pub video_url: Option<String>,
}

/// Publish the materials package at `/events/{id}/record`; marks the
/// materials deadline met (or late), as `POST /api/events/{id}/materials` does.
#[utoipa::path(post, path = "/api/events/{id}/record/publish", tag = "materials", params(("id" = i64, Path)),
    request_body = PublishRecordBody,
    responses((status = 200, body = EventView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<PublishRecordBody>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(
        &state,
        &staff.0,
        id,
        "only the data bureau and the event's host units may publish its materials",
    )
    .await?;
    event.status.apply(Transition::PublishMaterials)?;
    let video_url = optional_url("video_url", body.video_url.as_deref())?.or_else(|| event.video_url.clone());
    if event.about.kind == EventKind::Lecture && video_url.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::VideoRequired,
            "a policy lecture's materials include its explanation video: give video_url",
        ));
    }
    let materials_url = format!("/events/{id}/record");
    let event = state
        .store
        .publish_materials(id, &materials_url, video_url.as_deref())
        .await?;
    tracing::info!(event_id = id.0, by = staff.0.id.0, "materials package published");
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

/// The public page of a published package (a 404 page otherwise).
#[utoipa::path(get, path = "/events/{id}/record", tag = "materials", params(("id" = i64, Path)),
    responses((status = 200, description = "the package as an HTML page", content_type = "text/html"),
        (status = 404, description = "no published package")))]
pub async fn page(State(state): State<AppState>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>().map(EventId) else {
        return not_found_page();
    };
    let package = match state.store.event(id).await {
        Ok(event) if event.status == EventStatus::MaterialsPublished => assemble(&state, &event).await,
        Ok(_) | Err(StoreError::NotFound(_)) => return not_found_page(),
        Err(e) => Err(e.into()),
    };
    match package {
        Ok(package) => (
            [(header::CONTENT_TYPE, HTML_TYPE), (header::CACHE_CONTROL, "no-cache")],
            render_html(&package, Shell::Page),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_found_page() -> Response {
    let body = "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>未找到 · 活动实录</title><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
        <link rel=\"stylesheet\" href=\"/style.css\"></head>\
        <body><header><h1>未找到活动实录</h1></header><main><p>该活动的实录尚未发布，或活动不存在。</p>\
        <p><a href=\"/\">返回活动列表</a></p></main></body></html>\n";
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, HTML_TYPE)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::OpinionId;
    use crate::domain::opinion::AdoptionState;
    use crate::export::Cell;

    #[test]
    fn escapes_markup_quotes_and_ampersands() {
        assert_eq!(
            escape_html("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            escape_html(r#"他说"好" & 'ok'"#),
            "他说&quot;好&quot; &amp; &#39;ok&#39;"
        );
        assert_eq!(escape_html("&lt;"), "&amp;lt;", "escaping is not undone");
        assert_eq!(escape_html("社保卡补办"), "社保卡补办");
    }

    const BAD: &str = "<img src=x onerror=alert(1)>\"'&";

    fn hostile_package() -> MaterialsPackage {
        let bad = || BAD.to_owned();
        let at: DateTime<Utc> = "2024-10-14T01:30:00Z".parse().unwrap();
        MaterialsPackage {
            event_id: EventId(1),
            published: true,
            materials_published_at: Some(at),
            announcement: Announcement {
                title: bad(),
                kind: EventKind::Lecture,
                kind_label: kind_label(EventKind::Lecture),
                theme: Some(bad()),
                host_units: vec![bad(), bad()],
                form: EventForm::Online,
                form_label: form_label(EventForm::Online),
                summary: bad(),
                starts_at: Some(at),
                starts_at_local: Some(to_local_string(at)),
                duration_minutes: Some(90),
                venue: Some(bad()),
                agenda: Some(bad()),
                participation: Some(bad()),
                stream_url: Some(format!("https://live.example/{BAD}")),
            },
            questions: vec![RecordQuestion {
                number: 1,
                id: PostId(1),
                nickname: bad(),
                text: bad(),
                upvotes: 3,
                answer: Some(bad()),
                asked_at: at,
            }],
            polls: vec![PollResult {
                id: PollId(1),
                title: bad(),
                kind: "single_choice",
                kind_label: "单选",
                status: "closed",
                results_shown: true,
                voters: Some(2),
                counts: vec![OptionCount { label: bad(), count: 2 }],
                average: None,
            }],
            video_url: Some(format!("javascript:{BAD}")),
            adoption: AdoptionSummary {
                collected: 1,
                published: 1,
                awaiting_reply: 0,
                by_state: vec![],
            },
            moderation: ReviewCounts::default(),
            participation: Participation::default(),
            transcript_url: None,
            replies: vec![PublicReply {
                id: OpinionId(1),
                source: "question".into(),
                nickname: bad(),
                text: bad(),
                topic: Some(bad()),
                state: AdoptionState::NotAdopted,
                state_label: AdoptionState::NotAdopted.label(),
                reason: Some(bad()),
                reply: bad(),
                received_date: "2024-10-14".into(),
                reply_date: "2024-10-15".into(),
                unit_name: bad(),
                support: 1,
                rated: false,
                rateable: false,
                mine: false,
                highlight: None,
            }],
            generated_at: at,
        }
    }

    #[test]
    fn every_text_in_the_page_is_escaped() {
        let html = render_html(&hostile_package(), Shell::Download);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains(BAD));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
        // 1 title + 1 heading + theme + hosts + summary + venue + agenda +
        // participation + stream link (href and text) + question, nickname,
        // answer + poll title and option + reply's nickname, text, reason, reply, unit.
        assert!(html.matches("&lt;img").count() >= 20, "{html}");
        assert!(!html.contains("href=\"javascript:"), "only http(s) links");
        assert!(!html.contains("<script") && !html.contains("style="));
        assert!(html.starts_with("<!doctype html>") && html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("2024-10-14 09:30（北京时间）"));
    }

    #[test]
    fn only_the_served_page_has_the_large_switch() {
        let page = render_html(&hostile_package(), Shell::Page);
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        assert!(page.contains("<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\""));
        assert!(
            page.contains("<script src=\"/large.js\"></script>\n<title>"),
            "before the stylesheets"
        );
        assert!(page.contains("id=\"large-switch\"") && page.contains("href=\"/large.css\""));
        let download = render_html(&hostile_package(), Shell::Download);
        assert!(!download.contains("large"), "{download}");
    }

    #[test]
    fn workbook_sheets_hold_the_package() {
        let tables = tables(&hostile_package());
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["公告", "问答", "投票结果", "采纳情况", "答复"]);
        assert_eq!(
            tables[1].rows[0][2],
            Cell::Text(BAD.into()),
            "text, never markup-escaped"
        );
        assert_eq!(tables[2].rows[0][5], Cell::Int(2));
        assert!(to_xlsx(&tables).is_ok());
    }
}
