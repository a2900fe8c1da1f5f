//! Validated values: a wrong one cannot be constructed.

use std::fmt;

/// Why a value was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A stable identifier in a plan: lowercase ASCII letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Code(String);

impl Code {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if s.is_empty() || s.len() > 64 || !ok_chars || s.starts_with('-') {
            return Err(Invalid::new(
                field,
                format!("`{s}` is not a code: use 1–64 lowercase letters, digits and '-'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Required free text: trimmed, not empty, at most `max` characters.
pub fn required_text(field: &'static str, s: &str, max: usize) -> Result<String, Invalid> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    limit(field, t, max)
}

/// Optional free text: trimmed; empty becomes `None`.
pub fn optional_text(field: &'static str, s: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => limit(field, t, max).map(Some),
    }
}

fn limit(field: &'static str, t: &str, max: usize) -> Result<String, Invalid> {
    let n = t.chars().count();
    if n > max {
        return Err(Invalid::new(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(t.to_owned())
}

/// An http(s) URL, e.g. a stream embed or a materials page.
pub fn optional_url(field: &'static str, s: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(t) = optional_text(field, s, 2000)? else {
        return Ok(None);
    };
    let rest = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !t.chars().any(char::is_whitespace) => Ok(Some(t)),
        _ => Err(Invalid::new(field, format!("`{t}` is not an http(s) URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(Code::parse("code", "open-day-01").is_ok());
        assert!(Code::parse("code", "").is_err());
        assert!(Code::parse("code", "Open").is_err());
        assert!(Code::parse("code", "a b").is_err());
        assert!(Code::parse("code", "-x").is_err());
    }

    #[test]
    fn texts_and_urls() {
        assert_eq!(required_text("title", "  标题 ", 10).unwrap(), "标题");
        assert!(required_text("title", "   ", 10).is_err());
        assert!(required_text("title", "一二三四五六", 5).is_err());
        assert_eq!(optional_text("venue", Some(" "), 10).unwrap(), None);
        assert!(optional_url("stream_url", Some("javascript:alert(1)")).is_err());
        assert!(
            optional_url("stream_url", Some("https://live.example.cn/embed/1"))
                .unwrap()
                .is_some()
        );
    }
}
