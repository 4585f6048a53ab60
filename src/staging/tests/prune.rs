//! `prune`: what is dropped past the retention and what is always kept.

use super::*;

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
