//! Reading every order modified in a time window, on a shop that keeps changing while we read.
//!
//! Offset paging is unsafe on a live shop: an order modified during the scan leaves the window
//! (its modified time moves to "now"), the rows after it shift up one place, and a row at a page
//! boundary slides into a page already read. So a window is read **last page first**:
//!
//! 1. page 1, to learn `data_count`;
//! 2. pages `page_count ..= 2`, in reverse;
//! 3. page 1 again (rows of page 2 may have shifted into it after step 1).
//!
//! In a window in the past rows only *leave*, and leaving only moves unread rows towards pages
//! not yet read, so nothing is skipped. Rows *arriving* (late visibility, a window reaching up
//! to now) push rows the other way; that shows as `data_count` growing between two reads, and
//! the pages above the read one are re-read (at most `max_drift_rereads` rounds). If at the end
//! fewer distinct orders were seen than `data_count` says exist, the window is read again in
//! full, within the same budget. A window with more than `page_size * max_page_depth` orders is
//! halved instead of paged deeply; one longer than `max_window` is cut into pieces first.

use std::collections::HashSet;

use tracing::{debug, info, warn};

use crate::source::error::SourceError;
use crate::source::fetch::PageFetcher;
use crate::source::query::{PageQuery, SAFE_PAGE_SIZE};
use crate::source::{FetchedPage, PageSink, Window};

/// What reading one window took and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowReport {
    pub window: Window,
    /// Logical calls (pages fetched and sent), re-reads and sub-windows included.
    pub calls: u64,
    /// Distinct `(window, page_index)` pages read.
    pub pages: u64,
    /// Orders received, duplicates included.
    pub orders_seen: u64,
    /// Distinct `o_id`s received.
    pub distinct_orders: u64,
    /// `data_count` of the first page read.
    pub data_count_first: Option<u64>,
    /// `data_count` of the last page read; for a split window, the sum over the pieces paged.
    pub data_count_last: Option<u64>,
    /// Times `data_count` changed between two reads, or the pass ended short of it.
    pub drift_events: u64,
    /// Pages read again because of drift (the planned second read of page 1 is not counted).
    pub rereads: u64,
    /// Sub-windows read because the window was dense or too long.
    pub subwindows: u64,
    /// Drift was still seen when the re-read budget ran out: some orders may have been missed
    /// (they will have a newer modified time, so a later window finds them).
    pub unresolved_drift: bool,
    /// How many fewer distinct orders were received than the final `data_count` says exist
    /// (summed over pieces); non-zero with `unresolved_drift` false means the gateway counts
    /// rows it does not return.
    pub shortfall: u64,
    /// Pages read past the count because the last counted page came back full (a gateway
    /// that under-reports `data_count`).
    pub extra_pages: u64,
    /// Why the window cannot be proven complete; `None` when every page's order list was read
    /// and the distinct orders reached the count.
    pub incomplete: Option<String>,
}

impl WindowReport {
    /// Every page's order list was read and the distinct orders reached the count.
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_none()
    }

    fn new(window: Window) -> Self {
        Self {
            window,
            calls: 0,
            pages: 0,
            orders_seen: 0,
            distinct_orders: 0,
            data_count_first: None,
            data_count_last: None,
            drift_events: 0,
            rereads: 0,
            subwindows: 0,
            unresolved_drift: false,
            shortfall: 0,
            extra_pages: 0,
            incomplete: None,
        }
    }
}

/// Reads every order modified in `window` — the live orders, or with `archive` the archived
/// ones — sending every page fetched (re-reads included) to `pages` as soon as it arrives.
pub async fn pull_window<F: PageFetcher, S: PageSink>(
    source: &F,
    window: Window,
    archive: bool,
    pages: &S,
) -> Result<WindowReport, SourceError> {
    let mut walk = Walk {
        client: source,
        archive,
        pages,
        distinct: HashSet::new(),
        report: WindowReport::new(window),
        leaf_counts: Vec::new(),
        pages_read: HashSet::new(),
        incomplete: None,
    };
    walk.window(window).await?;
    let mut report = walk.report;
    report.distinct_orders = walk.distinct.len() as u64;
    if report.subwindows > 0 {
        report.data_count_last = walk.leaf_counts.iter().copied().sum::<Option<u64>>();
    }
    report.incomplete = walk.incomplete.take().or_else(|| {
        if report.unresolved_drift {
            Some("its row count kept changing after every re-read".to_owned())
        } else if report.shortfall > 0 {
            Some(format!(
                "the gateway counts {} more orders than it returned",
                report.shortfall
            ))
        } else {
            None
        }
    });
    if let Some(reason) = &report.incomplete {
        warn!(window = %window, reason, "Window incomplete: the watermark stays before it and the run will fail.");
    }
    info!(
        window = %window,
        archive,
        calls = report.calls,
        orders = report.distinct_orders,
        drift_events = report.drift_events,
        rereads = report.rereads,
        subwindows = report.subwindows,
        "Window pulled."
    );
    Ok(report)
}

/// What paging needs to know of a page once it is sent on.
struct PageFacts {
    len: usize,
    data_count: Option<u64>,
    page_count: Option<u64>,
    has_next: Option<bool>,
}

/// The state of reading one window, its pieces included.
struct Walk<'a, F, S> {
    client: &'a F,
    /// Every call of the walk reads the archive.
    archive: bool,
    pages: &'a S,
    distinct: HashSet<String>,
    report: WindowReport,
    /// The last `data_count` of each window actually paged.
    leaf_counts: Vec<Option<u64>>,
    pages_read: HashSet<(Window, u32)>,
    /// The first reason found that the window cannot be proven complete.
    incomplete: Option<String>,
}

/// One window being paged in reverse.
struct Leaf {
    window: Window,
    /// The page size of every call of this leaf (a leaf never mixes sizes).
    page_size: u32,
    distinct: HashSet<String>,
    last_count: u64,
    budget: u32,
    /// `data_count` changed since the last full pass.
    drifted: bool,
}

impl<F: PageFetcher, S: PageSink> Walk<'_, F, S> {
    async fn window(&mut self, window: Window) -> Result<(), SourceError> {
        let limits = self.client.paging();
        let max_window = chrono::Duration::from_std(limits.max_window)
            .unwrap_or_else(|_| crate::source::window::max_span());
        if window.span() > max_window {
            let pieces = Window::split(window.start, window.end, max_window);
            self.report.subwindows += pieces.len() as u64;
            for piece in pieces {
                Box::pin(self.window(piece)).await?;
            }
            return Ok(());
        }

        // A gateway that refuses (or silently cuts) our page size makes the client fall back to
        // a smaller one; the leaf is then read again from the start with it.
        loop {
            let page_size = self.client.page_size();
            match self.leaf(window, page_size).await {
                Err(SourceError::PageSizeRefused { .. }) if self.client.page_size() < page_size => {
                    continue;
                }
                other => return other,
            }
        }
    }

    async fn leaf(&mut self, window: Window, page_size: u32) -> Result<(), SourceError> {
        let limits = self.client.paging();
        let mut leaf = Leaf {
            window,
            page_size,
            distinct: HashSet::new(),
            last_count: 0,
            budget: limits.max_drift_rereads,
            drifted: false,
        };
        let first = self.read(&mut leaf, 1).await?;
        if self.report.data_count_first.is_none() {
            self.report.data_count_first = first.data_count;
        }
        let Some(count) = first.data_count else {
            return self.forward(leaf, first).await;
        };
        leaf.last_count = count;

        let depth_limit = u64::from(page_size) * u64::from(limits.max_page_depth);
        if count > depth_limit {
            if let Some((left, right)) = window.halves() {
                debug!(window = %window, data_count = count, "Dense window; halving.");
                self.report.subwindows += 2;
                Box::pin(self.window(left)).await?;
                Box::pin(self.window(right)).await?;
                return Ok(());
            }
            warn!(window = %window, data_count = count, "A one-second window is too dense to halve; paging deep.");
        }

        let top = pages_for(count, page_size);
        if top >= 2 {
            for index in (2..=top).rev() {
                let page = self.read(&mut leaf, index).await?;
                if index == top {
                    self.read_past_a_full_last_page(&mut leaf, &page, index)
                        .await?;
                }
                self.settle(&mut leaf, index, page.data_count).await?;
            }
            let page = self.read(&mut leaf, 1).await?;
            self.settle(&mut leaf, 1, page.data_count).await?;
        } else {
            self.read_past_a_full_last_page(&mut leaf, &first, 1)
                .await?;
        }

        // Fewer distinct orders than the gateway counts after the count moved: something
        // slipped past. Read the window again in full (reverse), within the budget. A count
        // that stayed put is not drift: re-reading a still window would only repeat itself.
        while leaf.drifted && (leaf.distinct.len() as u64) < leaf.last_count {
            self.report.drift_events += 1;
            if leaf.budget == 0 {
                self.unresolved(&leaf);
                break;
            }
            leaf.budget -= 1;
            leaf.drifted = false;
            let top = pages_for(leaf.last_count.max(leaf.distinct.len() as u64), page_size);
            for index in (1..=top).rev() {
                let page = self.read(&mut leaf, index).await?;
                self.report.rereads += 1;
                if let Some(count) = page.data_count
                    && count != leaf.last_count
                {
                    leaf.drifted = true;
                    leaf.last_count = count;
                }
            }
        }
        let shortfall = leaf.last_count.saturating_sub(leaf.distinct.len() as u64);
        // A still window that returned fewer distinct orders than it counts, over several pages:
        // the gateway's order is not stable between calls (e.g. many orders share one
        // `modified` second and ties come back in another order), so offset paging skipped
        // some. Halve it: smaller windows need fewer pages, down to one page, which cannot skip.
        if shortfall > 0
            && !self.report.unresolved_drift
            && pages_for(leaf.last_count, page_size) >= 2
            && let Some((left, right)) = window.halves()
        {
            debug!(window = %window, data_count = leaf.last_count, distinct = leaf.distinct.len(), "Window returned fewer orders than it counts; halving.");
            self.report.drift_events += 1;
            self.report.subwindows += 2;
            Box::pin(self.window(left)).await?;
            Box::pin(self.window(right)).await?;
            return Ok(());
        }
        if shortfall > 0 && !self.report.unresolved_drift {
            warn!(
                window = %window,
                data_count = leaf.last_count,
                distinct = leaf.distinct.len(),
                "The gateway counts more orders than it returned for a window that did not change."
            );
        }
        self.report.shortfall += shortfall;
        self.report.data_count_last = Some(leaf.last_count);
        self.leaf_counts.push(Some(leaf.last_count));
        Ok(())
    }

    /// Reacts to the `data_count` seen when reading page `index`: growth of `k` rows pushed up
    /// to `k` unread rows from below `index` into the pages just above it; re-read those.
    async fn settle(
        &mut self,
        leaf: &mut Leaf,
        index: u32,
        count: Option<u64>,
    ) -> Result<(), SourceError> {
        let page_size = leaf.page_size;
        let mut pending: Vec<(u32, Option<u64>)> = vec![(index, count)];
        while let Some((index, count)) = pending.pop() {
            let Some(count) = count else { continue };
            if count == leaf.last_count {
                continue;
            }
            self.report.drift_events += 1;
            leaf.drifted = true;
            let grew = count.saturating_sub(leaf.last_count);
            debug!(window = %leaf.window, page_index = index, from = leaf.last_count, to = count, "Window row count changed while paging.");
            leaf.last_count = count;
            if grew == 0 {
                continue; // rows left: reading last to first already copes
            }
            let spread = u32::try_from(grew.div_ceil(u64::from(page_size))).unwrap_or(u32::MAX);
            let first = index + 1;
            let last = index
                .saturating_add(spread)
                .min(pages_for(count, page_size));
            if first > last {
                continue;
            }
            if leaf.budget == 0 {
                self.unresolved(leaf);
                continue;
            }
            leaf.budget -= 1;
            for reread in (first..=last).rev() {
                let page = self.read(leaf, reread).await?;
                self.report.rereads += 1;
                pending.push((reread, page.data_count));
            }
        }
        Ok(())
    }

    /// Without `data_count` the window cannot be read in reverse: page forward until the
    /// gateway says there is no next page, or a page comes back short.
    async fn forward(&mut self, mut leaf: Leaf, first: PageFacts) -> Result<(), SourceError> {
        warn!(window = %leaf.window, "The gateway sent no data_count; paging forward, which can miss orders that change during the scan.");
        self.incomplete.get_or_insert_with(|| {
            "the gateway sent no data_count, so what was read cannot be reconciled".to_owned()
        });
        let page_size = leaf.page_size as usize;
        let mut last = first;
        let mut index = 1;
        loop {
            let more = match (last.has_next, last.page_count) {
                (Some(has_next), _) => has_next,
                (None, Some(page_count)) => u64::from(index) < page_count,
                (None, None) => last.len >= page_size,
            };
            if !more || last.len == 0 {
                break;
            }
            index += 1;
            last = self.read(&mut leaf, index).await?;
        }
        self.leaf_counts.push(None);
        Ok(())
    }

    /// The counted pages are read, but the last one came back full (or says there is a next
    /// page): the count may be under-reported, so read on until a page is not full.
    async fn read_past_a_full_last_page(
        &mut self,
        leaf: &mut Leaf,
        last: &PageFacts,
        index: u32,
    ) -> Result<(), SourceError> {
        let page_size = leaf.page_size as usize;
        let full = |page: &PageFacts| page.len >= page_size || page.has_next == Some(true);
        if !full(last) {
            return Ok(());
        }
        let mut index = index;
        let mut extra = 0u32;
        loop {
            index += 1;
            extra += 1;
            let page = self.read(leaf, index).await?;
            self.report.extra_pages += 1;
            if page.len == 0 || !full(&page) {
                break;
            }
            if extra >= self.client.paging().max_page_depth {
                self.incomplete.get_or_insert_with(|| {
                    format!("pages kept coming back full past the count ({extra} extra pages read)")
                });
                break;
            }
        }
        if leaf.distinct.len() as u64 > leaf.last_count {
            warn!(
                window = %leaf.window,
                data_count = leaf.last_count,
                distinct = leaf.distinct.len(),
                "The gateway under-reports data_count: more orders came back than it counts."
            );
        }
        Ok(())
    }

    /// Fetches one page of the leaf, sends it on (moved, never copied), and tallies its orders
    /// by `o_id`; returns what paging needs to know of it.
    async fn read(&mut self, leaf: &mut Leaf, index: u32) -> Result<PageFacts, SourceError> {
        let mut query = PageQuery::window(leaf.window, index, leaf.page_size);
        query.archive = self.archive;
        let page = self.client.fetch_page(&query).await?;
        let cut_to = served_page_size(&page, &query);
        // An order without an o_id is passed on all the same: staging quarantines it with the
        // raw JSON, and it must not block the rest of the page.
        let ids: Vec<String> = page.orders.iter().filter_map(order_id).collect();
        self.report.calls += 1;
        self.report.orders_seen += page.orders.len() as u64;
        if self.pages_read.insert((leaf.window, index)) {
            self.report.pages += 1;
        }
        for id in ids {
            leaf.distinct.insert(id.clone());
            self.distinct.insert(id);
        }
        let facts = PageFacts {
            len: page.orders.len(),
            data_count: page.data_count,
            page_count: page.page_count,
            has_next: page.has_next,
        };
        self.pages.send_page(page).await?;
        if let Some(size) = cut_to {
            self.client.fall_back_to_page_size(
                query.page_size,
                size,
                "pages came back smaller than asked",
            );
            return Err(SourceError::PageSizeRefused {
                requested: query.page_size,
                code: 0,
                message: format!("the gateway served pages of {size}"),
            });
        }
        Ok(facts)
    }

    fn unresolved(&mut self, leaf: &Leaf) {
        self.report.unresolved_drift = true;
        warn!(
            window = %leaf.window,
            distinct = leaf.distinct.len(),
            data_count = leaf.last_count,
            "The window kept changing after every re-read; a later window will pick up what was missed."
        );
    }
}

/// The smaller page size a gateway silently served, when a page shows one: it echoes a smaller
/// `page_size`, or a first page above 25 rows comes back short of both the size and the count
/// of one consistent answer.
fn served_page_size(page: &FetchedPage, query: &PageQuery) -> Option<u32> {
    let asked = u64::from(query.page_size);
    if let Some(echoed) = page.echoed_page_size
        && echoed >= 1
        && echoed < asked
    {
        return u32::try_from(echoed).ok();
    }
    let len = page.orders.len() as u64;
    let count = page.data_count?;
    (query.page_index == 1
        && asked > u64::from(SAFE_PAGE_SIZE)
        && len >= 1
        && len < asked.min(count))
    .then(|| u32::try_from(len).ok())
    .flatten()
}

/// Pages needed for `count` rows (at least one: an empty window still answers page 1).
fn pages_for(count: u64, page_size: u32) -> u32 {
    u32::try_from(count.div_ceil(u64::from(page_size)).max(1)).unwrap_or(u32::MAX)
}

/// An order's `o_id` and `ts`, read the way staging keys them.
pub use crate::diff::{order_id, order_ts};
