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

use std::fmt::Write;

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
use super::feedback::{PublicReply, StateCount, event_opinions};
use crate::domain::event::{EventForm, EventKind, EventStatus, Transition};
use crate::domain::masking::mask_personal_data;
use crate::domain::opinion::AdoptionState;
use crate::domain::poll::{PollKind, PollStatus, PublicPoll};
use crate::domain::staff::Staff;
use crate::domain::time::{now, shanghai, to_local_string};
use crate::domain::values::optional_url;
use crate::export::{Cell, Table, to_xlsx};
use crate::store::StoreError;
use crate::store::events::Event;

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const HTML_TYPE: &str = "text/html; charset=utf-8";

/// An event's materials package (活动实录).
#[derive(Serialize, ToSchema)]
pub struct MaterialsPackage {
    pub event_id: i64,
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
    pub id: i64,
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
    pub id: i64,
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
    // `load_room` reads the approved questions (kind `question`, in order)
    // and the room's polls with the tallies the public may see.
    let room = state.store.load_room(event.id).await?;
    let questions = room
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| RecordQuestion {
            number: i as i64 + 1,
            id: q.id,
            nickname: mask_personal_data(&q.nickname).into_owned(),
            text: mask_personal_data(&q.text).into_owned(),
            upvotes: q.upvotes,
            answer: q.answer.clone().filter(|a| !a.trim().is_empty()),
            asked_at: q.created_at,
        })
        .collect();
    let opinions = event_opinions(state, event.id).await?;
    let mut replies: Vec<PublicReply> = opinions.iter().filter_map(PublicReply::from_opinion).collect();
    replies.sort_by(|a, b| (&a.reply_date, a.id).cmp(&(&b.reply_date, b.id)));
    let by_state = AdoptionState::ALL
        .iter()
        .filter(|s| s.decided())
        .map(|s| StateCount {
            state: *s,
            label: s.label(),
            count: replies.iter().filter(|r| r.state == *s).count() as i64,
        })
        .collect();
    let collected = opinions.len() as i64;
    let published = replies.len() as i64;
    Ok(MaterialsPackage {
        event_id: event.id,
        published: event.status == EventStatus::MaterialsPublished,
        materials_published_at: event.materials_published_at,
        announcement: announcement(event),
        questions,
        polls: room.polls.iter().map(poll_result).collect(),
        video_url: event.video_url.clone(),
        adoption: AdoptionSummary {
            collected,
            published,
            awaiting_reply: (collected - published).max(0),
            by_state,
        },
        replies,
        generated_at: now(),
    })
}

fn announcement(e: &Event) -> Announcement {
    Announcement {
        title: e.title.clone(),
        kind: e.kind,
        kind_label: kind_label(e.kind),
        theme: e.theme.as_ref().map(|t| t.name.clone()),
        host_units: e.hosts.iter().map(|h| h.short_name.clone()).collect(),
        form: e.form,
        form_label: form_label(e.form),
        summary: e.summary.clone(),
        starts_at: e.starts_at,
        starts_at_local: e.starts_at.map(to_local_string),
        duration_minutes: e.duration_minutes,
        venue: e.venue.clone(),
        agenda: e.agenda.clone(),
        participation: e.participation.clone(),
        stream_url: e.stream_url.clone(),
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
            "not_ended",
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
    Path(id): Path<i64>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Response> {
    let event = state.store.event(id).await?;
    readable(&event, viewer.as_ref())?;
    let package = assemble(&state, &event).await?;
    Ok(match q.format.unwrap_or_default() {
        RecordFormat::Json => Json(package).into_response(),
        RecordFormat::Html => download(render_html(&package).into_bytes(), HTML_TYPE, id, "html"),
        RecordFormat::Xlsx => {
            let bytes = to_xlsx(&tables(&package)).map_err(|e| ApiError::internal("materials workbook", &e))?;
            download(bytes, XLSX_TYPE, id, "xlsx")
        }
    })
}

fn download(body: Vec<u8>, content_type: &'static str, id: i64, ext: &str) -> Response {
    let disposition = format!("attachment; filename=\"record-{id}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
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
    Path(id): Path<i64>,
    Json(body): Json<PublishRecordBody>,
) -> ApiResult<Json<EventView>> {
    let event = state.store.event(id).await?;
    if !staff.0.manages(&event.host_ids()) {
        return Err(ApiError::forbidden(
            "only the data bureau and the event's host units may publish its materials",
        ));
    }
    event
        .status
        .apply(Transition::PublishMaterials)
        .map_err(|e| ApiError::conflict("wrong_status", e.to_string()))?;
    let video_url = optional_url("video_url", body.video_url.as_deref())?.or_else(|| event.video_url.clone());
    if event.kind == EventKind::Lecture && video_url.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "video_required",
            "a policy lecture's materials include its explanation video: give video_url",
        ));
    }
    let materials_url = format!("/events/{id}/record");
    let event = state
        .store
        .publish_materials(id, &materials_url, video_url.as_deref())
        .await?;
    tracing::info!(event_id = id, by = staff.0.id, "materials package published");
    Ok(Json(view(&state, event, Some(&staff.0))))
}

/// The public page of a published package (a 404 page otherwise).
#[utoipa::path(get, path = "/events/{id}/record", tag = "materials", params(("id" = i64, Path)),
    responses((status = 200, description = "the package as an HTML page", content_type = "text/html"),
        (status = 404, description = "no published package")))]
pub async fn page(State(state): State<AppState>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
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
            render_html(&package),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_found_page() -> Response {
    let body = "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>未找到 · 活动实录</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\
        <body><header><h1>未找到活动实录</h1></header><main><p>该活动的实录尚未发布，或活动不存在。</p>\
        <p><a href=\"/\">返回活动列表</a></p></main></body></html>\n";
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, HTML_TYPE)], body).into_response()
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A Beijing time for people: `2024-10-14 09:30`.
fn local_minutes(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M").to_string()
}

/// A link for an http(s) URL (stored URLs are checked to be http(s) on input;
/// anything else is shown as text).
fn link(url: &str) -> String {
    let url = escape_html(url);
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{url}\" rel=\"noopener\">{url}</a>")
    } else {
        url
    }
}

/// The package as a standalone HTML document. Every text that came from a
/// person goes through [`escape_html`]; the rest are fixed labels and numbers.
pub fn render_html(p: &MaterialsPackage) -> String {
    let a = &p.announcement;
    let e = escape_html;
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · 活动实录</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body class=\"record\">\n<header><h1>{title}</h1><p>{kind} · 活动实录</p></header>\n<main>\n",
        title = e(&a.title),
        kind = a.kind_label,
    );
    if !p.published {
        h.push_str("<p class=\"record-draft\">预览：本实录尚未发布。</p>\n");
    }
    render_announcement(&mut h, p);
    render_questions(&mut h, p);
    render_polls(&mut h, p);
    render_adoption(&mut h, p);
    let _ = write!(
        h,
        "</main>\n<footer>北京市大兴区 · 政务开放日 / 政策公开讲 · 生成于 {}</footer>\n</body>\n</html>\n",
        local_minutes(p.generated_at)
    );
    h
}

fn render_announcement(h: &mut String, p: &MaterialsPackage) {
    let a = &p.announcement;
    let e = escape_html;
    let mut facts: Vec<(&str, String)> = vec![("活动类型", a.kind_label.to_owned())];
    if let Some(theme) = &a.theme {
        facts.push(("主题", e(theme)));
    }
    facts.push(("主办单位", e(&a.host_units.join("、"))));
    facts.push(("活动形式", a.form_label.to_owned()));
    if let Some(at) = a.starts_at {
        facts.push(("活动时间", format!("{}（北京时间）", local_minutes(at))));
    }
    if let Some(m) = a.duration_minutes {
        facts.push(("活动时长", format!("{m} 分钟")));
    }
    let optional = [
        ("活动地点", &a.venue),
        ("活动流程", &a.agenda),
        ("网民参与方式", &a.participation),
    ];
    for (label, value) in optional {
        if let Some(v) = value {
            facts.push((label, format!("<span class=\"record-text\">{}</span>", e(v))));
        }
    }
    if let Some(url) = &a.stream_url {
        facts.push(("直播地址", link(url)));
    }
    h.push_str("<section id=\"announcement\">\n<h2>活动公告</h2>\n");
    if !a.summary.is_empty() {
        let _ = writeln!(h, "<p class=\"record-text\">{}</p>", e(&a.summary));
    }
    h.push_str("<dl class=\"record-facts\">\n");
    for (label, value) in facts {
        let _ = writeln!(h, "<dt>{label}</dt><dd>{value}</dd>");
    }
    h.push_str("</dl>\n</section>\n<section id=\"video\">\n<h2>活动视频</h2>\n");
    match &p.video_url {
        Some(url) => {
            let _ = writeln!(h, "<p>{}</p>", link(url));
        }
        None => h.push_str("<p>暂无视频。</p>\n"),
    }
    h.push_str("</section>\n");
}

fn render_questions(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    h.push_str("<section id=\"qa\">\n<h2>互动问答</h2>\n");
    if p.questions.is_empty() {
        h.push_str("<p>本场活动没有公开的提问。</p>\n</section>\n");
        return;
    }
    h.push_str("<ol class=\"record-qa\">\n");
    for q in &p.questions {
        let _ = write!(
            h,
            "<li><p class=\"record-q\"><span class=\"record-who\">{}</span>：<span class=\"record-text\">{}</span> \
             <span class=\"badge\">赞 {}</span></p>",
            e(&q.nickname),
            e(&q.text),
            q.upvotes
        );
        match &q.answer {
            Some(answer) => {
                let _ = write!(h, "<p class=\"record-a record-text\">答：{}</p>", e(answer));
            }
            None => h.push_str("<p class=\"record-a\">现场未作答，已转交承办单位答复。</p>"),
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ol>\n</section>\n");
}

fn render_polls(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    h.push_str("<section id=\"polls\">\n<h2>投票结果</h2>\n");
    if p.polls.is_empty() {
        h.push_str("<p>本场活动没有投票。</p>\n");
    }
    for poll in &p.polls {
        let status = if poll.status == PollStatus::Closed.as_str() {
            "已结束"
        } else {
            "进行中"
        };
        let _ = write!(
            h,
            "<article class=\"record-poll\">\n<h3>{}</h3>\n<p>{} · {}",
            e(&poll.title),
            poll.kind_label,
            status
        );
        if let Some(voters) = poll.voters {
            let _ = write!(h, " · {voters} 人参与");
        }
        if let Some(avg) = poll.average {
            let _ = write!(h, " · 平均 {avg:.2} 分");
        }
        h.push_str("</p>\n");
        if !poll.results_shown {
            h.push_str("<p>结果将在投票结束后公布。</p>\n</article>\n");
            continue;
        }
        let total: i64 = poll.counts.iter().map(|c| c.count).sum::<i64>().max(1);
        h.push_str("<table class=\"record-table\">\n<thead><tr><th>选项</th><th>票数</th><th>占比</th></tr></thead>\n<tbody>\n");
        for c in &poll.counts {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><meter min=\"0\" max=\"{total}\" value=\"{}\"></meter> {:.1}%</td></tr>",
                e(&c.label),
                c.count,
                c.count,
                c.count as f64 * 100.0 / total as f64
            );
        }
        h.push_str("</tbody>\n</table>\n</article>\n");
    }
    h.push_str("</section>\n");
}

fn render_adoption(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    let s = &p.adoption;
    let _ = write!(
        h,
        "<section id=\"adoption\">\n<h2>意见采纳情况</h2>\n<table class=\"record-table\">\n<tbody>\n\
         <tr><th>收集意见建议</th><td>{}</td></tr>\n<tr><th>已公开答复</th><td>{}</td></tr>\n\
         <tr><th>待答复</th><td>{}</td></tr>\n",
        s.collected, s.published, s.awaiting_reply
    );
    for c in &s.by_state {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", c.label, c.count);
    }
    h.push_str("</tbody>\n</table>\n<h3>答复公开</h3>\n");
    if p.replies.is_empty() {
        h.push_str("<p>暂无公开答复。</p>\n</section>\n");
        return;
    }
    h.push_str("<ol class=\"record-replies\">\n");
    for r in &p.replies {
        let _ = write!(
            h,
            "<li><p class=\"record-q\"><span class=\"record-who\">{}</span>：<span class=\"record-text\">{}</span> \
             <span class=\"badge\">{}</span></p>",
            e(&r.nickname),
            e(&r.text),
            r.state_label
        );
        if let Some(reason) = &r.reason {
            let _ = write!(h, "<p class=\"record-text\">原因：{}</p>", e(reason));
        }
        let _ = writeln!(
            h,
            "<p class=\"record-a record-text\">答复：{}</p><p class=\"record-meta\">答复单位：{} · 受理日期：{} · 答复日期：{}</p></li>",
            e(&r.reply),
            e(&r.unit_name),
            e(&r.received_date),
            e(&r.reply_date)
        );
    }
    h.push_str("</ol>\n</section>\n");
}

/// The package as workbook sheets: 公告, 问答, 投票结果, 采纳情况 and 答复.
fn tables(p: &MaterialsPackage) -> Vec<Table> {
    let a = &p.announcement;
    let mut notice = Table::new("公告", ["项目", "内容"]);
    let rows: [(&str, Cell); 14] = [
        ("活动名称", a.title.as_str().into()),
        ("活动类型", a.kind_label.into()),
        ("主题", a.theme.clone().into()),
        ("主办单位", a.host_units.join("、").into()),
        ("活动形式", a.form_label.into()),
        ("活动简介", a.summary.as_str().into()),
        ("开始时间（北京时间）", a.starts_at.into()),
        ("时长（分钟）", a.duration_minutes.into()),
        ("活动地点", a.venue.clone().into()),
        ("活动流程", a.agenda.clone().into()),
        ("网民参与方式", a.participation.clone().into()),
        ("直播地址", a.stream_url.clone().into()),
        ("视频", p.video_url.clone().into()),
        ("生成时间", p.generated_at.into()),
    ];
    notice.rows = rows.into_iter().map(|(k, v)| vec![k.into(), v]).collect();

    let mut qa = Table::new("问答", ["序号", "提问人", "问题", "点赞数", "现场答复", "提问时间"]);
    qa.rows = p
        .questions
        .iter()
        .map(|q| {
            vec![
                q.number.into(),
                q.nickname.as_str().into(),
                q.text.as_str().into(),
                q.upvotes.into(),
                q.answer.clone().into(),
                q.asked_at.into(),
            ]
        })
        .collect();

    let mut polls = Table::new("投票结果", ["投票", "类型", "状态", "参与人数", "选项", "票数"]);
    for poll in &p.polls {
        let head = |option: Cell, count: Cell| {
            vec![
                poll.title.as_str().into(),
                poll.kind_label.into(),
                poll.status.into(),
                poll.voters.into(),
                option,
                count,
            ]
        };
        if !poll.results_shown {
            polls.rows.push(head("结果未公布".into(), Cell::Empty));
        }
        for c in &poll.counts {
            polls.rows.push(head(c.label.as_str().into(), c.count.into()));
        }
        if let Some(avg) = poll.average {
            polls.rows.push(head("平均分".into(), avg.into()));
        }
    }

    let mut adoption = Table::new("采纳情况", ["项目", "数量"]);
    let s = &p.adoption;
    adoption.rows = [
        ("收集意见建议", s.collected),
        ("已公开答复", s.published),
        ("待答复", s.awaiting_reply),
    ]
    .into_iter()
    .chain(s.by_state.iter().map(|c| (c.label, c.count)))
    .map(|(k, n)| vec![k.into(), n.into()])
    .collect();

    let mut replies = Table::new(
        "答复",
        [
            "留言人",
            "意见建议",
            "采纳情况",
            "原因",
            "答复",
            "答复单位",
            "受理日期",
            "答复日期",
        ],
    );
    replies.rows = p
        .replies
        .iter()
        .map(|r| {
            vec![
                r.nickname.as_str().into(),
                r.text.as_str().into(),
                r.state_label.into(),
                r.reason.clone().into(),
                r.reply.as_str().into(),
                r.unit_name.as_str().into(),
                r.received_date.as_str().into(),
                r.reply_date.as_str().into(),
            ]
        })
        .collect();
    vec![notice, qa, polls, adoption, replies]
}

#[cfg(test)]
mod tests {
    use super::*;

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
            event_id: 1,
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
                id: 1,
                nickname: bad(),
                text: bad(),
                upvotes: 3,
                answer: Some(bad()),
                asked_at: at,
            }],
            polls: vec![PollResult {
                id: 1,
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
            replies: vec![PublicReply {
                id: 1,
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
            }],
            generated_at: at,
        }
    }

    #[test]
    fn every_text_in_the_page_is_escaped() {
        let html = render_html(&hostile_package());
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
