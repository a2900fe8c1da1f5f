//! A search over what people wrote (opinions, their replies, nicknames), and
//! where it was found.
//!
//! Chinese has no spaces between words, so a query is a plain substring,
//! matched without regard to case. From [`INDEXED_FROM`] characters on it
//! goes through the databases' trigram indexes (migration 0019); one or two
//! characters make no trigram and are scanned for (`store/opinions/search.rs`).
//!
//! What was found is shown as [`Segment`]s: the shown text cut at each match,
//! each piece marked hit or not. Pages put a hit into a `<mark>` they create
//! themselves, so a text never travels as HTML. The segments are cut from the
//! text *as shown* — with personal data masked where the page masks it — so
//! a match inside a masked number marks nothing and reveals no digit.

use serde::Serialize;
use utoipa::ToSchema;

use super::values::Invalid;

/// The longest query, in characters.
pub const MAX_CHARS: usize = 100;

/// From this many characters a query is answered through the index: the
/// trigram tokenizer (SQLite) and pg_trgm (PostgreSQL) index runs of three.
pub const INDEXED_FROM: usize = 3;

/// A query: trimmed, 1 to [`MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

impl SearchQuery {
    /// The query in `s`; `None` when it is empty or only spaces.
    pub fn parse(field: &'static str, s: &str) -> Result<Option<Self>, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("search for at most {MAX_CHARS} characters"),
            ));
        }
        Ok(Some(Self(s.to_owned())))
    }

    /// The query in an optional parameter (absent, empty or a query).
    pub fn parse_param(field: &'static str, s: Option<&str>) -> Result<Option<Self>, Invalid> {
        Ok(s.map(|s| Self::parse(field, s)).transpose()?.flatten())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its length in characters (not bytes).
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether the index can answer it (three characters or more).
    pub fn indexed(&self) -> bool {
        self.chars() >= INDEXED_FROM
    }

    /// The query in lower case, as the scan compares it with `LOWER(…)`.
    pub fn lowered(&self) -> String {
        self.0.to_lowercase()
    }

    /// A `LIKE` pattern finding it anywhere, lower case, with `%`, `_` and
    /// `\` escaped (`ESCAPE '\'`).
    pub fn like_pattern(&self) -> String {
        let mut p = String::with_capacity(self.0.len() + 2);
        p.push('%');
        for c in self.lowered().chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }

    /// An FTS5 query finding it anywhere: one phrase in double quotes, its
    /// own quotes doubled, so nothing in it is read as query syntax.
    pub fn fts_phrase(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }

    /// `text` cut at each match (leftmost first, not overlapping), or `None`
    /// when it does not contain the query.
    pub fn segments(&self, text: &str) -> Option<Vec<Segment>> {
        let query: Vec<char> = self.0.chars().collect();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut segments = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i + query.len() <= chars.len() {
            let found = chars[i..i + query.len()]
                .iter()
                .zip(&query)
                .all(|((_, a), b)| same_letter(*a, *b));
            if !found {
                i += 1;
                continue;
            }
            let from = chars[i].0;
            let to = chars.get(i + query.len()).map_or(text.len(), |(at, _)| *at);
            if from > start {
                segments.push(Segment::new(&text[start..from], false));
            }
            segments.push(Segment::new(&text[from..to], true));
            start = to;
            i += query.len();
        }
        if segments.is_empty() {
            return None;
        }
        if start < text.len() {
            segments.push(Segment::new(&text[start..], false));
        }
        Some(segments)
    }

    /// Where the query is in an opinion as shown: each field that contains it.
    pub fn highlight(&self, text: &str, reply: Option<&str>, nickname: &str) -> Highlight {
        Highlight {
            text: self.segments(text),
            reply: reply.and_then(|r| self.segments(r)),
            nickname: self.segments(nickname),
        }
    }
}

/// Equal without regard to case (one character against one; Chinese has none).
fn same_letter(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// A piece of a shown text: `hit` when it is the query (in the text's own case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Segment {
    pub text: String,
    pub hit: bool,
}

impl Segment {
    fn new(text: &str, hit: bool) -> Self {
        Self {
            text: text.to_owned(),
            hit,
        }
    }
}

/// Where a search found its query, field by field, as [`Segment`]s that join
/// into the field as shown; `null` for a field without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Highlight {
    pub text: Option<Vec<Segment>>,
    pub reply: Option<Vec<Segment>>,
    pub nickname: Option<Vec<Segment>>,
}

impl Highlight {
    /// Whether the query is in none of the shown fields (say, only inside a
    /// masked number).
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.reply.is_none() && self.nickname.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> SearchQuery {
        SearchQuery::parse("q", s).unwrap().unwrap()
    }

    fn shown(segments: &[Segment]) -> String {
        segments
            .iter()
            .map(|s| if s.hit { format!("[{}]", s.text) } else { s.text.clone() })
            .collect()
    }

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(SearchQuery::parse("q", "  ").unwrap(), None);
        assert_eq!(q(" 停车 ").as_str(), "停车");
        assert!(SearchQuery::parse("q", &"字".repeat(101)).is_err());
        assert!(SearchQuery::parse("q", &"字".repeat(100)).is_ok());
        assert!(!q("停车").indexed());
        assert!(q("停车难").indexed());
        assert_eq!(q("停车难").chars(), 3);
    }

    #[test]
    fn patterns_escape_wildcards_and_phrases_escape_quotes() {
        assert_eq!(q("停车").like_pattern(), "%停车%");
        assert_eq!(q("50%_a\\B").like_pattern(), "%50\\%\\_a\\\\b%");
        assert_eq!(q("say \"hi\" OR x").fts_phrase(), "\"say \"\"hi\"\" OR x\"");
    }

    #[test]
    fn segments_mark_every_match_in_the_texts_own_case() {
        let s = q("停车").segments("门口停车难，停车位少").unwrap();
        assert_eq!(shown(&s), "门口[停车]难，[停车]位少");
        assert_eq!(shown(&q("abc").segments("ABC-xabcx").unwrap()), "[ABC]-x[abc]x");
        assert_eq!(shown(&q("路").segments("路").unwrap()), "[路]");
        assert_eq!(shown(&q("aa").segments("aaa").unwrap()), "[aa]a");
        assert_eq!(q("停车").segments("道路坑洼"), None);
        assert_eq!(q("停车").segments(""), None);
    }

    #[test]
    fn a_match_inside_a_masked_number_marks_nothing() {
        let masked = crate::domain::masking::mask_personal_data("电话13812345678");
        assert_eq!(q("1234").segments(&masked), None);
        let h = q("5678").highlight(&masked, None, "王大爷");
        assert_eq!(shown(h.text.as_ref().unwrap()), "电话138****[5678]");
        assert!(q("1234").highlight(&masked, Some("已答复"), "王大爷").is_empty());
    }
}
