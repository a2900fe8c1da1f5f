//! Whether the working-day calendar reaches far enough ahead.
//!
//! The State Council publishes next year's holiday notice between late
//! October and mid-November (2024's on 2023-10-25, 2026's on 2025-11-04). From
//! 1 November the next year is needed: a reply due 10 working days after an
//! event in mid-December, or an extension granted in November, already
//! reaches into January, and without the notice such deadlines show
//! `calendar_missing`. Before 1 November a missing next year is normal and
//! says nothing; a missing *current* year is always wrong.

use chrono::{Datelike, NaiveDate};

/// The month from whose first day next year's notice is needed.
pub const NEXT_YEAR_NEEDED_FROM_MONTH: u32 = 11;

/// What the calendar covers as of one day, and what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Outlook {
    /// The day this is judged on (Beijing time).
    pub today: NaiveDate,
    pub this_year: i32,
    pub covers_this_year: bool,
    pub next_year: i32,
    pub covers_next_year: bool,
    /// True from 1 November: next year's notice should be loaded by now.
    pub next_year_needed: bool,
    /// The years needed and not loaded (this year; next year from 1 November), ascending.
    pub missing_years: Vec<i32>,
    /// For operators, when a year is missing: which one and how to add it.
    pub warning: Option<String>,
}

impl Outlook {
    /// Nothing needed is missing.
    pub fn is_fine(&self) -> bool {
        self.missing_years.is_empty()
    }
}

/// Judge the loaded `years` (in any order) as of `today`.
pub fn outlook(years: &[i32], today: NaiveDate) -> Outlook {
    let this_year = today.year();
    let next_year = this_year + 1;
    let covers_this_year = years.contains(&this_year);
    let covers_next_year = years.contains(&next_year);
    let next_year_needed = today.month() >= NEXT_YEAR_NEEDED_FROM_MONTH;
    let mut missing_years = Vec::new();
    if !covers_this_year {
        missing_years.push(this_year);
    }
    if next_year_needed && !covers_next_year {
        missing_years.push(next_year);
    }
    let warning = warning(&missing_years, this_year);
    Outlook {
        today,
        this_year,
        covers_this_year,
        next_year,
        covers_next_year,
        next_year_needed,
        missing_years,
        warning,
    }
}

fn warning(missing: &[i32], this_year: i32) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let years = missing.iter().map(i32::to_string).collect::<Vec<_>>().join(" and ");
    let files = missing
        .iter()
        .map(|y| format!("cn-{y}.toml"))
        .collect::<Vec<_>>()
        .join(" and ");
    let effect = if missing.contains(&this_year) {
        "no deadline in it can be counted"
    } else {
        "deadlines that reach it show `calendar_missing`"
    };
    Some(format!(
        "the working-day calendar has no State Council holiday notice for {years}: {effect}. Add {files} to the \
         --calendar-dir folder and restart, or run a release that ships it (README, \"The working-day calendar\")"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const SHIPPED: [i32; 3] = [2024, 2025, 2026];

    #[test]
    fn on_31_october_a_missing_next_year_is_not_yet_needed() {
        let o = outlook(&SHIPPED, d("2026-10-31"));
        assert!(o.covers_this_year);
        assert!(!o.covers_next_year);
        assert!(!o.next_year_needed);
        assert!(o.is_fine());
        assert_eq!(o.warning, None);
    }

    #[test]
    fn from_1_november_a_missing_next_year_is_a_warning_naming_it() {
        let o = outlook(&SHIPPED, d("2026-11-01"));
        assert!(o.next_year_needed);
        assert!(!o.covers_next_year);
        assert_eq!(o.missing_years, vec![2027]);
        let warning = o.warning.unwrap();
        assert!(
            warning.contains("2027") && warning.contains("cn-2027.toml"),
            "{warning}"
        );
        assert!(warning.contains("--calendar-dir"), "{warning}");
    }

    #[test]
    fn a_loaded_next_year_is_fine_to_the_last_day_of_the_year() {
        let years = [2026, 2027];
        for day in ["2026-11-01", "2026-12-31"] {
            let o = outlook(&years, d(day));
            assert!(o.covers_next_year && o.next_year_needed, "{day}");
            assert!(o.is_fine(), "{day}");
        }
    }

    #[test]
    fn on_31_december_and_1_january_the_year_turns() {
        let late = outlook(&SHIPPED, d("2026-12-31"));
        assert_eq!((late.this_year, late.next_year), (2026, 2027));
        assert_eq!(late.missing_years, vec![2027]);
        // On 1 January the missing year is this year: worse, and still named.
        let new_year = outlook(&SHIPPED, d("2027-01-01"));
        assert!(!new_year.covers_this_year);
        assert!(!new_year.next_year_needed);
        assert_eq!(new_year.missing_years, vec![2027]);
        assert!(new_year.warning.unwrap().contains("2027"));
        // 2026 began with 2026 loaded and 2027 not yet needed.
        assert!(outlook(&SHIPPED, d("2026-01-01")).is_fine());
    }

    #[test]
    fn both_years_missing_are_both_named() {
        let o = outlook(&[2024], d("2026-11-15"));
        assert_eq!(o.missing_years, vec![2026, 2027]);
        let warning = o.warning.unwrap();
        assert!(warning.contains("2026 and 2027"), "{warning}");
        assert!(warning.contains("cn-2026.toml and cn-2027.toml"), "{warning}");
    }

    #[test]
    fn the_order_of_the_years_does_not_matter() {
        assert_eq!(
            outlook(&[2027, 2026], d("2026-11-02")),
            outlook(&[2026, 2027], d("2026-11-02"))
        );
    }
}
