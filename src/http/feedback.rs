//! The public side of the feedback loop: each event's published replies with
//! their adoption states and counts, how many submissions were withheld and
//! why (never their text), and the asker's rating of a reply.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::opinions::local_day;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, OpinionId};
use crate::domain::masking::mask_personal_data;
use crate::domain::opinion::{AdoptionState, Rating, WithheldCategory};
use crate::domain::question::ViewerToken;
use crate::domain::search::{Highlight, SearchQuery};
use crate::domain::time::local_date;
use crate::store::opinions::{Opinion, OpinionFilter, OwnOpinion};

/// A published reply as the public sees it. Personal data in the citizen's
/// text is masked.
#[derive(Serialize, ToSchema)]
pub struct PublicReply {
    pub id: OpinionId,
    /// `question`, `comment`, `poll_answer` or `offline`.
    pub source: String,
    pub nickname: String,
    pub text: String,
    pub topic: Option<String>,
    pub state: AdoptionState,
    pub state_label: &'static str,
    /// Why not adopted.
    pub reason: Option<String>,
    pub reply: String,
    /// 受理日期 (Beijing).
    pub received_date: String,
    /// 答复日期 (Beijing).
    pub reply_date: String,
    /// 答复单位.
    pub unit_name: String,
    pub support: i64,
    /// Whether the asker has rated the reply.
    pub rated: bool,
    /// Whether the asker can rate it (it came from a viewer with a token).
    pub rateable: bool,
    /// Whether it answers the viewer who sent their token in
    /// `X-Viewer-Token` (我的提问): their own question, or one theirs was
    /// merged into. Always false without the header.
    pub mine: bool,
    /// Where a search (`q`) found its text, cut from the fields as shown here
    /// (masked); absent when the page was not searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight: Option<Highlight>,
}

impl PublicReply {
    pub fn from_opinion(o: &Opinion) -> Option<Self> {
        let published = o.published_at?;
        Some(Self {
            id: o.id,
            source: o.source.as_str().to_owned(),
            nickname: mask_personal_data(&o.nickname).into_owned(),
            text: mask_personal_data(&o.text).into_owned(),
            topic: o.topic.clone(),
            state: o.state,
            state_label: o.state.label(),
            // Staff write numbers into replies too: published text is masked whoever wrote it.
            reason: o.reason.as_deref().map(|r| mask_personal_data(r).into_owned()),
            reply: mask_personal_data(o.reply.as_deref().unwrap_or_default()).into_owned(),
            received_date: local_day(o.received_at),
            reply_date: local_day(published),
            unit_name: o.unit_name.clone(),
            support: o.support,
            rated: o.rating.is_some(),
            rateable: o.viewer_key.is_some(),
            mine: false,
            highlight: None,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct StateCount {
    pub state: AdoptionState,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WithheldCount {
    pub category: WithheldCategory,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RatingCount {
    pub rating: Rating,
    pub label: &'static str,
    pub count: i64,
}

/// The viewer's own part of an event's feedback (with `X-Viewer-Token`).
#[derive(Serialize, ToSchema)]
pub struct MineSummary {
    /// Opinions the viewer gave at this event (questions, comments, answers).
    pub asked: i64,
    /// How many of them have a published reply (their own, or the reply of
    /// the opinion staff merged theirs into).
    pub answered: i64,
}

/// An event's public feedback page.
#[derive(Serialize, ToSchema)]
pub struct EventFeedback {
    pub event_id: EventId,
    /// Opinions collected (merged duplicates counted once).
    pub collected: i64,
    /// Replies published so far.
    pub published: i64,
    /// Published replies per adoption state.
    pub by_state: Vec<StateCount>,
    /// The published replies in the order published; with `q`, those whose
    /// shown text, reply or nickname contains it, best first (the counts
    /// stay the event's).
    pub replies: Vec<PublicReply>,
    /// Submissions withheld from the public, by category.
    pub withheld: Vec<WithheldCount>,
    pub ratings: Vec<RatingCount>,
    /// With `X-Viewer-Token`: how many of the viewer's opinions were
    /// collected and answered. Absent without the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<MineSummary>,
}

/// Everything the collected opinions of one event are, read with a bound.
pub(super) async fn event_opinions(state: &AppState, event_id: EventId) -> ApiResult<Vec<Opinion>> {
    let filter = OpinionFilter {
        event_id: Some(event_id),
        today: local_date(crate::domain::time::now()),
        limit: 100_000,
        ..OpinionFilter::default()
    };
    Ok(state.store.list_opinions(&filter).await?)
}

/// The published replies among `opinions` in the order published, and how
/// many of them are in each decided adoption state.
pub(super) fn published_replies(opinions: &[Opinion]) -> (Vec<PublicReply>, Vec<StateCount>) {
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
    (replies, by_state)
}

/// The published replies of an event that contain `query` where the public
/// sees it, best first, with where. The index finds the text as written; a
/// reply found only inside a masked number is left out, so a search cannot
/// tell whether a hidden number holds some digits.
async fn found_replies(state: &AppState, event_id: EventId, query: &SearchQuery) -> ApiResult<Vec<PublicReply>> {
    let filter = OpinionFilter {
        event_id: Some(event_id),
        published: Some(true),
        text: Some(query.clone()),
        today: local_date(crate::domain::time::now()),
        limit: 100_000,
        ..OpinionFilter::default()
    };
    let found = state.store.list_opinions(&filter).await?;
    Ok(found
        .iter()
        .filter_map(PublicReply::from_opinion)
        .filter_map(|mut r| {
            let highlight = query.highlight(&r.text, Some(&r.reply), &r.nickname);
            if highlight.is_empty() {
                return None;
            }
            r.highlight = Some(highlight);
            Some(r)
        })
        .collect())
}

/// `GET /api/events/{id}/feedback`: what to find among the replies.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedbackQuery {
    /// Text to find in the published replies (the citizen's text, the reply
    /// or the nickname; a substring, works for Chinese; at most 100 characters).
    pub q: Option<String>,
}

/// The header in which the public answers page sends the viewer token its
/// browser keeps (a header, not the query: addresses end up in logs).
pub const VIEWER_TOKEN_HEADER: &str = "x-viewer-token";

/// The viewer token of `X-Viewer-Token`, if sent; a malformed one is an error
/// (the page would otherwise silently mark nothing).
fn viewer_token(headers: &HeaderMap) -> ApiResult<Option<ViewerToken>> {
    let Some(value) = headers.get(VIEWER_TOKEN_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(ViewerToken::parse)
        .map(Some)
        .ok_or_else(|| ApiError::invalid("X-Viewer-Token is not a viewer token (32 hexadecimal characters)"))
}

/// Mark the replies that answer `own` and count how many of `own` are answered.
fn mark_mine(own: &[OwnOpinion], published: &HashSet<OpinionId>, replies: &mut [PublicReply]) -> MineSummary {
    let answering: HashSet<OpinionId> = own.iter().map(|o| o.answered_by()).collect();
    for reply in replies.iter_mut() {
        reply.mine = answering.contains(&reply.id);
    }
    MineSummary {
        asked: own.len() as i64,
        answered: own.iter().filter(|o| published.contains(&o.answered_by())).count() as i64,
    }
}

/// An event's published replies, counts per adoption state, ratings and
/// moderation counts (public); with `q`, the replies that contain it; with
/// `X-Viewer-Token`, the viewer's own marked (`mine`) and counted.
#[utoipa::path(get, path = "/api/events/{id}/feedback", tag = "feedback",
    params(("id" = i64, Path), FeedbackQuery,
        ("X-Viewer-Token" = Option<String>, Header, description = "The viewer token the live page keeps (32 hexadecimal characters): marks the viewer's own replies")),
    responses((status = 200, body = EventFeedback), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn event_feedback(
    State(state): State<AppState>,
    Path(id): Path<EventId>,
    Query(params): Query<FeedbackQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<EventFeedback>> {
    let query = SearchQuery::parse_param("q", params.q.as_deref())?;
    let token = viewer_token(&headers)?;
    let event = state.store.event(id).await?;
    if event.status == EventStatus::Draft {
        return Err(ApiError::not_found("event"));
    }
    let opinions = event_opinions(&state, id).await?;
    let (replies, by_state) = published_replies(&opinions);
    let mut replies = match &query {
        Some(query) => found_replies(&state, id, query).await?,
        None => replies,
    };
    let published: Vec<&Opinion> = opinions.iter().filter(|o| o.published_at.is_some()).collect();
    let mine = match token {
        Some(token) => {
            let own = state.store.viewer_opinions(id, &token.key()).await?;
            let published_ids = published.iter().map(|o| o.id).collect();
            Some(mark_mine(&own, &published_ids, &mut replies))
        }
        None => None,
    };
    let ratings = Rating::ALL
        .iter()
        .map(|r| RatingCount {
            rating: *r,
            label: r.label(),
            count: published.iter().filter(|o| o.rating == Some(*r)).count() as i64,
        })
        .collect();
    let withheld = state
        .store
        .withheld_counts(id)
        .await?
        .into_iter()
        .map(|(category, count)| WithheldCount {
            category,
            label: category.label(),
            count,
        })
        .collect();
    Ok(Json(EventFeedback {
        event_id: id,
        collected: opinions.len() as i64,
        published: published.len() as i64,
        by_state,
        replies,
        withheld,
        ratings,
        mine,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// The anonymous viewer token the asker's client kept.
    pub viewer_token: String,
    pub rating: Rating,
}

/// The asker rates a published reply: 满意, 基本满意 or 不满意, once.
#[utoipa::path(post, path = "/api/opinions/{id}/rating", tag = "feedback", params(("id" = i64, Path)), request_body = RatingBody,
    responses((status = 200, body = PublicReply), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rate(
    State(state): State<AppState>,
    Path(id): Path<OpinionId>,
    Json(body): Json<RatingBody>,
) -> ApiResult<Json<PublicReply>> {
    let token = ViewerToken::parse(&body.viewer_token)
        .ok_or_else(|| ApiError::invalid("viewer_token is not a viewer token (32 hexadecimal characters)"))?;
    let key = token.key();
    let o = state.store.opinion(id).await?;
    if o.published_at.is_none() {
        return Err(ApiError::not_found("published reply"));
    }
    if o.viewer_key.as_ref() != Some(&key) {
        return Err(ApiError::forbidden("only the person who asked may rate this reply"));
    }
    if o.rating.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyRated,
            "this reply was rated already",
        ));
    }
    let rated = state.store.rate_opinion(&o, &key, body.rating).await?;
    PublicReply::from_opinion(&rated)
        .map(Json)
        .ok_or_else(|| ApiError::internal("rate", &"a rated reply is unpublished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: i64) -> PublicReply {
        PublicReply {
            id: OpinionId(id),
            source: "question".into(),
            nickname: "网友".into(),
            text: "问".into(),
            topic: None,
            state: AdoptionState::Adopted,
            state_label: AdoptionState::Adopted.label(),
            reason: None,
            reply: "答".into(),
            received_date: "2024-10-14".into(),
            reply_date: "2024-10-15".into(),
            unit_name: "人保局".into(),
            support: 1,
            rated: false,
            rateable: true,
            mine: false,
            highlight: None,
        }
    }

    #[test]
    fn a_viewers_reply_is_theirs_whether_asked_or_merged_into() {
        let own = [
            // Answered under its own id.
            OwnOpinion {
                id: OpinionId(1),
                merged_into: None,
            },
            // Merged into someone else's opinion 5, which was answered.
            OwnOpinion {
                id: OpinionId(2),
                merged_into: Some(OpinionId(5)),
            },
            // Not answered yet.
            OwnOpinion {
                id: OpinionId(3),
                merged_into: None,
            },
        ];
        let published: HashSet<OpinionId> = [1, 4, 5].map(OpinionId).into();
        let mut replies = vec![reply(1), reply(4), reply(5)];
        let summary = mark_mine(&own, &published, &mut replies);
        let mine: Vec<bool> = replies.iter().map(|r| r.mine).collect();
        assert_eq!(mine, [true, false, true]);
        assert_eq!((summary.asked, summary.answered), (3, 2));
    }
}
