//! The seam between a source and the paging that reads it completely: [`PageFetcher`] fetches
//! one page (signing, rate limit, retries are the source's business); the pager and the cursor
//! are written once against it.

use std::collections::BTreeMap;
use std::future::Future;
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
