//! Command-line arguments. Every setting can also come from the environment (`JST_*`) or the
//! TOML file given with `--config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use super::bench::BenchArgs;

/// Keeps a MySQL copy of Jushuitan sales orders read through the Qimen gateway.
///
/// Pull: every API page lands in an SQLite staging store. Diff: an order whose canonical
/// SHA-256 changed is a new version. Push: only new versions are written to MySQL.
#[derive(Debug, Parser)]
#[command(name = "jst-sync", version, about, long_about)]
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
    /// Orders that could not be staged or transformed.
    Quarantine(QuarantineArgs),
    /// Measure staging, diff and push throughput against their targets and MySQL's LOAD DATA.
    Bench(BenchArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct PullArgs {
    /// Start of the range, Beijing time "YYYY-MM-DD HH:MM:SS" (required on the first run;
    /// later runs continue from the stored watermark).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the range, Beijing time (default: now minus the safety lag).
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
