//! The arrival times of recent calls, for sliding-window rate limits and statistics.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Call times over the last minute, oldest first.
#[derive(Debug, Default)]
pub(crate) struct CallTimes {
    times: VecDeque<Instant>,
}

/// The longest window anything asks about.
const HORIZON: Duration = Duration::from_secs(60);

impl CallTimes {
    pub(crate) fn push(&mut self, now: Instant) {
        while self
            .times
            .front()
            .is_some_and(|&time| now.duration_since(time) >= HORIZON)
        {
            self.times.pop_front();
        }
        self.times.push_back(now);
    }

    /// Calls in the window `(now - window, now]`.
    pub(crate) fn count_within(&self, now: Instant, window: Duration) -> usize {
        let first = self
            .times
            .partition_point(|&time| now.duration_since(time) >= window);
        self.times.len() - first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_calls_inside_the_sliding_window() {
        let start = Instant::now();
        let mut calls = CallTimes::default();
        for millis in [0, 400, 900, 1_300] {
            calls.push(start + Duration::from_millis(millis));
        }
        let now = start + Duration::from_millis(1_300);
        assert_eq!(calls.count_within(now, Duration::from_secs(1)), 3);
        assert_eq!(calls.count_within(now, Duration::from_secs(60)), 4);
    }
}
