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

#[test]
fn prune_drops_the_summaries_of_runs_finished_before_the_retention_and_keeps_their_rows() {
    let (_dir, mut store) = store();
    let old = store.begin_run("pull", None).unwrap();
    store
        .finish_run(
            old,
            RunStatus::Succeeded,
            &serde_json::json!({"orders": 1}),
            None,
        )
        .unwrap();
    store
        .connection()
        .execute(
            "UPDATE runs SET finished_at = '2020-01-01T00:00:00.000Z' WHERE id = ?1",
            [old],
        )
        .unwrap();
    let recent = store.begin_run("pull", None).unwrap();
    store
        .finish_run(
            recent,
            RunStatus::Failed,
            &serde_json::json!({"orders": 2}),
            Some("boom"),
        )
        .unwrap();
    let running = store.begin_run("pull", None).unwrap();

    let days = |n: u64| std::time::Duration::from_secs(n * 86400);
    let pruned = crate::staging::prune(&mut store, days(90)).unwrap();
    assert_eq!(pruned.summaries_dropped, 1);

    let runs = store.recent_runs(10).unwrap();
    let by_id = |id| {
        runs.iter()
            .find(|r| r.id == id)
            .expect("the run's row stays")
    };
    assert_eq!(by_id(old).summary, None, "the old run's report is gone");
    assert_eq!(by_id(old).status, "succeeded", "its status stays");
    assert_eq!(
        by_id(recent).summary,
        Some(serde_json::json!({"orders": 2}))
    );
    assert_eq!(by_id(recent).error.as_deref(), Some("boom"));
    assert!(
        by_id(running).finished_at.is_none(),
        "a running run is untouched"
    );
    let again = crate::staging::prune(&mut store, days(90)).unwrap();
    assert_eq!(again.summaries_dropped, 0, "nothing twice");
}
