//! The benchmark's staging steps: staging every page of a synthetic shop the way `pull` does,
//! timed by thread, counting the rows a changed edition must write; and what staging costs on
//! disk (bytes per order, a no-change run, a simulated year of 5-minute runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::pages::{self, Edition, SyntheticShop, fetched_page};
use jst_sync::gateway::generate;
use jst_sync::pipeline::SharedStaging;
use jst_sync::source::Window;
use jst_sync::staging::{FingerprintedPage, PageCompressor, PageOutcome, RunStatus, StagingStore};
use jst_sync::transform::{Mapping, Transformed, VersionKey, transform};

/// Pages generated (untimed) before each timed stretch of staging: about 1,000 orders.
const PAGES_PER_CHUNK: usize = 40;

/// What staging a series of pages did, and where its time went.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StagingFigures {
    pub(super) outcome: PageOutcome,
    pub(super) pages: u64,
    /// Reading the bodies (the client's envelope parse).
    pub(super) parse: Duration,
    /// Canonical JSON and SHA-256 of every order.
    pub(super) fingerprint: Duration,
    /// `stage_fingerprinted`: the diff and the SQLite writes (one thread, the only writer).
    pub(super) stage: Duration,
    /// Wall time of the whole staging (parse, fingerprint and writes overlap with 2 threads).
    pub(super) wall: Duration,
    /// Rows (order, items, pays) of the changed orders, as the transform makes them.
    pub(super) changed_rows: u64,
    /// The staging run the pages were staged under.
    pub(super) run_id: i64,
}

impl StagingFigures {
    pub(super) fn elapsed(&self) -> Duration {
        self.wall
    }

    /// The time one core would need: the busy time of both threads added up.
    pub(super) fn one_core(&self) -> Duration {
        self.parse + self.fingerprint + self.stage
    }
}

/// Stages every page of `edition` as `pull` does: with two threads, one parses each body and
/// fingerprints its orders ([`FingerprintedPage::new`]) while the other diffs and writes SQLite
/// ([`StagingStore::stage_fingerprinted`]); with one thread, both in turn. Pages are generated
/// in chunks before each timed stretch, so generation is never timed.
pub(super) async fn stage_all(
    staging: &SharedStaging,
    shop: SyntheticShop,
    edition: Edition,
    mapping: &Mapping,
    threads: u8,
) -> anyhow::Result<StagingFigures> {
    let staging = Arc::clone(staging);
    let mapping = mapping.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<StagingFigures> {
        let mut store = staging.lock().unwrap_or_else(|p| p.into_inner());
        let run_id = store.begin_run("bench", None)?;
        let compressor = store.page_compressor();
        let mut figures = StagingFigures {
            run_id,
            ..StagingFigures::default()
        };
        let pages: Vec<usize> = (0..shop.pages()).collect();
        let generate = |chunk: &[usize],
                        figures: &mut StagingFigures|
         -> Vec<(String, Vec<(String, String)>)> {
            if edition == Edition::OnePercentChanged {
                figures.changed_rows += changed_rows(shop, chunk, edition, &mapping);
            }
            chunk
                .iter()
                .map(|&page| (shop.page_body(page, edition), shop.request_params(page)))
                .collect()
        };
        if threads <= 1 {
            for chunk in pages.chunks(PAGES_PER_CHUNK) {
                let bodies = generate(chunk, &mut figures);
                let started = Instant::now();
                for (body, params) in bodies {
                    let (page, parse, fingerprint) = fingerprinted(body, params, &compressor);
                    let staged = Instant::now();
                    figures
                        .outcome
                        .add(&store.stage_fingerprinted(run_id, &page)?);
                    figures.stage += staged.elapsed();
                    figures.parse += parse;
                    figures.fingerprint += fingerprint;
                    figures.pages += 1;
                }
                figures.wall += started.elapsed();
            }
            return Ok(figures);
        }
        // One parsing thread for the whole pass, as `pull` has one fingerprinter: it is handed
        // each chunk of bodies once generated, and the timing covers only the staging of it.
        let (parse, fingerprint) =
            std::thread::scope(|scope| -> anyhow::Result<(Duration, Duration)> {
                let (chunks, chunks_rx) =
                    std::sync::mpsc::sync_channel::<Vec<(String, Vec<(String, String)>)>>(1);
                let (sender, receiver) = std::sync::mpsc::sync_channel(8);
                let compressor = &compressor;
                let parser = scope.spawn(move || {
                    let (mut parse, mut fingerprint) = (Duration::ZERO, Duration::ZERO);
                    for bodies in chunks_rx {
                        for (body, params) in bodies {
                            let (page, parsed, printed) = fingerprinted(body, params, compressor);
                            parse += parsed;
                            fingerprint += printed;
                            if sender.send(page).is_err() {
                                return (parse, fingerprint);
                            }
                        }
                    }
                    (parse, fingerprint)
                });
                for chunk in pages.chunks(PAGES_PER_CHUNK) {
                    let bodies = generate(chunk, &mut figures);
                    let started = Instant::now();
                    chunks
                        .send(bodies)
                        .expect("the parsing thread runs until the chunks end");
                    for _ in chunk {
                        let page = receiver
                            .recv()
                            .expect("the parsing thread sends every page");
                        let staged = Instant::now();
                        figures
                            .outcome
                            .add(&store.stage_fingerprinted(run_id, &page)?);
                        figures.stage += staged.elapsed();
                        figures.pages += 1;
                    }
                    figures.wall += started.elapsed();
                }
                drop(chunks);
                Ok(parser.join().expect("the parsing thread does not panic"))
            })?;
        figures.parse += parse;
        figures.fingerprint += fingerprint;
        Ok(figures)
    })
    .await
    .expect("staging does not panic")
}

/// Reads `body` as the client does, fingerprints its orders and compresses what the store
/// will store (as `pull`'s fingerprinter does); with the time each took.
pub(super) fn fingerprinted(
    body: String,
    params: Vec<(String, String)>,
    compressor: &PageCompressor,
) -> (FingerprintedPage, Duration, Duration) {
    let started = Instant::now();
    let fetched = fetched_page(body, params);
    let parsed = Instant::now();
    let page = FingerprintedPage::compressed(fetched, compressor);
    (page, parsed - started, parsed.elapsed())
}

/// Rows (order, items, pays) the transform makes of the changed orders of `pages`.
pub(super) fn changed_rows(
    shop: SyntheticShop,
    pages: &[usize],
    edition: Edition,
    mapping: &Mapping,
) -> u64 {
    let mut rows = 0;
    for &page in pages {
        for (offset, order) in shop.page_orders(page, edition).into_iter().enumerate() {
            if (page * pages::PAGE_SIZE + offset).is_multiple_of(pages::CHANGE_EVERY) {
                let version = VersionKey {
                    ts: None,
                    staging_version: 0,
                };
                let order = serde_json::Value::Object(order);
                if let Ok(Transformed::Rows(order_rows)) = transform(&order, mapping, version) {
                    rows += 1 + order_rows.children.iter().map(Vec::len).sum::<usize>() as u64;
                }
            }
        }
    }
    rows
}

/// Orders of the re-read overlap in the "busy overlap" figure, and how many of them changed in
/// the run before the no-change run.
const OVERLAP_ORDERS: usize = 1_000;
const OVERLAP_CHANGED_EVERY: usize = 4;
/// The simulated shop of the year projection.
const SIM_ORDERS_PER_DAY: usize = 20_000;
/// Days simulated (`JST_BENCH_SIM_DAYS` overrides: each day is 288 runs of real staging).
const SIM_DAYS: usize = 3;
const SIM_EVERY_MINUTES: i64 = 5;
/// `[sync]` defaults: overlap 10 min, safety lag 1 min; `[staging] keep_pages` 90 days.
const SIM_OVERLAP_MINUTES: i64 = 10;
const SIM_LAG_MINUTES: i64 = 1;
const RETENTION_DAYS: f64 = 90.0;
/// A run's summary as `sync` records it is about this large (JSON in `runs.summary_json`).
const RUN_SUMMARY_BYTES: usize = 1_500;

/// Targets from issue 14.
pub(super) const BYTES_PER_ORDER_TARGET: f64 = 2_000.0;
pub(super) const NO_CHANGE_RUN_TARGET: u64 = 64 * 1024;

/// What staging costs on disk.
#[derive(Clone, Debug, Default)]
pub(super) struct SizeFigures {
    pub(super) backfill_orders: usize,
    pub(super) backfill_bytes: u64,
    /// Bytes the busy run (re-read overlap, a quarter of it changed) added.
    pub(super) busy_run_bytes: u64,
    /// Bytes a no-change run over the same overlap added: with other page boundaries (the
    /// window moved) and with the very same pages.
    pub(super) no_change_shifted_bytes: u64,
    pub(super) no_change_same_bytes: u64,
    pub(super) year: YearProjection,
}

impl SizeFigures {
    pub(super) fn bytes_per_order(&self) -> f64 {
        self.backfill_bytes as f64 / self.backfill_orders.max(1) as f64
    }

    pub(super) fn met(&self) -> bool {
        self.bytes_per_order() <= BYTES_PER_ORDER_TARGET
            && self.no_change_shifted_bytes.max(self.no_change_same_bytes) <= NO_CHANGE_RUN_TARGET
    }
}

/// The simulated days of 5-minute runs and the year they project to.
#[derive(Clone, Debug, Default)]
pub(super) struct YearProjection {
    pub(super) days: usize,
    pub(super) runs: usize,
    pub(super) pages_read: u64,
    pub(super) versions: u64,
    /// Bytes in use after the simulated days, and after pruning everything prunable (what
    /// is kept for good: versions, their first pages, runs, outbox).
    pub(super) bytes: u64,
    pub(super) kept_bytes: u64,
}

impl YearProjection {
    /// Kept bytes grow with the days; prunable bytes (sightings, unpinned copies) stop growing
    /// at the retention.
    pub(super) fn projected_bytes(&self) -> f64 {
        let days = self.days.max(1) as f64;
        let kept_per_day = self.kept_bytes as f64 / days;
        let prunable_per_day = self.bytes.saturating_sub(self.kept_bytes) as f64 / days;
        kept_per_day * 365.0 + prunable_per_day * RETENTION_DAYS.min(365.0)
    }

    pub(super) fn prunable_bound_bytes(&self) -> f64 {
        self.bytes.saturating_sub(self.kept_bytes) as f64 / self.days.max(1) as f64 * RETENTION_DAYS
    }
}

/// Bytes the staging file uses (pages in use × page size, after a WAL checkpoint): what the
/// file holds, without free pages waiting for reuse.
pub(super) fn used_bytes(store: &StagingStore) -> anyhow::Result<u64> {
    let conn = store.connection();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pragma = |name: &str| -> anyhow::Result<u64> {
        Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
}

/// A page of `orders` as the gateway would send it (a fresh `request_id` each call), read as
/// the client reads it, received at `at`, fingerprinted.
fn page_of(
    orders: Vec<Map<String, Value>>,
    call: u64,
    window: Option<Window>,
    page_index: u32,
    at: chrono::DateTime<chrono::Utc>,
) -> FingerprintedPage {
    let count = orders.len();
    let body = serde_json::json!({"response": {
        "flag": "success", "code": 0, "message": "", "request_id": format!("sim{call}"),
        "page_size": pages::PAGE_SIZE, "page_index": page_index, "data_count": count,
        "page_count": 1, "has_next": false,
        "orders": orders.into_iter().map(Value::Object).collect::<Vec<_>>(),
    }})
    .to_string();
    let mut page = fetched_page(body, Vec::new());
    page.window = window;
    page.page_index = page_index;
    page.received_at = at;
    page.request_params = vec![
        ("method".into(), "jushuitan.order.list.query".into()),
        ("page_index".into(), page_index.to_string()),
        ("page_size".into(), pages::PAGE_SIZE.to_string()),
    ];
    FingerprintedPage::new(page)
}

/// Staging size: bytes per order after a backfill of `orders` synthetic orders, bytes added by
/// a no-change run over a busy overlap, and a simulated stretch of 5-minute runs projected to
/// a year. Each on a fresh staging file in `dir`.
pub(super) async fn size_figures(
    dir: &std::path::Path,
    shop: SyntheticShop,
) -> anyhow::Result<SizeFigures> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<SizeFigures> {
        let mut figures = SizeFigures {
            backfill_orders: shop.orders,
            ..SizeFigures::default()
        };
        let path = dir.join("size.sqlite");
        let mut store = StagingStore::open(&path)?;
        let empty = used_bytes(&store)?;
        let run = store.begin_run("bench", None)?;
        let now = chrono::Utc::now();
        for page in 0..shop.pages() {
            let body = shop.page_body(page, Edition::Original);
            let (fingerprinted, _, _) =
                fingerprinted(body, shop.request_params(page), &store.page_compressor());
            store.stage_fingerprinted(run, &fingerprinted)?;
        }
        figures.backfill_bytes = used_bytes(&store)? - empty;

        // The overlap: the last orders of the shop, read again by incremental runs.
        let overlap = OVERLAP_ORDERS.min(shop.orders);
        let first = shop.orders - overlap;
        let mut orders: Vec<Map<String, Value>> = (first / pages::PAGE_SIZE..shop.pages())
            .flat_map(|page| shop.page_orders(page, Edition::Original))
            .skip(first % pages::PAGE_SIZE)
            .collect();
        for (offset, order) in orders.iter_mut().enumerate() {
            if offset % OVERLAP_CHANGED_EVERY == 0 {
                let o_id: u64 = order["o_id"].as_str().unwrap_or("0").parse().unwrap_or(0);
                let mut rng = StdRng::seed_from_u64(o_id);
                let at = shop.start + chrono::Duration::seconds((shop.orders * 2) as i64);
                generate::change_order(&mut rng, order, at, 9_000_000_000 + offset as u64);
            }
        }
        let mut call = 0;
        let mut read_overlap = |store: &mut StagingStore, shift: usize| -> anyhow::Result<u64> {
            let before = used_bytes(store)?;
            let run = store.begin_run("bench", None)?;
            let mut start = 0;
            let mut page_index = 1;
            while start < orders.len() {
                let end = if start == 0 && shift > 0 {
                    shift
                } else {
                    (start + pages::PAGE_SIZE).min(orders.len())
                };
                call += 1;
                let page = page_of(orders[start..end].to_vec(), call, None, page_index, now);
                store.stage_fingerprinted(run, &page)?;
                start = end;
                page_index += 1;
            }
            store.finish_run(
                run,
                RunStatus::Succeeded,
                &serde_json::json!({"summary": "x".repeat(RUN_SUMMARY_BYTES)}),
                None,
            )?;
            Ok(used_bytes(store)? - before)
        };
        figures.busy_run_bytes = read_overlap(&mut store, 0)?;
        figures.no_change_shifted_bytes = read_overlap(&mut store, 7)?;
        figures.no_change_same_bytes = read_overlap(&mut store, 0)?;
        drop(store);
        let days = std::env::var("JST_BENCH_SIM_DAYS")
            .ok()
            .and_then(|d| d.parse().ok())
            .filter(|&d| d > 0)
            .unwrap_or(SIM_DAYS);
        figures.year = simulate_days(&dir.join("year.sqlite"), days)?;
        Ok(figures)
    })
    .await
    .expect("the size figures do not panic")
}

/// One order of the simulated shop: when it was created and each time it changed.
struct SimOrder {
    o_id: u64,
    modified: Vec<NaiveDateTime>,
}

impl SimOrder {
    /// The order as the gateway shows it now: created, then changed at each later time.
    fn json(&self) -> Map<String, Value> {
        let mut rng = StdRng::seed_from_u64(self.o_id);
        let ts = |n: usize| self.o_id * 16 + n as u64;
        let mut order = generate::new_order(&mut rng, self.o_id, self.modified[0], ts(0));
        for (n, at) in self.modified.iter().enumerate().skip(1) {
            let mut rng = StdRng::seed_from_u64(self.o_id ^ (n as u64) << 48);
            generate::change_order(&mut rng, &mut order, *at, ts(n));
        }
        order
    }
}

/// `days` of 5-minute incremental runs of a shop where `SIM_ORDERS_PER_DAY` orders are
/// modified a day (half new orders, half changes of orders of the last day), each run reading
/// its windows as the pager does (page 1, the others, page 1 again) with the default overlap
/// and safety lag; then every prunable row pruned, to split kept from prunable bytes.
fn simulate_days(path: &std::path::Path, days: usize) -> anyhow::Result<YearProjection> {
    let mut store = StagingStore::open(path)?;
    let empty = used_bytes(&store)?;
    let mut rng = StdRng::seed_from_u64(14);
    let real_now = chrono::Utc::now();
    let start = NaiveDateTime::parse_from_str("2025-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")?;
    let utc_of = |t: NaiveDateTime| real_now - chrono::Duration::days(days as i64) + (t - start);
    let mut orders: Vec<SimOrder> = Vec::new();
    // (modified, index into `orders`), in time order; an entry is current when it is the
    // order's last modification.
    let mut events: Vec<(NaiveDateTime, usize)> = Vec::new();
    let per_run = SIM_ORDERS_PER_DAY as f64 * SIM_EVERY_MINUTES as f64 / 1440.0;
    let runs = days * 1440 / SIM_EVERY_MINUTES as usize;
    let (mut owed, mut call, mut next_o_id) = (0.0, 0u64, 50_000_001u64);
    let mut projection = YearProjection {
        days,
        runs,
        ..YearProjection::default()
    };
    let every = chrono::Duration::minutes(SIM_EVERY_MINUTES);
    let mut watermark: Option<NaiveDateTime> = None;
    for run_number in 1..=runs {
        let now = start + every * run_number as i32;
        owed += per_run;
        let arriving = owed.floor() as usize;
        owed -= arriving as f64;
        for k in 0..arriving {
            let at = now - every
                + chrono::Duration::seconds(
                    (k as i64 * SIM_EVERY_MINUTES * 60) / arriving.max(1) as i64 + 1,
                );
            let recent = events.partition_point(|(t, _)| *t < now - chrono::Duration::days(1));
            let change = !orders.is_empty() && rng.random_bool(0.5) && recent < events.len();
            let index = if change {
                let (_, index) = events[rng.random_range(recent..events.len())];
                orders[index].modified.push(at);
                index
            } else {
                orders.push(SimOrder {
                    o_id: next_o_id,
                    modified: vec![at],
                });
                next_o_id += 1;
                orders.len() - 1
            };
            events.push((at, index));
        }
        let window_start = watermark.map_or(start, |w| {
            w - chrono::Duration::minutes(SIM_OVERLAP_MINUTES)
        });
        let cap = now - chrono::Duration::minutes(SIM_LAG_MINUTES);
        let windows = [
            Window::new(window_start, cap.max(window_start)),
            Window::new(cap.max(window_start), now),
        ];
        let run = store.begin_run("sync", Some("window"))?;
        for window in windows {
            let from = events.partition_point(|(t, _)| *t < window.start);
            let to = events.partition_point(|(t, _)| *t <= window.end);
            let visible: Vec<usize> = events[from..to]
                .iter()
                .filter(|(t, index)| orders[*index].modified.last() == Some(t))
                .map(|(_, index)| *index)
                .collect();
            let page_count = visible.len().div_ceil(pages::PAGE_SIZE).max(1);
            // Page 1, then the last page down to page 2, then page 1 again.
            let order_of_reads = std::iter::once(1)
                .chain((2..=page_count).rev())
                .chain((page_count > 1).then_some(1));
            for page_index in order_of_reads {
                let chunk = visible
                    .chunks(pages::PAGE_SIZE)
                    .nth(page_index - 1)
                    .unwrap_or(&[]);
                call += 1;
                let page = page_of(
                    chunk.iter().map(|&i| orders[i].json()).collect(),
                    call,
                    Some(window),
                    page_index as u32,
                    utc_of(now),
                );
                let outcome = store.stage_fingerprinted(run, &page)?;
                projection.versions += outcome.new + outcome.changed;
                projection.pages_read += 1;
            }
        }
        store.finish_run(
            run,
            RunStatus::Succeeded,
            &serde_json::json!({"summary": "x".repeat(RUN_SUMMARY_BYTES)}),
            None,
        )?;
        watermark = Some(cap);
    }
    projection.bytes = used_bytes(&store)? - empty;
    jst_sync::staging::prune(&mut store, Duration::ZERO)?;
    projection.kept_bytes = used_bytes(&store)? - empty;
    Ok(projection)
}

/// The size figures as Markdown, for the benchmark's output and `docs/performance.md`.
pub(super) fn size_report(figures: &SizeFigures) -> String {
    let year = &figures.year;
    let yes = |met: bool| if met { "yes" } else { "**no**" };
    let kib = |bytes: u64| format!("{:.1} KiB", bytes as f64 / 1024.0);
    let gb = |bytes: f64| format!("{:.2} GB", bytes / 1e9);
    let no_change = figures
        .no_change_shifted_bytes
        .max(figures.no_change_same_bytes);
    format!(
        "\n## Staging size (zstd, content-addressed pages)\n\n\
         | figure | value | target | met |\n|---|---:|---|---|\n\
         | staging bytes per order after a backfill of {} orders | {:.0} | ≤ 2,000 | {} |\n\
         | bytes added by the busy run (overlap of {} orders, {} changed) | {} | — | — |\n\
         | bytes added by a no-change run over that overlap, pages shifted / same pages | {} / {} | ≤ 64 KiB | {} |\n\
         | simulated {} days of {}-minute runs, {} orders/day ({} runs, {} pages read, {} versions) | {} in use, {} kept after pruning everything prunable | — | — |\n\
         | projected year with keep_pages = 90d | {} ({} kept for good: every version and its first page, growing with versions; prunable part bounded at {}) | bounded by the retention | prunable part: yes; versions: **no** (kept by design) |\n",
        figures.backfill_orders,
        figures.bytes_per_order(),
        yes(figures.bytes_per_order() <= BYTES_PER_ORDER_TARGET),
        OVERLAP_ORDERS,
        OVERLAP_ORDERS.div_ceil(OVERLAP_CHANGED_EVERY),
        kib(figures.busy_run_bytes),
        kib(figures.no_change_shifted_bytes),
        kib(figures.no_change_same_bytes),
        yes(no_change <= NO_CHANGE_RUN_TARGET),
        year.days,
        SIM_EVERY_MINUTES,
        SIM_ORDERS_PER_DAY,
        year.runs,
        year.pages_read,
        year.versions,
        gb(year.bytes as f64),
        gb(year.kept_bytes as f64),
        gb(year.projected_bytes()),
        gb(year.kept_bytes as f64 / year.days.max(1) as f64 * 365.0),
        gb(year.prunable_bound_bytes()),
    )
}
