//! Specifications of the staging store: what a staged page does to versions and the outbox.

use chrono::Utc;
use serde_json::{Value, json};

use super::{FingerprintedPage, OutboxState, StagingError, StagingStore};
use crate::source::FetchedPage;

fn page(orders: Vec<Value>) -> FetchedPage {
    let body = json!({"response": {"flag": "success", "orders": orders}}).to_string();
    FetchedPage {
        window: None,
        page_index: 1,
        request_params: vec![("method".into(), "jushuitan.order.list.query".into())],
        http_status: 200,
        body,
        received_at: Utc::now(),
        orders,
        data_count: None,
        page_count: None,
        has_next: None,
        echoed_page_size: None,
        repairs: Default::default(),
    }
}

fn order(o_id: &str, remark: &str, ts: i64) -> Value {
    json!({"o_id": o_id, "remark": remark, "ts": ts, "modified": "2024-05-01 10:00:00"})
}

fn store() -> (tempfile::TempDir, StagingStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StagingStore::open(&dir.path().join("staging.sqlite")).unwrap();
    (dir, store)
}

#[test]
fn a_new_order_gets_a_version_and_one_outbox_entry() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let outcome = store
        .stage_page(run, &page(vec![order("1", "a", 1), order("2", "b", 2)]))
        .unwrap();
    assert_eq!((outcome.orders, outcome.new, outcome.changed), (2, 2, 0));
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(
        pending.iter().map(|e| e.o_id.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[test]
fn restaging_the_same_orders_is_unchanged_and_adds_no_outbox_entry() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    let again = store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    assert_eq!((again.new, again.changed, again.unchanged), (0, 0, 1));
    assert_eq!(store.pending_count().unwrap(), 1);
}

#[test]
fn keys_in_another_order_are_not_a_change() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let a: Value = serde_json::from_str(r#"{"o_id":"7","remark":"x","ts":3}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"ts":3,"remark":"x","o_id":"7"}"#).unwrap();
    store.stage_page(run, &page(vec![a])).unwrap();
    assert_eq!(store.stage_page(run, &page(vec![b])).unwrap().unchanged, 1);
}

#[test]
fn a_changed_order_supersedes_its_pending_entry() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    let outcome = store
        .stage_page(run, &page(vec![order("1", "b", 2)]))
        .unwrap();
    assert_eq!(outcome.changed, 1);
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].canonical_json.contains(r#""remark":"b""#));
}

#[test]
fn an_order_twice_on_one_page_diffs_its_second_copy_against_the_first() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let outcome = store
        .stage_page(
            run,
            &page(vec![
                order("1", "a", 1),
                order("1", "a", 1),
                order("1", "b", 2),
                order("1", "old", 0),
            ]),
        )
        .unwrap();
    assert_eq!(
        (
            outcome.new,
            outcome.unchanged,
            outcome.changed,
            outcome.stale
        ),
        (1, 1, 1, 1)
    );
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].canonical_json.contains(r#""remark":"b""#));
}

#[test]
fn a_page_fingerprinted_on_another_thread_stages_as_stage_page_does() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1), order("2", "b", 2)]))
        .unwrap();
    let next = page(vec![
        order("1", "a", 1),
        order("2", "c", 3),
        order("3", "d", 1),
        json!({"remark": "no id"}),
    ]);
    let fingerprinted = std::thread::spawn(move || FingerprintedPage::new(next))
        .join()
        .unwrap();
    let outcome = store.stage_fingerprinted(run, &fingerprinted).unwrap();
    assert_eq!(
        (
            outcome.orders,
            outcome.unchanged,
            outcome.changed,
            outcome.new,
            outcome.quarantined
        ),
        (4, 1, 1, 1, 1)
    );
}

#[test]
fn an_older_ts_is_stale_and_never_becomes_current() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "new", 5)]))
        .unwrap();
    let outcome = store
        .stage_page(run, &page(vec![order("1", "old", 4)]))
        .unwrap();
    assert_eq!(outcome.stale, 1);
    let pending = store.pending_outbox(0, 10).unwrap();
    assert!(pending[0].canonical_json.contains(r#""remark":"new""#));
}

#[test]
fn a_reverted_order_is_pushed_again_with_a_newer_outbox_id() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    let first = store.pending_outbox(0, 10).unwrap()[0].id;
    store
        .finish_outbox(&[(first, "1")], OutboxState::Pushed)
        .unwrap();
    store
        .stage_page(run, &page(vec![order("1", "b", 1)]))
        .unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].id > first && pending[0].canonical_json.contains(r#""remark":"a""#));
}

#[test]
fn orders_without_o_id_are_quarantined_and_the_rest_staged() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let outcome = store
        .stage_page(
            run,
            &page(vec![
                json!({"so_id": "x"}),
                json!("not an object"),
                order("1", "a", 1),
            ]),
        )
        .unwrap();
    assert_eq!((outcome.quarantined, outcome.new), (2, 1));
    let quarantined = store.quarantine_entries(false, 10).unwrap();
    assert_eq!(quarantined.len(), 2);
    assert!(quarantined.iter().any(|q| q.reason.contains("o_id")));
}

#[test]
fn a_second_store_on_the_same_file_is_refused_while_the_first_is_open() {
    let (dir, _store) = store();
    let error = StagingStore::open(&dir.path().join("staging.sqlite")).unwrap_err();
    assert!(matches!(error, StagingError::Locked { .. }));
    assert!(
        error
            .to_string()
            .contains("another jst-sync run is in progress")
    );
}

#[cfg(unix)]
#[test]
fn the_staging_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = store();
    let mode = std::fs::metadata(dir.path().join("staging.sqlite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn watermarks_are_kept_per_source_and_strategy() {
    let (_dir, store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .set_watermark("c1", "window", "2024-05-01 00:00:00", run)
        .unwrap();
    store.set_watermark("c1", "ts", "42", run).unwrap();
    assert_eq!(
        store.watermark("c1", "window").unwrap().as_deref(),
        Some("2024-05-01 00:00:00")
    );
    assert_eq!(store.watermark("c1", "ts").unwrap().as_deref(), Some("42"));
    assert_eq!(store.watermark("c2", "ts").unwrap(), None);
}

#[test]
fn an_order_changed_back_to_an_earlier_content_reuses_that_version() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let without_ts = |remark: &str| json!({"o_id": "9", "remark": remark});
    store.stage_page(run, &page(vec![without_ts("a")])).unwrap();
    store.stage_page(run, &page(vec![without_ts("b")])).unwrap();
    let back = store.stage_page(run, &page(vec![without_ts("a")])).unwrap();

    assert_eq!(back.changed, 1);
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(pending.len(), 1, "older entries are superseded");
    let first_version = store
        .connection()
        .query_row("SELECT MIN(id) FROM order_versions", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    assert_eq!(pending[0].version_id, first_version);
    assert!(pending[0].canonical_json.contains("\"remark\":\"a\""));
}

#[test]
fn without_ts_an_earlier_modified_is_stale_and_never_becomes_current() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let newer = json!({"o_id": "1", "remark": "new", "modified": "2024-05-01 10:00:05"});
    let older = json!({"o_id": "1", "remark": "old", "modified": "2024-05-01 10:00:00"});
    store.stage_page(run, &page(vec![newer])).unwrap();
    let outcome = store.stage_page(run, &page(vec![older])).unwrap();
    assert_eq!(outcome.stale, 1);
    let pending = store.pending_outbox(0, 10).unwrap();
    assert!(pending[0].canonical_json.contains(r#""remark":"new""#));
}

#[test]
fn only_open_creates_a_missing_file_the_other_openings_refuse_it_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sqlite");
    for error in [
        StagingStore::open_existing(&path).unwrap_err(),
        StagingStore::open_read_only(&path).unwrap_err(),
    ] {
        assert!(matches!(error, StagingError::Missing { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains("run `jst-sync sync`"),
            "{text}"
        );
    }
    assert!(!path.exists());
    StagingStore::open(&path).unwrap();
    assert!(path.exists());
}

#[cfg(unix)]
#[test]
fn a_symlink_or_a_hard_link_to_a_file_in_use_is_refused() {
    let (dir, _store) = store();
    let target = dir.path().join("staging.sqlite");
    let link = dir.path().join("link.sqlite");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let hard = dir.path().join("hard.sqlite");
    std::fs::hard_link(&target, &hard).unwrap();
    let dotted = dir.path().join(".").join("staging.sqlite");
    for other in [&link, &hard, &dotted] {
        let error = StagingStore::open_existing(other).unwrap_err();
        assert!(matches!(error, StagingError::Locked { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("another jst-sync run is in progress"),
            "{error}"
        );
    }
    let text = StagingStore::open(&link).unwrap_err().to_string();
    assert!(text.contains("staging.sqlite"), "{text}");
}

#[test]
fn the_lock_is_released_with_the_store() {
    let (dir, store) = store();
    drop(store);
    StagingStore::open_existing(&dir.path().join("staging.sqlite")).unwrap();
}

#[test]
fn a_run_left_running_by_a_dead_process_is_marked_interrupted_by_the_next_open() {
    let (dir, store) = store();
    let run = store.begin_run("sync", Some("window")).unwrap();
    drop(store); // as a SIGKILL would leave it: no finish_run
    let store = StagingStore::open_existing(&dir.path().join("staging.sqlite")).unwrap();
    let runs = store.recent_runs(5).unwrap();
    assert_eq!(runs[0].id, run);
    assert_eq!(runs[0].status, "interrupted");
    assert!(runs[0].finished_at.is_some());
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("process ended"))
    );
}

#[test]
fn every_stored_page_carries_the_sha256_of_its_body_and_a_sound_file_checks_clean() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let first = page(vec![order("1", "a", 1)]);
    store.stage_page(run, &first).unwrap();
    let second = FingerprintedPage::new(page(vec![order("2", "b", 1)]));
    store.stage_fingerprinted(run, &second).unwrap();
    let stored: Vec<String> = store
        .connection()
        .prepare("SELECT body_sha256 FROM pages ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        stored,
        [
            crate::diff::sha256_hex(&first.body),
            crate::diff::sha256_hex(&second.page().body)
        ]
    );
    let report = store.check_integrity();
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.pages_checked, report.versions_checked), (2, 2));
}

#[test]
fn an_altered_page_body_or_order_version_is_named_with_its_run() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1)]))
        .unwrap();
    let other = store.begin_run("pull", None).unwrap();
    store
        .stage_page(other, &page(vec![order("2", "b", 1)]))
        .unwrap();
    // Bodies and canonical JSON are stored compressed: the content is read back, altered as
    // an editor would, and written back.
    let body = store
        .page(1)
        .unwrap()
        .unwrap()
        .body
        .replace("\"a\"", "\"A\"");
    let canonical: String = store
        .connection()
        .query_row(
            "SELECT canonical_json FROM order_versions WHERE o_id = '2'",
            [],
            |r| store.decode_canonical(r.get_ref(0)?),
        )
        .unwrap();
    store
        .connection()
        .execute("UPDATE pages SET body = ?1 WHERE id = 1", [body])
        .unwrap();
    store
        .connection()
        .execute(
            "UPDATE order_versions SET canonical_json = ?1 WHERE o_id = '2'",
            [canonical.replace("\"b\"", "\"B\"")],
        )
        .unwrap();
    let report = store.check_integrity();
    assert!(!report.is_sound());
    assert_eq!(
        report
            .damaged_pages
            .iter()
            .map(|p| (p.id, p.run_id, p.page_index))
            .collect::<Vec<_>>(),
        [(1, Some(run), Some(1))]
    );
    assert_eq!(
        report
            .damaged_versions
            .iter()
            .map(|v| (v.o_id.as_deref(), v.first_run_id))
            .collect::<Vec<_>>(),
        [(Some("2"), Some(other))]
    );
    assert_eq!(report.damaged_runs(), [run, other]);
}

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

#[test]
fn a_file_that_is_not_a_database_is_reported_damaged_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staging.sqlite");
    std::fs::write(&path, vec![0x5a_u8; 64 * 1024]).unwrap();
    for error in [
        StagingStore::open_existing(&path).unwrap_err(),
        StagingStore::open_read_only(&path).unwrap_err(),
    ] {
        assert!(matches!(error, StagingError::Damaged { .. }), "{error}");
        assert!(error.to_string().contains("verify --integrity"), "{error}");
    }
}

/// `page` with another envelope `request_id`, as a second call returns the same orders.
fn reread(orders: Vec<Value>, request_id: &str) -> FetchedPage {
    let mut page = page(orders.clone());
    page.body =
        json!({"response": {"flag": "success", "request_id": request_id, "orders": orders}})
            .to_string();
    page
}

fn count(store: &StagingStore, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn page_bodies_and_canonical_json_are_stored_as_zstd_frames_that_read_back_exactly() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let remark = "tab\t newline\n nul\u{0} backslash\\ emoji \u{1F600} ".repeat(20);
    let staged = page(vec![order("1", &remark, 1), order("2", &remark, 2)]);
    store.stage_page(run, &staged).unwrap();
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pages WHERE typeof(body) = 'blob'"
        ),
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM order_versions WHERE typeof(canonical_json) = 'blob'"
        ),
        2
    );
    assert_eq!(store.page(1).unwrap().unwrap().body, staged.body);
    let pending = store.pending_outbox(0, 10).unwrap();
    assert_eq!(
        pending[0].canonical_json,
        crate::diff::canonical_json(&order("1", &remark, 1))
    );
    let stored_bytes = count(&store, "SELECT SUM(length(body)) FROM pages") as usize;
    assert!(stored_bytes < staged.body.len() / 4, "{stored_bytes}");
    assert!(store.check_integrity().is_sound());
}

#[test]
fn a_page_read_again_with_the_same_orders_adds_no_page_body_and_is_recorded_as_seen_again() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let first = reread(vec![order("1", "a", 1), order("2", "b", 2)], "r1");
    store.stage_page(run, &first).unwrap();
    let later = store.begin_run("pull", None).unwrap();
    let again = store
        .stage_page(
            later,
            &reread(vec![order("1", "a", 1), order("2", "b", 2)], "r2"),
        )
        .unwrap();
    assert_eq!((again.orders, again.unchanged), (2, 2));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pages"), 1);
    let page = store.page(1).unwrap().unwrap();
    assert_eq!(
        page.body, first.body,
        "audit shows the first copy as received"
    );
    assert_eq!(page.seen_again.len(), 1);
    assert_eq!(page.seen_again[0].run_id, later);
    assert_eq!(page.seen_again[0].same_orders_as_page, Some(1));
    let history = store.order_history("2").unwrap();
    assert_eq!(history[0].seen_again.len(), 1);
    assert!(store.check_integrity().is_sound());
}

#[test]
fn a_page_read_again_across_other_page_boundaries_stores_no_body_when_every_version_is_known() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", "a", 1), order("2", "b", 2)]))
        .unwrap();
    store
        .stage_page(run, &page(vec![order("3", "c", 3), order("4", "d", 4)]))
        .unwrap();
    let later = store.begin_run("pull", None).unwrap();
    let shifted = store
        .stage_page(later, &page(vec![order("2", "b", 2), order("3", "c", 3)]))
        .unwrap();
    assert_eq!(shifted.unchanged, 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pages"), 2);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM page_sightings WHERE page_id IS NULL"
        ),
        1
    );
    let history = store.order_history("3").unwrap();
    assert_eq!(history[0].seen_again.len(), 1, "{history:?}");
    assert_eq!(history[0].seen_again[0].run_id, later);
    assert!(store.order_history("1").unwrap()[0].seen_again.is_empty());
    // A page with one changed order among known ones is stored: it first carries a version.
    store
        .stage_page(later, &page(vec![order("2", "b", 2), order("3", "c2", 5)]))
        .unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pages"), 3);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM pages WHERE pinned = 1"),
        3
    );
}

#[test]
fn prune_drops_sightings_and_unpinned_copies_past_the_retention_and_keeps_every_version() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    let two_days_ago = |mut page: FetchedPage| {
        page.received_at = Utc::now() - chrono::Duration::days(2);
        page
    };
    store
        .stage_page(
            run,
            &two_days_ago(page(vec![order("1", "a", 2), order("2", "b", 2)])),
        )
        .unwrap();
    store
        .stage_page(
            run,
            &two_days_ago(reread(
                vec![order("1", "a", 2), order("2", "b", 2)],
                "again",
            )),
        )
        .unwrap();
    // A stale read (an older ts) explains nothing kept: stored, but not pinned.
    let stale = store
        .stage_page(run, &two_days_ago(page(vec![order("1", "old", 1)])))
        .unwrap();
    assert_eq!(stale.stale, 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pages"), 2);

    let days = |n: u64| std::time::Duration::from_secs(n * 86400);
    let kept = crate::staging::prune(&mut store, days(3)).unwrap();
    assert_eq!((kept.sightings_dropped, kept.pages_dropped), (0, 0));
    let pruned = crate::staging::prune(&mut store, days(1)).unwrap();
    assert_eq!((pruned.sightings_dropped, pruned.pages_dropped), (1, 1));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pages"), 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM order_versions"), 2);
    for o_id in ["1", "2"] {
        let history = store.order_history(o_id).unwrap();
        let first_page = store.page(history[0].first_page_id).unwrap();
        assert!(
            first_page.is_some(),
            "the page that first carried {o_id} stays"
        );
    }
    assert_eq!(count(&store, "PRAGMA auto_vacuum"), 2, "incremental");
    assert_eq!(
        count(&store, "PRAGMA freelist_count"),
        0,
        "the freed pages are given back"
    );
    assert!(store.check_integrity().is_sound());
}

/// Makes a staging file as jst-sync left it at schema version 5 (before compression): pages
/// and canonical JSON as text, every re-read stored again.
fn schema_5_file(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    super::migrations::apply_up_to(&mut conn, path, 5).unwrap();
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

#[test]
fn a_damaged_zstd_frame_is_named_by_the_integrity_check() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(run, &page(vec![order("1", &"x".repeat(500), 1)]))
        .unwrap();
    store
        .connection()
        .execute_batch(
            "UPDATE pages SET body = substr(body, 1, length(body) - 3) WHERE id = 1;
             UPDATE order_versions SET canonical_json = x'28b52ffd00' WHERE id = 1;",
        )
        .unwrap();
    let report = store.check_integrity();
    assert_eq!(report.damaged_pages.len(), 1, "{report:?}");
    assert_eq!(report.damaged_versions.len(), 1, "{report:?}");
}

#[test]
fn pages_compressed_on_the_fingerprinting_thread_are_stored_byte_for_byte_as_the_writer_compresses_them()
 {
    let (_a, mut by_writer) = store();
    let (_b, mut ahead) = store();
    let (run_a, run_b) = (
        by_writer.begin_run("pull", None).unwrap(),
        ahead.begin_run("pull", None).unwrap(),
    );
    let pages = [
        vec![order("1", "a", 1), order("2", "b", 2)],
        vec![
            order("2", "c", 3),
            order("3", "d", 1),
            json!({"remark": "no id"}),
        ],
        vec![order("4", "e\tf\u{1F600}", 1), order("1", "g", 4)],
    ];
    let compressor = ahead.page_compressor();
    for orders in pages {
        by_writer.stage_page(run_a, &page(orders.clone())).unwrap();
        let compressor = compressor.clone();
        let fingerprinted =
            std::thread::spawn(move || FingerprintedPage::compressed(page(orders), &compressor))
                .join()
                .unwrap();
        ahead.stage_fingerprinted(run_b, &fingerprinted).unwrap();
    }
    let stored = |store: &StagingStore, sql: &str| -> Vec<Vec<u8>> {
        store
            .connection()
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for sql in [
        "SELECT body FROM pages ORDER BY id",
        "SELECT canonical_json FROM order_versions ORDER BY id",
        "SELECT content FROM zstd_dictionaries ORDER BY id",
    ] {
        let (theirs, ours) = (stored(&by_writer, sql), stored(&ahead, sql));
        assert!(!ours.is_empty(), "{sql}");
        assert_eq!(theirs, ours, "{sql}");
    }
    // After the first page the fingerprinting thread knows the dictionary: its frames are used.
    let dictionary = stored(&ahead, "SELECT content FROM zstd_dictionaries").remove(0);
    let next = FingerprintedPage::compressed(page(vec![order("5", "h", 1)]), &compressor);
    assert!(
        next.frames()
            .and_then(|frames| frames.canonical_with(Some(&dictionary)))
            .is_some()
    );
}
