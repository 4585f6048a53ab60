//! Time to first row: a backfill of a small shop through the fake gateway at the real rate
//! limits (5/s, 100/min), by the real `sync` path (pull with the streaming push that follows
//! it) into tables of their own in the benchmark database; reports when the first rows were
//! committed and how long orders waited between their page's receipt and their rows' commit
//! (the push's [`Freshness`]).

use std::time::{Duration, Instant};

use anyhow::Context;

use super::api::client_config;
use jst_sync::beijing_time;
use jst_sync::gateway::{FakeGateway, GatewayConfig, RateLimits, Shop};
use jst_sync::pipeline::freshness::Freshness;
use jst_sync::pipeline::run::{PullOptions, RunOptions, run_command};
use jst_sync::secret::Secret;

/// The limits of the real API.
pub(super) const REAL_PER_SECOND: u32 = 5;
pub(super) const REAL_PER_MINUTE: u32 = 100;

/// The bench's tables for this step, beside the others in the benchmark database.
const TABLE_PREFIX: &str = "first_row_";

/// What the throttled backfill did.
#[derive(Clone, Debug)]
pub(super) struct FirstRowFigures {
    pub(super) orders_pushed: u64,
    pub(super) calls: u64,
    /// The whole sync, pull and push.
    pub(super) elapsed: Duration,
    pub(super) freshness: Freshness,
}

impl FirstRowFigures {
    pub(super) fn first_commit(&self) -> Option<Duration> {
        self.freshness
            .first_commit_secs
            .map(Duration::from_secs_f64)
    }
}

/// Syncs a shop of `orders` orders modified over 20 days from a gateway at the real limits
/// into `mysql_url`'s database, as `jst-sync sync` does (client defaults, streaming push).
pub(super) async fn measure(orders: usize, mysql_url: &str) -> anyhow::Result<FirstRowFigures> {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(20) - chrono::Duration::hours(1);
    let shop = Shop::generate(
        20_240_602,
        orders,
        now - chrono::Duration::days(20),
        now - chrono::Duration::hours(1),
    );
    let gateway_config = GatewayConfig {
        rate_limits: RateLimits {
            per_second: Some(REAL_PER_SECOND),
            per_minute: Some(REAL_PER_MINUTE),
        },
        ..GatewayConfig::default()
    };
    let gateway = FakeGateway::start(gateway_config.clone(), shop)
        .context("cannot start the fake gateway")?;
    let dir = tempfile::tempdir()?;
    let mut config = client_config(
        &gateway,
        &gateway_config,
        dir.path().join("first-row.sqlite"),
    );
    config.mysql_url = Some(Secret::new(mysql_url.to_owned()));
    config.mysql.table_prefix = TABLE_PREFIX.to_owned();
    let options = RunOptions {
        pull: Some(PullOptions {
            since: Some(beijing_time::format(since)),
            until: Some(beijing_time::format(now)),
            strategy: None,
        }),
        push: true,
        dry_run: false,
    };
    let (_stop_sender, stop) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let summary = run_command(&config, &options, stop).await?;
    let elapsed = started.elapsed();
    let calls = gateway.stats().total_calls;
    gateway.shutdown().await;
    if let Some(error) = &summary.error {
        anyhow::bail!("the throttled backfill failed: {error}");
    }
    let push = summary
        .push
        .context("the throttled backfill reported no push")?;
    Ok(FirstRowFigures {
        orders_pushed: push.orders_pushed,
        calls,
        elapsed,
        freshness: push.freshness,
    })
}
