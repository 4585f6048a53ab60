//! Errors of the staging store. Each says what failed once (a cause is a `#[source]`, shown by
//! the caller's `{:#}`), names the file and says what to do.

use std::path::PathBuf;

/// What went wrong with the staging store. None of these is retried: the store is local.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(
        "staging file {path} does not exist: run `jst-sync sync` first (or `jst-sync pull`) to create it, or point --staging / JST_STAGING at the existing file"
    )]
    Missing { path: PathBuf },
    #[error(
        "another jst-sync run is in progress on staging file {path}{same}: wait for it to finish",
        same = same_file(.path, .canonical)
    )]
    Locked {
        path: PathBuf,
        /// The file `path` leads to, when it is another path (a symlink, `..`).
        canonical: Option<PathBuf>,
    },
    #[error("cannot open staging file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "staging file {path} is damaged ({problem}): run `jst-sync verify --integrity` to name the damaged pages and runs, then restore the file from a backup, or move it aside and pull again with --since"
    )]
    Damaged { path: PathBuf, problem: String },
    #[error("cannot use staging file {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("staging database error")]
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

fn same_file(path: &std::path::Path, canonical: &Option<PathBuf>) -> String {
    match canonical {
        Some(canonical) if canonical != path => format!(" (the file {})", canonical.display()),
        _ => String::new(),
    }
}

/// An SQLite error while opening the staging file at `path`: [`StagingError::Damaged`] when
/// SQLite finds the file damaged or not a database at all, else [`StagingError::Database`].
pub(super) fn in_file(path: &std::path::Path, error: rusqlite::Error) -> StagingError {
    let damaged = matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    );
    if damaged {
        StagingError::Damaged {
            path: path.to_owned(),
            problem: error.to_string(),
        }
    } else {
        StagingError::Database {
            path: path.to_owned(),
            source: error,
        }
    }
}

/// As [`in_file`] for a staging error: one carrying a bare SQLite error gets the path.
pub(super) fn staging_in_file(path: &std::path::Path, error: StagingError) -> StagingError {
    match error {
        StagingError::Sqlite(error) => in_file(path, error),
        other => other,
    }
}
