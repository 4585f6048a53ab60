//! Staging identity and integrity: only a pull creates a staging file, the lock covers the file
//! whatever path leads to it, damage on disk is found and named, and a run killed by SIGKILL
//! is marked interrupted by the next one.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use jst_sync::gateway::GatewayConfig;
use jst_sync::staging::StagingStore;
use serde_json::Value;

use crate::support::{
    Jst, SyncedShop, TestDb, fast, fast_gateway, json_of, shop_gateway, synced_shop,
};

/// A MySQL URL nothing listens on: these commands must stop before connecting.
const NO_MYSQL: &str = "mysql://root@127.0.0.1:1/unused";

fn with_staging(jst: Jst, staging: &Path) -> Jst {
    jst.env("JST_STAGING", staging.display().to_string())
        .env("JST_MYSQL_URL", NO_MYSQL)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_but_a_pull_refuses_a_missing_staging_file_naming_it_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("never-created.sqlite");
    let commands: [&[&str]; 10] = [
        &["push"],
        &["status"],
        &["status", "--json"],
        &["quarantine"],
        &["audit", "order", "1"],
        &["audit", "raw", "1"],
        &["verify"],
        &["verify", "--integrity"],
        &["replay"],
        &["schema"],
    ];
    for args in commands {
        let ran = with_staging(Jst::new(args), &staging).run().await.failure();
        let stderr = ran.stderr();
        assert_eq!(ran.output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&staging.display().to_string())
                && stderr.contains("does not exist")
                && stderr.contains("run `jst-sync sync` first"),
            "{args:?}: {stderr}"
        );
        assert!(
            !staging.exists(),
            "{args:?} created the staging file it refused"
        );
    }
    // A typo in the path of an existing store is the usual cause: nothing was recorded
    // anywhere, and the right file is untouched.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_through_a_symlink_or_another_path_to_a_staging_file_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let link = dir.path().join("link.sqlite");
    let hard = dir.path().join("hard.sqlite");
    drop(StagingStore::open(&staging).unwrap());
    std::os::unix::fs::symlink(&staging, &link).unwrap();
    std::fs::hard_link(&staging, &hard).unwrap();
    let dotted = dir.path().join("sub").join("..").join("staging.sqlite");
    std::fs::create_dir(dir.path().join("sub")).unwrap();

    let _held = StagingStore::open(&staging).unwrap();
    for path in [&staging, &link, &hard, &dotted] {
        for args in [&["push"][..], &["replay"], &["schema"]] {
            let ran = with_staging(Jst::new(args), path).run().await.failure();
            assert!(
                ran.stderr().contains("another jst-sync run is in progress"),
                "{args:?} through {}: {}",
                path.display(),
                ran.stderr()
            );
        }
    }
    let through_link = with_staging(Jst::new(&["push"]), &link)
        .run()
        .await
        .stderr();
    assert!(
        through_link.contains(&format!("(the file {})", staging.display())),
        "the refusal names the file the link leads to: {through_link}"
    );
    // Reading is not writing: status works through the link while the run holds the lock.
    with_staging(Jst::new(&["status"]), &link)
        .run()
        .await
        .success();
}

/// Overwrites 4 KB in the middle of `path` with garbage (deterministic, so failures reproduce).
fn garbage_in_the_middle(path: &Path) -> u64 {
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let middle = file.metadata().unwrap().len() / 2;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    file.seek(SeekFrom::Start(middle)).unwrap();
    file.write_all(&garbage).unwrap();
    file.sync_all().unwrap();
    middle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_middle_of_the_file_fails_verify_integrity_and_every_later_run() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(fast_gateway(), 81, 300).await;
    assert!(
        !Path::new(&format!("{}-wal", staging.display())).exists(),
        "the last connection checkpointed: the garbage lands in the database itself"
    );
    let sound = json_of(
        &Jst::new(&["verify", "--integrity", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(sound["sound"], true, "{sound}");
    assert!(sound["report"]["pages_checked"].as_u64().unwrap() > 10);

    garbage_in_the_middle(&staging);

    let damaged = Jst::new(&["verify", "--integrity", "--json"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure();
    let report = json_of(&damaged.stdout());
    assert_eq!(report["sound"], false, "{report}");
    let findings = report["report"]["sqlite"].as_array().unwrap().len()
        + report["report"]["damaged_pages"].as_array().unwrap().len()
        + report["report"]["damaged_versions"]
            .as_array()
            .unwrap()
            .len();
    assert!(findings > 0, "{report}");
    let text = Jst::new(&["verify", "--integrity"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(
        text.contains("DAMAGED") && text.contains("restore the staging file from a backup"),
        "{text}"
    );

    for args in [&["sync"][..], &["push"], &["pull"]] {
        let refused = fast(Jst::new(args))
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .failure();
        let stderr = refused.stderr();
        assert!(
            stderr.contains(&format!("staging file {} is damaged", staging.display()))
                && stderr.contains("jst-sync verify --integrity"),
            "{args:?}: {stderr}"
        );
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_stored_page_body_is_named_by_verify_with_its_window_page_index_and_run() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 82, 60).await;
    let (page_id, window_start, page_index): (i64, String, i64) = {
        let conn = rusqlite::Connection::open(&staging).unwrap();
        let picked = conn
            .query_row(
                "SELECT id, window_start, page_index FROM pages
                 WHERE order_count > 0 ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        // One character of one stored answer changed on disk, as a bad sector or an editor would.
        conn.execute(
            "UPDATE pages SET body = substr(body, 1, 10) || '#' || substr(body, 12) WHERE id = ?1",
            [picked.0],
        )
        .unwrap();
        picked
    };

    let report = json_of(
        &Jst::new(&["verify", "--integrity", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .failure()
            .stdout(),
    );
    let damaged = report["report"]["damaged_pages"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{report}");
    assert_eq!(damaged[0]["id"], page_id);
    assert_eq!(damaged[0]["run_id"], 1);
    assert_eq!(
        damaged[0]["window_start"],
        Value::from(window_start.clone())
    );
    assert_eq!(damaged[0]["page_index"], page_index);
    assert_eq!(report["damaged_runs"], serde_json::json!([1]));
    assert_eq!(report["report"]["sqlite"], serde_json::json!([]));

    let text = Jst::new(&["verify", "--integrity"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(
        text.contains(&format!("page {page_id} (window {window_start} .. "))
            && text.contains(&format!(
                "page_index {page_index}) of run 1: content does not match its SHA-256"
            )),
        "{text}"
    );
    assert!(text.contains("DAMAGED (runs 1)"), "{text}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_by_sigkill_is_marked_interrupted_by_the_next_run() {
    // With the real rate limits the pull takes seconds: there is time to kill it mid-way.
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 83, 400);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let mut child = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while gateway.stats().successful_calls < 3 {
        assert!(Instant::now() < deadline, "the pull never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL: no chance to record anything
    child.wait().await.unwrap();

    let status = |staging: &Path| {
        Jst::new(&["status", "--json"]).env("JST_STAGING", staging.display().to_string())
    };
    let before = json_of(&status(&staging).run().await.success().stdout());
    assert_eq!(before["runs"][0]["id"], 1);
    assert_eq!(
        before["runs"][0]["status"], "running",
        "read-only status leaves it alone"
    );

    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let after = json_of(&status(&staging).run().await.success().stdout());
    let runs = after["runs"].as_array().unwrap();
    let killed = runs.iter().find(|r| r["id"] == 1).unwrap();
    assert_eq!(killed["status"], "interrupted", "{after}");
    assert!(killed["finished_at"].is_string());
    assert!(
        killed["error"]
            .as_str()
            .is_some_and(|e| e.contains("the process ended before the run finished")),
        "{killed}"
    );
    assert_eq!(runs[0]["status"], "succeeded");
    db.drop().await;
}
