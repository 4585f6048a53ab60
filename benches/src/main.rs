//! `jst-bench`: the pipeline's throughput set against its targets and the physical limits, in one
//! run, printed as a Markdown table (see `docs/performance.md`).
//!
//! Steps, on `--orders` synthetic orders (generated page by page, never all in memory; the
//! generation is not timed):
//! 1. **staging**: each page's body is read as the client reads it and staged with
//!    [`StagingStore::stage_page`] (canonical JSON, SHA-256, diff, SQLite), one thread;
//! 2. **no-change rerun**: the same pages again: every order must diff as unchanged, and the
//!    push that follows must write nothing to MySQL (the sink's statement count and MariaDB's
//!    `TABLE_STATISTICS.ROWS_CHANGED` for the database);
//! 3. **push** of all orders into empty tables by the real [`push::push`] and [`MysqlSink`]
//!    (new orders: `LOAD DATA LOCAL INFILE` streamed from memory), set against server-side
//!    `LOAD DATA INFILE` (the server reads the file: the real limit) and `LOAD DATA LOCAL
//!    INFILE` of the very same rows into copies of the tables;
//! 4. **1 % changed**: the pages again with every hundredth order changed; the push must write
//!    exactly the changed orders' rows;
//! 5. **replay**: every current order re-enqueued and pushed again over the rows MySQL holds
//!    (changed orders: multi-row upserts with the stale-write guard), set against the same two
//!    baselines;
//! 6. **time to first row**: a small shop synced into MySQL by the real `sync` (pull and the
//!    streaming push that follows it) through the fake gateway at the real limits (5/s,
//!    100/min): when the first rows were committed, and how long orders waited;
//!
//! with the peak resident memory of each step, and then the API figures of a small shop read
//! over HTTP through the fake gateway with rate limits.

//!
//! Dev tooling kept apart from the product: a crate of its own in the workspace (`benches/`),
//! built on the `jst-sync` library as any user of it would be; nothing in jst-sync builds on it.
//! `cargo run --release --locked -p jst-bench -- --orders 100000` (see the README).

mod api;
mod database;
mod first_row;
mod load_data;
mod pages;
mod report;
mod rss;
mod staging;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use self::database::BenchDatabase;
use self::pages::{Edition, SyntheticShop};
use self::report::{Row, thousands};
use self::rss::RssSampler;
use self::staging::{StagingFigures, stage_all};
use jst_sync::pipeline::push::{self, PushReport};
use jst_sync::pipeline::{SharedStaging, with_staging};
use jst_sync::secret::Secret;
use jst_sync::sink::mysql::{MysqlConfig, MysqlSink};
use jst_sync::staging::{PageOutcome, RequeueFilter, StagingStore};
use jst_sync::transform::Mapping;

/// `jst-bench`: throughput of staging, diff and push against targets and limits.
#[derive(Debug, Parser, Clone)]
#[command(
    name = "jst-bench",
    version,
    about = "Benchmarks jst-sync's staging, diff and push against their targets and the physical limits; prints a Markdown table"
)]
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
    /// Orders of the shop synced into MySQL through the fake gateway at the real limits (5/s,
    /// 100/min) for the time to first row (default: as many as `--api-orders`); 0 skips it.
    #[arg(long, env = "JST_BENCH_FIRST_ROW_ORDERS")]
    pub first_row_orders: Option<usize>,
    /// Keep the benchmark database at the end (to inspect it).
    #[arg(long)]
    pub keep_database: bool,
}

/// Targets from issue 6.
const STAGING_TARGET: f64 = 100_000.0;
const DIFF_TARGET: f64 = 1_000_000.0;
const PUSH_VS_LOAD_TARGET: f64 = 0.8;
const MEMORY_TARGET_MB: f64 = 100.0;
/// Issue 14: the first rows of a throttled backfill are in MySQL within 15 s.
const FIRST_ROW_TARGET: Duration = Duration::from_secs(15);

async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
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
        start: jst_sync::beijing_time::parse("2024-05-01 00:00:00").expect("a valid time"),
    };
    eprintln!(
        "Benchmarking {} orders ({} pages) into {} …",
        shop.orders,
        shop.pages(),
        sink.endpoint()
    );
    let (_stop_sender, stop) = tokio::sync::watch::channel(false);
    let steps = Steps {
        staging: &staging,
        sink: &sink,
        mapping: &mapping,
        shop,
        args: &args,
        stop,
        sampler: &sampler,
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut all_met = true;
    // Staging size (issue 14), each figure on a fresh staging file, printed first.
    let size = staging::size_figures(dir.path(), shop).await?;
    all_met &= size.met();
    print!("{}", staging::size_report(&size));

    // 1. Staging: every order new.
    let (first, first_peak) = steps.stage(Edition::Original).await?;
    ensure(
        first.outcome.new == shop.orders as u64,
        "every order of the first pass is new",
        &first.outcome,
    )?;
    let first_run = first.run_id;

    // 3. Push of every order into empty tables, then LOAD DATA of the same rows.
    let (pushed, push_elapsed, push_peak) = steps.timed_push(first_run).await?;
    let push_rows = pushed.orders_pushed + pushed.item_rows + pushed.pay_rows;
    sampler.reset();
    let load = load_data::load_data_baselines(
        &args.mysql_url,
        &sink_config.tables(),
        &mapping,
        &staging,
        first_run,
        dir.path(),
    )
    .await
    .context("the LOAD DATA baselines failed")?;
    let load_peak = sampler.peak_mb();

    // 2. No-change rerun: all unchanged, and the push writes nothing.
    let rows_changed_before = database.rows_changed().await?;
    let (rerun, rerun_peak) = steps.stage(Edition::Original).await?;
    ensure(
        rerun.outcome.unchanged == shop.orders as u64,
        "every order of the rerun is unchanged",
        &rerun.outcome,
    )?;
    let (idle, _, _) = steps.timed_push(first_run).await?;
    let rows_changed_by_rerun = database.rows_changed().await? - rows_changed_before;
    let rerun_writes_nothing =
        idle.write_statements == 0 && idle.batches == 0 && rows_changed_by_rerun == 0;

    // 4. 1 % changed: the rerun finds exactly those, the push writes exactly their rows.
    let (changed, changed_staging_peak) = steps.stage(Edition::OnePercentChanged).await?;
    ensure(
        changed.outcome.changed == shop.changed_orders() as u64,
        "the changed orders are found",
        &changed.outcome,
    )?;
    let rows_changed_before = database.rows_changed().await?;
    let (delta, delta_elapsed, delta_peak) = steps.timed_push(first_run).await?;
    let rows_changed_by_delta = database.rows_changed().await? - rows_changed_before;
    let delta_rows = delta.orders_pushed + delta.item_rows + delta.pay_rows;

    // 5. Replay: every current order again, over the rows MySQL holds.
    let requeued = with_staging(&staging, move |s| {
        s.requeue_current(&RequeueFilter::All, first_run)
    })
    .await?;
    let (replayed, replay_elapsed, replay_peak) = steps.timed_push(first_run).await?;
    let counts = sink.count_rows().await?;
    let load_data_stats = sink.load_data_stats();
    sink.disconnect().await;

    // 6. Time to first row: a throttled backfill by the real sync, at the real limits.
    let first_row_orders = args.first_row_orders.unwrap_or(args.api_orders);
    let first_row = if first_row_orders > 0 {
        eprintln!(
            "Syncing {first_row_orders} orders through the fake gateway at {}/s, {}/min …",
            first_row::REAL_PER_SECOND,
            first_row::REAL_PER_MINUTE
        );
        sampler.reset();
        let figures = first_row::measure(first_row_orders, &args.mysql_url).await?;
        Some((figures, sampler.peak_mb()))
    } else {
        None
    };

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
        has_rate: true,
    });
    let rerun_rate = shop.orders as f64 / rerun.elapsed().as_secs_f64();
    rows.push(Row {
        step: "2. diff, no-change rerun (same pages staged again)".into(),
        orders: shop.orders as u64,
        elapsed: rerun.elapsed(),
        target: "≥ 1M/s, 0 MySQL writes".into(),
        met: Some(rerun_rate >= DIFF_TARGET && rerun_writes_nothing),
        peak_mb: rerun_peak,
        has_rate: true,
    });
    let push_rate = shop.orders as f64 / push_elapsed.as_secs_f64();
    let infile_rate = shop.orders as f64 / load.server_file.elapsed.as_secs_f64();
    let local_rate = shop.orders as f64 / load.local.elapsed.as_secs_f64();
    let push_vs_load = push_rate / infile_rate;
    rows.push(Row {
        step: format!(
            "3. push of new orders into empty tables (batches of {} orders)",
            args.batch_orders
        ),
        orders: pushed.orders_pushed,
        elapsed: push_elapsed,
        target: "≥ 0.8 × LOAD DATA INFILE".into(),
        met: Some(push_vs_load >= PUSH_VS_LOAD_TARGET),
        peak_mb: push_peak,
        has_rate: true,
    });
    rows.push(Row {
        step: "3. LOAD DATA INFILE (server-side file), same rows: the server's limit".into(),
        orders: load.server_file.orders,
        elapsed: load.server_file.elapsed,
        target: "—".into(),
        met: None,
        peak_mb: load_peak,
        has_rate: true,
    });
    rows.push(Row {
        step: "3. LOAD DATA LOCAL INFILE, same rows".into(),
        orders: load.local.orders,
        elapsed: load.local.elapsed,
        target: "—".into(),
        met: None,
        peak_mb: load_peak,
        has_rate: true,
    });
    rows.push(Row {
        step: "4. rerun with 1 % changed: staging + diff".into(),
        orders: shop.orders as u64,
        elapsed: changed.elapsed(),
        target: "—".into(),
        met: None,
        peak_mb: changed_staging_peak,
        has_rate: true,
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
        has_rate: true,
    });
    let replay_rate = replayed.orders_pushed as f64 / replay_elapsed.as_secs_f64();
    let replay_vs_load = replay_rate / infile_rate;
    rows.push(Row {
        step: "5. replay of every order over the rows MySQL holds (upserts)".into(),
        orders: replayed.orders_pushed,
        elapsed: replay_elapsed,
        target: "≥ 0.8 × LOAD DATA INFILE".into(),
        met: Some(
            replay_vs_load >= PUSH_VS_LOAD_TARGET && replayed.orders_pushed == requeued as u64,
        ),
        peak_mb: replay_peak,
        has_rate: true,
    });
    // The memory target is the pipeline's on N orders: the time to first row runs the fake
    // gateway and its shop in the same process, so its peak is shown but not counted.
    let peak_all = rows.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    if let Some((figures, peak_mb)) = &first_row {
        rows.push(Row {
            step: format!(
                "6. time to first row: backfill at {}/s, {}/min through the fake gateway (sync, streaming push)",
                first_row::REAL_PER_SECOND,
                first_row::REAL_PER_MINUTE
            ),
            orders: figures.orders_pushed,
            elapsed: figures.first_commit().unwrap_or(figures.elapsed),
            target: "first rows ≤ 15 s".into(),
            met: Some(figures.first_commit().is_some_and(|t| t <= FIRST_ROW_TARGET)),
            peak_mb: *peak_mb,
            has_rate: false,
        });
    }
    all_met &= rows.iter().all(|r| r.met != Some(false));

    let mut out = String::new();
    writeln!(
        out,
        "## jst-sync bench: {} orders, batch_orders {}\n",
        shop.orders, args.batch_orders
    )?;
    out.push_str(&report::table(&rows));
    writeln!(out)?;
    writeln!(
        out,
        "- push of new orders ÷ LOAD DATA INFILE: **{push_vs_load:.2}×**, ÷ LOAD DATA LOCAL: **{:.2}×** ({} vs {} vs {} orders/s; {} vs {} vs {} rows/s; rows {} pushed = {} orders + {} items + {} pays, {} and {} loaded; {} statements; TSV {:.0} MB)",
        push_rate / local_rate,
        thousands(push_rate),
        thousands(infile_rate),
        thousands(local_rate),
        thousands(push_rows as f64 / push_elapsed.as_secs_f64()),
        thousands(load.server_file.rows() as f64 / load.server_file.elapsed.as_secs_f64()),
        thousands(load.local.rows() as f64 / load.local.elapsed.as_secs_f64()),
        push_rows,
        pushed.orders_pushed,
        pushed.item_rows,
        pushed.pay_rows,
        load.server_file.rows(),
        load.local.rows(),
        pushed.write_statements,
        load.server_file.file_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "- replay ÷ LOAD DATA INFILE: **{replay_vs_load:.2}×**, ÷ LOAD DATA LOCAL: **{:.2}×** ({} orders/s; {} of {} re-enqueued orders written, {} statements)",
        replay_rate / local_rate,
        thousands(replay_rate),
        replayed.orders_pushed,
        requeued,
        replayed.write_statements
    )?;
    writeln!(
        out,
        "- LOAD DATA LOCAL in the push: {}; {} orders loaded, {} batches written with upserts instead",
        match (
            &load_data_stats.configured,
            &load_data_stats.refused_by_server
        ) {
            (false, _) => "off (`[mysql] load_data = false`)".to_owned(),
            (true, None) => "on".to_owned(),
            (true, Some(reason)) => format!("**refused by the server** ({reason}): upserts"),
        },
        load_data_stats.orders_loaded,
        load_data_stats.batches_upserted_instead
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
    if let Some((figures, peak_mb)) = &first_row {
        let secs = |value: Option<f64>| value.map_or("—".to_owned(), |v| format!("{v:.1} s"));
        writeln!(
            out,
            "- time to first row: {} orders synced in {:.1} s ({} API calls); first rows committed {} after the start; page received → rows committed: mean {}, max {} over {} orders; peak RSS {peak_mb:.0} MB with the fake gateway and its shop in the same process (not counted against the memory target)",
            figures.orders_pushed,
            figures.elapsed.as_secs_f64(),
            figures.calls,
            secs(figures.freshness.first_commit_secs),
            secs(figures.freshness.mean_secs),
            secs(figures.freshness.max_secs),
            figures.freshness.orders_measured
        )?;
    }
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
        "- peak RSS of any step 1–5: {peak_all:.0} MB (target ≤ {MEMORY_TARGET_MB:.0} MB: {}); whole process VmHWM {:.0} MB",
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
        let (section, met) = api::section(args.api_orders, args.api_fast_per_second).await?;
        all_met &= met;
        print!("{section}");
    }

    if !args.keep_database {
        database.drop().await?;
    }
    drop(sampler);
    // The figures are the product; unmet targets are reported, not failures.
    println!("\nAll targets met: {}", if all_met { "yes" } else { "no" });
    Ok(ExitCode::SUCCESS)
}

/// What the staging and push steps share: one staging file, one sink, the synthetic shop, and
/// the memory sampler each step resets.
struct Steps<'a> {
    staging: &'a SharedStaging,
    sink: &'a MysqlSink,
    mapping: &'a Mapping,
    shop: SyntheticShop,
    args: &'a BenchArgs,
    stop: tokio::sync::watch::Receiver<bool>,
    sampler: &'a RssSampler,
}

impl Steps<'_> {
    /// Stages every page of `edition`; returns the figures and the step's peak RSS (MB).
    async fn stage(&self, edition: Edition) -> anyhow::Result<(StagingFigures, f64)> {
        self.sampler.reset();
        let figures = stage_all(
            self.staging,
            self.shop,
            edition,
            self.mapping,
            self.args.staging_threads,
        )
        .await?;
        Ok((figures, self.sampler.peak_mb()))
    }

    /// Pushes every pending outbox entry, as `sync` and `push` do; returns the report, the time
    /// it took and the step's peak RSS (MB).
    async fn timed_push(&self, run_id: i64) -> anyhow::Result<(PushReport, Duration, f64)> {
        self.sampler.reset();
        let started = Instant::now();
        let (report, result) = push::push(
            self.staging,
            self.sink,
            self.mapping,
            run_id,
            self.args.batch_orders,
            &self.stop,
        )
        .await;
        result?;
        Ok((report, started.elapsed(), self.sampler.peak_mb()))
    }
}

fn ensure(ok: bool, what: &str, outcome: &PageOutcome) -> anyhow::Result<()> {
    if !ok {
        bail!("benchmark check failed: {what}: {outcome:?}");
    }
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`, before any thread exists.
    unsafe { jst_sync::cli::prepare_process() };
    let args = BenchArgs::parse();
    jst_sync::cli::logging::init("text", 0);
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(args)));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            jst_sync::cli::output::error(&jst_sync::cli::error_text::chain(&error));
            ExitCode::FAILURE
        }
    }
}
