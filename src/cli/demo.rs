//! `demo`: the whole product on one machine. Starts the simulated Qimen gateway on loopback
//! with a few thousand generated orders, syncs them into MySQL through the real pipeline,
//! changes a few orders in the shop, syncs again and shows that only those were pushed.

use std::process::ExitCode;

use anyhow::Context;

use super::args::{DemoArgs, PullArgs};
use super::run::{RunOptions, mysql_config, run_command, stop_on_signals};
use crate::beijing_time;
use crate::config::Config;
use crate::gateway::{FakeGateway, GatewayConfig, RateLimits, Shop};
use crate::secret::Secret;
use crate::sink::mysql::MysqlSink;

/// The demo's MySQL when neither `--mysql-url` nor `JST_MYSQL_URL` is set.
pub const DEFAULT_DEMO_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub(super) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(21);
    let shop = Shop::generate(20_241_125, args.orders, since + chrono::Duration::hours(1), now - chrono::Duration::hours(1));
    // The demo gateway is generous (50 calls/s, 3000/min) so the demo takes seconds; the real
    // limits (5/s, 100/min) are the defaults of both the client and the fake used by the tests.
    let gateway_config = GatewayConfig {
        rate_limits: RateLimits { per_second: Some(50), per_minute: Some(3000) },
        ..GatewayConfig::default()
    };
    let gateway = FakeGateway::start(gateway_config.clone(), shop).context("cannot start the simulated gateway")?;
    let staging_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let staging = match &args.demo_staging {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            path.clone()
        }
        None => staging_dir.path().join("demo.sqlite"),
    };
    let mysql_url = args.mysql_url.clone().unwrap_or_else(|| DEFAULT_DEMO_MYSQL_URL.to_owned());

    let mut config = Config::default();
    config.qimen.api_url = Some(gateway.url());
    config.qimen.app_key = Some(gateway_config.app_key.clone());
    config.qimen.app_secret = Some(gateway_config.secret.clone());
    config.qimen.customer_id = Some(gateway_config.customer_id.clone());
    config.qimen.per_second = 50;
    config.qimen.per_minute = 3000;
    config.mysql_url = Some(Secret::new(mysql_url));
    config.staging = staging.clone();
    config.sync.safety_lag = std::time::Duration::ZERO;
    config.sync.window_concurrency = 4;

    println!("Simulated Qimen gateway at {} with {} orders (modified over the last 3 weeks).", gateway.url(), args.orders);
    println!("Staging store: {}", staging.display());
    let stop = stop_on_signals();

    println!("\n== First sync: backfill from {}", beijing_time::format(since));
    let first = run_command(
        &config,
        &RunOptions {
            pull: Some(PullArgs { since: Some(beijing_time::format(since)), ..PullArgs::default() }),
            push: true,
            dry_run: false,
        },
        stop.clone(),
    )
    .await?;
    print!("{first}");
    if !first.succeeded {
        return Ok(ExitCode::FAILURE);
    }

    let changed = {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap_or_else(|p| p.into_inner());
        shop.modify_random(args.changes, gateway.now())
    };
    println!("\n== Changed {} orders in the shop: {}", changed.len(), changed.join(", "));
    // A change made this second is visible to a window ending this second; wait one tick so the
    // second run's window (ending at "now") surely covers it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    println!("\n== Second sync: continues from the watermark");
    let second = run_command(&config, &RunOptions { pull: Some(PullArgs::default()), push: true, dry_run: false }, stop).await?;
    print!("{second}");
    if !second.succeeded {
        return Ok(ExitCode::FAILURE);
    }

    let sink = MysqlSink::connect(&mysql_config(&config)?, super::run::mapping(&config)?).await?;
    let endpoint = sink.endpoint();
    let counts = sink.count_rows().await?;
    let (orders, items, pays) = (counts.orders, counts.items, counts.pays);
    sink.disconnect().await;
    let pushed = second.push.as_ref().map_or(0, |p| p.orders_pushed);
    println!(
        "\nMySQL {} now holds {orders} orders, {items} items, {pays} payments; the second sync pushed {pushed} orders for {} changes.",
        endpoint,
        changed.len()
    );
    gateway.shutdown().await;
    Ok(if pushed as usize == changed.len() && orders as usize >= args.orders { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
