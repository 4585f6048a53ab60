//! What a staged page does to order versions, current orders, the outbox and the quarantine.

use super::*;

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
fn the_backlog_counts_pending_outbox_entries_and_open_quarantine_entries() {
    let (_dir, mut store) = store();
    let run = store.begin_run("pull", None).unwrap();
    store
        .stage_page(
            run,
            &page(vec![
                json!({"so_id": "x"}),
                order("1", "a", 1),
                order("2", "b", 1),
            ]),
        )
        .unwrap();
    assert_eq!(
        store.backlog().unwrap(),
        crate::staging::Backlog {
            outbox_pending: 2,
            quarantine_open: 1
        }
    );
    let first = store.pending_outbox(0, 10).unwrap()[0].id;
    store
        .finish_outbox(&[(first, "1")], OutboxState::Pushed)
        .unwrap();
    assert_eq!(store.backlog().unwrap().outbox_pending, 1);
    assert_eq!(store.counts().unwrap().outbox_pending, 1);
}
