//! No order missed, none doubled: a shop that changes while we page, changes that become
//! visible late, a hostile gateway, the real rate limits, and the `ts` cursor strategy.

use std::time::Duration;

use jst_sync::gateway::{Churn, Faults, GatewayConfig};

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

/// Waits until every change made so far is visible (the gateway's clock passed the lag).
async fn until_changes_are_visible(gateway: &jst_sync::gateway::FakeGateway, lag: Duration) {
    let quiet_since = gateway.now();
    let visible_at =
        quiet_since + chrono::Duration::from_std(lag).unwrap() + chrono::Duration::seconds(1);
    let deadline = std::time::Instant::now() + lag + Duration::from_secs(10);
    while gateway.now() < visible_at {
        assert!(
            std::time::Instant::now() < deadline,
            "gateway clock did not advance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_shop_run_then_one_quiet_incremental_sync_leaves_mysql_exact() {
    let lag = Duration::from_secs(2);
    let config = GatewayConfig {
        churn: Churn {
            changes_per_request: 2,
            arrivals_per_request: 1,
        },
        visibility_lag: lag,
        ..GatewayConfig::default()
    };
    let (gateway, since) = shop_gateway(config, 21, 300);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    gateway.set_churn(Churn::default());
    until_changes_are_visible(&gateway, lag).await;
    let quiet = Jst::new(&["sync"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert!(
        quiet.summary_number("changed") + quiet.summary_number("new") > 0,
        "the churn was caught up: {}",
        quiet.stdout()
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_gateway_with_the_real_rate_limits_still_ends_exact() {
    let config = GatewayConfig {
        faults: Faults {
            server_error_probability: 0.10,
            truncated_body_probability: 0.03,
            throttle_probability: 0.05,
            ..Faults::default()
        },
        ..GatewayConfig::default()
    };
    let (gateway, since) = shop_gateway(config, 22, 600);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let stats = gateway.stats();
    assert!(
        stats.server_errors + stats.truncated_bodies + stats.calls_with_code(7) > 0,
        "faults were injected: {stats:?}"
    );
    assert!(ran.summary_number("retries") > 0, "{}", ran.stdout());
    assert_eq!(
        stats.calls_with_code(199) + stats.calls_with_code(200),
        0,
        "the client kept within the rate limits: {stats:?}"
    );
    assert!(stats.max_calls_in_any_second <= 5, "{stats:?}");
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ts_cursor_strategy_lands_every_order_and_then_only_changes() {
    let (gateway, _since) = shop_gateway(GatewayConfig::default(), 23, 200);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let first = Jst::new(&["sync", "--strategy", "ts"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(first.summary_number("new"), 200, "{}", first.stdout());
    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(4, gateway.now());
    let second = Jst::new(&["sync", "--strategy", "ts"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(second.summary_number("changed"), 4, "{}", second.stdout());
    assert_eq!(second.summary_number("pushed"), 4);
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}
