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
