//! The plan file: a year's programme of units, themes and events in TOML.
//!
//! `plans/daxing-2024.toml` is the example. Parsing checks everything a
//! person could get wrong (unknown keys, duplicate codes, a host or theme that
//! is not defined) and names the place, so an import either fits as a whole or
//! changes nothing.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::event::{EventForm, EventKind, Schedule};
use super::identity::IdentityMode;
use super::time::shanghai;
use super::values::{Code, Invalid, optional_text, optional_url, required_text};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    plan: PlanHeader,
    #[serde(default)]
    units: Vec<UnitEntry>,
    #[serde(default)]
    themes: Vec<ThemeEntry>,
    #[serde(default)]
    events: Vec<EventEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanHeader {
    code: String,
    title: String,
    year: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitEntry {
    code: String,
    name: String,
    short_name: String,
    #[serde(default)]
    supervisor: bool,
}

impl UnitEntry {
    fn read(self, code: Code) -> Result<PlanUnit, Invalid> {
        Ok(PlanUnit {
            code,
            name: required_text("name", &self.name, 100)?,
            short_name: required_text("short_name", &self.short_name, 50)?,
            supervisor: self.supervisor,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeEntry {
    code: String,
    name: String,
}

impl ThemeEntry {
    fn read(self, code: Code) -> Result<PlanTheme, Invalid> {
        let name = required_text("name", &self.name, 50)?;
        Ok(PlanTheme { code, name })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventEntry {
    code: String,
    kind: EventKind,
    title: String,
    theme: Option<String>,
    hosts: Vec<String>,
    form: EventForm,
    #[serde(default)]
    summary: String,
    agenda: Option<String>,
    participation: Option<String>,
    #[serde(default)]
    public_selection: bool,
    audience_limit: Option<i64>,
    venue: Option<String>,
    duration_minutes: Option<i64>,
    /// Local Beijing time (`2025-05-20T09:30:00`) or RFC 3339 with an offset.
    starts_at: Option<String>,
    stream_url: Option<String>,
    /// `verified` (the default) or `open`.
    identity_mode: Option<IdentityMode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub code: Code,
    pub title: String,
    pub year: i32,
    pub units: Vec<PlanUnit>,
    pub themes: Vec<PlanTheme>,
    pub events: Vec<PlanEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanUnit {
    pub code: Code,
    pub name: String,
    pub short_name: String,
    pub supervisor: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanTheme {
    pub code: Code,
    pub name: String,
}

/// An event as the plan describes it (no lifecycle: that lives in the store).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEvent {
    pub code: Code,
    pub kind: EventKind,
    pub title: String,
    pub theme: Option<Code>,
    pub hosts: Vec<Code>,
    pub form: EventForm,
    pub summary: String,
    pub agenda: Option<String>,
    pub participation: Option<String>,
    pub public_selection: bool,
    pub audience_limit: Option<i64>,
    pub venue: Option<String>,
    pub duration_minutes: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub stream_url: Option<String>,
    /// As the plan says; `None` keeps what the event has (`verified` for a new one).
    pub identity_mode: Option<IdentityMode>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the plan is not valid TOML for this format: {0}")]
    Syntax(String),
    #[error("{place}: {problem}")]
    Invalid { place: String, problem: String },
}

fn at(place: impl Into<String>) -> impl Fn(Invalid) -> PlanError {
    let place = place.into();
    move |e| PlanError::Invalid {
        place: place.clone(),
        problem: e.to_string(),
    }
}

fn problem(place: impl Into<String>, problem: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        place: place.into(),
        problem: problem.into(),
    }
}

pub fn parse(text: &str) -> Result<Plan, PlanError> {
    let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Syntax(e.to_string()))?;
    let code = Code::parse("code", &file.plan.code).map_err(at("[plan]"))?;
    let title = required_text("title", &file.plan.title, 200).map_err(at("[plan]"))?;
    if !(2000..=2100).contains(&file.plan.year) {
        return Err(problem("[plan]", format!("year {} is out of range", file.plan.year)));
    }

    let (units, unit_codes) = entries(file.units, "unit", |u| &u.code, UnitEntry::read)?;
    let (themes, theme_codes) = entries(file.themes, "theme", |t| &t.code, ThemeEntry::read)?;

    let mut event_codes = HashSet::new();
    let mut events = Vec::new();
    for (i, e) in file.events.into_iter().enumerate() {
        let place = format!("events[{i}] ({})", e.code);
        let event = parse_event(e, &unit_codes, &theme_codes).map_err(|err| match err {
            PlanError::Invalid { problem, .. } => PlanError::Invalid {
                place: place.clone(),
                problem,
            },
            other => other,
        })?;
        if !event_codes.insert(event.code.clone()) {
            return Err(problem(place, format!("event code `{}` appears twice", event.code)));
        }
        events.push(event);
    }
    Ok(Plan {
        code,
        title,
        year: file.plan.year,
        units,
        themes,
        events,
    })
}

/// The entries of the list of `what`s (`[[units]]`, `[[themes]]`), each made
/// by `make` from the entry and its code (parsed, and not seen before in the
/// list), a problem placed at `whats[i]`; and the codes.
fn entries<E, T>(
    list: Vec<E>,
    what: &str,
    code_of: impl Fn(&E) -> &str,
    make: impl Fn(E, Code) -> Result<T, Invalid>,
) -> Result<(Vec<T>, HashSet<Code>), PlanError> {
    let mut codes = HashSet::new();
    let mut made = Vec::with_capacity(list.len());
    for (i, entry) in list.into_iter().enumerate() {
        let place = format!("{what}s[{i}]");
        let code = unique_code(&mut codes, what, code_of(&entry), &place)?;
        made.push(make(entry, code).map_err(at(&place))?);
    }
    Ok((made, codes))
}

/// The `code` of entry `place` in a list of `what`s, parsed and not seen
/// before in that list.
fn unique_code(seen: &mut HashSet<Code>, what: &str, code: &str, place: &str) -> Result<Code, PlanError> {
    let code = Code::parse("code", code).map_err(at(place))?;
    if !seen.insert(code.clone()) {
        return Err(problem(place, format!("{what} code `{code}` appears twice")));
    }
    Ok(code)
}

fn parse_event(e: EventEntry, units: &HashSet<Code>, themes: &HashSet<Code>) -> Result<PlanEvent, PlanError> {
    let here = at("");
    let theme = match e.theme.as_deref() {
        None => None,
        Some(t) => {
            let code = Code::parse("theme", t).map_err(&here)?;
            if !themes.contains(&code) {
                return Err(problem("", format!("theme `{code}` is not defined in [[themes]]")));
            }
            Some(code)
        }
    };
    if e.hosts.is_empty() {
        return Err(problem("", "an event needs at least one host unit (hosts)"));
    }
    let mut hosts: Vec<Code> = Vec::new();
    for h in &e.hosts {
        let code = Code::parse("hosts", h).map_err(&here)?;
        if !units.contains(&code) {
            return Err(problem("", format!("host `{code}` is not defined in [[units]]")));
        }
        if hosts.contains(&code) {
            return Err(problem("", format!("host `{code}` is listed twice")));
        }
        hosts.push(code);
    }
    if let Some(m) = e.duration_minutes {
        Schedule::new(Utc::now(), m).map_err(&here)?;
    }
    if let Some(n) = e.audience_limit {
        if !(1..=1_000_000).contains(&n) {
            return Err(problem("", "audience_limit must be between 1 and 1000000"));
        }
    }
    let starts_at = e
        .starts_at
        .as_deref()
        .map(parse_local_or_rfc3339)
        .transpose()
        .map_err(&here)?;
    Ok(PlanEvent {
        code: Code::parse("code", &e.code).map_err(&here)?,
        kind: e.kind,
        title: required_text("title", &e.title, 200).map_err(&here)?,
        theme,
        hosts,
        form: e.form,
        summary: e.summary.trim().to_owned(),
        agenda: optional_text("agenda", e.agenda.as_deref(), 4000).map_err(&here)?,
        participation: optional_text("participation", e.participation.as_deref(), 2000).map_err(&here)?,
        public_selection: e.public_selection,
        audience_limit: e.audience_limit,
        venue: optional_text("venue", e.venue.as_deref(), 200).map_err(&here)?,
        duration_minutes: e.duration_minutes,
        starts_at,
        stream_url: optional_url("stream_url", e.stream_url.as_deref()).map_err(&here)?,
        identity_mode: e.identity_mode,
    })
}

/// `2025-05-20T09:30:00` is Beijing time; `2025-05-20T01:30:00Z` or
/// `…+08:00` carry their own offset.
pub fn parse_local_or_rfc3339(s: &str) -> Result<DateTime<Utc>, Invalid> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .and_then(|n| shanghai().from_local_datetime(&n).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Invalid::new(
                "starts_at",
                format!("`{s}` is not a time like 2025-05-20T09:30:00 (Beijing time)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAXING: &str = include_str!("../../plans/daxing-2024.toml");

    #[test]
    fn the_2024_plan_has_16_units_5_themes_15_open_days_and_4_lectures() {
        let plan = parse(DAXING).unwrap();
        assert_eq!(plan.year, 2024);
        assert_eq!(plan.units.len(), 16);
        assert_eq!(plan.units.iter().filter(|u| u.supervisor).count(), 1);
        assert_eq!(plan.themes.len(), 5);
        assert_eq!(plan.events.iter().filter(|e| e.kind == EventKind::OpenDay).count(), 15);
        assert_eq!(plan.events.iter().filter(|e| e.kind == EventKind::Lecture).count(), 4);
        let lecture1 = plan.events.iter().find(|e| e.code.as_str() == "lecture-01").unwrap();
        let hosts: Vec<_> = lecture1.hosts.iter().map(Code::as_str).collect();
        assert_eq!(hosts, ["zwsj", "tiangongyuan", "gaomidian"]);
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let bad_host = DAXING.replacen("hosts = [\"guanyinsi\"]", "hosts = [\"nowhere\"]", 1);
        let err = parse(&bad_host).unwrap_err().to_string();
        assert!(err.contains("open-day-01") && err.contains("nowhere"), "{err}");
        let unknown_key = DAXING.replacen("[plan]\n", "[plan]\ncolour = \"red\"\n", 1);
        assert!(matches!(parse(&unknown_key), Err(PlanError::Syntax(_))));
        assert!(parse("not toml at all [").is_err());
    }

    #[test]
    fn local_times_are_beijing_time() {
        let t = parse_local_or_rfc3339("2025-05-20T09:30:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-05-20T01:30:00+00:00");
        assert!(parse_local_or_rfc3339("tomorrow").is_err());
    }
}
