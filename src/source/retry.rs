//! The retry policy both routes share: after a failed attempt, give up (a permanent error, or
//! the last attempt) or wait — exponential backoff with full jitter, and never less than the
//! gateway's throttle pause — and try again. Each client keeps what is its own (bans, tokens).

use std::time::Duration;

use rand::Rng;

use super::error::SourceError;

/// How a route retries: attempts, backoff and throttle pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The pause after a per-second throttle.
    pub throttle_pause: Duration,
    /// The pause after a per-minute throttle (its code is the route's own).
    pub minute_throttle_pause: Duration,
    pub minute_throttle_code: i64,
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub enum AfterFailure {
    /// Stop: the error is permanent, or the attempts are used up (then wrapped in
    /// [`SourceError::RetriesExhausted`]).
    GiveUp(SourceError),
    /// Wait `wait`, then try again. `throttle_pause` is set for a throttle: every call of the
    /// client should hold back that long, not only this one.
    Retry {
        error: SourceError,
        wait: Duration,
        throttle_pause: Option<Duration>,
    },
}

impl RetryPolicy {
    /// Decides after the `attempt`-th (1-based) failure of one logical call.
    pub fn after_failure(&self, attempt: u32, error: SourceError) -> AfterFailure {
        if !error.is_transient() {
            return AfterFailure::GiveUp(error);
        }
        if attempt >= self.max_attempts {
            return AfterFailure::GiveUp(SourceError::RetriesExhausted {
                attempts: attempt,
                last: Box::new(error),
            });
        }
        let throttle_pause = match &error {
            SourceError::Throttled { code, .. } if *code == self.minute_throttle_code => {
                Some(self.minute_throttle_pause)
            }
            SourceError::Throttled { .. } => Some(self.throttle_pause),
            _ => None,
        };
        let wait = self
            .backoff(attempt)
            .max(throttle_pause.unwrap_or_default());
        AfterFailure::Retry {
            error,
            wait,
            throttle_pause,
        }
    }

    /// Full jitter: uniform in `[0, min(max_backoff, base_backoff * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let cap = self
            .base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        Duration::from_micros(rand::rng().random_range(0..=cap.as_micros() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
            throttle_pause: Duration::from_secs(1),
            minute_throttle_pause: Duration::from_secs(60),
            minute_throttle_code: 200,
        }
    }

    fn throttled(code: i64) -> SourceError {
        SourceError::Throttled {
            code,
            message: "slow down".into(),
            request_id: None,
            ban: None,
        }
    }

    #[test]
    fn a_permanent_error_is_given_up_at_once() {
        let refused = SourceError::Config("bad".into());
        assert!(matches!(
            policy().after_failure(1, refused),
            AfterFailure::GiveUp(SourceError::Config(_))
        ));
    }

    #[test]
    fn a_transient_error_is_retried_until_the_last_attempt_then_reported_as_exhausted() {
        assert!(matches!(
            policy().after_failure(2, throttled(199)),
            AfterFailure::Retry { .. }
        ));
        match policy().after_failure(3, throttled(199)) {
            AfterFailure::GiveUp(SourceError::RetriesExhausted { attempts, .. }) => {
                assert_eq!(attempts, 3)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_throttle_waits_at_least_its_pause_and_a_minute_throttle_a_minute() {
        match policy().after_failure(1, throttled(199)) {
            AfterFailure::Retry {
                wait,
                throttle_pause,
                ..
            } => {
                assert_eq!(throttle_pause, Some(Duration::from_secs(1)));
                assert!(wait >= Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
        match policy().after_failure(1, throttled(200)) {
            AfterFailure::Retry { throttle_pause, .. } => {
                assert_eq!(throttle_pause, Some(Duration::from_secs(60)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_never_exceeds_its_cap() {
        for attempt in 1..40 {
            assert!(policy().backoff(attempt) <= Duration::from_millis(250));
        }
        assert!(policy().backoff(1) <= Duration::from_millis(100));
    }
}
