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
    store
        .connection()
        .execute_batch(
            "UPDATE pages SET body = replace(body, '\"a\"', '\"A\"') WHERE id = 1;
             UPDATE order_versions SET canonical_json = replace(canonical_json, '\"b\"', '\"B\"')
                 WHERE o_id = '2';",
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
