//! The working-day calendar of mainland China.
//!
//! Working days follow the State Council's yearly holiday notice: Monday to
//! Friday are working days unless a holiday covers them, and the weekend days
//! a notice names (调休) are working days. A year without a notice is never
//! guessed: every question about it is answered with [`CalendarError::YearNotCovered`].
//! [`outlook`] says, as of a day, whether the years loaded reach far enough.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

pub mod outlook;
pub use outlook::Outlook;

/// The notices built into the binary; files in the calendar directory replace
/// or add years without recompiling.
const BUILT_IN: [(&str, &str); 3] = [
    ("cn-2024.toml", include_str!("../../calendar/cn-2024.toml")),
    ("cn-2025.toml", include_str!("../../calendar/cn-2025.toml")),
    ("cn-2026.toml", include_str!("../../calendar/cn-2026.toml")),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("no working-day calendar for {0}: add the State Council holiday notice for {0} to the calendar directory")]
    YearNotCovered(i32),
    #[error("calendar file {file}: {message}")]
    Invalid { file: String, message: String },
}

/// One year's notice as written in a calendar file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: String,
    #[serde(default)]
    holidays: Vec<HolidayEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    from: NaiveDate,
    to: NaiveDate,
    #[serde(default)]
    work: Vec<NaiveDate>,
}

/// What a calendar knows about one year.
#[derive(Debug, Clone)]
struct Year {
    source: String,
    /// Days off that would otherwise be working days, with the holiday's name.
    off: BTreeMap<NaiveDate, String>,
    /// Weekend days that are working days, with the holiday they make up for.
    work: BTreeMap<NaiveDate, String>,
}

/// Why a day is or is not a working day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Weekday,
    Weekend,
    /// A holiday (its name in `note`).
    Holiday,
    /// A weekend day that is a working day (调休; the holiday in `note`).
    MakeUpWorkday,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DayInfo {
    pub date: NaiveDate,
    pub working_day: bool,
    pub kind: DayKind,
    pub note: Option<String>,
}

/// Summary of one loaded year, for operators.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct YearSummary {
    pub year: i32,
    pub source: String,
    pub holidays: usize,
    pub make_up_workdays: usize,
}

#[derive(Debug, Clone, Default)]
pub struct WorkingCalendar {
    years: BTreeMap<i32, Year>,
}

impl WorkingCalendar {
    /// The built-in notices, then every `*.toml` in `dir` (a file for a year
    /// already known replaces it).
    pub fn load(dir: Option<&Path>) -> Result<Self, CalendarError> {
        let mut calendar = Self::default();
        for (name, text) in BUILT_IN {
            calendar.add_file(name, text)?;
        }
        let Some(dir) = dir else { return Ok(calendar) };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(calendar),
            Err(e) => return Err(invalid(&dir.display().to_string(), e.to_string())),
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| invalid(&name, e.to_string()))?;
            calendar.add_file(&name, &text)?;
        }
        Ok(calendar)
    }

    /// Parse one year's notice and add it, replacing that year if present.
    pub fn add_file(&mut self, name: &str, text: &str) -> Result<(), CalendarError> {
        let file: YearFile = toml::from_str(text).map_err(|e| invalid(name, e.to_string()))?;
        let mut year = Year {
            source: file.source,
            off: BTreeMap::new(),
            work: BTreeMap::new(),
        };
        for holiday in file.holidays {
            if holiday.to < holiday.from {
                return Err(invalid(name, format!("{}: `to` is before `from`", holiday.name)));
            }
            for day in holiday.from.iter_days().take_while(|d| *d <= holiday.to) {
                check_year(name, file.year, day)?;
                year.off.insert(day, holiday.name.clone());
            }
            for day in holiday.work {
                check_year(name, file.year, day)?;
                if !is_weekend(day) {
                    return Err(invalid(
                        name,
                        format!("{day} is listed as a make-up working day but is not a weekend day"),
                    ));
                }
                year.work.insert(day, holiday.name.clone());
            }
        }
        self.years.insert(file.year, year);
        Ok(())
    }

    pub fn years(&self) -> Vec<YearSummary> {
        self.years
            .iter()
            .map(|(year, y)| YearSummary {
                year: *year,
                source: y.source.clone(),
                holidays: y.off.len(),
                make_up_workdays: y.work.len(),
            })
            .collect()
    }

    /// What the calendar covers as of `today`, and which needed year it lacks.
    pub fn outlook(&self, today: NaiveDate) -> Outlook {
        let years: Vec<i32> = self.years.keys().copied().collect();
        outlook::outlook(&years, today)
    }

    pub fn day(&self, date: NaiveDate) -> Result<DayInfo, CalendarError> {
        let year = self
            .years
            .get(&date.year())
            .ok_or(CalendarError::YearNotCovered(date.year()))?;
        let (working_day, kind, note) = if let Some(name) = year.work.get(&date) {
            (true, DayKind::MakeUpWorkday, Some(name.clone()))
        } else if let Some(name) = year.off.get(&date) {
            (false, DayKind::Holiday, Some(name.clone()))
        } else if is_weekend(date) {
            (false, DayKind::Weekend, None)
        } else {
            (true, DayKind::Weekday, None)
        };
        Ok(DayInfo {
            date,
            working_day,
            kind,
            note,
        })
    }

    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.day(date).map(|d| d.working_day)
    }

    /// The working day `n` working days after `date` (`date` itself never counts).
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.step_working_days(date, n, |d| d.checked_add_days(Days::new(1)))
    }

    /// The working day `n` working days before `date` (`date` itself never counts).
    pub fn sub_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.step_working_days(date, n, |d| d.checked_sub_days(Days::new(1)))
    }

    fn step_working_days(
        &self,
        mut date: NaiveDate,
        n: u32,
        step: impl Fn(NaiveDate) -> Option<NaiveDate>,
    ) -> Result<NaiveDate, CalendarError> {
        let mut left = n;
        while left > 0 {
            date = step(date).ok_or(CalendarError::YearNotCovered(date.year()))?;
            if self.is_working_day(date)? {
                left -= 1;
            }
        }
        Ok(date)
    }

    /// Working days in `from..to` (from inclusive, to exclusive).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<u32, CalendarError> {
        let mut count = 0;
        for day in from.iter_days().take_while(|d| *d < to) {
            count += u32::from(self.is_working_day(day)?);
        }
        Ok(count)
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn check_year(file: &str, year: i32, day: NaiveDate) -> Result<(), CalendarError> {
    if day.year() == year {
        Ok(())
    } else {
        Err(invalid(file, format!("{day} is outside the file's year {year}")))
    }
}

fn invalid(file: &str, message: String) -> CalendarError {
    CalendarError::Invalid {
        file: file.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cal() -> WorkingCalendar {
        WorkingCalendar::load(None).unwrap()
    }

    #[test]
    fn make_up_sundays_of_spring_festival_2024_are_working_days() {
        let c = cal();
        assert!(c.is_working_day(d("2024-02-04")).unwrap());
        assert!(c.is_working_day(d("2024-02-18")).unwrap());
        assert_eq!(c.day(d("2024-02-18")).unwrap().kind, DayKind::MakeUpWorkday);
    }

    #[test]
    fn national_day_week_2024_is_off_and_its_weekends_work() {
        let c = cal();
        for day in 1..=7 {
            let date = NaiveDate::from_ymd_opt(2024, 10, day).unwrap();
            assert!(!c.is_working_day(date).unwrap(), "{date}");
        }
        assert!(c.is_working_day(d("2024-09-29")).unwrap());
        assert!(c.is_working_day(d("2024-10-12")).unwrap());
        assert!(c.is_working_day(d("2024-10-08")).unwrap());
        assert!(!c.is_working_day(d("2024-10-13")).unwrap());
    }

    #[test]
    fn ordinary_weekends_and_weekdays() {
        let c = cal();
        assert!(!c.is_working_day(d("2024-03-09")).unwrap());
        assert!(c.is_working_day(d("2024-03-11")).unwrap());
        assert!(!c.is_working_day(d("2025-01-28")).unwrap());
        assert!(c.is_working_day(d("2025-01-26")).unwrap());
        assert!(c.is_working_day(d("2026-01-04")).unwrap());
        assert!(!c.is_working_day(d("2026-02-23")).unwrap());
    }

    #[test]
    fn a_year_without_a_notice_is_an_error_not_a_guess() {
        let c = cal();
        assert_eq!(
            c.is_working_day(d("2027-03-01")),
            Err(CalendarError::YearNotCovered(2027))
        );
        assert_eq!(
            c.add_working_days(d("2026-12-30"), 5),
            Err(CalendarError::YearNotCovered(2027))
        );
        assert_eq!(
            c.is_working_day(d("2023-12-29")),
            Err(CalendarError::YearNotCovered(2023))
        );
    }

    #[test]
    fn stepping_over_national_day() {
        let c = cal();
        // Friday 2024-09-27 + 5 working days: 09-29 (Sun, 调休), 09-30, 10-08, 10-09, 10-10.
        assert_eq!(c.add_working_days(d("2024-09-27"), 5).unwrap(), d("2024-10-10"));
        // Monday 2024-10-14 - 1 working day is Saturday 10-12 (调休).
        assert_eq!(c.sub_working_days(d("2024-10-14"), 1).unwrap(), d("2024-10-12"));
        // Tuesday 2024-10-08 - 3 working days: 09-30, 09-29, 09-27.
        assert_eq!(c.sub_working_days(d("2024-10-08"), 3).unwrap(), d("2024-09-27"));
        assert_eq!(c.working_days_between(d("2024-09-28"), d("2024-10-13")).unwrap(), 7);
    }

    #[test]
    fn a_file_replaces_its_year_and_is_checked() {
        let mut c = cal();
        let err = c
            .add_file("bad.toml", "year = 2027\nsource = \"x\"\n[[holidays]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-01\"\nwork = [\"2027-01-04\"]\n")
            .unwrap_err();
        assert!(err.to_string().contains("not a weekend day"), "{err}");
        c.add_file("ok.toml", "year = 2027\nsource = \"test\"\n[[holidays]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-01\"\n")
            .unwrap();
        assert!(!c.is_working_day(d("2027-01-01")).unwrap());
        assert!(c.is_working_day(d("2027-01-04")).unwrap());
    }
}
