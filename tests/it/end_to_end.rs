//! The whole pipeline, end to end: fake gateway over HTTP → staging → diff → MySQL.

use jst_sync::gateway::GatewayConfig;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_window_backfill_lands_every_order_exactly() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 1, 400);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(ran.summary_number("windows"), 3, "{}", ran.stdout());
    assert_eq!(ran.summary_number("new"), 400);
    assert_eq!(ran.summary_number("pushed"), 400);
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_with_nothing_changed_sends_no_write_to_mysql() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 2, 120);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let rows_changed_before = db.rows_changed().await;

    // The fake shuffles the key order of every object in every response: a re-read of the
    // same orders in another key order must not count as a change.
    let rerun = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    // Page 1 of each window is read twice (first for the count, last after the rest), so
    // some orders are seen more than once: all of them unchanged.
    assert!(
        rerun.summary_number("unchanged") >= 120,
        "{}",
        rerun.stdout()
    );
    assert_eq!(rerun.summary_number("new"), 0);
    assert_eq!(rerun.summary_number("changed"), 0);
    assert_eq!(rerun.summary_number("pushed"), 0);
    assert_eq!(rerun.summary_number("batches,"), 0);
    assert_eq!(
        db.rows_changed().await,
        rows_changed_before,
        "MySQL rows were written by a no-change rerun"
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_three_orders_pushes_exactly_those_three() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 3, 150);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let changed = gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(3, gateway.now());
    let rerun = Jst::new(&["sync"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(changed.len(), 3);
    assert_eq!(rerun.summary_number("changed"), 3, "{}", rerun.stdout());
    assert_eq!(rerun.summary_number("pushed"), 3);
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_the_run_with_the_gateways_message() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 4, 10);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .env("JST_APP_SECRET", "not-the-secret-XYZ")
        .env("JST_WINDOW_CONCURRENCY", "1")
        .run()
        .await
        .failure();

    let stderr = ran.stderr();
    assert!(
        stderr.contains("code 25") && stderr.contains("Invalid signature"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret-XYZ") && !ran.stdout().contains("not-the-secret-XYZ"));
    assert_eq!(
        gateway.stats().calls_with_code(25),
        1,
        "a signature error is not retried"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_without_since_backfills_the_initial_period_or_says_what_to_do() {
    let (gateway, _since) = shop_gateway(GatewayConfig::default(), 5, 30);
    let dir = tempfile::tempdir().unwrap();
    let ran = Jst::new(&["pull"])
        .against(&gateway, "mysql://unused", &dir.path().join("a.sqlite"))
        .run()
        .await
        .success();
    assert_eq!(
        ran.summary_number("new"),
        30,
        "the default 90-day backfill covers the shop: {}",
        ran.stdout()
    );
    assert!(
        ran.stderr().contains("--since"),
        "the backfill is announced: {}",
        ran.stderr()
    );

    let refused = Jst::new(&["pull"])
        .against(&gateway, "mysql://unused", &dir.path().join("b.sqlite"))
        .env("JST_INITIAL_BACKFILL", "0s")
        .run()
        .await
        .failure();
    assert!(refused.stderr().contains("--since"), "{}", refused.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_merchants_sync_independently_and_one_failure_does_not_stop_the_others() {
    let (good, since) = shop_gateway(
        GatewayConfig {
            customer_id: "111".into(),
            ..GatewayConfig::default()
        },
        31,
        40,
    );
    let (bad, _) = shop_gateway(
        GatewayConfig {
            customer_id: "222".into(),
            ..GatewayConfig::default()
        },
        32,
        40,
    );
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("merchants.toml");
    std::fs::write(
        &config,
        format!(
            "staging = \"{staging}\"\n[qimen]\napp_key = \"{key}\"\napp_secret = \"{secret}\"\n\
             [[merchant]]\nname = \"bad\"\ncustomer_id = \"222\"\napi_url = \"{bad}\"\napp_secret = \"wrong\"\ntable_prefix = \"bad_\"\n\
             [[merchant]]\nname = \"good\"\ncustomer_id = \"111\"\napi_url = \"{good}\"\n",
            staging = dir.path().join("jst.sqlite").display(),
            key = good.config().app_key,
            secret = good.config().secret.expose(),
            bad = bad.url(),
            good = good.url(),
        ),
    )
    .unwrap();

    let ran = Jst::new(&["sync", "--since", &since])
        .env("JST_CONFIG", config.display().to_string())
        .env("JST_MYSQL_URL", db.url())
        .env("JST_SAFETY_LAG", "0s")
        .run()
        .await
        .failure();

    assert!(
        ran.stderr().contains("1 of 2 merchants failed: bad"),
        "{}",
        ran.stderr()
    );
    assert!(
        ran.stdout().contains("== merchant good") && ran.stdout().contains("pushed 40 orders"),
        "{}",
        ran.stdout()
    );
    assert!(
        dir.path().join("jst-good.sqlite").exists() && dir.path().join("jst-bad.sqlite").exists()
    );
    assert_exact(&db, &visible(&good)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_mysql_database_is_created_on_the_first_push() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 33, 10);
    let db = TestDb::create().await;
    let missing = format!("{}_new", db.name);
    let url = format!("{}/{missing}", crate::support::database::server_url());
    let dir = tempfile::tempdir().unwrap();

    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &url, &dir.path().join("s.sqlite"))
        .run()
        .await
        .success();

    let created = TestDb::create_on(&crate::support::database::server_url(), "test")
        .await
        .sibling(&missing)
        .await;
    assert_eq!(created.try_count("order_list_query").await, Some(10));
    created.drop().await;
    db.drop().await;
}
