//! `fake-gateway`: serves the simulated Qimen gateway on loopback until interrupted, and prints
//! the environment that points jst-sync at it — for trying jst-sync by hand.

use std::process::ExitCode;

use anyhow::Context;

use super::args::FakeGatewayArgs;
use crate::beijing_time;
use crate::gateway::{Churn, Deviations, FakeGateway, GatewayConfig, RateLimits, Shop};

pub(super) async fn run(args: FakeGatewayArgs) -> anyhow::Result<ExitCode> {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(args.days);
    let shop = Shop::generate(
        args.seed,
        args.orders,
        since,
        now - chrono::Duration::minutes(5),
    );
    let config = GatewayConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        rate_limits: RateLimits {
            per_second: Some(args.per_second),
            per_minute: Some(args.per_minute),
        },
        churn: Churn {
            changes_per_request: args.changes_per_request,
            arrivals_per_request: 0,
        },
        max_page_size: args.max_page_size,
        deviations: if args.untidy {
            Deviations::untidy()
        } else {
            Deviations::default()
        },
        ..GatewayConfig::default()
    };
    let gateway =
        FakeGateway::start(config.clone(), shop).context("cannot start the simulated gateway")?;
    println!(
        "Simulated Qimen gateway with {} orders modified since {}.",
        args.orders,
        beijing_time::format(since)
    );
    println!("export JST_API_URL={}", gateway.url());
    println!("export JST_APP_KEY={}", config.app_key);
    println!("export JST_APP_SECRET={}", config.secret.expose());
    println!("export JST_CUSTOMER_ID={}", config.customer_id);
    if args.untidy {
        println!("export JST_ARCHIVE_AFTER=14d");
    }
    println!(
        "# then: jst-sync sync --since \"{}\"   (Ctrl-C stops the gateway)",
        beijing_time::format(since)
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    let stats = gateway.stats();
    gateway.shutdown().await;
    println!(
        "Served {} calls ({} successful).",
        stats.total_calls, stats.successful_calls
    );
    Ok(ExitCode::SUCCESS)
}
