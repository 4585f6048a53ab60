//! What a running open platform has seen: calls on both routes, outcomes, refreshes and the
//! busiest sliding windows of order queries, so tests can check that a client stays within the
//! limits.

use std::collections::BTreeMap;

use crate::stats::GatewayStats;

/// A snapshot of an [`OpenApiGateway`](super::OpenApiGateway)'s counters.
///
/// The rate limits apply to order queries only, so the busiest windows count order queries
/// only; the other counters cover both routes (a 404 is not counted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenApiStats {
    /// Every request on either route (order queries and refreshes).
    pub total_calls: u64,
    /// Order queries answered with a page (code 0, including truncated ones).
    pub successful_calls: u64,
    /// Refusals on either route by their `code`.
    pub calls_by_code: BTreeMap<i64, u64>,
    /// Refreshes that issued a new token pair.
    pub refreshes: u64,
    /// Injected HTTP 5xx answers.
    pub server_errors: u64,
    /// Injected truncated page bodies.
    pub truncated_bodies: u64,
    /// The most order queries received in any sliding second.
    pub max_calls_in_any_second: u64,
    /// The most order queries received in any sliding 60 seconds.
    pub max_calls_in_any_minute: u64,
}

impl OpenApiStats {
    /// Refusals answered with `code`, on either route.
    pub fn calls_with_code(&self, code: i64) -> u64 {
        self.calls_by_code.get(&code).copied().unwrap_or(0)
    }
}

/// Counters of the refresh route.
#[derive(Debug, Default)]
pub(crate) struct RefreshCounts {
    pub calls: u64,
    pub refreshes: u64,
    pub refusals_by_code: BTreeMap<i64, u64>,
}

/// Both routes' counters as one snapshot.
pub(crate) fn combine(orders: GatewayStats, refresh: &RefreshCounts) -> OpenApiStats {
    let mut calls_by_code = orders.calls_by_code;
    for (&code, &count) in &refresh.refusals_by_code {
        *calls_by_code.entry(code).or_default() += count;
    }
    OpenApiStats {
        total_calls: orders.total_calls + refresh.calls,
        successful_calls: orders.successful_calls,
        calls_by_code,
        refreshes: refresh.refreshes,
        server_errors: orders.server_errors,
        truncated_bodies: orders.truncated_bodies,
        max_calls_in_any_second: orders.max_calls_in_any_second,
        max_calls_in_any_minute: orders.max_calls_in_any_minute,
    }
}
