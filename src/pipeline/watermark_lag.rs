//! How far a watermark is behind now.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::beijing_time;

/// One watermark and how far it is behind now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WatermarkLag {
    pub source: String,
    pub strategy: String,
    pub value: String,
    /// Seconds behind now; `None` when it cannot be told.
    pub lag_secs: Option<f64>,
}

/// The lag of a watermark: for the `window` strategy, Beijing now minus the watermark (the end
/// of the last pulled window); for `ts`, whose value is a row version and not a time, the time
/// since the watermark last moved (`updated_at`, UTC RFC 3339).
pub fn watermark_lag(
    strategy: &str,
    value: &str,
    updated_at: &str,
    now: DateTime<Utc>,
) -> Option<f64> {
    let secs = if strategy == "window" {
        let watermark: NaiveDateTime = beijing_time::parse(value)?;
        let now_beijing = now.with_timezone(&beijing_time::offset()).naive_local();
        (now_beijing - watermark).num_milliseconds()
    } else {
        let moved = DateTime::parse_from_rfc3339(updated_at)
            .ok()?
            .with_timezone(&Utc);
        (now - moved).num_milliseconds()
    };
    Some((secs.max(0) as f64) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_lag_is_measured_in_beijing_time_and_ts_lag_from_the_last_move() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 04:00 UTC is 12:00 in Beijing.
        assert_eq!(
            watermark_lag("window", "2024-05-01 11:30:00", "", now),
            Some(1800.0)
        );
        assert_eq!(
            watermark_lag("ts", "123456", "2024-05-01T03:59:00.000Z", now),
            Some(60.0)
        );
        assert_eq!(watermark_lag("window", "garbage", "", now), None);
    }
}
