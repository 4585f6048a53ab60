//! `bench`: the pipeline's throughput set against its targets and the physical limits, in one
//! run, printed as a Markdown table (see `docs/performance.md`).
//!
//! Steps, on `--orders` synthetic orders (generated page by page, never all in memory; the
//! generation is not timed):
//! 1. **staging**: each page's body is read as the client reads it and staged with
//!    [`StagingStore::stage_page`] (canonical JSON, SHA-256, diff, SQLite), one thread;
//! 2. **no-change rerun**: the same pages again: every order must diff as unchanged, and the
//!    push that follows must write nothing to MySQL (the sink's statement count and MariaDB's
//!    `TABLE_STATISTICS.ROWS_CHANGED` for the database);
//! 3. **push** of all orders into empty tables by the real [`push::push`] and [`MysqlSink`], set
//!    against `LOAD DATA LOCAL INFILE` of the very same rows into copies of the tables;
//! 4. **1 % changed**: the pages again with every hundredth order changed; the push must write
//!    exactly the changed orders' rows;
//!
//! with the peak resident memory of each step, and then the API figures of a small shop read
//! over HTTP through the fake gateway with rate limits.

mod api;
mod load_data;
mod pages;
mod rss;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use mysql_async::prelude::Queryable;

use self::pages::{Edition, SyntheticShop, fetched_page};
use self::rss::RssSampler;
use crate::pipeline::push;
use crate::pipeline::{SharedStaging, with_staging};
use crate::secret::Secret;
use crate::sink::mysql::{MysqlConfig, MysqlSink};
use crate::staging::{FingerprintedPage, PageOutcome, StagingStore};
use crate::transform::{Mapping, Transformed, VersionKey, transform};

/// `jst-sync bench`: throughput of staging, diff and push against targets and limits.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Synthetic orders to stage, diff and push.
    #[arg(long, env = "JST_BENCH_ORDERS", default_value_t = 100_000)]
    pub orders: usize,
    /// Orders per MySQL transaction in the push (the `batch_orders` setting).
    #[arg(long, env = "JST_BENCH_BATCH_ORDERS", default_value_t = 500)]
    pub batch_orders: usize,
    /// The MySQL database to benchmark in: dropped and created again, and dropped at the end.
    #[arg(
        long,
        env = "JST_BENCH_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/jst_bench"
    )]
    pub mysql_url: String,
    /// Orders of the small shop read over HTTP at the real limits (5/s, 100/min); 0 skips the
    /// API figures.
    #[arg(long, env = "JST_BENCH_API_ORDERS", default_value_t = 2000)]
    pub api_orders: usize,
    /// A second, faster read of the same shop at this many calls a second (60 times that a
    /// minute); 0 skips it.
    #[arg(long, env = "JST_BENCH_API_FAST_PER_SECOND", default_value_t = 20)]
    pub api_fast_per_second: u32,
    /// Threads staging uses: 2 parse and fingerprint on one thread while the other writes
    /// SQLite (as `pull` does); 1 does both in turn.
    #[arg(long, env = "JST_BENCH_STAGING_THREADS", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub staging_threads: u8,
    /// Keep the benchmark database at the end (to inspect it).
    #[arg(long)]
    pub keep_database: bool,
}

/// Targets from issue 6.
const STAGING_TARGET: f64 = 100_000.0;
const DIFF_TARGET: f64 = 1_000_000.0;
const PUSH_VS_LOAD_TARGET: f64 = 0.8;
const MEMORY_TARGET_MB: f64 = 100.0;
const API_CALLS_TARGET: f64 = 1.02;
const API_RATE_TARGET: f64 = 0.9;

/// One row of the results table.
struct Row {
    step: String,
    orders: u64,
    elapsed: Duration,
    target: String,
    met: Option<bool>,
    peak_mb: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What staging a series of pages did, and where its time went.
#[derive(Clone, Copy, Debug, Default)]
struct StagingFigures {
    outcome: PageOutcome,
    pages: u64,
    /// Reading the bodies (the client's envelope parse).
    parse: Duration,
    /// Canonical JSON and SHA-256 of every order.
    fingerprint: Duration,
    /// `stage_fingerprinted`: the diff and the SQLite writes (one thread, the only writer).
    stage: Duration,
    /// Wall time of the whole staging (parse, fingerprint and writes overlap with 2 threads).
    wall: Duration,
    /// Rows (order, items, pays) of the changed orders, as the transform makes them.
    changed_rows: u64,
    /// The staging run the pages were staged under.
    run_id: i64,
}

impl StagingFigures {
    fn elapsed(&self) -> Duration {
        self.wall
    }

    /// The time one core would need: the busy time of both threads added up.
    fn one_core(&self) -> Duration {
        self.parse + self.fingerprint + self.stage
    }
}

pub(super) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.orders == 0 || args.batch_orders == 0 {
        bail!("--orders and --batch-orders must be at least 1");
    }
    let sampler = RssSampler::start();
    let (load_at_start, wall_start, cpu_start) =
        (rss::load_average(), Instant::now(), rss::cpu_seconds());
    let mapping = Mapping::default();
    let database = BenchDatabase::create(&args.mysql_url).await?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let staging_path = dir.path().join("bench.sqlite");
    let store = StagingStore::open(&staging_path)?;
    let staging: SharedStaging = Arc::new(Mutex::new(store));
    let sink_config = MysqlConfig::new(Secret::new(args.mysql_url.clone()));
    let sink = MysqlSink::connect(&sink_config, mapping.clone()).await?;
    sink.migrate().await?;
    let shop = SyntheticShop {
        orders: args.orders,
        seed: 20_240_501,
        start: crate::beijing_time::parse("2024-05-01 00:00:00").expect("a valid time"),
    };
    eprintln!(
        "Benchmarking {} orders ({} pages) into {} …",
        shop.orders,
        shop.pages(),
        sink.endpoint()
    );
    let (_stop_sender, stop) = tokio::sync::watch::channel(false);
    let mut rows: Vec<Row> = Vec::new();
    let mut all_met = true;

    // 1. Staging: every order new.
    sampler.reset();
    let first = stage_all(
        &staging,
        shop,
        Edition::Original,
        &mapping,
        args.staging_threads,
    )
    .await?;
    let first_peak = sampler.peak_mb();
    ensure(
        first.outcome.new == shop.orders as u64,
        "every order of the first pass is new",
        &first.outcome,
    )?;
    let first_run = first.run_id;

    // 3. Push of every order into empty tables, then LOAD DATA of the same rows.
    sampler.reset();
    let push_started = Instant::now();
    let (pushed, result) = push::push(
        &staging,
        Some(&sink),
        &mapping,
        first_run,
        args.batch_orders,
        &stop,
    )
    .await;
    result?;
    let push_elapsed = push_started.elapsed();
    let push_peak = sampler.peak_mb();
    let push_rows = pushed.orders_pushed + pushed.item_rows + pushed.pay_rows;
    sampler.reset();
    let load = load_data::load_data_baseline(
        &args.mysql_url,
        &sink_config.tables,
        &mapping,
        &staging,
        first_run,
        dir.path(),
    )
    .await
    .context("the LOAD DATA baseline failed")?;
    let load_peak = sampler.peak_mb();

    // 2. No-change rerun: all unchanged, and the push writes nothing.
    let rows_changed_before = database.rows_changed().await?;
    sampler.reset();
    let rerun = stage_all(
        &staging,
        shop,
        Edition::Original,
        &mapping,
        args.staging_threads,
    )
    .await?;
    let rerun_peak = sampler.peak_mb();
    ensure(
        rerun.outcome.unchanged == shop.orders as u64,
        "every order of the rerun is unchanged",
        &rerun.outcome,
    )?;
    let (idle, result) = push::push(
        &staging,
        Some(&sink),
        &mapping,
        first_run,
        args.batch_orders,
        &stop,
    )
    .await;
    result?;
    let rows_changed_by_rerun = database.rows_changed().await? - rows_changed_before;
    let rerun_writes_nothing =
        idle.write_statements == 0 && idle.batches == 0 && rows_changed_by_rerun == 0;

    // 4. 1 % changed: the rerun finds exactly those, the push writes exactly their rows.
    sampler.reset();
    let changed = stage_all(
        &staging,
        shop,
        Edition::OnePercentChanged,
        &mapping,
        args.staging_threads,
    )
    .await?;
    let changed_staging_peak = sampler.peak_mb();
    ensure(
        changed.outcome.changed == shop.changed_orders() as u64,
        "the changed orders are found",
        &changed.outcome,
    )?;
    let rows_changed_before = database.rows_changed().await?;
    sampler.reset();
    let started = Instant::now();
    let (delta, result) = push::push(
        &staging,
        Some(&sink),
        &mapping,
        first_run,
        args.batch_orders,
        &stop,
    )
    .await;
    result?;
    let delta_elapsed = started.elapsed();
    let delta_peak = sampler.peak_mb();
    let rows_changed_by_delta = database.rows_changed().await? - rows_changed_before;
    let delta_rows = delta.orders_pushed + delta.item_rows + delta.pay_rows;
    let counts = sink.count_rows().await?;
    sink.disconnect().await;

    // The table, in the order.
    let staging_rate = shop.orders as f64 / first.elapsed().as_secs_f64();
    rows.push(Row {
        step: format!(
            "1. staging: parse + canonical SHA-256 + SQLite (new orders, {} thread{})",
            args.staging_threads,
            if args.staging_threads == 1 { "" } else { "s" }
        ),
        orders: shop.orders as u64,
        elapsed: first.elapsed(),
        target: "≥ 100k/s".into(),
        met: Some(staging_rate >= STAGING_TARGET),
        peak_mb: first_peak,
    });
    let rerun_rate = shop.orders as f64 / rerun.elapsed().as_secs_f64();
    rows.push(Row {
        step: "2. diff, no-change rerun (same pages staged again)".into(),
        orders: shop.orders as u64,
        elapsed: rerun.elapsed(),
        target: "≥ 1M/s, 0 MySQL writes".into(),
        met: Some(rerun_rate >= DIFF_TARGET && rerun_writes_nothing),
        peak_mb: rerun_peak,
    });
    let push_rate = shop.orders as f64 / push_elapsed.as_secs_f64();
    let load_rate = shop.orders as f64 / load.elapsed.as_secs_f64();
    let push_vs_load = push_rate / load_rate;
    rows.push(Row {
        step: format!(
            "3. push into empty tables (batches of {} orders)",
            args.batch_orders
        ),
        orders: pushed.orders_pushed,
        elapsed: push_elapsed,
        target: "≥ 0.8 × LOAD DATA".into(),
        met: Some(push_vs_load >= PUSH_VS_LOAD_TARGET),
        peak_mb: push_peak,
    });
    rows.push(Row {
        step: "3. LOAD DATA LOCAL INFILE, same rows (the server's limit)".into(),
        orders: load.orders,
        elapsed: load.elapsed,
        target: "—".into(),
        met: None,
        peak_mb: load_peak,
    });
    rows.push(Row {
        step: "4. rerun with 1 % changed: staging + diff".into(),
        orders: shop.orders as u64,
        elapsed: changed.elapsed(),
        target: "—".into(),
        met: None,
        peak_mb: changed_staging_peak,
    });
    rows.push(Row {
        step: "4. push of the changed orders".into(),
        orders: delta.orders_pushed,
        elapsed: delta_elapsed,
        target: "rows written = changed rows".into(),
        met: Some(
            delta_rows == changed.changed_rows
                && delta.orders_pushed == shop.changed_orders() as u64,
        ),
        peak_mb: delta_peak,
    });
    let peak_all = rows.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    all_met &= rows.iter().all(|r| r.met != Some(false));

    let mut out = String::new();
    writeln!(
        out,
        "## jst-sync bench: {} orders, batch_orders {}\n",
        shop.orders, args.batch_orders
    )?;
    writeln!(
        out,
        "| step | orders | seconds | orders/s | target | met? | peak RSS MB |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---|---|---:|")?;
    for row in &rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        writeln!(
            out,
            "| {} | {} | {:.3} | {} | {} | {met} | {:.0} |",
            row.step,
            row.orders,
            row.elapsed.as_secs_f64(),
            thousands(row.rate()),
            row.target,
            row.peak_mb
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "- push ÷ LOAD DATA: **{push_vs_load:.2}×** ({} vs {} orders/s; {} vs {} rows/s; rows {} pushed = {} orders + {} items + {} pays, {} loaded; {} statements; TSV {:.0} MB)",
        thousands(push_rate),
        thousands(load_rate),
        thousands(push_rows as f64 / push_elapsed.as_secs_f64()),
        thousands(load.rows() as f64 / load.elapsed.as_secs_f64()),
        push_rows,
        pushed.orders_pushed,
        pushed.item_rows,
        pushed.pay_rows,
        load.rows(),
        pushed.write_statements,
        load.file_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "- no-change rerun: {} unchanged of {}; MySQL writes: sink statements {}, batches {}, MariaDB ROWS_CHANGED +{}",
        rerun.outcome.unchanged,
        shop.orders,
        idle.write_statements,
        idle.batches,
        rows_changed_by_rerun
    )?;
    writeln!(
        out,
        "- 1 % changed: {} changed orders found; rows written {} ({} orders + {} items + {} pays) for {} changed rows; {} statements; MariaDB ROWS_CHANGED +{} (includes the replaced items and pays deleted)",
        changed.outcome.changed,
        delta_rows,
        delta.orders_pushed,
        delta.item_rows,
        delta.pay_rows,
        changed.changed_rows,
        delta.write_statements,
        rows_changed_by_delta
    )?;
    for (label, figures) in [
        ("new orders", &first),
        ("no-change rerun", &rerun),
        ("1 % changed", &changed),
    ] {
        writeln!(
            out,
            "- staging of the {label}: {:.2} s wall with {} thread(s); busy time body parse {:.2} s + canonical JSON and SHA-256 {:.2} s + diff and SQLite writes {:.2} s = {:.2} s on one core ({} orders/s) for {} pages",
            figures.wall.as_secs_f64(),
            args.staging_threads,
            figures.parse.as_secs_f64(),
            figures.fingerprint.as_secs_f64(),
            figures.stage.as_secs_f64(),
            figures.one_core().as_secs_f64(),
            thousands(shop.orders as f64 / figures.one_core().as_secs_f64()),
            figures.pages
        )?;
    }
    let memory_met = peak_all <= MEMORY_TARGET_MB;
    all_met &= memory_met;
    writeln!(
        out,
        "- peak RSS of any step: {peak_all:.0} MB (target ≤ {MEMORY_TARGET_MB:.0} MB: {}); whole process VmHWM {:.0} MB",
        if memory_met { "met" } else { "**not met**" },
        rss::high_water_mark_mb().unwrap_or(0.0)
    )?;
    writeln!(
        out,
        "- MySQL holds {} orders, {} items, {} pays; staging file {:.0} MB",
        counts.orders,
        counts.items,
        counts.pays,
        with_staging(&staging, |s| s.counts()).await?.file_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "- machine: 1-minute load average {load_at_start} at the start, {} at the end; this process used {:.1} s of CPU in {:.1} s (generation included)",
        rss::load_average(),
        rss::cpu_seconds() - cpu_start,
        wall_start.elapsed().as_secs_f64()
    )?;
    print!("{out}");

    if args.api_orders > 0 {
        let mut scenarios = Vec::new();
        if args.api_fast_per_second > 0 {
            scenarios.push((
                args.api_fast_per_second,
                args.api_fast_per_second.saturating_mul(60),
            ));
        }
        scenarios.push((5, 100));
        let mut out = String::new();
        writeln!(
            out,
            "\n## API: {} orders over 20 days, fake gateway over HTTP on loopback\n",
            args.api_orders
        )?;
        writeln!(
            out,
            "| limits | windows | calls | minimum | calls ÷ minimum | throttled | seconds | calls/s | limit allows | rate ÷ limit |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for (per_second, per_minute) in scenarios {
            eprintln!(
                "Reading {} orders through the fake gateway at {per_second}/s, {per_minute}/min …",
                args.api_orders
            );
            let api = api::measure(args.api_orders, per_second, per_minute).await?;
            let rate_ratio = api.calls_per_second() / api.limit_rate();
            let calls_met = api.calls_per_minimum() <= API_CALLS_TARGET;
            let rate_met = rate_ratio >= API_RATE_TARGET;
            all_met &= calls_met && rate_met && api.staged_orders == api.orders as u64;
            writeln!(
                out,
                "| {}/s, {}/min | {} | {} | {} | {:.3}× {} | {} | {:.1} | {:.2} | {:.2} | {:.2}× {} |",
                api.per_second,
                api.per_minute,
                api.windows,
                api.calls,
                api.minimum_calls,
                api.calls_per_minimum(),
                if calls_met {
                    "(≤ 1.02: yes)"
                } else {
                    "(≤ 1.02: **no**)"
                },
                api.throttled,
                api.elapsed.as_secs_f64(),
                api.calls_per_second(),
                api.limit_rate(),
                rate_ratio,
                if rate_met {
                    "(≥ 0.9: yes)"
                } else {
                    "(≥ 0.9: **no**)"
                },
            )?;
        }
        print!("{out}");
    }

    if !args.keep_database {
        database.drop().await?;
    }
    drop(sampler);
    // The figures are the product; unmet targets are reported, not failures.
    println!("\nAll targets met: {}", if all_met { "yes" } else { "no" });
    Ok(ExitCode::SUCCESS)
}

/// Pages generated (untimed) before each timed stretch of staging: about 1,000 orders.
const PAGES_PER_CHUNK: usize = 40;

/// Stages every page of `edition` as `pull` does: with two threads, one parses each body and
/// fingerprints its orders ([`FingerprintedPage::new`]) while the other diffs and writes SQLite
/// ([`StagingStore::stage_fingerprinted`]); with one thread, both in turn. Pages are generated
/// in chunks before each timed stretch, so generation is never timed.
async fn stage_all(
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
                    let (page, parse, fingerprint) = fingerprinted(body, params);
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
                let parser = scope.spawn(move || {
                    let (mut parse, mut fingerprint) = (Duration::ZERO, Duration::ZERO);
                    for bodies in chunks_rx {
                        for (body, params) in bodies {
                            let (page, parsed, printed) = fingerprinted(body, params);
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

/// Reads `body` as the client does and fingerprints its orders; with the time each took.
fn fingerprinted(
    body: String,
    params: Vec<(String, String)>,
) -> (FingerprintedPage, Duration, Duration) {
    let started = Instant::now();
    let fetched = fetched_page(body, params);
    let parsed = Instant::now();
    let page = FingerprintedPage::new(fetched);
    (page, parsed - started, parsed.elapsed())
}

/// Rows (order, items, pays) the transform makes of the changed orders of `pages`.
fn changed_rows(shop: SyntheticShop, pages: &[usize], edition: Edition, mapping: &Mapping) -> u64 {
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
                    rows += 1 + order_rows.items.len() as u64 + order_rows.pays.len() as u64;
                }
            }
        }
    }
    rows
}

fn ensure(ok: bool, what: &str, outcome: &PageOutcome) -> anyhow::Result<()> {
    if !ok {
        bail!("benchmark check failed: {what}: {outcome:?}");
    }
    Ok(())
}

/// `1234567.8` → `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The benchmark's own database, dropped and created fresh.
struct BenchDatabase {
    name: String,
    admin: mysql_async::Pool,
}

impl BenchDatabase {
    async fn create(url: &str) -> anyhow::Result<Self> {
        let opts = mysql_async::Opts::from_url(url).context("--mysql-url is not a MySQL URL")?;
        let name = opts
            .db_name()
            .context("--mysql-url must name the benchmark database")?
            .to_owned();
        if !crate::transform::mapping::is_identifier(&name) {
            bail!("benchmark database name `{name}` must be letters, digits or `_`");
        }
        let admin = mysql_async::Pool::new(
            mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>),
        );
        let mut conn = admin
            .get_conn()
            .await
            .context("cannot connect to MySQL for the benchmark")?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await?;
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await?;
        conn.query_drop("SET GLOBAL userstat = 1")
            .await
            .context("enabling MariaDB user statistics")?;
        Ok(Self { name, admin })
    }

    /// Rows inserted, updated or deleted in the database's tables, from MariaDB's user
    /// statistics.
    async fn rows_changed(&self) -> anyhow::Result<u64> {
        let mut conn = self.admin.get_conn().await?;
        let changed: Option<u64> = conn
            .exec_first(
                "SELECT CAST(COALESCE(SUM(ROWS_CHANGED), 0) AS UNSIGNED) FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = ?",
                (self.name.as_str(),),
            )
            .await?;
        Ok(changed.unwrap_or(0))
    }

    async fn drop(self) -> anyhow::Result<()> {
        let mut conn = self.admin.get_conn().await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await?;
        drop(conn);
        self.admin.disconnect().await?;
        Ok(())
    }
}
