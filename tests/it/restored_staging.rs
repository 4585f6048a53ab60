//! Staleness without `ts`: `modified` decides, then the version's identity; staging ids, which
//! start again when a staging file is restored from an older copy, never make a real update
//! "stale".

use std::path::Path;

use jst_sync::beijing_time;
use jst_sync::gateway::FakeGateway;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, json_of, shop_gateway, visible};

/// Changes `n` random orders at `at` and takes their `ts` away again, as a gateway that sends
/// none would.
fn change_without_ts(gateway: &FakeGateway, n: usize, at: chrono::NaiveDateTime) -> Vec<String> {
    let shop = gateway.shop();
    let mut shop = shop.lock().unwrap();
    let changed = shop.modify_random(n, at);
    for o_id in &changed {
        shop.remove_field(o_id, "ts");
    }
    changed
}

fn copy_staging(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (source, target) = (
            format!("{}{suffix}", from.display()),
            format!("{}{suffix}", to.display()),
        );
        let _ = std::fs::remove_file(&target);
        if Path::new(&source).exists() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

async fn last_push(staging: &Path) -> Value {
    let status = Jst::new(&["status", "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    json_of(&status)["runs"][0]["summary"]["push"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_without_ts_land_after_staging_is_restored_from_an_older_copy() {
    let (gateway, since) = shop_gateway(fast_gateway(), 111, 150);
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        for o_id in shop.o_ids() {
            assert!(shop.remove_field(&o_id, "ts"));
        }
    }
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let backup = dir.path().join("backup.sqlite");
    let sync =
        || fast(Jst::new(&["sync", "--since", &since])).against(&gateway, &db.url(), &staging);
    sync().run().await.success();
    copy_staging(&staging, &backup);

    let now = beijing_time::now();
    change_without_ts(&gateway, 60, now - chrono::Duration::minutes(10));
    sync().run().await.success();
    assert_exact(&db, &visible(&gateway)).await;

    // The staging file is restored from the older copy: its outbox ids start again, below the
    // ones MySQL's rows were written from.
    copy_staging(&backup, &staging);
    let changed = change_without_ts(&gateway, 50, now - chrono::Duration::minutes(5));
    assert_eq!(changed.len(), 50);
    sync().run().await.success();
    let push = last_push(&staging).await;
    assert_eq!(
        push["stale_skipped"], 0,
        "no real update is skipped: {push}"
    );
    assert_exact(&db, &visible(&gateway)).await;
    Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    db.drop().await;
}
