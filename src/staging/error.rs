//! Errors of the staging store.

use std::path::PathBuf;

/// What went wrong with the staging store. None of these is retried: the store is local.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(
        "another jst-sync run is in progress on staging file {path} (lock {lock} is held): wait for it to finish"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot open staging file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("staging database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "staging file {path} was written by a newer jst-sync (schema version {found}, this build knows {known}): upgrade jst-sync"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}
