//! Sources of orders. What every source shares lives here: the page request ([`query`]), the
//! seam a source implements ([`fetch::PageFetcher`]: fetch one page), the paging that reads a
//! window completely on a live shop ([`pager`]) and the `ts` cursor ([`cursor`]), the rate
//! limiter, body repair and the error kinds. Each route is a folder of its own: [`qimen`].
//!
//! A source knows nothing of staging or MySQL: every page it receives is handed, as received,
//! to a [`PageSender`]; the caller decides what to do with it.

pub mod answer;
pub mod body_repair;
pub mod cursor;
pub mod error;
pub mod fetch;
pub mod openapi;
pub mod pager;
pub mod qimen;
pub mod query;
pub mod rate_limit;
pub mod retry;
pub mod window;

#[cfg(test)]
pub(crate) mod test_gateway;
#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDateTime, Utc};

pub use body_repair::BodyRepairs;
pub use cursor::CursorReport;
pub use error::SourceError;
pub use fetch::{PageFetcher, PagingLimits, SourceStats};
pub use pager::WindowReport;
pub use qimen::{QimenClient, SignMethod, SourceConfig};
pub use query::{PageQuery, QueryRange};
pub use window::Window;

/// One page exactly as the gateway answered it, plus what was asked.
#[derive(Clone, Debug)]
pub struct FetchedPage {
    /// The time window asked for; `None` for a `ts`-cursor request.
    pub window: Option<Window>,
    /// `page_index` sent (1-based).
    pub page_index: u32,
    /// Every parameter sent, system and business, **except `sign`**, in the order sent.
    pub request_params: Vec<(String, String)>,
    pub http_status: u16,
    /// The response body, verbatim.
    pub body: String,
    pub received_at: DateTime<Utc>,
    /// The orders of the page, each a JSON object as sent.
    pub orders: Vec<serde_json::Value>,
    /// Paging facts as the gateway reported them (top level or under `data`).
    pub data_count: Option<u64>,
    pub page_count: Option<u64>,
    pub has_next: Option<bool>,
    /// The `page_size` the gateway says it used, when it echoes one.
    pub echoed_page_size: Option<u64>,
    /// What had to be repaired in the body before it would parse (the body stays as received).
    pub repairs: body_repair::BodyRepairs,
}

/// A channel of pages: the simplest [`PageSink`].
pub type PageSender = tokio::sync::mpsc::Sender<FetchedPage>;

/// Where a source hands each page as it arrives; the receiver stages them. The page moves on
/// (never copied), so a sink that holds few pages keeps the pull's memory flat.
pub trait PageSink: Send + Sync {
    /// Hands one page on; [`SourceError::ReceiverClosed`] when the receiver has gone away.
    fn send_page(
        &self,
        page: FetchedPage,
    ) -> impl std::future::Future<Output = Result<(), SourceError>> + Send;
}

impl PageSink for PageSender {
    async fn send_page(&self, page: FetchedPage) -> Result<(), SourceError> {
        self.send(page)
            .await
            .map_err(|_| SourceError::ReceiverClosed)
    }
}

/// Beijing wall-clock time, as the gateway speaks it.
pub type BeijingTime = NaiveDateTime;
