//! What a running gateway has seen: calls, outcomes and the busiest sliding windows, so tests
//! can check that a client stays within the limits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::call_times::CallTimes;

/// A snapshot of the gateway's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Every HTTP request received.
    pub total_calls: u64,
    /// Requests answered with a success envelope (including truncated ones).
    pub successful_calls: u64,
    /// Failure envelopes by their `code`.
    pub calls_by_code: BTreeMap<i64, u64>,
    /// Injected HTTP 5xx answers.
    pub server_errors: u64,
    /// Injected truncated bodies.
    pub truncated_bodies: u64,
    /// The most calls received in any sliding second.
    pub max_calls_in_any_second: u64,
    /// The most calls received in any sliding 60 seconds.
    pub max_calls_in_any_minute: u64,
}

impl GatewayStats {
    /// Failures answered with `code`.
    pub fn calls_with_code(&self, code: i64) -> u64 {
        self.calls_by_code.get(&code).copied().unwrap_or(0)
    }
}

/// Keeps [`GatewayStats`] up to date as calls arrive and are answered.
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    stats: GatewayStats,
    arrivals: CallTimes,
}

/// How a call was answered.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Success { truncated: bool },
    Failure { code: i64 },
    ServerError,
}

impl StatsRecorder {
    pub(crate) fn record_arrival(&mut self, now: Instant) {
        self.arrivals.push(now);
        let stats = &mut self.stats;
        stats.total_calls += 1;
        let in_second = self.arrivals.count_within(now, Duration::from_secs(1)) as u64;
        let in_minute = self.arrivals.count_within(now, Duration::from_secs(60)) as u64;
        stats.max_calls_in_any_second = stats.max_calls_in_any_second.max(in_second);
        stats.max_calls_in_any_minute = stats.max_calls_in_any_minute.max(in_minute);
    }

    pub(crate) fn record_outcome(&mut self, outcome: Outcome) {
        let stats = &mut self.stats;
        match outcome {
            Outcome::Success { truncated } => {
                stats.successful_calls += 1;
                stats.truncated_bodies += u64::from(truncated);
            }
            Outcome::Failure { code } => *stats.calls_by_code.entry(code).or_default() += 1,
            Outcome::ServerError => stats.server_errors += 1,
        }
    }

    pub(crate) fn snapshot(&self) -> GatewayStats {
        self.stats.clone()
    }
}
