//! Beijing wall-clock time (UTC+8), the only time the Qimen gateway speaks.
//!
//! The API sends and expects `yyyy-MM-dd HH:mm:ss` strings without an offset; we keep them as
//! [`NaiveDateTime`] values that are understood to be Beijing time.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

/// The format of every time the gateway sends or accepts.
pub const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Beijing's fixed offset from UTC (China has no daylight saving time).
pub fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The current Beijing wall-clock time, truncated to whole seconds.
pub fn now() -> NaiveDateTime {
    from_utc(Utc::now())
}

/// Converts a UTC instant to Beijing wall-clock time, truncated to whole seconds.
pub fn from_utc(instant: DateTime<Utc>) -> NaiveDateTime {
    let local = instant.with_timezone(&offset()).naive_local();
    local.with_nanosecond_zeroed()
}

/// Converts Beijing wall-clock time to the UTC instant it names.
pub fn to_utc(wall: NaiveDateTime) -> DateTime<Utc> {
    (wall - chrono::Duration::hours(8)).and_utc()
}

/// Formats as `yyyy-MM-dd HH:mm:ss`.
pub fn format(wall: NaiveDateTime) -> String {
    wall.format(FORMAT).to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` (also accepting `yyyy-MM-ddTHH:mm:ss` and a bare date).
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

trait ZeroNanos {
    fn with_nanosecond_zeroed(self) -> Self;
}

impl ZeroNanos for NaiveDateTime {
    fn with_nanosecond_zeroed(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).expect("zero nanoseconds is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_midnight_is_eight_in_the_morning_in_beijing() {
        let utc = DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(format(from_utc(utc)), "2024-05-01 08:00:00");
        assert_eq!(to_utc(from_utc(utc)), utc);
    }

    #[test]
    fn parses_the_gateway_format_and_rejects_garbage() {
        assert_eq!(
            format(parse("2024-05-01 12:34:56").unwrap()),
            "2024-05-01 12:34:56"
        );
        assert_eq!(format(parse("2024-05-01").unwrap()), "2024-05-01 00:00:00");
        assert!(parse("0000-00-00 00:00:00").is_none());
        assert!(parse("yesterday").is_none());
    }
}
