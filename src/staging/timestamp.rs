//! The timestamps staging stores: UTC, RFC 3339 with milliseconds, so they sort as text.

use chrono::Utc;

/// Now, as staging stores it.
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
