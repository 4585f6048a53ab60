//! Time windows: the `[start_time, end_time]` ranges the gateway accepts, at most 7 days long.

use chrono::{Duration, NaiveDateTime};
use std::fmt;

use crate::beijing_time;

/// A range of Beijing wall-clock time, `start <= end`, as sent in `start_time`/`end_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

/// The longest window the gateway accepts.
pub fn max_span() -> Duration {
    Duration::days(7)
}

impl Window {
    pub fn new(start: NaiveDateTime, end: NaiveDateTime) -> Self {
        assert!(start <= end, "a window starts before it ends");
        Self { start, end }
    }

    pub fn span(&self) -> Duration {
        self.end - self.start
    }

    /// Splits `[start, end]` into consecutive windows of at most `max` each. Consecutive windows
    /// share their boundary second (the gateway's range is inclusive at both ends): an order
    /// modified exactly on it is read twice, which the hash diff makes free.
    pub fn split(start: NaiveDateTime, end: NaiveDateTime, max: Duration) -> Vec<Window> {
        assert!(max > Duration::zero(), "a window has a positive length");
        let mut windows = Vec::new();
        let mut cursor = start;
        while cursor < end {
            let next = (cursor + max).min(end);
            windows.push(Window::new(cursor, next));
            cursor = next;
        }
        windows
    }

    /// Halves the window (for dense windows), both halves sharing the middle second.
    pub fn halves(&self) -> Option<(Window, Window)> {
        let half = self.span() / 2;
        if half < Duration::seconds(1) {
            return None;
        }
        let middle = self.start + Duration::seconds(half.num_seconds());
        Some((
            Window::new(self.start, middle),
            Window::new(middle, self.end),
        ))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}..{}",
            beijing_time::format(self.start),
            beijing_time::format(self.end)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> NaiveDateTime {
        beijing_time::parse(text).unwrap()
    }

    #[test]
    fn a_range_is_split_into_windows_of_at_most_seven_days() {
        let windows = Window::split(t("2024-05-01"), t("2024-05-20"), max_span());
        let shown: Vec<String> = windows.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            shown,
            [
                "2024-05-01 00:00:00..2024-05-08 00:00:00",
                "2024-05-08 00:00:00..2024-05-15 00:00:00",
                "2024-05-15 00:00:00..2024-05-20 00:00:00",
            ]
        );
    }

    #[test]
    fn an_empty_range_has_no_windows() {
        assert!(Window::split(t("2024-05-01"), t("2024-05-01"), max_span()).is_empty());
    }

    #[test]
    fn halves_cover_the_window() {
        let (a, b) = Window::new(t("2024-05-01"), t("2024-05-02"))
            .halves()
            .unwrap();
        assert_eq!(
            (a.start, a.end, b.end),
            (t("2024-05-01"), t("2024-05-01 12:00:00"), t("2024-05-02"))
        );
    }
}
