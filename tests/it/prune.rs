//! Staging that stays small: a page read again is a sighting, not a second copy; `prune` drops
//! what the retention no longer needs, and the pruned file still audits and replays every MySQL
//! row; a staging file written before compression migrates in place keeping every version.

use std::path::Path;

use jst_sync::beijing_time;
use jst_sync::gateway::GatewayConfig;
use jst_sync::staging::StagingStore;
use mysql_async::prelude::Queryable;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, json_of, shop_gateway, visible};

/// Bytes the staging file uses: pages in use × page size, after a WAL checkpoint.
fn used_bytes(staging: &Path) -> i64 {
    let conn = rusqlite::Connection::open(staging).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let pragma = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pragma("PRAGMA page_size")
}

fn count(staging: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(staging)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

async fn sync(gateway: &jst_sync::gateway::FakeGateway, db: &TestDb, staging: &Path, since: &str) {
    fast(Jst::new(&["sync", "--since", since]))
        .against(gateway, &db.url(), staging)
        .run()
        .await
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_with_no_changes_adds_no_page_body_and_only_a_few_kib() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 141, 400);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    sync(&gateway, &db, &staging, &since).await;
    let (pages, bytes) = (
        count(&staging, "SELECT COUNT(*) FROM pages"),
        used_bytes(&staging),
    );
    assert!(pages >= 16, "{pages}");

    // The whole range again: every page re-read, nothing changed.
    sync(&gateway, &db, &staging, &since).await;
    assert_eq!(
        count(&staging, "SELECT COUNT(*) FROM pages"),
        pages,
        "no page body stored again"
    );
    assert!(count(&staging, "SELECT COUNT(*) FROM page_sightings") >= pages);
    let added = used_bytes(&staging) - bytes;
    assert!(added <= 64 * 1024, "a no-change rerun added {added} bytes");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_staging_file_still_audits_and_replays_every_mysql_row() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 142, 300);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    sync(&gateway, &db, &staging, &since).await;
    let at = beijing_time::now() - chrono::Duration::minutes(30);
    let changed = gateway.shop().lock().unwrap().modify_random(40, at);
    assert!(!changed.is_empty());
    sync(&gateway, &db, &staging, &since).await;
    sync(&gateway, &db, &staging, &since).await;
    assert!(count(&staging, "SELECT COUNT(*) FROM page_sightings") > 0);
    let versions = count(&staging, "SELECT COUNT(*) FROM order_versions");

    let pruned = json_of(
        &Jst::new(&["prune", "--keep", "0s", "--json"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await
            .success()
            .stdout(),
    );
    assert!(
        pruned["sightings_dropped"].as_u64().unwrap() > 0,
        "{pruned}"
    );
    assert!(
        pruned["bytes_after"].as_u64().unwrap() <= pruned["bytes_before"].as_u64().unwrap(),
        "{pruned}"
    );
    assert_eq!(count(&staging, "SELECT COUNT(*) FROM page_sightings"), 0);
    assert_eq!(
        count(&staging, "SELECT COUNT(*) FROM order_versions"),
        versions
    );
    assert_eq!(count(&staging, "PRAGMA auto_vacuum"), 2, "incremental");

    let integrity = json_of(
        &Jst::new(&["verify", "--integrity", "--json"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(integrity["sound"], true, "{integrity}");

    // Every order MySQL holds: each of its versions is explained by a stored page.
    let o_ids: Vec<String> = db
        .conn()
        .await
        .query("SELECT CAST(id AS CHAR) FROM order_list_query")
        .await
        .unwrap();
    assert_eq!(o_ids.len(), 300);
    {
        let store = StagingStore::open_read_only(&staging).unwrap();
        for o_id in &o_ids {
            let history = store.order_history(o_id).unwrap();
            assert!(history.iter().any(|v| v.current), "{o_id}");
            for version in &history {
                let page = store.page(version.first_page_id).unwrap();
                let page = page.unwrap_or_else(|| panic!("first page of {o_id} pruned"));
                let body = json_of(&page.body);
                let carried = body["response"]["orders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|order| order["o_id"].to_string().trim_matches('"') == o_id);
                assert!(carried, "page {} does not carry {o_id}", page.id);
            }
        }
    }
    let one = &changed[0];
    let audit = json_of(
        &Jst::new(&["audit", "order", one, "--json"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await
            .success()
            .stdout(),
    );
    let first_page = audit["versions"][0]["first_page_id"].as_i64().unwrap();
    Jst::new(&["audit", "raw", &first_page.to_string()])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();

    {
        let mut conn = db.conn().await;
        for table in ["order_items", "order_pays", "order_list_query"] {
            conn.query_drop(format!("DELETE FROM {table}"))
                .await
                .unwrap();
        }
    }
    Jst::new(&["replay"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

/// A staging file written by jst-sync at schema version 5 (main at aa5a4fe, before
/// compression): two `pull`s of the 60 orders of `jst-sync fake-gateway --orders 60 --seed 5`
/// (the second stored every page again), dumped with `sqlite3 old.sqlite .dump`.
const SCHEMA_5_DUMP: &str = include_str!("../../fixtures/staging-schema-5.sql");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_file_from_before_compression_migrates_in_place_and_keeps_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let (bodies, versions) = {
        let conn = rusqlite::Connection::open(&staging).unwrap();
        conn.execute_batch(SCHEMA_5_DUMP).unwrap();
        let texts = |sql: &str| -> Vec<(i64, String, String)> {
            conn.prepare(sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        (
            texts("SELECT id, body, body_sha256 FROM pages ORDER BY id"),
            texts("SELECT id, o_id, canonical_json FROM order_versions ORDER BY id"),
        )
    };
    assert!(bodies.len() > 2 && versions.len() >= 60);
    let before = std::fs::metadata(&staging).unwrap().len();

    // A run that writes migrates the file; nothing is left to push, so no MySQL is needed.
    Jst::new(&["prune"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    assert_eq!(
        count(&staging, "SELECT MAX(version) FROM schema_migrations"),
        6
    );
    assert_eq!(count(&staging, "PRAGMA auto_vacuum"), 2);
    assert!(std::fs::metadata(&staging).unwrap().len() < before);

    let store = StagingStore::open_read_only(&staging).unwrap();
    for (id, body, _) in &bodies {
        assert_eq!(&store.page(*id).unwrap().unwrap().body, body, "page {id}");
    }
    for (id, o_id, canonical) in &versions {
        let history = store.order_history(o_id).unwrap();
        let version = history.iter().find(|v| v.id == *id).unwrap();
        assert_eq!(
            version.order,
            serde_json::from_str::<serde_json::Value>(canonical).unwrap(),
            "version {id}"
        );
    }
    assert!(store.check_integrity().is_sound());
    drop(store);
    let integrity = json_of(
        &Jst::new(&["verify", "--integrity", "--json"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(integrity["sound"], true, "{integrity}");
}
