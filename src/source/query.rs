//! What one page request asks for, whichever source serves it: a time window or a `ts`
//! cursor, a page index and size, live or archived orders.

use crate::source::Window;

/// The page size every gateway accepts; a client falls back to it when a larger one is refused.
pub const SAFE_PAGE_SIZE: u32 = 25;

/// What one page asks for: a modified-time window or a `ts` cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryRange {
    /// `start_time`/`end_time` (+ `date_type`).
    Window(Window),
    /// `start_ts` with `is_get_total=false`.
    FromTs(i64),
}

/// One page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageQuery {
    pub range: QueryRange,
    /// 1-based.
    pub page_index: u32,
    pub page_size: u32,
    /// Read archived orders (`archive=true`) instead of the live ones.
    pub archive: bool,
    /// Extra business parameters for this query only (sent after the configured filters).
    pub filters: Vec<(String, String)>,
}

impl PageQuery {
    pub fn window(window: Window, page_index: u32, page_size: u32) -> Self {
        Self {
            range: QueryRange::Window(window),
            page_index,
            page_size,
            archive: false,
            filters: Vec::new(),
        }
    }

    pub fn from_ts(start_ts: i64, page_index: u32, page_size: u32) -> Self {
        Self {
            range: QueryRange::FromTs(start_ts),
            page_index,
            page_size,
            archive: false,
            filters: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_filter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters.push((key.into(), value.into()));
        self
    }
}
