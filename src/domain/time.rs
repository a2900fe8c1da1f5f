//! Times are stored in UTC and shown in Asia/Shanghai.
//!
//! China has used UTC+8 all year since 1991, so a fixed offset is exact for
//! every date this service handles and spares a time-zone database.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The calendar date of an instant in Asia/Shanghai.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&shanghai()).date_naive()
}

/// The first instant after `date` ends in Asia/Shanghai: a deadline "on"
/// `date` is met by anything strictly before it.
pub fn end_of_local_day(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    shanghai()
        .from_local_datetime(&next.and_time(NaiveTime::MIN))
        .single()
        .expect("a fixed offset has exactly one mapping")
        .with_timezone(&Utc)
}

/// Now, to the millisecond: both stores keep the same precision.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Render an instant in Asia/Shanghai, RFC 3339 with `+08:00`.
pub fn to_local_string(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dates_turn_at_shanghai_midnight() {
        let late_utc: DateTime<Utc> = "2024-10-08T16:30:00Z".parse().unwrap();
        assert_eq!(local_date(late_utc).to_string(), "2024-10-09");
        let end = end_of_local_day("2024-10-09".parse().unwrap());
        assert_eq!(end.to_rfc3339(), "2024-10-09T16:00:00+00:00");
        assert_eq!(to_local_string(late_utc), "2024-10-09T00:30:00+08:00");
    }
}
