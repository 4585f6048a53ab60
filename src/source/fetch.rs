//! The seam between a source and the paging that reads it completely: [`PageFetcher`] fetches
//! one page (signing, rate limit, retries are the source's business); the pager and the cursor
//! are written once against it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::source::query::PageQuery;
use crate::source::{BodyRepairs, FetchedPage, SourceError};

/// How deep and how often the pager may read one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagingLimits {
    /// Longest window the gateway accepts (7 days).
    pub max_window: Duration,
    /// A window holding more than `page_size * max_page_depth` orders is halved.
    pub max_page_depth: u32,
    /// How many times one window may be re-read because its row count grew while paging.
    pub max_drift_rereads: u32,
}

/// Fetches one page of orders: the one thing the pager and the cursor need of a source.
pub trait PageFetcher: Send + Sync {
    /// One logical call: rate limit, sign, send, read, retry transient faults.
    fn fetch_page(
        &self,
        query: &PageQuery,
    ) -> impl Future<Output = Result<FetchedPage, SourceError>> + Send;

    /// The page size to ask for now (smaller than configured after a refusal).
    fn page_size(&self) -> u32;

    /// Uses `size` for the rest of the run (only ever smaller), saying so once.
    fn fall_back_to_page_size(&self, requested: u32, size: u32, why: &str);

    fn paging(&self) -> PagingLimits;

    /// The counters of every call so far.
    fn stats(&self) -> SourceStats;
}

/// Counters of one client since it was built, for the run summary and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// HTTP requests sent (what the gateway counts against the rate limits).
    pub calls: u64,
    /// Attempts that were retries of an earlier failed attempt.
    pub retries: u64,
    /// Throttle answers (codes 7, 199, 200).
    pub throttled: u64,
    /// Pages read successfully.
    pub pages: u64,
    /// Failed attempts by kind: gateway code (`"25"`), `http_503`, `transport`, `timeout`,
    /// `malformed`.
    pub errors_by_code: BTreeMap<String, u64>,
    /// What had to be repaired in bodies before they would parse.
    pub repairs: BodyRepairs,
    /// Time spent waiting out bans and throttle pauses, in milliseconds.
    pub throttle_wait_ms: u64,
}

#[derive(Debug, Default)]
/// Counters of one client since it was built, shared by the routes.
pub(crate) struct CallCounters {
    pub calls: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub pages: AtomicU64,
    pub throttle_wait_ms: AtomicU64,
    pub errors_by_code: Mutex<BTreeMap<String, u64>>,
    pub repairs: Mutex<BodyRepairs>,
}

impl SourceStats {
    /// Adds another source's counters (a run that reads two routes).
    pub fn add(&mut self, other: &SourceStats) {
        self.calls += other.calls;
        self.retries += other.retries;
        self.throttled += other.throttled;
        self.pages += other.pages;
        self.throttle_wait_ms += other.throttle_wait_ms;
        for (code, count) in &other.errors_by_code {
            *self.errors_by_code.entry(code.clone()).or_insert(0) += count;
        }
        self.repairs.add(&other.repairs);
    }
}

impl CallCounters {
    pub fn record_error(&self, error: &SourceError) {
        *lock(&self.errors_by_code)
            .entry(error.stats_key())
            .or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> SourceStats {
        SourceStats {
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            errors_by_code: lock(&self.errors_by_code).clone(),
            repairs: *lock(&self.repairs),
            throttle_wait_ms: self.throttle_wait_ms.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
