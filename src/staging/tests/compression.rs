//! Page bodies and canonical JSON as zstd frames; pages read again store no new body.

use super::*;

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
