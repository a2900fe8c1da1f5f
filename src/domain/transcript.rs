//! The interview transcript (访谈实录): assembled when the event ends from
//! the text feed and the published questions with their live answers, in
//! time order; the unit edits it and publishes it with the materials.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names::names;
use super::question::{PublicQuestion, bounded_text};
use super::update::PublicUpdate;
use super::values::Invalid;

names! {
    /// What a transcript entry is.
    #[derive(ToSchema)]
    pub enum EntryKind {
        /// A text-feed update from the studio.
        Update = "update" / "图文直播",
        /// A citizen's question.
        Question = "question" / "网友提问",
        /// The answer given on air.
        Answer = "answer" / "现场答复",
        /// A paragraph the unit wrote (an introduction, a speech summarised).
        Note = "note" / "实录",
    }
}

/// One paragraph of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptEntry {
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    /// Who speaks: a citizen's nickname, 主持人, a guest's title; may be empty.
    #[serde(default)]
    pub speaker: String,
    pub text: String,
}

/// At most this many entries in one transcript.
pub const MAX_ENTRIES: usize = 2000;
const MAX_TEXT_CHARS: usize = 5000;
const MAX_SPEAKER_CHARS: usize = 40;

/// The transcript as the event left it: each update, and each published
/// question followed by its answer, in time order.
pub fn assemble(updates: &[PublicUpdate], questions: &[PublicQuestion]) -> Vec<TranscriptEntry> {
    let mut entries: Vec<TranscriptEntry> = updates
        .iter()
        .map(|u| TranscriptEntry {
            at: u.posted_at,
            kind: EntryKind::Update,
            speaker: String::new(),
            text: u.text.clone(),
        })
        .collect();
    for q in questions {
        entries.push(TranscriptEntry {
            at: q.created_at,
            kind: EntryKind::Question,
            speaker: q.nickname.clone(),
            text: q.text.clone(),
        });
        if let Some(answer) = q.answer.as_deref().filter(|a| !a.trim().is_empty()) {
            entries.push(TranscriptEntry {
                at: q.created_at,
                kind: EntryKind::Answer,
                speaker: "主持人".to_owned(),
                text: answer.to_owned(),
            });
        }
    }
    // Stable: an answer stays right after its question.
    entries.sort_by_key(|e| e.at);
    entries
}

/// Check the unit's edited entries: 1–[`MAX_ENTRIES`], each text 1–5000
/// characters, each speaker at most 40; texts and speakers trimmed.
pub fn check_entries(entries: Vec<TranscriptEntry>) -> Result<Vec<TranscriptEntry>, Invalid> {
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(Invalid::new("entries", format!("1 to {MAX_ENTRIES} entries")));
    }
    entries
        .into_iter()
        .map(|e| {
            let speaker = e.speaker.trim();
            let speaker = if speaker.is_empty() {
                String::new()
            } else {
                bounded_text("speaker", speaker, MAX_SPEAKER_CHARS)?
            };
            Ok(TranscriptEntry {
                text: bounded_text("text", &e.text, MAX_TEXT_CHARS)?,
                speaker,
                ..e
            })
        })
        .collect()
}

/// The entries with personal data in their text and speaker masked: what is
/// published.
pub fn masked(entries: &[TranscriptEntry]) -> Vec<TranscriptEntry> {
    entries
        .iter()
        .map(|e| TranscriptEntry {
            text: super::masking::mask_personal_data(&e.text).into_owned(),
            speaker: super::masking::mask_personal_data(&e.speaker).into_owned(),
            ..e.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{PostId, UpdateId};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn updates_and_questions_in_time_order() {
        let update = |id, t: &str, text: &str| PublicUpdate {
            id: UpdateId(id),
            text: text.into(),
            image_id: None,
            image_width: None,
            image_height: None,
            posted_at: at(t),
            edited: false,
        };
        let question = PublicQuestion {
            id: PostId(5),
            nickname: "张三".into(),
            text: "社保卡怎么补办？".into(),
            upvotes: 3,
            answered: true,
            answer: Some("可在窗口补办。".into()),
            edited: false,
            created_at: at("2024-10-14T01:40:00Z"),
        };
        let entries = assemble(
            &[
                update(1, "2024-10-14T01:30:00Z", "开始"),
                update(2, "2024-10-14T01:50:00Z", "结束"),
            ],
            &[question],
        );
        let kinds: Vec<EntryKind> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EntryKind::Update,
                EntryKind::Question,
                EntryKind::Answer,
                EntryKind::Update
            ]
        );
        assert_eq!(entries[2].text, "可在窗口补办。");
    }

    #[test]
    fn edited_entries_are_checked_and_masked() {
        let entry = |text: &str| TranscriptEntry {
            at: at("2024-10-14T01:30:00Z"),
            kind: EntryKind::Note,
            speaker: " 局长 ".into(),
            text: text.into(),
        };
        assert!(check_entries(vec![]).is_err());
        assert!(check_entries(vec![entry("  ")]).is_err());
        let ok = check_entries(vec![entry(" 欢迎收看，咨询电话13812345678 ")]).unwrap();
        assert_eq!(ok[0].speaker, "局长");
        assert_eq!(masked(&ok)[0].text, "欢迎收看，咨询电话138****5678");
    }
}
