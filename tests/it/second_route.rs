//! The second route: Jushuitan's own open platform into the same pipeline and tables — a
//! backfill exact column by column, reruns that write nothing, one merchant read through both
//! routes, token renewal, and secrets and tokens kept out of everything written.

use std::path::Path;

use jst_sync::beijing_time;
use jst_sync::gateway::{OpenApiConfig, OpenApiGateway, Shop};
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, json_of, shop_gateway, visible};

/// The settings of an open-platform-only sync: the `JST_OPENAPI_*` variables alone.
fn against_openapi(jst: Jst, gateway: &OpenApiGateway, db_url: &str, staging: &Path) -> Jst {
    let config = gateway.config();
    jst.env("JST_SOURCE", "openapi")
        .env("JST_OPENAPI_URL", gateway.url())
        .env("JST_OPENAPI_APP_KEY", config.app_key.clone())
        .env("JST_OPENAPI_APP_SECRET", config.app_secret.expose())
        .env("JST_OPENAPI_ACCESS_TOKEN", config.access_token.expose())
        .env("JST_MYSQL_URL", db_url)
        .env("JST_STAGING", staging.display().to_string())
        .env("JST_SAFETY_LAG", "0s")
}

/// An open platform serving `orders` generated orders modified over the last 20 days.
fn open_platform(config: OpenApiConfig, seed: u64, orders: usize) -> (OpenApiGateway, String) {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(20) - chrono::Duration::hours(1);
    let shop = Shop::generate(
        seed,
        orders,
        now - chrono::Duration::days(20),
        now - chrono::Duration::hours(1),
    );
    let gateway = OpenApiGateway::start(config, shop).expect("fake open platform starts");
    (gateway, beijing_time::format(since))
}

fn truth_of(gateway: &OpenApiGateway) -> Vec<Value> {
    gateway.shop().lock().unwrap().visible_orders()
}

async fn last_run(staging: &Path) -> Value {
    let status = Jst::new(&["status", "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    json_of(&status.stdout())["runs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_platform_backfill_is_exact_and_a_rerun_writes_nothing() {
    let (gateway, since) = open_platform(OpenApiConfig::unlimited(), 201, 600);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let sync = |args: &[&str]| {
        fast(against_openapi(
            Jst::new(args),
            &gateway,
            &db.url(),
            &staging,
        ))
    };

    let first = sync(&["sync", "--since", &since]).run().await.success();
    assert_eq!(first.summary_number("pushed"), 600, "{}", first.stdout());
    assert_exact(&db, &truth_of(&gateway)).await;
    // 100 a page: a quarter of the calls 25 a page would take (plus the page-1 re-reads).
    let calls = gateway.stats().total_calls;
    assert!(calls <= 600 / 100 + 2 * 4, "{calls} calls for 600 orders");

    let rerun = sync(&["sync", "--since", &since]).run().await.success();
    assert_eq!(rerun.summary_number("pushed"), 0, "{}", rerun.stdout());
    assert_eq!(rerun.summary_number("new"), 0);
    assert_eq!(rerun.summary_number("changed"), 0);
    assert_exact(&db, &truth_of(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_merchant_read_through_both_routes_is_exact_and_reruns_make_no_version() {
    let (qimen, since) = shop_gateway(fast_gateway(), 202, 400);
    let open = OpenApiGateway::start_sharing(OpenApiConfig::unlimited(), qimen.shop())
        .expect("fake open platform starts");
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let both = |args: &[&str]| {
        let jst = fast(Jst::new(args)).against(&qimen, &db.url(), &staging);
        against_openapi(jst, &open, &db.url(), &staging).env("JST_SOURCE", "qimen,openapi")
    };

    let first = both(&["sync", "--since", &since]).run().await.success();
    assert_exact(&db, &visible(&qimen)).await;
    assert_eq!(
        first.summary_number("pushed"),
        400,
        "each order written once though read twice:\n{}",
        first.stdout()
    );
    let versions = |staging: &Path| {
        let conn = rusqlite::Connection::open(staging).unwrap();
        conn.query_row("SELECT COUNT(*) FROM order_versions", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    let before = versions(&staging);
    assert_eq!(
        before, 400,
        "one version per order, whichever route read it"
    );

    for _ in 0..2 {
        let rerun = both(&["sync", "--since", &since]).run().await.success();
        assert_eq!(rerun.summary_number("pushed"), 0, "{}", rerun.stdout());
    }
    assert_eq!(
        versions(&staging),
        before,
        "no version from the routes alternating"
    );
    let run = last_run(&staging).await;
    assert!(run["summary"]["api_calls"].as_u64().unwrap() > 0);

    // A change made in the shop reaches MySQL once, from whichever route reads it first.
    let changed = qimen.shop().lock().unwrap().modify_random(3, qimen.now());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = both(&["sync"]).run().await.success();
    assert_eq!(
        after.summary_number("pushed"),
        changed.len() as u64,
        "{}",
        after.stdout()
    );
    assert_exact(&db, &visible(&qimen)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_with_the_refresh_token_and_kept_beside_staging() {
    let (gateway, since) = open_platform(OpenApiConfig::unlimited(), 203, 150);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let refresh = gateway.config().refresh_token.clone().unwrap();
    let sync = |args: &[&str]| {
        fast(against_openapi(
            Jst::new(args),
            &gateway,
            &db.url(),
            &staging,
        ))
        .env("JST_OPENAPI_REFRESH_TOKEN", refresh.expose())
    };
    gateway.expire_token();
    sync(&["sync", "--since", &since]).run().await.success();
    assert_exact(&db, &truth_of(&gateway)).await;
    assert_eq!(gateway.stats().refreshes, 1);

    let token_file = jst_sync::source::openapi::token::token_file_beside(&staging);
    let kept = std::fs::read_to_string(&token_file).unwrap();
    assert!(kept.contains(&gateway.current_access_token()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The next run, configured with the old pair, uses the renewed one: no refresh needed.
    sync(&["sync"]).run().await.success();
    assert_eq!(gateway.stats().refreshes, 1);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_without_a_refresh_token_fails_saying_what_to_do() {
    let (gateway, since) = open_platform(OpenApiConfig::unlimited(), 204, 20);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    gateway.expire_token();
    let ran = fast(against_openapi(
        Jst::new(&["sync", "--since", &since]),
        &gateway,
        &db.url(),
        &staging,
    ))
    .run()
    .await
    .failure();
    let stderr = ran.stderr();
    assert!(
        stderr.contains("code 100") && stderr.contains("JST_OPENAPI_REFRESH_TOKEN"),
        "{stderr}"
    );

    let refusing = OpenApiConfig {
        refresh_allowed: false,
        ..OpenApiConfig::unlimited()
    };
    let (gateway, since) = open_platform(refusing, 205, 20);
    gateway.expire_token();
    let refresh = gateway.config().refresh_token.clone().unwrap();
    let ran = fast(against_openapi(
        Jst::new(&["sync", "--since", &since]),
        &gateway,
        &db.url(),
        &staging,
    ))
    .env("JST_OPENAPI_REFRESH_TOKEN", refresh.expose())
    .run()
    .await
    .failure();
    assert!(
        ran.stderr().contains("code 150") && ran.stderr().contains("authorise the app again"),
        "{}",
        ran.stderr()
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_at_once_with_the_platforms_message_and_no_secret_or_token_leaks() {
    let (gateway, since) = open_platform(OpenApiConfig::unlimited(), 206, 30);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let metrics = dir.path().join("metrics.prom");
    let secret = "wrong-open-platform-secret";
    let ran = fast(against_openapi(
        Jst::new(&["-vv", "sync", "--since", &since]),
        &gateway,
        &db.url(),
        &staging,
    ))
    .env("JST_OPENAPI_APP_SECRET", secret)
    .env("JST_METRICS_FILE", metrics.display().to_string())
    .run()
    .await
    .failure();
    let stderr = ran.stderr();
    assert!(stderr.contains("code 10"), "{stderr}");
    assert!(stderr.contains("JST_OPENAPI_APP_SECRET"), "{stderr}");
    // At most the first call of each window already under way (4 at once), none retried.
    let calls = gateway.stats().total_calls;
    assert!(
        (1..=4).contains(&calls),
        "{calls} calls: a bad signature is not retried"
    );

    // A good run, verbose, with a refresh: neither the secret nor a token appears anywhere.
    let refresh = gateway.config().refresh_token.clone().unwrap();
    gateway.expire_token();
    let good = fast(against_openapi(
        Jst::new(&["-vv", "sync", "--since", &since]),
        &gateway,
        &db.url(),
        &staging,
    ))
    .env("JST_OPENAPI_REFRESH_TOKEN", refresh.expose())
    .env("JST_METRICS_FILE", metrics.display().to_string())
    .run()
    .await
    .success();
    let config = gateway.config();
    let secrets = [
        secret.to_owned(),
        config.app_secret.expose().to_owned(),
        config.access_token.expose().to_owned(),
        refresh.expose().to_owned(),
        gateway.current_access_token(),
        gateway.current_refresh_token().unwrap(),
    ];
    let mut written = vec![
        ("stdout", ran.stdout() + &good.stdout()),
        ("stderr", ran.stderr() + &good.stderr()),
        (
            "metrics",
            std::fs::read_to_string(&metrics).unwrap_or_default(),
        ),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        // The token file beside staging holds the renewed pair by design (mode 0600).
        if name.contains("staging.sqlite") && !name.ends_with(".openapi-token.json") {
            let bytes = std::fs::read(&path).unwrap();
            written.push(("staging", String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    for (place, text) in &written {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret or token in {place}"
            );
        }
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_says_which_route_an_order_version_came_from() {
    let (gateway, since) = open_platform(OpenApiConfig::unlimited(), 207, 10);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(against_openapi(
        Jst::new(&["sync", "--since", &since]),
        &gateway,
        &db.url(),
        &staging,
    ))
    .run()
    .await
    .success();
    let o_id = gateway.shop().lock().unwrap().o_ids()[0].clone();
    let audit = Jst::new(&["audit", "order", &o_id, "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    let audit = json_of(&audit.stdout());
    let versions = audit["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(versions[0]["route"], "openapi", "{audit}");
    db.drop().await;
}
