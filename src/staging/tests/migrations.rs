//! Older staging files migrated in place, every page and version still readable.

use super::*;

#[test]
fn pages_stored_before_page_hashes_are_hashed_by_the_migration() {
    let (dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let old = page(vec![order("1", "a", 1)]);
    store.stage_page(run, &old).unwrap();
    // The file as jst-sync left it before migration 4.
    store
        .connection()
        .execute_batch(
            "ALTER TABLE pages DROP COLUMN body_sha256;
             DELETE FROM schema_migrations WHERE version = 4;",
        )
        .unwrap();
    drop(store);
    let store = StagingStore::open_existing(&dir.path().join("staging.sqlite")).unwrap();
    let hash: String = store
        .connection()
        .query_row("SELECT body_sha256 FROM pages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hash, crate::diff::sha256_hex(&old.body));
    assert!(store.check_integrity().is_sound());
}

/// Makes a staging file as jst-sync left it at schema version 5 (before compression): pages
/// and canonical JSON as text, every re-read stored again.
fn schema_5_file(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    crate::staging::migrations::apply_up_to(&mut conn, path, 5).unwrap();
    conn.execute(
        "INSERT INTO runs (id, command, started_at, status) VALUES (1, 'sync', '2024-01-01T00:00:00.000Z', 'succeeded')",
        [],
    )
    .unwrap();
    let orders = [order("1", "a", 1), order("2", "b\t\u{0}\u{1F600}", 2)];
    let bodies: Vec<String> = [&orders[..], &orders[..], &orders[..1]]
        .iter()
        .enumerate()
        .map(|(i, o)| json!({"response": {"request_id": i, "orders": o}}).to_string())
        .collect();
    for (index, body) in bodies.iter().enumerate() {
        conn.execute(
            "INSERT INTO pages (id, run_id, page_index, params_json, http_status, body, received_at,
                                order_count, body_sha256)
             VALUES (?1, 1, 1, '[]', 200, ?2, '2024-01-01T00:00:00.000Z', 2, ?3)",
            rusqlite::params![index as i64 + 1, body, crate::diff::sha256_hex(body)],
        )
        .unwrap();
    }
    let mut canonicals = Vec::new();
    for (index, order) in orders.iter().enumerate() {
        let (print, canonical) = crate::diff::fingerprint(order).unwrap();
        conn.execute(
            "INSERT INTO order_versions (id, o_id, sha256, ts, canonical_json, first_page_id,
                                         first_run_id, first_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, '2024-01-01T00:00:00.000Z')",
            rusqlite::params![
                index as i64 + 1,
                print.o_id,
                print.sha256,
                print.ts,
                canonical
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO current_orders (o_id, version_id, sha256, ts, last_seen_at, last_page_id)
             VALUES (?1, ?2, ?3, ?4, '2024-01-01T00:00:00.000Z', 1)",
            rusqlite::params![print.o_id, index as i64 + 1, print.sha256, print.ts],
        )
        .unwrap();
        canonicals.push(canonical);
    }
    (bodies, canonicals)
}

#[test]
fn a_schema_5_staging_file_migrates_in_place_keeping_every_page_and_version_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let (bodies, canonicals) = schema_5_file(&path);
    let mut store = StagingStore::open_existing(&path).unwrap();
    for (index, body) in bodies.iter().enumerate() {
        assert_eq!(&store.page(index as i64 + 1).unwrap().unwrap().body, body);
    }
    let mut seen = Vec::new();
    store
        .for_each_current(|current| seen.push(current.canonical_json))
        .unwrap();
    seen.sort();
    assert_eq!(seen, canonicals);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pages WHERE typeof(body) = 'blob'"
        ),
        3
    );
    assert_eq!(count(&store, "PRAGMA auto_vacuum"), 2);
    assert!(store.check_integrity().is_sound());
    // The re-read copies stored before 0006 are not pinned; the first page is.
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM pages WHERE pinned = 1"),
        1
    );
    let pruned = crate::staging::prune(&mut store, std::time::Duration::from_secs(86400)).unwrap();
    assert_eq!(pruned.pages_dropped, 2);
    assert_eq!(store.order_history("2").unwrap().len(), 1);
    assert!(store.check_integrity().is_sound());
}
