//! The `ts` cursor: the row-version scan Jushuitan recommends over time windows.
//!
//! Ask `start_ts = cursor, is_get_total = false, page_index = 1`; the answer holds the rows
//! with `ts >= cursor` in `ts` order. Move the cursor to the largest `ts` of the page and ask
//! again: the boundary row comes back (`>=`) and is de-duplicated by `o_id`. A short page means
//! the end. One answer is one consistent read, so rows changing between calls are never lost:
//! a changed row gets a larger `ts` and simply comes back later.
//!
//! The one soft spot is a group of more than `page_size` rows sharing one `ts`: the cursor
//! cannot move past it until it is read, so the group is paged with `page_index` at that cursor.
//! That is offset paging again, so once the group is read (the first page reaching past it),
//! its pages are read again from the last to the first — the same reverse read that makes
//! window paging immune to rows leaving (a row modified mid-group leaves it for a larger `ts`).

use std::collections::HashSet;

use tracing::{info, warn};

use crate::source::error::SourceError;
use crate::source::fetch::PageFetcher;
use crate::source::pager::{order_id, order_ts};
use crate::source::query::PageQuery;
use crate::source::{FetchedPage, PageSink};

/// What a cursor scan took and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorReport {
    pub start_ts: i64,
    /// The largest `ts` read in order: store it and start the next scan from it.
    pub cursor: i64,
    /// Logical calls (pages fetched and sent).
    pub calls: u64,
    /// Orders received, duplicates included.
    pub orders_seen: u64,
    /// Distinct `o_id`s received.
    pub distinct_orders: u64,
    /// Pages of shared-`ts` groups read a second time.
    pub rereads: u64,
    /// The scan stopped because a full page at an unmoved cursor brought nothing new (the
    /// gateway seems to ignore `page_index`): the rest of that `ts` group may be unread.
    pub stuck: bool,
}

/// Reads every order with `ts >= start_ts`, sending every page to `pages` as it arrives.
pub async fn pull_from_ts<F: PageFetcher, S: PageSink>(
    source: &F,
    start_ts: i64,
    pages: &S,
) -> Result<CursorReport, SourceError> {
    {
        let page_size = source.page_size();
        let mut scan = Scan {
            client: source,
            pages,
            seen: HashSet::new(),
            distinct: HashSet::new(),
            report: CursorReport {
                start_ts,
                cursor: start_ts,
                calls: 0,
                orders_seen: 0,
                distinct_orders: 0,
                rereads: 0,
                stuck: false,
            },
        };
        let mut cursor = start_ts;
        let mut page_index = 1;
        loop {
            let read = scan.read(cursor, page_index).await?;
            let Some(page_max) = read.max_ts else {
                if read.len > 0 {
                    warn!(
                        cursor,
                        page_index,
                        "No order on a cursor page has an integer ts; the cursor cannot move. Use the window strategy."
                    );
                    scan.report.stuck = true;
                }
                break;
            };
            scan.report.cursor = scan.report.cursor.max(page_max);
            if read.len < page_size as usize {
                break; // the last rows with ts >= cursor
            }
            if page_max > cursor {
                if page_index > 1 {
                    // A shared-ts group was paged by offset: read it again, last page first.
                    for index in (1..page_index).rev() {
                        scan.read(cursor, index).await?;
                        scan.report.rereads += 1;
                    }
                }
                cursor = page_max;
                page_index = 1;
            } else if read.fresh == 0 {
                warn!(
                    cursor,
                    page_index,
                    "A full page at an unmoved cursor brought nothing new; stopping the ts scan."
                );
                scan.report.stuck = true;
                break;
            } else {
                page_index += 1;
            }
        }
        let mut report = scan.report;
        report.distinct_orders = scan.distinct.len() as u64;
        info!(
            start_ts,
            cursor = report.cursor,
            calls = report.calls,
            orders = report.distinct_orders,
            "Cursor scan pulled."
        );
        Ok(report)
    }
}

struct Scan<'a, F, S> {
    client: &'a F,
    pages: &'a S,
    /// `(o_id, ts)` versions received.
    seen: HashSet<(String, i64)>,
    distinct: HashSet<String>,
    report: CursorReport,
}

/// What one page of the scan held.
struct Read {
    len: usize,
    max_ts: Option<i64>,
    /// Versions not received before.
    fresh: usize,
}

impl<F: PageFetcher, S: PageSink> Scan<'_, F, S> {
    async fn read(&mut self, cursor: i64, page_index: u32) -> Result<Read, SourceError> {
        let query = PageQuery::from_ts(cursor, page_index, self.client.page_size());
        let page: FetchedPage = self.client.fetch_page(&query).await?;
        let mut versions = Vec::with_capacity(page.orders.len());
        for order in &page.orders {
            // An order without an o_id or a ts cannot move the cursor; it is passed on all the
            // same, and staging quarantines what it cannot key.
            if let (Some(id), Some(ts)) = (order_id(order), order_ts(order)) {
                versions.push((id, ts));
            } else {
                tracing::warn!(
                    page = page_index,
                    start_ts = cursor,
                    "Order without o_id or integer ts on a cursor page."
                );
            }
        }
        self.report.calls += 1;
        self.report.orders_seen += page.orders.len() as u64;
        let read = Read {
            len: page.orders.len(),
            max_ts: versions.iter().map(|(_, ts)| *ts).max(),
            fresh: 0,
        };
        let mut fresh = 0;
        for (id, ts) in versions {
            self.distinct.insert(id.clone());
            if self.seen.insert((id, ts)) {
                fresh += 1;
            }
        }
        self.pages.send_page(page).await?;
        Ok(Read { fresh, ..read })
    }
}
