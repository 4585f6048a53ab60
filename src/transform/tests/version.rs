//! Which of two versions of an order is older: `VersionKey` and `VersionStamp`.

use super::*;

#[test]
fn without_ts_modified_decides_then_content_never_staging_ids() {
    use crate::transform::VersionStamp;
    let at = |text: &str| crate::beijing_time::parse(text);
    let stamp = |modified: Option<&str>, sha: Option<&str>, staging_version| VersionStamp {
        ts: None,
        modified: modified.and_then(at),
        sha256: sha.map(str::to_owned),
        staging_version,
    };
    let (early, late) = (Some("2024-05-01 10:00:00"), Some("2024-05-01 11:00:00"));
    // A staging restored from an older copy has smaller ids: they never decide.
    assert!(!stamp(late, Some("b"), 3).is_older_than(&stamp(early, Some("a"), 900)));
    assert!(stamp(early, Some("a"), 900).is_older_than(&stamp(late, Some("b"), 3)));
    // The same content is never older, whatever the ids (rewriting it is idempotent).
    assert!(!stamp(late, Some("a"), 3).is_older_than(&stamp(late, Some("a"), 900)));
    assert!(!stamp(None, Some("a"), 3).is_older_than(&stamp(None, Some("a"), 900)));
    // Only between versions with the same `modified` and other content do the ids decide.
    assert!(stamp(late, Some("b"), 3).is_older_than(&stamp(late, Some("a"), 900)));
    assert!(stamp(None, None, 3).is_older_than(&stamp(None, None, 900)));
    // `ts` on both sides decides before anything else.
    let with_ts = |ts, modified: Option<&str>| VersionStamp {
        ts: Some(ts),
        ..stamp(modified, Some("x"), 1)
    };
    assert!(with_ts(1, late).is_older_than(&with_ts(2, early)));
}

#[test]
fn version_order_compares_ts_first_then_staging_version() {
    let v = |ts, staging_version| VersionKey {
        ts,
        staging_version,
    };
    assert!(v(Some(1), 9).is_older_than(&v(Some(2), 1)));
    assert!(!v(Some(2), 1).is_older_than(&v(Some(1), 9)));
    assert!(
        !v(Some(2), 1).is_older_than(&v(Some(2), 3)),
        "an equal ts is the same row version"
    );
    assert!(v(None, 1).is_older_than(&v(None, 3)));
    assert!(v(None, 1).is_older_than(&v(Some(2), 3)));
    assert!(!v(Some(5), 3).is_older_than(&v(None, 3)));
    assert!(!v(Some(5), 3).is_older_than(&v(Some(5), 3)));
}
