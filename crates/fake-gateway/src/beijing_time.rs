//! Beijing wall-clock time (UTC+8) as the gateway speaks it: `yyyy-MM-dd HH:mm:ss`, no offset.

use chrono::{NaiveDateTime, Timelike, Utc};

/// The format of every time the gateway sends or accepts.
pub const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The current Beijing wall-clock time, truncated to whole seconds.
pub fn now() -> NaiveDateTime {
    let local = Utc::now().naive_utc() + chrono::Duration::hours(8);
    local.with_nanosecond(0).unwrap_or(local)
}

/// Formats as `yyyy-MM-dd HH:mm:ss`.
pub fn format(wall: NaiveDateTime) -> String {
    wall.format(FORMAT).to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` (also a bare date, as midnight).
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, FORMAT)
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}
