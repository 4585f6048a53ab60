//! The command line never panics on input or a closed pipe, checks its arguments before a run
//! is recorded, and says each error once — a JSON line too with `--log-format json`.

use std::path::Path;
use std::process::Stdio;

use jst_sync::gateway::{FakeGateway, GatewayConfig};
use serde_json::Value;

use crate::support::{Jst, TestDb, fast, json_of, shop_gateway};

/// A staging file (`staging.sqlite` in the directory) with one successful sync of `orders`
/// orders, and what made it.
async fn synced(seed: u64, orders: usize) -> (FakeGateway, TestDb, tempfile::TempDir) {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), seed, orders);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &dir.path().join("staging.sqlite"))
        .run()
        .await
        .success();
    (gateway, db, dir)
}

/// Runs `jst` with its standard output on a pipe whose reading end is already closed, as
/// after `| head -1` has read its line; returns the exit code and standard error.
async fn with_closed_stdout(jst: Jst) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = jst
        .command()
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_each_command_quietly_with_its_own_exit_status() {
    let (gateway, db, dir) = synced(91, 30).await;
    let staging = dir.path().join("staging.sqlite");
    let o_id = gateway.shop().lock().unwrap().o_ids()[0].clone();
    let reads: [&[&str]; 8] = [
        &["status"],
        &["status", "--json"],
        &["quarantine", "--all"],
        &["audit", "order", &o_id],
        &["audit", "raw", "1"],
        &["verify", "--integrity"],
        &["verify"],
        &["schema", "--json"],
    ];
    for args in reads {
        let (code, stderr) =
            with_closed_stdout(Jst::new(args).against(&gateway, &db.url(), &staging)).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }

    // A run whose summary nobody reads still runs, and its exit status is still its own.
    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(3, gateway.now());
    let (code, stderr) =
        with_closed_stdout(fast(Jst::new(&["sync"])).against(&gateway, &db.url(), &staging)).await;
    assert_eq!(code, Some(0), "{stderr}");
    let status = json_of(
        &Jst::new(&["status", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(status["runs"][0]["summary"]["push"]["orders_pushed"], 3);
    let (code, stderr) = with_closed_stdout(
        Jst::new(&["audit", "order", "no-such-order"]).against(&gateway, &db.url(), &staging),
    )
    .await;
    assert_eq!(code, Some(1), "a failure stays a failure: {stderr}");

    // The literal case of the issue, through a shell.
    let piped = tokio::process::Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" status --runs 50 | head -1")
        .arg(crate::support::binary::binary())
        .env("JST_STAGING", staging.display().to_string())
        .output()
        .await
        .unwrap();
    assert!(
        piped.status.success(),
        "{:?}\n{}",
        piped.status,
        String::from_utf8_lossy(&piped.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&piped.stdout).lines().count(), 1);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_and_times_that_do_not_fit_are_clear_errors_and_record_no_run() {
    let (gateway, db, dir) = synced(92, 10).await;
    let staging = dir.path().join("staging.sqlite");
    let sync = |args: &[&str]| fast(Jst::new(args)).against(&gateway, &db.url(), &staging);
    let cases = [
        (
            sync(&["sync"]).env("JST_OVERLAP", "999999999999999999d"),
            "JST_OVERLAP: invalid duration \"999999999999999999d\" (number is too large)",
        ),
        (
            sync(&["sync"]).env("JST_SAFETY_LAG", "99999999999999999999999"),
            "JST_SAFETY_LAG: invalid duration",
        ),
        (
            sync(&["pull"]).env("JST_INITIAL_BACKFILL", "3651d"),
            "JST_INITIAL_BACKFILL: duration \"3651d\" is longer than ten years",
        ),
        (
            sync(&["run", "--every", "999999999999999999d"]),
            "--every: invalid duration",
        ),
        (
            sync(&["sync", "--since", "2024-13-45 25:00:00"]),
            "--since \"2024-13-45 25:00:00\" is not a Beijing time",
        ),
        (
            sync(&[
                "sync",
                "--since",
                "2024-05-02 00:00:00",
                "--until",
                "2024-05-01 00:00:00",
            ]),
            "is not before --until",
        ),
        (
            sync(&["sync", "--strategy", "sideways"]),
            "unknown strategy \"sideways\"",
        ),
    ];
    for (jst, expected) in cases {
        let ran = jst.run().await;
        let stderr = ran.stderr();
        assert_eq!(ran.output.status.code(), Some(1), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let ran = Jst::new(&["fake-gateway", "--port", "0", "--days", "99999999999"])
        .run()
        .await;
    assert_eq!(ran.output.status.code(), Some(2), "{}", ran.stderr());
    assert!(ran.stderr().contains("not in 1..=3650"), "{}", ran.stderr());

    let status = json_of(
        &Jst::new(&["status", "--json", "--runs", "50"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(
        status["runs"].as_array().unwrap().len(),
        1,
        "no run was recorded for a bad argument: {status}"
    );
    db.drop().await;
}

/// Every line of `stderr`, each of which must be a JSON object.
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\nin:\n{stderr}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_log_format_json_the_final_error_is_one_json_line_like_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite");
    let refused = Jst::new(&["--log-format", "json", "push"])
        .env("JST_STAGING", missing.display().to_string())
        .env("JST_MYSQL_URL", "mysql://root@127.0.0.1:1/unused")
        .run()
        .await
        .failure();
    let lines = json_lines(&refused.stderr());
    assert_eq!(lines.len(), 1, "{}", refused.stderr());
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(
        lines[0]["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist") && e.contains("run `jst-sync sync`")),
        "{}",
        lines[0]
    );

    // A run that fails at the gateway: logs, then the final error, all JSON.
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 93, 10);
    let db = TestDb::create().await;
    let staging = dir.path().join("staging.sqlite");
    let failed = fast(Jst::new(&[
        "--log-format",
        "json",
        "pull",
        "--since",
        &since,
    ]))
    .against(&gateway, &db.url(), &staging)
    .env("JST_APP_SECRET", "not-the-secret")
    .run()
    .await
    .failure();
    let lines = json_lines(&failed.stderr());
    let last = lines.last().expect("stderr has lines");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["fields"]["message"], "Command failed.");
    let error = last["fields"]["error"].as_str().unwrap();
    assert!(
        error.contains("pulling window") && error.contains("check JST_APP_SECRET"),
        "{error}"
    );
    let saying_it = lines
        .iter()
        .filter(|l| l.to_string().contains("check JST_APP_SECRET"))
        .count();
    assert_eq!(saying_it, 1, "the error is said once:\n{}", failed.stderr());
    db.drop().await;
}

/// The final `error: …` line of `stderr`, split into its clauses.
fn clauses(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("no final error in:\n{stderr}"));
    line.split(": ")
        .flat_map(|part| part.split("; "))
        .map(|clause| clause.trim().to_owned())
        .filter(|clause| clause.len() > 3)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_message_repeats_a_clause() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite");
    let held = dir.path().join("held.sqlite");
    let _lock = jst_sync::staging::StagingStore::open(&held).unwrap();
    let not_a_database = dir.path().join("garbage.sqlite");
    std::fs::write(&not_a_database, vec![0xa5_u8; 8192]).unwrap();
    let bad_mapping = dir.path().join("jst-sync.toml");
    std::fs::write(
        &bad_mapping,
        "[[mapping.order.columns]]\nname = \"remark\"\nkind = { type = \"no-such-kind\" }\n",
    )
    .unwrap();
    let staged = |path: &Path, args: &[&str]| {
        Jst::new(args)
            .env("JST_STAGING", path.display().to_string())
            .env("JST_MYSQL_URL", "mysql://root@127.0.0.1:1/unused")
    };
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 94, 5);
    let db = TestDb::create().await;

    let cases = [
        staged(&missing, &["push"]),
        staged(&missing, &["status"]),
        staged(&missing, &["verify", "--integrity"]),
        staged(&held, &["push"]),
        staged(&not_a_database, &["push"]),
        staged(&not_a_database, &["status"]),
        staged(&held, &["sync"]).env("JST_OVERLAP", "999999999999999999d"),
        staged(&held, &["sync", "--since", "yesterday"]),
        staged(&held, &["pull"]),
        staged(&held, &["push"]).env("JST_CONFIG", bad_mapping.display().to_string()),
        fast(Jst::new(&["pull", "--since", &since]))
            .against(&gateway, &db.url(), &dir.path().join("pulled.sqlite"))
            .env("JST_APP_SECRET", "not-the-secret"),
    ];
    for jst in cases {
        let ran = jst.run().await.failure();
        let clauses = clauses(&ran.stderr());
        for (i, clause) in clauses.iter().enumerate() {
            assert!(
                !clauses[i + 1..].contains(clause),
                "{clause:?} is said twice in:\n{}",
                ran.stderr()
            );
        }
    }
    db.drop().await;
}
