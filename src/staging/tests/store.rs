//! Opening the staging file: who may, the lock, its permissions, runs left running, watermarks.

use super::*;

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
