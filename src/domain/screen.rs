//! Sensitive-word screen for audience questions.
//!
//! The word list is TOML text (the caller reads the file, so a reload is just
//! parsing new text and swapping the [`WordList`]); this module does no I/O.
//! Matching runs on a *normalized* form of both the list words and the
//! question (see [`normalize`]) so that the usual evasions — full-width
//! letters, upper case, traditional characters, and spaces, punctuation,
//! emoji or zero-width characters slipped between the characters of a word —
//! still hit. Every hit is mapped back to a character span of the original
//! question so a moderator sees exactly what was written.
//!
//! A hit never silently drops a question: [`Verdict::Hold`] queues it for a
//! moderator, and [`Verdict::Reject`] (only for categories the operator marked
//! `reject`) refuses it with a message the author is shown.

use std::collections::HashMap;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// The shipped starter list; operators replace it with their own file.
pub const DEFAULT_WORDS: &str = include_str!("../../config/screen/words.toml");

/// Traditional → simplified single-character table (OpenCC, Apache-2.0).
const T2S_TABLE: &str = include_str!("../../config/screen/t2s.txt");

/// Why a word list was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// Not valid TOML, or not the expected shape (unknown or missing field, wrong type).
    #[error("word list syntax error: {0}")]
    Syntax(String),
    /// Well-formed TOML whose content breaks a rule (duplicate category, empty word, …).
    #[error("{0}")]
    Invalid(String),
}

/// What happens to a question that hits a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Held for a moderator, with the hit marked.
    Hold,
    /// Refused outright; the author is shown the category's message.
    Reject,
}

/// One hit: the list word, its category, and where it is in the ORIGINAL text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Hit {
    /// The word as written in the list.
    pub word: String,
    /// The category the word belongs to.
    pub category: String,
    /// Char index (not byte) into the original text, inclusive.
    pub start: usize,
    /// Char index, exclusive; the span covers the evasive form as written, e.g. "加 微-信".
    pub end: usize,
}

/// The outcome of screening one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Held for a moderator; the hits are shown highlighted.
    Hold {
        hits: Vec<Hit>,
    },
    /// Refused outright: the first rejecting category and its message; all hits kept for the audit.
    Reject {
        category: String,
        message: String,
        hits: Vec<Hit>,
    },
}

/// A parsed, ready-to-match word list. Cheap to clone (the automaton is shared).
#[derive(Debug, Clone)]
pub struct WordList {
    /// `None` when there are no words: nothing to match, nothing to build.
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern (a distinct normalized word), the entries it stands for.
    /// Several entries share a pattern when one word is listed in several categories.
    pattern_entries: Vec<Vec<usize>>,
    /// One per distinct (normalized word, category), in list order.
    entries: Vec<Entry>,
    /// In list order; the order decides which rejecting category is reported first.
    categories: Vec<Category>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// As written in the list, so the moderator recognizes it.
    word: String,
    /// Index into `WordList::categories`.
    category: usize,
}

#[derive(Debug, Clone)]
struct Category {
    name: String,
    action: Action,
    /// Present (non-empty) for `Reject`; not needed for `Hold`.
    message: Option<String>,
}

// --- The file format -------------------------------------------------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    #[serde(default)]
    category: Vec<RawCategory>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    name: String,
    // A string rather than `Action`, so an unknown action is reported with the
    // category's name instead of serde's bare "unknown variant".
    action: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    words: Vec<String>,
}

/// Category names are ASCII slugs: they end up in logs, metrics and the API.
fn valid_slug(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '_'])
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl WordList {
    /// Parses the TOML word list (see `config/screen/README.md`).
    pub fn parse(toml_text: &str) -> Result<Self, ScreenError> {
        let raw: RawList = toml::from_str(toml_text).map_err(|e| ScreenError::Syntax(e.to_string()))?;

        let mut categories: Vec<Category> = Vec::with_capacity(raw.category.len());
        let mut entries: Vec<Entry> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_entries: Vec<Vec<usize>> = Vec::new();
        let mut pattern_ids: HashMap<String, usize> = HashMap::new();

        for raw_cat in raw.category {
            let name = raw_cat.name;
            if !valid_slug(&name) {
                return Err(ScreenError::Invalid(format!(
                    "category name {name:?} is not a slug: use 1–64 lowercase ASCII letters, digits, '-' and '_'"
                )));
            }
            if categories.iter().any(|c| c.name == name) {
                return Err(ScreenError::Invalid(format!(
                    "category {name:?} is defined more than once"
                )));
            }
            let action = match raw_cat.action.as_str() {
                "hold" => Action::Hold,
                "reject" => Action::Reject,
                other => {
                    return Err(ScreenError::Invalid(format!(
                        "category {name:?}: unknown action {other:?} (expected \"hold\" or \"reject\")"
                    )));
                }
            };
            let message = raw_cat.message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
            if action == Action::Reject && message.is_none() {
                return Err(ScreenError::Invalid(format!(
                    "category {name:?}: action \"reject\" needs a non-empty `message` to show the author"
                )));
            }

            let cat_index = categories.len();
            for word in raw_cat.words {
                let key = normalize(&word);
                if key.is_empty() {
                    return Err(ScreenError::Invalid(format!(
                        "category {name:?}: word {word:?} is empty once spaces and punctuation are ignored"
                    )));
                }
                let pattern = *pattern_ids.entry(key).or_insert_with_key(|key| {
                    patterns.push(key.clone());
                    pattern_entries.push(Vec::new());
                    patterns.len() - 1
                });
                // The same word (up to normalization) twice in one category adds nothing.
                let duplicate = pattern_entries[pattern]
                    .iter()
                    .any(|&e| entries[e].category == cat_index);
                if !duplicate {
                    pattern_entries[pattern].push(entries.len());
                    entries.push(Entry {
                        word,
                        category: cat_index,
                    });
                }
            }
            categories.push(Category { name, action, message });
        }

        let automaton = if patterns.is_empty() {
            None
        } else {
            // `Standard` semantics is what allows overlapping iteration, so
            // every occurrence of every word is reported (e.g. both "加微信"
            // and "微信" if both are listed): the audit wants all hits.
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| ScreenError::Invalid(format!("word list is too large to compile: {e}")))?;
            Some(ac)
        };

        Ok(Self {
            automaton,
            pattern_entries,
            entries,
            categories,
        })
    }

    /// A list that screens nothing (e.g. before an operator configures one).
    pub fn empty() -> Self {
        Self {
            automaton: None,
            pattern_entries: Vec::new(),
            entries: Vec::new(),
            categories: Vec::new(),
        }
    }

    /// Number of (word, category) entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Screens one question. A `reject` hit wins over `hold` hits; the reported
    /// category is the first rejecting one in list order, so the operator
    /// controls precedence by ordering the file.
    pub fn screen(&self, text: &str) -> Verdict {
        let Some(automaton) = &self.automaton else {
            return Verdict::Clean;
        };
        let norm = Normalized::new(text);

        // (start, end, entry) — the entry index keeps ties in list order.
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for m in automaton.find_overlapping_iter(norm.text.as_str()) {
            // Patterns are never empty, so `m.end() - 1` is a byte of the last matched char.
            let start = norm.origin[m.start()];
            let end = norm.origin[m.end() - 1] + 1;
            for &entry in &self.pattern_entries[m.pattern().as_usize()] {
                found.push((start, end, entry));
            }
        }
        if found.is_empty() {
            return Verdict::Clean;
        }
        found.sort_unstable();

        let rejecting = found
            .iter()
            .map(|&(_, _, e)| self.entries[e].category)
            .filter(|&c| self.categories[c].action == Action::Reject)
            .min();
        let hits = found
            .into_iter()
            .map(|(start, end, e)| Hit {
                word: self.entries[e].word.clone(),
                category: self.categories[self.entries[e].category].name.clone(),
                start,
                end,
            })
            .collect();

        match rejecting {
            Some(c) => {
                let cat = &self.categories[c];
                Verdict::Reject {
                    category: cat.name.clone(),
                    // Always present for reject categories: `parse` checks it.
                    message: cat.message.clone().unwrap_or_default(),
                    hits,
                }
            }
            None => Verdict::Hold { hits },
        }
    }
}

// --- Normalization ---------------------------------------------------------

/// Whether `c` is an invisible format character that changes how text
/// around it looks without being seen itself: zero-width spaces and joiners,
/// bidirectional marks, embeddings, overrides and isolates (a right-to-left
/// override makes "gpj.exe" read as "exe.jpg"), word joiners and invisible
/// operators, the BOM, the soft hyphen, the Mongolian vowel separator.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Emoji, where a zero-width joiner between two of them draws one picture
/// (👨‍👩‍👧): the only place an invisible character is kept.
fn is_emoji(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{1F000}'..='\u{1FAFF}' | '\u{FE0F}')
}

/// The text a viewer typed without its invisible format characters (see
/// [`is_invisible_format`]), as it is stored and shown: nicknames, questions,
/// comments and answers are text to read, and what cannot be seen must not
/// change what is read. A zero-width joiner between two emoji stays. Borrows
/// when there is nothing to strip.
pub fn strip_invisible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_invisible_format) {
        return std::borrow::Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let kept = chars.iter().enumerate().filter(|&(i, &c)| {
        if c == '\u{200D}' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
            let after = chars.get(i + 1).copied();
            before.is_some_and(is_emoji) && after.is_some_and(is_emoji)
        } else {
            !is_invisible_format(c)
        }
    });
    std::borrow::Cow::Owned(kept.map(|(_, &c)| c).collect())
}

/// The normalized form used for matching (exposed for tests and the moderator UI).
///
/// Applied identically to list words and to questions, char by char:
/// 1. full-width ASCII (U+FF01..=U+FF5E) → ASCII and U+3000 → ' ', because
///    Chinese IMEs make "ＶＸ" as easy to type as "VX";
/// 2. Unicode lowercase, so "VX", "Vx" and "vx" are one word;
/// 3. traditional → simplified (OpenCC's character table), because "銀行卡"
///    is typed with one IME toggle and means the same as "银行卡";
/// 4. whitespace, punctuation, symbols, emoji, zero-width and combining
///    characters are dropped, because inserting them between characters
///    ("加 微-信", "加😀微信", "加\u{200B}微信") is the cheapest evasion and
///    they carry no meaning a word list could depend on. Letters and digits
///    of any script are always kept.
pub fn normalize(text: &str) -> String {
    Normalized::new(text).text
}

/// A normalized text plus, for every byte of it, the char index of the
/// original char it came from, so matches map back to the original.
struct Normalized {
    text: String,
    origin: Vec<usize>,
}

impl Normalized {
    fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        for (index, c) in original.chars().enumerate() {
            // Lowercasing may yield several chars (e.g. 'İ' → "i\u{307}"); each
            // keeps the same origin, and stray combining marks are dropped below.
            for lower in fold_width(c).to_lowercase() {
                let simplified = to_simplified(lower);
                if is_ignorable(simplified) {
                    continue;
                }
                text.push(simplified);
                origin.extend(std::iter::repeat_n(index, simplified.len_utf8()));
            }
        }
        Self { text, origin }
    }
}

/// Step 1: full-width ASCII variants and the ideographic space to ASCII.
fn fold_width(c: char) -> char {
    match c {
        // The full-width block is laid out in ASCII order, offset by 0xFEE0.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Step 3: traditional to simplified, identity for everything else.
fn to_simplified(c: char) -> char {
    T2S.get(&c).copied().unwrap_or(c)
}

/// Step 4: chars that are skipped entirely.
fn is_ignorable(c: char) -> bool {
    if c.is_whitespace() || c.is_ascii_punctuation() {
        return true;
    }
    // Letters and digits of any script are content, even where they sit in a
    // "symbols" block (e.g. '〇' U+3007 in "二〇二五", '々', '①', 'µ').
    if c.is_alphanumeric() {
        return false;
    }
    matches!(
        c,
        '\u{00A0}'..='\u{00BF}'           // Latin-1 punctuation and symbols (NBSP, soft hyphen, ·, «», …)
            | '\u{0300}'..='\u{036F}'     // combining diacritical marks
            | '\u{2000}'..='\u{206F}'     // general punctuation, incl. zero-width U+200B..=U+200D, U+2060, bidi marks
            | '\u{20A0}'..='\u{20FF}'     // currency symbols, combining marks for symbols (keycap U+20E3)
            | '\u{2190}'..='\u{2BFF}'     // arrows, math, technical, box drawing, shapes, misc symbols, dingbats
            | '\u{2E00}'..='\u{2E7F}'     // supplemental punctuation
            | '\u{3000}'..='\u{303F}'     // CJK symbols and punctuation (、。〈〉【】〜 …)
            | '\u{FE00}'..='\u{FE0F}'     // variation selectors (emoji presentation)
            | '\u{FE10}'..='\u{FE1F}'     // vertical forms
            | '\u{FE30}'..='\u{FE4F}'     // CJK compatibility forms
            | '\u{FE50}'..='\u{FE6F}'     // small form variants
            | '\u{FEFF}'                  // zero-width no-break space / BOM
            | '\u{FF5F}'..='\u{FF65}'     // full-width parentheses, half-width CJK punctuation
            | '\u{FFE0}'..='\u{FFEE}'     // full-width and half-width symbols (￥ ￡ …)
            | '\u{1F000}'..='\u{1FAFF}'   // emoji, pictographs, cards, mahjong, skin-tone modifiers
            | '\u{E0000}'..='\u{E007F}'   // tags (emoji flag sequences)
    )
}

/// The traditional → simplified table, parsed once.
static T2S: LazyLock<HashMap<char, char>> =
    LazyLock::new(|| parse_t2s(T2S_TABLE).expect("embedded config/screen/t2s.txt is well-formed (checked by tests)"));

/// Parses `繁<TAB>简` lines; `#` starts a comment line.
fn parse_t2s(table: &str) -> Result<HashMap<char, char>, String> {
    let mut map = HashMap::new();
    for (n, line) in table.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut chars = line.chars();
        match (chars.next(), chars.next(), chars.next(), chars.next()) {
            (Some(t), Some('\t'), Some(s), None) => {
                map.insert(t, s);
            }
            _ => return Err(format!("t2s.txt line {}: expected `traditional<TAB>simplified`", n + 1)),
        }
    }
    // Follow chains (the OpenCC data has 薴 → 苧 → 苎) so every target is final:
    // then normalizing is idempotent, and a list word typed with the middle
    // form matches text typed with either of the others.
    let resolved: Vec<(char, char)> = map
        .iter()
        .map(|(&t, &s)| {
            let mut s = s;
            for _ in 0..8 {
                match map.get(&s) {
                    Some(&next) if next != s => s = next,
                    _ => break,
                }
            }
            (t, s)
        })
        .collect();
    map.extend(resolved);
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_LIST: &str = r#"
[[category]]
name = "ads"
action = "reject"
message = "含广告"
words = ["加微信", "vx", "刷单"]

[[category]]
name = "fraud"
action = "reject"
message = "疑似诈骗"
words = ["银行卡密码"]

[[category]]
name = "abuse"
action = "hold"
words = ["傻逼", "废物"]

[[category]]
name = "personal-data"
action = "hold"
message = "optional for hold"
words = ["身份证号", "家庭住址"]
"#;

    fn list() -> WordList {
        WordList::parse(TEST_LIST).expect("test list parses")
    }

    /// The original substring a hit points at.
    fn span(text: &str, hit: &Hit) -> String {
        text.chars().skip(hit.start).take(hit.end - hit.start).collect()
    }

    fn hits(v: &Verdict) -> &[Hit] {
        match v {
            Verdict::Clean => &[],
            Verdict::Hold { hits } | Verdict::Reject { hits, .. } => hits,
        }
    }

    /// The category, message and hits of a rejecting verdict.
    fn rejected(v: Verdict) -> (String, String, Vec<Hit>) {
        match v {
            Verdict::Reject {
                category,
                message,
                hits,
            } => (category, message, hits),
            other => panic!("expected reject, got {other:?}"),
        }
    }

    /// Asserts `text` hits `word` exactly once and the span is `expected`.
    fn assert_single_hit(text: &str, word: &str, expected: &str) {
        let v = list().screen(text);
        let h = hits(&v);
        assert_eq!(h.len(), 1, "{text:?} → {v:?}");
        assert_eq!(h[0].word, word, "{text:?}");
        assert_eq!(span(text, &h[0]), expected, "{text:?}");
    }

    #[test]
    fn exact_hit_with_category_and_char_span() {
        let (category, message, hits) = rejected(list().screen("请问怎么加微信咨询？"));
        assert_eq!(category, "ads");
        assert_eq!(message, "含广告");
        assert_eq!(
            hits,
            vec![Hit {
                word: "加微信".into(),
                category: "ads".into(),
                start: 4,
                end: 7,
            }]
        );
    }

    #[test]
    fn sees_through_spaces_and_punctuation() {
        assert_single_hit("加 微 信", "加微信", "加 微 信");
        assert_single_hit("加-微.信", "加微信", "加-微.信");
        assert_single_hit("加，微。信！", "加微信", "加，微。信");
        assert_single_hit("加\u{3000}微\u{00A0}信", "加微信", "加\u{3000}微\u{00A0}信");
    }

    #[test]
    fn sees_through_zero_width_and_emoji() {
        assert_single_hit("加\u{200B}微信", "加微信", "加\u{200B}微信");
        assert_single_hit("加\u{FEFF}微\u{2060}信", "加微信", "加\u{FEFF}微\u{2060}信");
        assert_single_hit("加😀微信", "加微信", "加😀微信");
        // A multi-codepoint emoji: heart + variation selector, thumbs up + skin tone.
        assert_single_hit("加❤\u{FE0F}微👍\u{1F3FB}信", "加微信", "加❤\u{FE0F}微👍\u{1F3FB}信");
    }

    #[test]
    fn sees_through_width_and_case() {
        assert_single_hit("ＶＸ：abc123", "vx", "ＶＸ");
        assert_single_hit("加VX", "vx", "VX");
        assert_single_hit("Vx", "vx", "Vx");
        assert_single_hit("ｖ ｘ", "vx", "ｖ ｘ");
    }

    #[test]
    fn sees_through_traditional_characters() {
        assert_single_hit("請提供銀行卡密碼", "银行卡密码", "銀行卡密碼");
        assert_single_hit("加微信", "加微信", "加微信");
        // Mixed traditional and simplified, with a space.
        assert_single_hit("銀行卡 密码", "银行卡密码", "銀行卡 密码");
    }

    #[test]
    fn span_maps_back_to_the_evasive_substring() {
        let text = "请加 微-信123";
        let v = list().screen(text);
        let h = hits(&v);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].start, h[0].end), (1, 6));
        assert_eq!(span(text, &h[0]), "加 微-信");
    }

    #[test]
    fn invisible_format_characters_are_stripped() {
        assert_eq!(strip_invisible("加\u{200B}微\u{FEFF}信"), "加微信");
        assert_eq!(strip_invisible("\u{202E}gpj.exe\u{202C}"), "gpj.exe");
        assert_eq!(strip_invisible("名\u{2066}字\u{2069}"), "名字");
        assert_eq!(strip_invisible("👨\u{200D}👩\u{200D}👧"), "👨\u{200D}👩\u{200D}👧");
        assert_eq!(strip_invisible("a\u{200D}b"), "ab");
        assert!(matches!(
            strip_invisible("社保卡怎么补办？"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn normalize_examples() {
        assert_eq!(normalize("加 微-信"), "加微信");
        assert_eq!(normalize("ＶＸ"), "vx");
        assert_eq!(normalize("銀行卡密碼"), "银行卡密码");
        assert_eq!(normalize("加😀\u{200B}微信！"), "加微信");
        assert_eq!(normalize("Hello, World"), "helloworld");
        // Digits and number-like letters of any script are kept.
        assert_eq!(normalize("二〇二五年 第３期"), "二〇二五年第3期");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" ，。！\u{200B}"), "");
    }

    #[test]
    fn normalize_is_idempotent() {
        for s in ["請加 微-信ＶＸ", "薴麻", "İstanbul", "加😀微信", DEFAULT_WORDS] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s:?}");
        }
    }

    #[test]
    fn t2s_table_is_complete_and_well_formed() {
        let map = parse_t2s(T2S_TABLE).expect("embedded table parses");
        assert!(map.len() > 4000, "only {} pairs", map.len());
        assert_eq!(map.get(&'銀'), Some(&'银'));
        assert_eq!(map.get(&'薴'), Some(&'苎'), "chains are resolved");
        // Every target is final: no simplified char is itself mapped further.
        assert!(map.values().all(|s| !map.contains_key(s)));
        assert!(parse_t2s("銀\t银\n# comment\n\n").is_ok());
        assert!(parse_t2s("銀行\t银行\n").is_err());
    }

    #[test]
    fn reject_wins_over_hold_with_message() {
        let (category, message, hits) = rejected(list().screen("你这个废物，刷单吗"));
        assert_eq!(category, "ads");
        assert_eq!(message, "含广告");
        // Both hits are kept for the audit, in text order.
        let words: Vec<&str> = hits.iter().map(|h| h.word.as_str()).collect();
        assert_eq!(words, ["废物", "刷单"]);
        assert_eq!(hits[0].category, "abuse");
    }

    #[test]
    fn first_rejecting_category_in_list_order_is_reported() {
        // "fraud" hit comes first in the text, but "ads" comes first in the list.
        let (category, message, hits) = rejected(list().screen("银行卡密码告诉我，然后刷单"));
        assert_eq!((category.as_str(), message.as_str()), ("ads", "含广告"));
        assert_eq!(hits.len(), 2);
    }

    #[test]
    fn hold_returns_all_hits() {
        let text = "傻逼，我的身份证号和家庭住址都给你了，废物";
        let v = list().screen(text);
        let Verdict::Hold { hits } = v else {
            panic!("expected hold, got {v:?}");
        };
        let got: Vec<(&str, &str, String)> = hits
            .iter()
            .map(|h| (h.word.as_str(), h.category.as_str(), span(text, h)))
            .collect();
        assert_eq!(
            got,
            [
                ("傻逼", "abuse", "傻逼".to_string()),
                ("身份证号", "personal-data", "身份证号".to_string()),
                ("家庭住址", "personal-data", "家庭住址".to_string()),
                ("废物", "abuse", "废物".to_string()),
            ]
        );
    }

    #[test]
    fn repeated_and_overlapping_words_are_all_reported() {
        let wl = WordList::parse(
            r#"
[[category]]
name = "a"
action = "hold"
words = ["微信", "加微信", "加 微信"]

[[category]]
name = "b"
action = "hold"
words = ["微信"]
"#,
        )
        .unwrap();
        // "加 微信" normalizes like "加微信": deduplicated within the category.
        assert_eq!(wl.len(), 3);
        let text = "加微信，微信";
        let v = wl.screen(text);
        let got: Vec<(&str, &str, usize, usize)> = hits(&v)
            .iter()
            .map(|h| (h.word.as_str(), h.category.as_str(), h.start, h.end))
            .collect();
        assert_eq!(
            got,
            [
                ("加微信", "a", 0, 3),
                ("微信", "a", 1, 3),
                ("微信", "b", 1, 3),
                ("微信", "a", 4, 6),
                ("微信", "b", 4, 6),
            ]
        );
    }

    #[test]
    fn clean_text_is_clean() {
        assert_eq!(list().screen("请问朝阳区的老旧小区改造什么时候开始？"), Verdict::Clean);
        assert_eq!(list().screen(""), Verdict::Clean);
        // Separate words do not join across letters: "加" … "微信" with text between.
        assert_eq!(list().screen("加班后看微信"), Verdict::Clean);
    }

    #[test]
    fn empty_list_screens_nothing() {
        let empty = WordList::empty();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.screen("加微信 傻逼 刷单"), Verdict::Clean);

        let parsed = WordList::parse("# nothing configured yet\n").unwrap();
        assert!(parsed.is_empty());
        assert_eq!(parsed.screen("加微信"), Verdict::Clean);
    }

    fn parse_err(text: &str) -> String {
        match WordList::parse(text) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_action_is_an_error() {
        let e = parse_err("[[category]]\nname = \"x\"\naction = \"drop\"\nwords = [\"a\"]\n");
        assert!(e.contains("\"x\"") && e.contains("drop"), "{e}");
    }

    #[test]
    fn reject_without_message_is_an_error() {
        let e = parse_err("[[category]]\nname = \"ads\"\naction = \"reject\"\nwords = [\"刷单\"]\n");
        assert!(e.contains("\"ads\"") && e.contains("message"), "{e}");
        let e = parse_err("[[category]]\nname = \"ads\"\naction = \"reject\"\nmessage = \"  \"\nwords = [\"刷单\"]\n");
        assert!(e.contains("message"), "{e}");
    }

    #[test]
    fn duplicate_category_is_an_error() {
        let e = parse_err(
            "[[category]]\nname = \"a\"\naction = \"hold\"\nwords = [\"x\"]\n\
             [[category]]\nname = \"a\"\naction = \"hold\"\nwords = [\"y\"]\n",
        );
        assert!(e.contains("\"a\"") && e.contains("more than once"), "{e}");
    }

    #[test]
    fn word_that_normalizes_to_empty_is_an_error() {
        let e = parse_err("[[category]]\nname = \"abuse\"\naction = \"hold\"\nwords = [\"ok\", \" ，！ \"]\n");
        assert!(e.contains("\"abuse\"") && e.contains("empty"), "{e}");
        let e = parse_err("[[category]]\nname = \"abuse\"\naction = \"hold\"\nwords = [\"\"]\n");
        assert!(e.contains("\"abuse\""), "{e}");
    }

    #[test]
    fn bad_toml_and_bad_shape_are_errors() {
        assert!(matches!(
            WordList::parse("[[category]\nname ="),
            Err(ScreenError::Syntax(_))
        ));
        // Unknown field (typo) is refused rather than silently ignored.
        let e = parse_err("[[category]]\nname = \"a\"\naction = \"hold\"\nwrods = [\"x\"]\n");
        assert!(e.contains("wrods"), "{e}");
        let e = parse_err("[[category]]\naction = \"hold\"\nwords = [\"x\"]\n");
        assert!(e.contains("name"), "{e}");
        let e = parse_err("[[category]]\nname = \"Bad Name\"\naction = \"hold\"\nwords = [\"x\"]\n");
        assert!(e.contains("slug"), "{e}");
    }

    #[test]
    fn default_words_parse() {
        let wl = WordList::parse(DEFAULT_WORDS).expect("shipped list parses");
        assert!(!wl.is_empty());
        assert!(wl.len() > 40, "{}", wl.len());
        assert!(matches!(wl.screen("加 我 微 信领红包"), Verdict::Reject { .. }));
        assert!(matches!(wl.screen("你们都是废物"), Verdict::Hold { .. }));
        assert_eq!(wl.screen("请问居住证办理需要哪些材料？"), Verdict::Clean);
    }

    #[test]
    fn screening_10kb_of_ordinary_text_works() {
        let wl = WordList::parse(DEFAULT_WORDS).unwrap();
        let sentence = "请问今年老旧小区加装电梯的补贴政策有什么变化？Thanks, ＡＢＣ 123。";
        let mut text = String::new();
        while text.len() < 10 * 1024 {
            text.push_str(sentence);
        }
        assert_eq!(wl.screen(&text), Verdict::Clean);

        // The same text with one evasive hit in the middle still maps back correctly.
        let mid = text.chars().count() / 2;
        let mut chars: Vec<char> = text.chars().collect();
        chars.splice(mid..mid, "刷 单".chars());
        let text: String = chars.into_iter().collect();
        let v = wl.screen(&text);
        let h = hits(&v);
        assert_eq!(h.len(), 1, "{v:?}");
        assert_eq!((h[0].start, h[0].end), (mid, mid + 3));
        assert_eq!(span(&text, &h[0]), "刷 单");
    }
}
