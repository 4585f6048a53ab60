//! The integrity check: page and version hashes, and what it names when they do not match.

use super::*;

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
