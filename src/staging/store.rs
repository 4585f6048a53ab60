//! [`StagingStore`]: the one owner of the staging SQLite file: opening (lock, mode 0600, WAL,
//! migrations), runs, watermarks and sizes. Staging pages is in `stage.rs`, the outbox and
//! quarantine in `outbox.rs`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use super::error;
use super::field_catalog::FieldObserver;
use super::file_lock::{FileLock, LockError};
use super::{StagingError, migrations};

/// The staging store. Opening it takes an exclusive lock held until it is dropped, so two
/// jst-sync processes never write one staging file at once.
pub struct StagingStore {
    /// Declared before `_lock`: the connection closes first (see `file_lock.rs`).
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    /// `None` for a read-only store (see `StagingStore::open_read_only`).
    pub(super) _lock: Option<FileLock>,
    /// Keeps the field catalog while pages are staged.
    pub(super) fields: FieldObserver,
    /// Compresses and reads canonical JSON (loaded on first use).
    pub(super) codec: std::cell::RefCell<Option<super::compression::JsonCodec>>,
    /// Told the codec's dictionary, for threads that compress pages ahead of the writer.
    pub(super) compressor: super::compression::PageCompressor,
}

impl std::fmt::Debug for StagingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagingStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How a run ended. A run whose process died stays "running" until the next writer opens the
/// store and marks it "interrupted".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
}

/// A run as recorded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub command: String,
    pub strategy: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub summary: Option<Value>,
    pub error: Option<String>,
}

/// Sizes of the store, for `status`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StoreCounts {
    pub pages: i64,
    pub order_versions: i64,
    pub current_orders: i64,
    pub outbox_pending: i64,
    pub quarantine_open: i64,
    pub file_bytes: u64,
}

pub(super) use super::timestamp::now;

impl StagingStore {
    /// Opens the staging file for a run that pulls (`pull`, `sync`, `demo`), creating it with
    /// mode 0600 if missing; then as [`open_existing`](Self::open_existing).
    pub fn open(path: &Path) -> Result<Self, StagingError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StagingError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        if !path.exists() {
            private_file(path).map_err(|source| StagingError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        Self::open_existing(path)
    }

    /// Opens an existing staging file for writing: takes its lock (refused while another run,
    /// by any path, holds it), checks it is not damaged (SQLite's `quick_check`), migrates it,
    /// and marks the runs a killed process left "running" as "interrupted". A missing file is
    /// refused: only a pull creates one.
    pub fn open_existing(path: &Path) -> Result<Self, StagingError> {
        if !path.exists() {
            return Err(StagingError::Missing {
                path: path.to_owned(),
            });
        }
        let lock = FileLock::acquire(path).map_err(|error| match error {
            LockError::Held => StagingError::Locked {
                path: path.to_owned(),
                canonical: std::fs::canonicalize(path).ok(),
            },
            LockError::Io(source) => StagingError::Open {
                path: path.to_owned(),
                source,
            },
        })?;
        let damaged = |error| error::in_file(path, error);
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(damaged)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -8192;",
        )
        .map_err(damaged)?;
        if let Some(problem) = quick_check(&conn).map_err(damaged)? {
            return Err(StagingError::Damaged {
                path: path.to_owned(),
                problem,
            });
        }
        let in_file = |error| error::staging_in_file(path, error);
        migrations::apply(&mut conn, path).map_err(in_file)?;
        let store = Self {
            conn,
            path: path.to_owned(),
            _lock: Some(lock),
            fields: FieldObserver::default(),
            codec: Default::default(),
            compressor: Default::default(),
        };
        store.mark_interrupted_runs().map_err(in_file)?;
        Ok(store)
    }

    /// Runs still "running" when the lock is free were left by a process that died (SIGKILL,
    /// a crash, a power cut): they become "interrupted".
    fn mark_interrupted_runs(&self) -> Result<(), StagingError> {
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM runs WHERE status = 'running' ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(());
        }
        self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1, error = ?2
             WHERE status = 'running'",
            params![
                now(),
                "interrupted: the process ended before the run finished (killed, crashed or the machine stopped); what it staged is kept and the next run goes on from there"
            ],
        )?;
        tracing::warn!(
            runs = ?ids,
            "Runs left running by a process that ended are marked interrupted."
        );
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of a run and returns its id.
    pub fn begin_run(&self, command: &str, strategy: Option<&str>) -> Result<i64, StagingError> {
        self.conn.execute(
            "INSERT INTO runs (command, strategy, started_at) VALUES (?1, ?2, ?3)",
            params![command, strategy, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a run with its summary.
    pub fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        summary: &Value,
        error: Option<&str>,
    ) -> Result<(), StagingError> {
        let status = match status {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        };
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, summary_json = ?4, error = ?5 WHERE id = ?1",
            params![run_id, now(), status, summary.to_string(), error],
        )?;
        Ok(())
    }

    /// The stored watermark of `source` for `strategy`.
    pub fn watermark(&self, source: &str, strategy: &str) -> Result<Option<String>, StagingError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM watermarks WHERE source = ?1 AND strategy = ?2",
                params![source, strategy],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Moves the watermark of `source` for `strategy`. Call only once the data it covers is
    /// committed.
    pub fn set_watermark(
        &self,
        source: &str,
        strategy: &str,
        value: &str,
        run_id: i64,
    ) -> Result<(), StagingError> {
        self.conn.execute(
            "INSERT INTO watermarks (source, strategy, value, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source, strategy) DO UPDATE SET value = excluded.value,
                 run_id = excluded.run_id, updated_at = excluded.updated_at",
            params![source, strategy, value, run_id, now()],
        )?;
        Ok(())
    }

    /// Every watermark: (source, strategy, value, updated_at).
    pub fn watermarks(&self) -> Result<Vec<(String, String, String, String)>, StagingError> {
        let mut statement = self
            .conn
            .prepare("SELECT source, strategy, value, updated_at FROM watermarks ORDER BY 1, 2")?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StagingError> {
        let mut statement = self.conn.prepare(
            "SELECT id, command, strategy, started_at, finished_at, status, summary_json, error
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |row| {
            let summary: Option<String> = row.get(6)?;
            Ok(RunRecord {
                id: row.get(0)?,
                command: row.get(1)?,
                strategy: row.get(2)?,
                started_at: row.get(3)?,
                finished_at: row.get(4)?,
                status: row.get(5)?,
                summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                error: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Row counts and the file size.
    pub fn counts(&self) -> Result<StoreCounts, StagingError> {
        let count = |sql: &str| -> Result<i64, StagingError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        let file_bytes = super::sqlite_file::file_bytes(&self.path);
        let backlog = self.backlog()?;
        Ok(StoreCounts {
            pages: count("SELECT COUNT(*) FROM pages")?,
            order_versions: count("SELECT COUNT(*) FROM order_versions")?,
            current_orders: count("SELECT COUNT(*) FROM current_orders")?,
            outbox_pending: backlog.outbox_pending,
            quarantine_open: backlog.quarantine_open,
            file_bytes,
        })
    }

    /// The connection, for read-only reports (audit, verify, schema, and the benchmark in
    /// `benches/`, which reads staged versions with its own SQL).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// A compressor for the thread that fingerprints pages (see
    /// [`FingerprintedPage::compressed`](super::FingerprintedPage::compressed)): it learns the
    /// file's dictionary as pages are staged.
    pub fn page_compressor(&self) -> super::compression::PageCompressor {
        self.compressor.clone()
    }

    /// Calls `each` with the file's canonical-JSON codec (loaded on first use).
    pub(super) fn with_codec<T>(
        &self,
        each: impl FnOnce(&mut super::compression::JsonCodec) -> Result<T, StagingError>,
    ) -> Result<T, StagingError> {
        let mut slot = self.codec.borrow_mut();
        let codec = super::compression::codec_of(&mut slot, &self.conn)?;
        each(codec)
    }

    /// Canonical JSON as stored in an `order_versions.canonical_json` value (a zstd frame, or
    /// text), as staged: for code that reads versions with its own SQL (verify, the benchmark).
    pub fn decode_canonical(
        &self,
        value: rusqlite::types::ValueRef<'_>,
    ) -> rusqlite::Result<String> {
        self.with_codec(|codec| Ok(codec.text(value).map_err(rusqlite::Error::from)?))
            .map_err(|error| match error {
                StagingError::Sqlite(error) => error,
                other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
            })
    }

    /// Canonical JSON as stored in column `index` of `row` (a zstd frame, or text), as staged.
    pub(super) fn canonical_at(
        &self,
        row: &rusqlite::Row<'_>,
        index: usize,
    ) -> Result<String, StagingError> {
        let value = row.get_ref(index)?;
        self.with_codec(|codec| Ok(codec.text(value).map_err(rusqlite::Error::from)?))
    }
}

/// Opens `path` for writing, creating it readable by its owner only.
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// SQLite's `quick_check` (structure of every b-tree page, without the index cross-checks of
/// `integrity_check`): `None` when the file is sound, else its first findings.
pub(super) fn quick_check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let rows: Vec<String> = conn
        .prepare("PRAGMA quick_check(3)")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let findings = check_findings(&rows);
    Ok((!findings.is_empty()).then(|| format!("SQLite quick_check: {}", findings.join("; "))))
}

/// The findings of `quick_check` or `integrity_check`, one a line: none when it said "ok".
pub(super) fn check_findings(rows: &[String]) -> Vec<String> {
    if rows == ["ok"] {
        return Vec::new();
    }
    rows.iter()
        .flat_map(|row| row.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("*** in database"))
        .map(str::to_owned)
        .collect()
}
