//! Streaming push: a `sync` writes what is staged while later windows are still being pulled,
//! so a long backfill shows rows early; outbox and watermark rules are those of a push after
//! the pull, and a MySQL that dies mid-way still finds everything staged.

use std::time::{Duration, Instant};

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast_gateway, shop_gateway, visible};

/// A client held to 8 calls a second: the pull of 3,000 orders takes about 15 s.
fn paced(jst: Jst) -> Jst {
    jst.env("JST_PER_SECOND", "8")
        .env("JST_PER_MINUTE", "60000")
        .env("JST_WINDOW_CONCURRENCY", "2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_commits_its_first_rows_while_most_of_the_pull_is_still_to_come() {
    let (gateway, since) = shop_gateway(fast_gateway(), 41, 3000);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let child = paced(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let calls_at_first_rows = loop {
        if db.try_count("order_list_query").await.unwrap_or(0) > 0 {
            break gateway.stats().successful_calls;
        }
        assert!(Instant::now() < deadline, "no rows ever reached MySQL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls = gateway.stats().successful_calls;
    assert!(
        calls_at_first_rows * 2 < calls,
        "first rows only after {calls_at_first_rows} of {calls} calls: the push did not follow the pull"
    );
    assert!(stdout.contains("pushed while pulling"), "{stdout}");
    assert!(stdout.contains("first rows"), "{stdout}");
    assert_exact(&db, &visible(&gateway)).await;

    // Streaming changes nothing about reruns: nothing changed, nothing written.
    let rows_changed = db.rows_changed().await;
    let rerun = Jst::new(&["sync"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(rerun.summary_number("pushed"), 0, "{}", rerun.stdout());
    assert_eq!(db.rows_changed().await, rows_changed);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dying_while_the_pull_goes_on_still_stages_every_order_and_fails_the_run() {
    let (gateway, since) = shop_gateway(fast_gateway(), 42, 3000);
    let mut server = PrivateMariaDb::install();
    server.start().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = server.url("jst");
    let db = TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await;

    let child = paced(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill MySQL once the first rows landed, with the pull still far from its end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let calls_at_kill = loop {
        if db.try_count("order_list_query").await.unwrap_or(0) > 0 {
            break gateway.stats().successful_calls;
        }
        assert!(Instant::now() < deadline, "the push never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    server.kill();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a sync whose MySQL died must fail"
    );
    assert!(stderr.contains("staged, not pushed"), "{stderr}");
    assert!(
        calls_at_kill * 2 < gateway.stats().successful_calls,
        "MySQL died only at the end of the pull ({calls_at_kill} of {} calls)",
        gateway.stats().successful_calls
    );

    // The pull went on without MySQL: a push alone, with no API call, lands every order.
    server.start().await;
    let calls_before = gateway.stats().total_calls;
    Jst::new(&["push"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_eq!(gateway.stats().total_calls, calls_before);
    assert_exact(&db, &visible(&gateway)).await;
}
