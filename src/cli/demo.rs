//! `demo`: the whole product on one machine. Starts the simulated Qimen gateway on loopback
//! with a few thousand generated orders, syncs them into MySQL through the real pipeline,
//! changes a few orders in the shop, syncs again and shows that only those were pushed.

use std::process::ExitCode;

use anyhow::Context;

use super::args::DemoArgs;
use crate::beijing_time;
use crate::config::Config;
use crate::gateway::{Deviations, FakeGateway, GatewayConfig, RateLimits, Shop};
use crate::pipeline::run::{PullOptions, RunOptions, mysql_config, run_command, stop_on_signals};
use crate::secret::Secret;
use crate::sink::mysql::MysqlSink;

/// The prefix of the demo's tables (`jst_demo_order_list_query`, …).
const DEMO_TABLE_PREFIX: &str = "jst_demo_";

/// The demo's MySQL when neither `--mysql-url` nor `JST_MYSQL_URL` is set.
pub const DEFAULT_DEMO_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub(super) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(21);
    let shop = Shop::generate(
        20_241_125,
        args.orders,
        since + chrono::Duration::hours(1),
        now - chrono::Duration::hours(1),
    );
    // The demo gateway is generous (50 calls/s, 3000/min) so the demo takes seconds; the real
    // limits (5/s, 100/min) are the defaults of both the client and the fake used by the tests.
    let gateway_config = GatewayConfig {
        rate_limits: RateLimits {
            per_second: Some(50),
            per_minute: Some(3000),
        },
        max_page_size: if args.untidy { 100 } else { 25 },
        deviations: if args.untidy {
            Deviations::untidy()
        } else {
            Deviations::default()
        },
        ..GatewayConfig::default()
    };
    let gateway = FakeGateway::start(gateway_config.clone(), shop)
        .context("cannot start the simulated gateway")?;
    // `--source openapi` (or both): the simulated open platform serves the same shop.
    let open_platform = if args.source.contains("openapi") {
        let open_config = crate::gateway::OpenApiConfig {
            rate_limits: gateway_config.rate_limits,
            ..crate::gateway::OpenApiConfig::default()
        };
        Some(
            crate::gateway::OpenApiGateway::start_sharing(open_config, gateway.shop())
                .context("cannot start the simulated open platform")?,
        )
    } else {
        None
    };
    let staging_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let staging = match &args.demo_staging {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            path.clone()
        }
        None => staging_dir.path().join("demo.sqlite"),
    };
    let mysql_url = args
        .mysql_url
        .clone()
        .unwrap_or_else(|| DEFAULT_DEMO_MYSQL_URL.to_owned());

    let mut config = Config::default();
    config.qimen.api_url = Some(gateway.url());
    config.qimen.app_key = Some(gateway_config.app_key.clone());
    config.qimen.app_secret = Some(Secret::new(gateway_config.secret.expose()));
    config.qimen.customer_id = Some(gateway_config.customer_id.clone());
    config.qimen.per_second = 50;
    config.qimen.per_minute = 3000;
    config.mysql_url = Some(Secret::new(mysql_url));
    config.staging = staging.clone();
    config.sync.safety_lag = std::time::Duration::ZERO;
    // The demo's own tables, recreated each time, so a second demo starts as clean as the first
    // and a real `order_list_query` in the same database is never touched.
    config.mysql.table_prefix = DEMO_TABLE_PREFIX.to_owned();
    config.sync.window_concurrency = 4;
    config.sources = crate::config::SourceKind::parse_list(&args.source)?;
    if let Some(open) = &open_platform {
        let o = open.config();
        config.openapi.url = Some(open.url());
        config.openapi.app_key = Some(o.app_key.clone());
        config.openapi.app_secret = Some(Secret::new(o.app_secret.expose()));
        config.openapi.access_token = Some(Secret::new(o.access_token.expose()));
        config.openapi.refresh_token = o.refresh_token.as_ref().map(|t| Secret::new(t.expose()));
        println!(
            "Simulated Jushuitan open platform at {} serving the same shop.",
            open.url()
        );
    }
    if args.untidy {
        config.qimen.page_size = 100;
        config.qimen.archive_after = std::time::Duration::from_secs(14 * 86400);
        println!(
            "Untidy gateway: raw control characters, code 10, lost order lists, under-reported counts, short bans, an archive after 14 days."
        );
    }

    println!(
        "Simulated Qimen gateway at {} with {} orders (modified over the last 3 weeks).",
        gateway.url(),
        args.orders
    );
    println!("Staging store: {}", staging.display());
    let tables = mysql_config(&config)?.tables();
    let mapping = crate::pipeline::run::mapping(&config)?;
    println!(
        "MySQL tables (recreated): {}, {}",
        tables.orders,
        tables.children_of(&mapping).join(", ")
    );
    drop_demo_tables(&config)
        .await
        .context("cannot reset the demo tables")?;
    let stop = stop_on_signals();

    println!(
        "\n== First sync: backfill from {}",
        beijing_time::format(since)
    );
    let first = run_command(
        &config,
        &RunOptions {
            pull: Some(PullOptions {
                since: Some(beijing_time::format(since)),
                ..PullOptions::default()
            }),
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
    println!(
        "\n== Changed {} orders in the shop: {}",
        changed.len(),
        changed.join(", ")
    );
    // A change made this second is visible to a window ending this second; wait one tick so the
    // second run's window (ending at "now") surely covers it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    println!("\n== Second sync: continues from the watermark");
    let second = run_command(
        &config,
        &RunOptions {
            pull: Some(PullOptions::default()),
            push: true,
            dry_run: false,
        },
        stop,
    )
    .await?;
    print!("{second}");
    if !second.succeeded {
        return Ok(ExitCode::FAILURE);
    }

    let sink = MysqlSink::connect(
        &mysql_config(&config)?,
        crate::pipeline::run::mapping(&config)?,
    )
    .await?;
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
    Ok(
        if pushed as usize == changed.len() && orders as usize == args.orders {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Drops the demo's tables and their migration records, so the demo starts from nothing.
async fn drop_demo_tables(config: &Config) -> anyhow::Result<()> {
    let mysql = mysql_config(config)?;
    let mapping = crate::pipeline::run::mapping(config)?;
    crate::sink::mysql::reset::drop_tables_and_records(&mysql, &mapping)
        .await
        .map_err(|reason| {
            anyhow::anyhow!(
                "{reason}: start MySQL or MariaDB there, or pass --mysql-url (JST_MYSQL_URL) \
                 naming a server and database the demo may create tables in"
            )
        })
}
