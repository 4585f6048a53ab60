//! Nothing lost: MySQL outages, SIGKILL at any moment, poisoned records, secrets.

use std::time::{Duration, Instant};

use jst_sync::gateway::{Churn, GatewayConfig};
use serde_json::json;

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mysql_down_sync_stages_everything_and_a_later_push_lands_it_exactly() {
    let (gateway, since) = shop_gateway(fast_gateway(), 11, 300);
    let mut server = PrivateMariaDb::install();
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = server.url("jst");

    let down = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .failure();
    let stderr = down.stderr();
    assert!(stderr.contains("300 orders staged, not pushed"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", server.port())),
        "{stderr}"
    );

    server.start().await;
    let calls_before = gateway.stats().total_calls;
    let push = Jst::new(&["push"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_eq!(push.summary_number("pushed"), 300, "{}", push.stdout());
    assert_eq!(
        gateway.stats().total_calls,
        calls_before,
        "push must not call the API"
    );
    let db = TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst").await;
    assert_exact(&db.sibling("jst").await, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dying_mid_push_loses_nothing_and_doubles_nothing() {
    let (gateway, since) = shop_gateway(fast_gateway(), 12, 3000);
    let mut server = PrivateMariaDb::install();
    server.start().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = server.url("jst");
    let db = TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await;

    let jst = fast(Jst::new(&["sync", "--since", &since])).against(&gateway, &url, &staging);
    let mut command = jst.command();
    command.env("JST_BATCH_ORDERS", "25");
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once the push has committed some batches but not all.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let landed = db.try_count("order_list_query").await.unwrap_or(0);
        if landed > 0 {
            assert!(
                landed < 3000,
                "the push finished before the server could be killed"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the push never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let output = child.wait_with_output().await.unwrap();
    assert!(
        !output.status.success(),
        "a push whose MySQL died must fail"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("staged, not pushed"));

    server.start().await;
    Jst::new(&["sync"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_binary_at_random_moments_while_the_shop_changes_still_converges() {
    let (gateway, since) = shop_gateway(fast_gateway(), 13, 1500);
    gateway.set_churn(Churn {
        changes_per_request: 2,
        arrivals_per_request: 1,
    });
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    // Kill moments spread over pulling and pushing; deterministic so failures reproduce.
    for kill_after_ms in [150u64, 400, 700, 1000, 1600, 2500] {
        let mut child = fast(Jst::new(&["sync", "--since", &since]))
            .against(&gateway, &db.url(), &staging)
            .command()
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        let _ = child.start_kill(); // SIGKILL
        let _ = child.wait().await;
    }
    gateway.set_churn(Churn::default());

    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisoned_orders_are_quarantined_and_the_rest_land() {
    let (gateway, since) = shop_gateway(fast_gateway(), 14, 60);
    let ids = gateway.shop().lock().unwrap().o_ids();
    let poisoned = [
        (ids[0].clone(), "pay_amount", json!("abc")),
        (ids[1].clone(), "order_date", json!("2024-13-45 25:61:00")),
        (ids[2].clone(), "items", json!("not a list")),
        (ids[3].clone(), "shop_id", json!({"nested": true})),
    ];
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        for (o_id, field, value) in &poisoned {
            assert!(shop.set_field(o_id, field, value.clone()));
        }
    }
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(
        ran.summary_number("quarantined"),
        0,
        "staging quarantines none of these: they have an o_id"
    );
    assert_eq!(ran.summary_number("pushed"), 56, "{}", ran.stdout());
    let listed = Jst::new(&["quarantine"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    for (o_id, field, _) in &poisoned {
        assert!(
            listed.contains(o_id.as_str()) && listed.contains(field),
            "{o_id} {field} not listed:\n{listed}"
        );
    }
    let healthy: Vec<_> = visible(&gateway)
        .into_iter()
        .filter(|o| {
            !poisoned
                .iter()
                .any(|(id, _, _)| o["o_id"].as_str() == Some(id.as_str()))
        })
        .collect();
    assert_exact(&db, &healthy).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_the_staging_store() {
    let secret = "S3cr3t-app-VALUE-9f2c";
    let password = "Pw-mysql-VALUE-77ab";
    let config = GatewayConfig {
        secret: jst_sync::gateway::Secret::new(secret),
        ..fast_gateway()
    };
    let (gateway, since) = shop_gateway(config, 15, 40);
    let db = TestDb::create().await;
    {
        use mysql_async::prelude::Queryable;
        let mut conn = db.conn().await;
        conn.query_drop("DROP USER IF EXISTS 'jst_secret'@'127.0.0.1'")
            .await
            .unwrap();
        conn.query_drop(format!(
            "CREATE USER 'jst_secret'@'127.0.0.1' IDENTIFIED BY '{password}'"
        ))
        .await
        .unwrap();
        conn.query_drop(format!(
            "GRANT ALL ON `{}`.* TO 'jst_secret'@'127.0.0.1'",
            db.name
        ))
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = format!("mysql://jst_secret:{password}@127.0.0.1:3306/{}", db.name);
    let wrong_url = format!(
        "mysql://jst_secret:{password}-wrong@127.0.0.1:3306/{}",
        db.name
    );

    let ok = Jst::new(&["-vv", "sync", "--since", &since])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    let refused = Jst::new(&["-vv", "push"])
        .against(&gateway, &wrong_url, &staging)
        .run()
        .await
        .failure();
    let bad_secret = Jst::new(&["-vv", "pull", "--since", &since])
        .against(&gateway, &url, &staging)
        .env("JST_APP_SECRET", format!("{secret}-wrong"))
        .run()
        .await
        .failure();

    let mut everything = String::new();
    for ran in [&ok, &refused, &bad_secret] {
        everything.push_str(&ran.stdout());
        everything.push_str(&ran.stderr());
    }
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", staging.display());
        if let Ok(bytes) = std::fs::read(&path) {
            everything.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(
        everything.len() > 10_000,
        "the logs and the store were read"
    );
    assert!(!everything.contains(secret), "the app secret leaked");
    assert!(!everything.contains(password), "the MySQL password leaked");
    assert!(
        !everything.contains("\"sign\""),
        "a signature was stored or logged"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_staging_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let _held = jst_sync::staging::StagingStore::open(&staging).unwrap();
    // `status` and `audit` read staging without the lock (see operating.rs); a run needs it.
    let ran = Jst::new(&["push"])
        .env("JST_STAGING", staging.display().to_string())
        .env("JST_MYSQL_URL", "mysql://root@127.0.0.1:1/unused")
        .run()
        .await
        .failure();
    assert!(
        ran.stderr().contains("another jst-sync run is in progress"),
        "{}",
        ran.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_run_with_a_message_and_the_next_run_converges() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 16, 400);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    // With the real rate limits this pull takes seconds: stop it as soon as it has started.
    let child = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while gateway.stats().successful_calls < 3 {
        assert!(Instant::now() < deadline, "the pull never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().await.unwrap();

    assert!(
        !output.status.success(),
        "an interrupted run is not a success"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_arrives_in_mysql_exactly_as_sent() {
    let (gateway, since) = shop_gateway(fast_gateway(), 17, 20);
    let ids = gateway.shop().lock().unwrap().o_ids();
    let long = "长文本🙂 ".repeat(400); // about 3 KB of 3- and 4-byte UTF-8
    let hostile = [
        (
            "remark",
            json!("it's a \"quoted\" \\ back\\slash; DROP TABLE order_list_query; --"),
        ),
        (
            "buyer_message",
            json!(format!(
                "nul\u{0}inside, bell\u{7}, tab\t, newline\n, {long}"
            )),
        ),
        ("shop_name", json!(long.clone())),
        ("receiver_city", json!("🏙️ 上海市 \u{1F600}")),
        ("question_desc", json!("' OR '1'='1")),
    ];
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        for (i, (field, value)) in hostile.iter().enumerate() {
            assert!(shop.set_field(&ids[i], field, value.clone()));
            assert!(shop.set_field(&ids[19 - i], field, value.clone()));
        }
    }
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(ran.summary_number("pushed"), 20, "{}", ran.stdout());
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}
