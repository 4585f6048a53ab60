//! Command-line arguments. Every setting can also come from the environment (`JST_*`) or the
//! TOML file given with `--config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keeps a MySQL copy of Jushuitan sales orders read through the Qimen gateway.
///
/// Pull: every API page lands in an SQLite staging store. Diff: an order whose canonical
/// SHA-256 changed is a new version. Push: only new versions are written to MySQL.
#[derive(Debug, Parser)]
#[command(
    name = "jst-sync",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("JST_GIT_COMMIT"), ")"),
    about,
    long_about
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Log format on stderr.
    #[arg(long, global = true, env = "JST_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// More logging (-v info details, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// TOML configuration file (see fixtures/jst-sync.example.toml).
    #[arg(long, global = true, env = "JST_CONFIG")]
    pub config: Option<PathBuf>,
    /// SQLite staging file [env: JST_STAGING; default jst-sync.sqlite].
    #[arg(long, global = true)]
    pub staging: Option<PathBuf>,
    /// Write Prometheus metrics to this file after each run (atomically; for node_exporter's
    /// textfile collector) [env: JST_METRICS_FILE].
    #[arg(long, global = true)]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull from the API into staging, then push changed orders to MySQL.
    Sync(SyncArgs),
    /// Pull from the API into staging only (no MySQL).
    Pull(PullArgs),
    /// Push staged, not yet pushed orders to MySQL (no API calls).
    Push(PushArgs),
    /// Start a simulated Qimen gateway on loopback and sync it into MySQL, twice.
    Demo(DemoArgs),
    /// Watermarks, recent runs, outbox and quarantine sizes.
    Status(StatusArgs),
    /// Serve the simulated Qimen gateway on loopback, for trying jst-sync by hand.
    FakeGateway(FakeGatewayArgs),
    /// Orders that could not be staged or transformed.
    Quarantine(QuarantineArgs),
    /// Fields the API sends that the mapping does not use, mapped fields no longer sent, and
    /// fields whose JSON type changed (from the staged payloads; no API or MySQL calls).
    Schema(SchemaArgs),
    /// The history of an order (every version, where it came from, what changed) or a stored
    /// API page. Read-only: works while a sync runs.
    Audit(AuditArgs),
    /// Rebuild MySQL rows from staging without calling the API (mapping change, wiped table)
    ///
    /// Re-enqueues the current versions in the outbox, then pushes them as `push` does (same
    /// batching, quarantine and version guard). Without --since or --order every current
    /// version is replayed. The push uses the mapping of the current configuration, so after
    /// editing `[mapping]` a replay applies it to the rows already in MySQL (new columns are
    /// added first; orders a filter now matches are deleted). Examples:
    ///   jst-sync replay
    ///   jst-sync replay --since "2024-05-01 00:00:00"
    ///   jst-sync replay --order 38852
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// Reconcile staging with MySQL: counts, key fields, unknown rows. Exits 1 on drift.
    /// `verify --integrity` checks the staging file itself instead.
    ///
    /// Every order staging has pushed must be in MySQL with the same jst_ts, so_id, status
    /// and modified and as many item and payment rows; nothing may be in MySQL that staging
    /// does not know or that the mapping filters out. Versions still in the outbox are
    /// reported as "not yet pushed", not as drift. `jst-sync replay` repairs what staging
    /// knows.
    Verify(VerifyArgs),
    /// Sync repeatedly: `run --every 5m` until SIGTERM or Ctrl-C
    ///
    /// Each run is an ordinary `sync` recorded in staging; a failed run is reported (and
    /// alerted, see [alerts] in the example config) and the loop goes on. `status` and
    /// `audit` work while it runs. Merchants run side by side, each on its own schedule
    /// (`[run] merchant_concurrency`). Examples:
    ///   jst-sync run --every 5m --metrics-file /var/lib/node_exporter/textfile/jst_sync.prom
    ///   jst-sync run --every 5m --listen 127.0.0.1:9187   (/metrics, /healthz, status page /)
    #[command(verbatim_doc_comment)]
    Run(ScheduleArgs),
    /// Create or upgrade the MySQL tables (DDL), for a user with CREATE and ALTER
    ///
    /// `sync` and `push` migrate by themselves when their user may; a least-privilege user
    /// (SELECT, INSERT, UPDATE, DELETE only) pushes into tables already at the expected
    /// version, and a DBA runs `jst-sync migrate` once after each upgrade. No API calls.
    #[command(verbatim_doc_comment)]
    Migrate(MigrateArgs),
    /// Print the resolved configuration: each value and where it came from (default, file,
    /// environment, flag), secrets masked
    Config(ConfigArgs),
    /// Check every part before a first run: one signed API call per merchant and route, MySQL
    /// (connection, privileges, table version) and staging (SQLite's quick_check). Exits 0 only
    /// when every part is ok; records no run
    Check(CheckArgs),
    /// Drop re-read copies of pages older than the retention and shrink the staging file
    ///
    /// Keeps every order version and the page that first carried it (so `audit` still
    /// explains every MySQL row and `replay` can rebuild it); drops the sightings of pages
    /// read again, older than `--keep` (default: `[staging] keep_pages`, `JST_KEEP_PAGES`,
    /// 90d). `run --every` prunes after each run. Example:
    ///   jst-sync prune --keep 30d
    #[command(verbatim_doc_comment)]
    Prune(PruneArgs),
    /// Print a shell completion script: `jst-sync completions bash > /etc/bash_completion.d/jst-sync`
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `jst-sync man > /usr/local/share/man/man1/jst-sync.1`
    Man,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CheckArgs {}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone, Default)]
pub struct MigrateArgs {}

#[derive(Debug, Args, Clone, Default)]
pub struct PruneArgs {
    /// Retention: how long re-read copies are kept (`90d`, `2w`) [default: `[staging]
    /// keep_pages`, JST_KEEP_PAGES, 90d].
    #[arg(long)]
    pub keep: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub what: AuditCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum AuditCommand {
    /// Every staged version of an order, oldest first: its hash, the run and page that brought
    /// it, its outbox entries, and the fields that changed from the version before.
    Order {
        /// The order's o_id.
        o_id: String,
        /// Print JSON instead of text (includes each version's full order).
        #[arg(long)]
        json: bool,
    },
    /// A stored API page: request parameters (the signature is never stored), HTTP status and
    /// the body as received. Page ids appear in `audit order`.
    Raw {
        page_id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReplayArgs {
    /// Only orders whose `modified` is at or after this Beijing time "YYYY-MM-DD HH:MM:SS".
    #[arg(long, conflicts_with = "order")]
    pub since: Option<String>,
    /// Only this order (its o_id).
    #[arg(long)]
    pub order: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// Check the staging file itself instead: SQLite's integrity check and the SHA-256 of
    /// every stored page and order version, naming damaged pages and their runs (no MySQL).
    #[arg(long)]
    pub integrity: bool,
    /// How many ids to name per kind of difference.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub pull: PullArgs,
    /// Time between the starts of two runs: 30s, 5m, 1h. Without it, one run. A failed run
    /// does not stop the loop; SIGTERM or Ctrl-C stops it (exit 0).
    #[arg(long, env = "JST_EVERY")]
    pub every: Option<String>,
    /// Serve /metrics (Prometheus), /healthz and a status page on this address while running,
    /// e.g. 127.0.0.1:9187 [env: JST_LISTEN; or `[run] listen`].
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PullArgs {
    /// Start of the range, Beijing time "YYYY-MM-DD HH:MM:SS". Later runs continue from the
    /// stored watermark; a first run without it reads the last `initial_backfill` (90 days).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the range, Beijing time (default: now; the watermark stays a safety lag behind now).
    #[arg(long)]
    pub until: Option<String>,
    /// window (time windows over `modified`) or ts (row-version cursor).
    #[arg(long)]
    pub strategy: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SyncArgs {
    #[command(flatten)]
    pub pull: PullArgs,
    /// Pull and diff, then report what would be pushed without writing to MySQL.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PushArgs {}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// MySQL to fill [default: mysql://root@127.0.0.1:3306/test].
    #[arg(long, env = "JST_MYSQL_URL")]
    pub mysql_url: Option<String>,
    /// Orders in the simulated shop.
    #[arg(long, default_value_t = 3000)]
    pub orders: usize,
    /// Orders changed between the two syncs.
    #[arg(long, default_value_t = 5)]
    pub changes: usize,
    /// Staging file of the demo (recreated) [default: a temporary file].
    #[arg(long)]
    pub demo_staging: Option<PathBuf>,
    /// Make the simulated gateway behave like a live route on a bad day: raw control
    /// characters, code 10, lost order lists, under-reported counts, short bans, an archive
    /// for orders older than two weeks; pages of 100.
    #[arg(long)]
    pub untidy: bool,
    /// The route(s) to read: qimen, openapi (Jushuitan's own open platform) or qimen,openapi.
    #[arg(long, default_value = "qimen")]
    pub source: String,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many recent runs to show.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, Args, Clone)]
pub struct QuarantineArgs {
    /// Include entries resolved by a later good version.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many entries to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Args, Clone)]
pub struct FakeGatewayArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Orders in the simulated shop.
    #[arg(long, default_value_t = 3000)]
    pub orders: usize,
    /// Days over which the orders were modified (1 to 3650).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub days: i64,
    /// Seed of the generated shop.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Calls allowed per second (the real gateway: 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_second: u32,
    /// Calls allowed per minute (the real gateway: 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_minute: u32,
    /// Orders modified before answering each page request (a live shop).
    #[arg(long, default_value_t = 0)]
    pub changes_per_request: usize,
    /// Behave like a live route on a bad day (raw control characters, code 10, lost order
    /// lists, under-reported counts, short bans, an archive for orders older than two weeks).
    #[arg(long)]
    pub untidy: bool,
    /// The largest page_size accepted (the method's field table says 100).
    #[arg(long, default_value_t = 25)]
    pub max_page_size: u32,
}

#[derive(Debug, Args, Clone)]
pub struct SchemaArgs {
    /// Print JSON instead of text (it always lists every observed field).
    #[arg(long)]
    pub json: bool,
    /// List every unmapped field, not only those new since the first run.
    #[arg(long)]
    pub all: bool,
    /// Rebuild the field catalog from every staged version first (for a staging file made
    /// before the catalog existed).
    #[arg(long)]
    pub rescan: bool,
}
