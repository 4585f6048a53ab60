//! The real gateway's habits, handled: raw control characters, code 10, timed bans, code 140,
//! an archive, order lists that go missing or move, under-reported counts, page size 100,
//! late changes under the `ts` cursor. Each ends with MySQL equal to the gateway's truth — or,
//! where the gateway never lets the run prove it read everything, with a failed run that names
//! the window, never with exit 0 and an order missing.

use std::path::Path;
use std::time::{Duration, Instant};

use jst_sync::gateway::{BanRule, Churn, Deviations, FakeGateway, GatewayConfig, LateChanges};
use serde_json::Value;

use crate::support::truth::{assert_exact, differences};
use crate::support::{Jst, TestDb, fast, fast_gateway, json_of, shop_gateway, visible};

/// The newest run's record in `status --json`.
async fn last_run(staging: &Path) -> Value {
    let status = Jst::new(&["status", "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    json_of(&status.stdout())["runs"][0].clone()
}

fn with(deviations: Deviations) -> GatewayConfig {
    GatewayConfig {
        deviations,
        ..fast_gateway()
    }
}

/// One sync against `gateway` into a fresh database; the database, the staging dir and the run.
async fn one_sync(
    gateway: &FakeGateway,
    since: &str,
    env: &[(&str, &str)],
) -> (TestDb, tempfile::TempDir, crate::support::binary::Ran) {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let mut jst = fast(Jst::new(&["sync", "--since", since])).against(gateway, &db.url(), &staging);
    for (key, value) in env {
        jst = jst.env(key, *value);
    }
    let ran = jst.run().await;
    (db, dir, ran)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_with_raw_control_characters_are_read_counted_and_staged_as_received() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            control_chars_probability: 0.5,
            ..Deviations::default()
        }),
        101,
        200,
    );
    let (db, dir, ran) = one_sync(&gateway, &since, &[]).await;
    let ran = ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    let staging = dir.path().join("staging.sqlite");
    let run = last_run(&staging).await;
    let removed = run["summary"]["pull"]["body_repairs"]["control_chars"]
        .as_u64()
        .unwrap();
    assert!(removed > 0, "{run}");
    assert!(
        ran.stdout().contains("control characters removed"),
        "{}",
        ran.stdout()
    );
    // The staged page keeps the bytes exactly as received.
    // (Bodies are stored as zstd frames: read them back as received.)
    let conn = rusqlite::Connection::open(&staging).unwrap();
    let raw = conn
        .prepare("SELECT body FROM pages")
        .unwrap()
        .query_map([], |r| {
            Ok(jst_sync::staging::stored_body(r.get_ref(0)?).unwrap())
        })
        .unwrap()
        .filter(|body| body.as_ref().unwrap().contains('\u{b}'))
        .count();
    assert!(raw > 0, "no staged body kept its raw U+000B");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_surrogate_escape_reads_as_a_replacement_character_instead_of_failing_the_window() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            lone_surrogate_probability: 1.0,
            ..Deviations::default()
        }),
        102,
        60,
    );
    let (db, dir, ran) = one_sync(&gateway, &since, &[]).await;
    ran.success();
    // Every remark arrives with the replacement character in front: nothing else differs.
    let mut truth = visible(&gateway);
    for order in &mut truth {
        if let Some(remark) = order["remark"].as_str() {
            order["remark"] = Value::String(format!("\u{fffd}{remark}"));
        }
    }
    assert_exact(&db, &truth).await;
    let run = last_run(&dir.path().join("staging.sqlite")).await;
    assert!(
        run["summary"]["pull"]["body_repairs"]["lone_surrogates"]
            .as_u64()
            .unwrap()
            > 0
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_10_service_currently_unavailable_is_retried_not_taken_for_a_bad_signature() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            service_unavailable_probability: 0.3,
            ..Deviations::default()
        }),
        103,
        300,
    );
    let (db, dir, ran) = one_sync(&gateway, &since, &[]).await;
    let ran = ran.success();
    assert!(!ran.stderr().contains("JST_APP_SECRET"), "{}", ran.stderr());
    assert_exact(&db, &visible(&gateway)).await;
    let run = last_run(&dir.path().join("staging.sqlite")).await;
    assert!(
        run["summary"]["api_errors_by_code"]["10"].as_u64().unwrap() > 0,
        "{run}"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_ban_is_waited_out_and_the_run_goes_on() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            ban: Some(BanRule {
                every_n_calls: 6,
                length: Duration::from_secs(2),
            }),
            ..Deviations::default()
        }),
        104,
        200,
    );
    let started = Instant::now();
    let (db, _dir, ran) = one_sync(&gateway, &since, &[("JST_MAX_BAN_WAIT", "10s")]).await;
    let ran = ran.success();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the ban was not waited out"
    );
    assert!(
        ran.stderr().contains("waiting it out"),
        "the wait is visible in the log:\n{}",
        ran.stderr()
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_longer_than_max_ban_wait_stops_the_run_and_no_run_calls_into_it_before_it_ends() {
    let (gateway, since) = shop_gateway(fast_gateway(), 105, 100);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let sync = || {
        fast(Jst::new(&["sync", "--since", &since]))
            .against(&gateway, &db.url(), &staging)
            .env("JST_MAX_BAN_WAIT", "1s")
    };
    gateway.ban_for(Duration::from_secs(6));

    let first = sync().run().await.failure();
    let stderr = first.stderr();
    assert!(
        stderr.contains("throttled by the gateway until") && stderr.contains("(Beijing)"),
        "{stderr}"
    );
    let calls = gateway.stats().total_calls;
    assert!(
        (1..=4).contains(&calls),
        "only the calls already under way (one per window at once) found the ban: {calls}"
    );

    let second = sync().run().await.failure();
    assert!(
        second.stderr().contains("throttled by the gateway until"),
        "{}",
        second.stderr()
    );
    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "the next run makes no call into a known ban"
    );

    // Once the ban is over, the next run syncs exactly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ran = sync().run().await;
        if ran.output.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "{}", ran.stderr());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_140_is_a_clock_error_that_names_this_machines_offset_from_the_gateway() {
    let (gateway, since) = shop_gateway(
        GatewayConfig {
            clock_offset: chrono::Duration::minutes(-30),
            deviations: Deviations {
                timestamp_code_140: true,
                ..Deviations::default()
            },
            ..fast_gateway()
        },
        106,
        20,
    );
    let (db, _dir, ran) = one_sync(&gateway, &since, &[]).await;
    let stderr = ran.failure().stderr();
    assert!(stderr.contains("code 140"), "{stderr}");
    assert!(
        stderr.contains("clock is 30 min") && stderr.contains("ahead of the gateway"),
        "{stderr}"
    );
    assert!(!stderr.contains("7 days"), "not a window problem: {stderr}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_older_than_the_archive_horizon_are_also_read_from_the_archive() {
    let archive = || {
        with(Deviations {
            archive_horizon: Some(chrono::Duration::days(10)),
            ..Deviations::default()
        })
    };
    // Without the archive read the old orders are missing: the scenario bites.
    let (gateway, since) = shop_gateway(archive(), 107, 300);
    let (db, _dir, ran) = one_sync(&gateway, &since, &[("JST_ARCHIVE_AFTER", "0s")]).await;
    ran.success();
    assert!(!differences(&db, &visible(&gateway)).await.is_empty());
    db.drop().await;

    let (gateway, since) = shop_gateway(archive(), 107, 300);
    let (db, dir, ran) = one_sync(&gateway, &since, &[("JST_ARCHIVE_AFTER", "10d")]).await;
    ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    let run = last_run(&dir.path().join("staging.sqlite")).await;
    assert!(run["summary"]["pull"]["archive_windows"].as_u64().unwrap() >= 1);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_answers_that_sometimes_lose_their_order_list_are_retried_and_end_exact() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            missing_list_probability: 0.2,
            ..Deviations::default()
        }),
        108,
        300,
    );
    let (db, _dir, ran) = one_sync(&gateway, &since, &[]).await;
    ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_never_sends_the_order_list_fails_the_run_and_keeps_the_watermark() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            missing_list_probability: 1.0,
            ..Deviations::default()
        }),
        109,
        100,
    );
    let (db, dir, ran) = one_sync(&gateway, &since, &[("JST_MAX_ATTEMPTS", "2")]).await;
    let ran = ran.failure();
    assert!(
        ran.stderr().contains("pulling window") && ran.stderr().contains("no order list"),
        "{}",
        ran.stderr()
    );
    let run = last_run(&dir.path().join("staging.sqlite")).await;
    assert!(run["summary"]["pull"]["watermark"].is_null(), "{run}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_list_under_another_key_is_read() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            order_list_key: Some("datas".into()),
            ..Deviations::default()
        }),
        110,
        120,
    );
    let (db, _dir, ran) = one_sync(&gateway, &since, &[]).await;
    ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_under_reported_count_is_read_past_and_ends_exact() {
    let (gateway, since) = shop_gateway(
        with(Deviations {
            under_reported_count: 25,
            ..Deviations::default()
        }),
        111,
        400,
    );
    let (db, dir, ran) = one_sync(&gateway, &since, &[]).await;
    ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    let run = last_run(&dir.path().join("staging.sqlite")).await;
    assert!(run["summary"]["pull"]["extra_pages"].as_u64().unwrap() > 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_100_reads_the_shop_in_about_a_quarter_of_the_calls() {
    let hundred = GatewayConfig {
        max_page_size: 100,
        ..fast_gateway()
    };
    let (gateway, since) = shop_gateway(hundred.clone(), 112, 1000);
    let (db, _dir, ran) = one_sync(&gateway, &since, &[("JST_PAGE_SIZE", "100")]).await;
    ran.success();
    assert_exact(&db, &visible(&gateway)).await;
    let calls_at_100 = gateway.stats().total_calls;
    db.drop().await;

    let (gateway, since) = shop_gateway(hundred, 112, 1000);
    let (db, _dir, ran) = one_sync(&gateway, &since, &[]).await;
    ran.success();
    let calls_at_25 = gateway.stats().total_calls;
    assert!(
        calls_at_100 * 3 <= calls_at_25,
        "{calls_at_100} calls at 100 a page against {calls_at_25} at 25"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_refuses_page_size_100_is_read_at_25_and_says_so_once() {
    let (gateway, since) = shop_gateway(fast_gateway(), 113, 300);
    let (db, _dir, ran) = one_sync(&gateway, &since, &[("JST_PAGE_SIZE", "100")]).await;
    let ran = ran.success();
    assert_eq!(
        ran.stderr()
            .matches("The gateway does not serve this page size")
            .count(),
        1,
        "{}",
        ran.stderr()
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ts_cursor_rereads_changes_that_became_visible_late_below_it() {
    let late = Duration::from_secs(3);
    let live = || GatewayConfig {
        churn: Churn {
            changes_per_request: 1,
            arrivals_per_request: 0,
        },
        deviations: Deviations {
            late_changes: Some(LateChanges {
                every_nth_request: 2,
                lag: late,
            }),
            ..Deviations::default()
        },
        ..fast_gateway()
    };
    let ts_sync = |gateway: &FakeGateway, db: &TestDb, staging: &Path, overlap: &str| {
        fast(Jst::new(&["sync"]))
            .against(gateway, &db.url(), staging)
            .env("JST_STRATEGY", "ts")
            .env("JST_PAGE_SIZE", "10")
            .env("JST_OVERLAP", overlap)
    };
    for (overlap, must_be_exact) in [("0s", false), ("60s", true)] {
        let (gateway, _) = shop_gateway(live(), 114, 200);
        let db = TestDb::create().await;
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging.sqlite");
        ts_sync(&gateway, &db, &staging, overlap)
            .run()
            .await
            .success();
        gateway.set_churn(Churn::default());
        tokio::time::sleep(late + Duration::from_secs(1)).await;
        ts_sync(&gateway, &db, &staging, overlap)
            .run()
            .await
            .success();
        let problems = differences(&db, &visible(&gateway)).await;
        if must_be_exact {
            assert!(problems.is_empty(), "with overlap {overlap}: {problems:?}");
        } else {
            assert!(
                !problems.is_empty(),
                "without an overlap the late changes are missed: the scenario bites"
            );
        }
        db.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deviation_at_once_on_a_live_shop_ends_exact_within_two_syncs() {
    let lag = Duration::from_secs(1);
    let config = GatewayConfig {
        max_page_size: 100,
        churn: Churn {
            changes_per_request: 1,
            arrivals_per_request: 1,
        },
        visibility_lag: lag,
        deviations: Deviations {
            control_chars_probability: 0.3,
            service_unavailable_probability: 0.1,
            missing_list_probability: 0.1,
            under_reported_count: 3,
            ban: Some(BanRule {
                every_n_calls: 25,
                length: Duration::from_secs(1),
            }),
            archive_horizon: Some(chrono::Duration::days(10)),
            ..Deviations::default()
        },
        ..fast_gateway()
    };
    let (gateway, since) = shop_gateway(config, 115, 600);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let sync = |args: &[&str]| {
        fast(Jst::new(args))
            .against(&gateway, &db.url(), &staging)
            .env("JST_PAGE_SIZE", "100")
            .env("JST_ARCHIVE_AFTER", "10d")
    };
    let first = sync(&["sync", "--since", &since]).run().await;
    gateway.set_churn(Churn::default());
    tokio::time::sleep(lag + Duration::from_secs(1)).await;
    let second = sync(&["sync"]).run().await;
    assert!(
        first.output.status.success() || second.output.status.success(),
        "{}\n{}",
        first.stderr(),
        second.stderr()
    );
    second.success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_fails_its_window_by_name_and_is_not_stored() {
    let (gateway, since) = shop_gateway(fast_gateway(), 116, 100);
    let (db, dir, ran) = one_sync(&gateway, &since, &[("JST_MAX_BODY", "2KB")]).await;
    let stderr = ran.failure().stderr();
    assert!(
        stderr.contains("pulling window") && stderr.contains("page 1 with a body over 2048 bytes"),
        "{stderr}"
    );
    let conn = rusqlite::Connection::open(dir.path().join("staging.sqlite")).unwrap();
    let pages: i64 = conn
        .query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pages, 0, "nothing of an oversized body is stored");
    db.drop().await;
}
