//! [`StagingStore`]: the one owner of the staging SQLite file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::FingerprintedPage;
use super::field_catalog::{FieldNews, FieldObserver};
use super::fingerprinted_page::fingerprint_orders;
use super::{StagingError, migrations};
use crate::diff::{self, Change, CurrentVersion, Fingerprint};
use crate::source::FetchedPage;

/// The staging store. Opening it takes an exclusive lock held until it is dropped, so two
/// jst-sync processes never write one staging file at once.
pub struct StagingStore {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    /// `None` for a read-only store (see `StagingStore::open_read_only`).
    pub(super) _lock: Option<File>,
    /// Keeps the field catalog while pages are staged.
    pub(super) fields: FieldObserver,
}

impl std::fmt::Debug for StagingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagingStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What staging one page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageOutcome {
    pub orders: u64,
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub quarantined: u64,
}

impl PageOutcome {
    pub fn add(&mut self, other: &PageOutcome) {
        self.orders += other.orders;
        self.new += other.new;
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.stale += other.stale;
        self.quarantined += other.quarantined;
    }
}

/// One version waiting in the outbox.
#[derive(Clone, Debug)]
pub struct OutboxEntry {
    /// The outbox id: it orders pushes (newer entries win in MySQL).
    pub id: i64,
    pub version_id: i64,
    pub o_id: String,
    pub ts: Option<i64>,
    pub canonical_json: String,
}

/// How an outbox entry ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxState {
    Pushed,
    Quarantined,
    Filtered,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pushed => "pushed",
            OutboxState::Quarantined => "quarantined",
            OutboxState::Filtered => "filtered",
        }
    }
}

/// How a run ended.
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

/// One quarantined record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub o_id: Option<String>,
    pub version_id: Option<i64>,
    pub page_id: Option<i64>,
    pub run_id: Option<i64>,
    pub stage: String,
    pub reason: String,
    pub raw_json: String,
    pub quarantined_at: String,
    pub resolved_at: Option<String>,
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

pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl StagingStore {
    /// Opens (creating with mode 0600 if missing) and migrates the staging file, taking its lock.
    pub fn open(path: &Path) -> Result<Self, StagingError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StagingError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        let lock_path = lock_path(path);
        let lock = private_file(&lock_path).map_err(|source| StagingError::Open {
            path: lock_path.clone(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StagingError::Locked {
                    path: path.to_owned(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StagingError::Open {
                    path: lock_path,
                    source,
                });
            }
        }
        private_file(path).map_err(|source| StagingError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -8192;",
        )?;
        migrations::apply(&mut conn, path)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            _lock: Some(lock),
            fields: FieldObserver::default(),
        })
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

    /// Stages one page atomically: the raw page, then each order's diff against its current
    /// version; new and changed orders get a version row and an outbox entry.
    pub fn stage_page(
        &mut self,
        run_id: i64,
        page: &FetchedPage,
    ) -> Result<PageOutcome, StagingError> {
        self.stage_orders(run_id, page, &fingerprint_orders(&page.orders))
    }

    /// [`stage_page`](Self::stage_page) for a page whose orders were fingerprinted already
    /// (possibly on another thread): only the diff and the SQLite writes run here.
    pub fn stage_fingerprinted(
        &mut self,
        run_id: i64,
        page: &FingerprintedPage,
    ) -> Result<PageOutcome, StagingError> {
        self.stage_orders(run_id, page.page(), page.prints())
    }

    fn stage_orders(
        &mut self,
        run_id: i64,
        page: &FetchedPage,
        prints: &[Option<(Fingerprint, String)>],
    ) -> Result<PageOutcome, StagingError> {
        let tx = self.conn.transaction()?;
        let params_json = serde_json::to_string(
            &page
                .request_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
        .expect("parameters serialise");
        let received_at = page
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        tx.prepare_cached(
            "INSERT INTO pages (run_id, window_start, window_end, page_index, params_json,
                                http_status, body, received_at, order_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            run_id,
            page.window.map(|w| crate::beijing_time::format(w.start)),
            page.window.map(|w| crate::beijing_time::format(w.end)),
            page.page_index,
            params_json,
            page.http_status,
            page.body,
            received_at,
            page.orders.len() as i64,
        ])?;
        let page_id = tx.last_insert_rowid();
        let mut outcome = PageOutcome::default();
        let seen_at = now();
        // The current versions of the page's orders, in one query.
        let mut currents = current_versions(&tx, prints)?;
        for (order, print) in page.orders.iter().zip(prints) {
            outcome.orders += 1;
            let Some((fingerprint, canonical)) = print.as_ref() else {
                let reason = if order.is_object() {
                    "order has no usable o_id"
                } else {
                    "order is not a JSON object"
                };
                tx.prepare_cached(
                    "INSERT INTO quarantine (o_id, page_id, run_id, stage, reason, raw_json, quarantined_at)
                     VALUES (NULL, ?1, ?2, 'staging', ?3, ?4, ?5)",
                )?
                .execute(params![page_id, run_id, reason, order.to_string(), seen_at])?;
                outcome.quarantined += 1;
                continue;
            };
            let current = currents.get(&fingerprint.o_id);
            let change = diff::classify(current, fingerprint);
            match change {
                Change::Unchanged => {
                    outcome.unchanged += 1;
                    continue;
                }
                Change::Stale => {
                    outcome.stale += 1;
                    continue;
                }
                Change::New => outcome.new += 1,
                Change::Changed => outcome.changed += 1,
            }
            self.fields
                .observe(&tx, run_id, order, &fingerprint.o_id, &seen_at)?;
            let modified = order.get("modified").and_then(Value::as_str);
            // A new version returns its id at once; a version seen before (an order changed
            // back to an earlier content) is looked up.
            let inserted: Option<i64> = tx
                .prepare_cached(
                    "INSERT INTO order_versions
                         (o_id, sha256, ts, modified, canonical_json, first_page_id, first_run_id, first_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (o_id, sha256) DO NOTHING RETURNING id",
                )?
                .query_row(
                    params![
                        fingerprint.o_id,
                        fingerprint.sha256,
                        fingerprint.ts,
                        modified,
                        canonical,
                        page_id,
                        run_id,
                        seen_at
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            let version_id: i64 = match inserted {
                Some(id) => id,
                None => tx
                    .prepare_cached(
                        "SELECT id FROM order_versions WHERE o_id = ?1 AND sha256 = ?2",
                    )?
                    .query_row(params![fingerprint.o_id, fingerprint.sha256], |row| {
                        row.get(0)
                    })?,
            };
            tx.prepare_cached(
                "INSERT INTO current_orders (o_id, version_id, sha256, ts, last_seen_at, last_page_id, modified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (o_id) DO UPDATE SET version_id = excluded.version_id,
                     sha256 = excluded.sha256, ts = excluded.ts,
                     last_seen_at = excluded.last_seen_at, last_page_id = excluded.last_page_id,
                     modified = excluded.modified",
            )?
            .execute(params![
                fingerprint.o_id,
                version_id,
                fingerprint.sha256,
                fingerprint.ts,
                seen_at,
                page_id,
                fingerprint.modified
            ])?;
            // An order twice on one page diffs its second copy against the first.
            currents.insert(
                fingerprint.o_id.clone(),
                CurrentVersion {
                    sha256: fingerprint.sha256.clone(),
                    ts: fingerprint.ts,
                    modified: fingerprint.modified.clone(),
                },
            );
            if change == Change::Changed {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'superseded', done_at = ?2
                     WHERE o_id = ?1 AND state = 'pending'",
                )?
                .execute(params![fingerprint.o_id, seen_at])?;
            }
            tx.prepare_cached(
                "INSERT INTO outbox (version_id, o_id, enqueued_at, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![version_id, fingerprint.o_id, seen_at, run_id])?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// New fields and type changes the field catalog saw since the last call.
    pub fn take_field_news(&mut self) -> FieldNews {
        self.fields.take_news()
    }

    /// Up to `limit` pending outbox entries with ids above `after`, oldest first.
    pub fn pending_outbox(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StagingError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT o.id, o.version_id, o.o_id, v.ts, v.canonical_json
             FROM outbox o JOIN order_versions v ON v.id = o.version_id
             WHERE o.state = 'pending' AND o.id > ?1 ORDER BY o.id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after, limit as i64], |row| {
            Ok(OutboxEntry {
                id: row.get(0)?,
                version_id: row.get(1)?,
                o_id: row.get(2)?,
                ts: row.get(3)?,
                canonical_json: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of pending outbox entries.
    pub fn pending_count(&self) -> Result<i64, StagingError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks outbox entries done, in one transaction. Call only after MySQL committed them.
    /// Pushed entries resolve any open quarantine of the same orders.
    pub fn finish_outbox(
        &mut self,
        entries: &[(i64, &str)],
        state: OutboxState,
    ) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        let done_at = now();
        for (id, o_id) in entries {
            tx.prepare_cached(
                "UPDATE outbox SET state = ?2, done_at = ?3 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, state.as_str(), done_at])?;
            if state == OutboxState::Pushed {
                tx.prepare_cached(
                    "UPDATE quarantine SET resolved_at = ?2 WHERE o_id = ?1 AND resolved_at IS NULL",
                )?
                .execute(params![o_id, done_at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Quarantines one outbox entry that could not be transformed.
    pub fn quarantine_outbox(
        &mut self,
        entry: &OutboxEntry,
        run_id: i64,
        reason: &str,
    ) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        let at = now();
        tx.execute(
            "INSERT INTO quarantine (o_id, version_id, run_id, stage, reason, raw_json, quarantined_at)
             VALUES (?1, ?2, ?3, 'transform', ?4, ?5, ?6)",
            params![entry.o_id, entry.version_id, run_id, reason, entry.canonical_json, at],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'quarantined', done_at = ?2 WHERE id = ?1",
            params![entry.id, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Open (unresolved) quarantine entries, newest first; all of them with `include_resolved`.
    pub fn quarantine_entries(
        &self,
        include_resolved: bool,
        limit: usize,
    ) -> Result<Vec<QuarantineEntry>, StagingError> {
        let mut statement = self.conn.prepare(
            "SELECT id, o_id, version_id, page_id, run_id, stage, reason, raw_json, quarantined_at, resolved_at
             FROM quarantine WHERE (?1 OR resolved_at IS NULL) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![include_resolved, limit as i64], |row| {
            Ok(QuarantineEntry {
                id: row.get(0)?,
                o_id: row.get(1)?,
                version_id: row.get(2)?,
                page_id: row.get(3)?,
                run_id: row.get(4)?,
                stage: row.get(5)?,
                reason: row.get(6)?,
                raw_json: row.get(7)?,
                quarantined_at: row.get(8)?,
                resolved_at: row.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let file_bytes = [self.path.clone(), wal_path(&self.path)]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(StoreCounts {
            pages: count("SELECT COUNT(*) FROM pages")?,
            order_versions: count("SELECT COUNT(*) FROM order_versions")?,
            current_orders: count("SELECT COUNT(*) FROM current_orders")?,
            outbox_pending: count("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?,
            quarantine_open: count("SELECT COUNT(*) FROM quarantine WHERE resolved_at IS NULL")?,
            file_bytes,
        })
    }

    /// The connection, for read-only reports in this crate (audit, verify, schema).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// The current versions of the fingerprinted orders of `page`, by `o_id`, read in one query.
fn current_versions(
    conn: &Connection,
    prints: &[Option<(Fingerprint, String)>],
) -> Result<HashMap<String, CurrentVersion>, StagingError> {
    let ids: Vec<&str> = prints
        .iter()
        .flatten()
        .map(|(f, _)| f.o_id.as_str())
        .collect();
    let mut currents = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(currents);
    }
    // At most SQLite's 32,766 parameters per statement; a page holds far fewer orders.
    for chunk in ids.chunks(10_000) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let mut statement = conn.prepare_cached(&format!(
            "SELECT o_id, sha256, ts, modified FROM current_orders WHERE o_id IN ({placeholders})"
        ))?;
        let rows = statement.query_map(rusqlite::params_from_iter(chunk), |row| {
            Ok((
                row.get::<_, String>(0)?,
                CurrentVersion {
                    sha256: row.get(1)?,
                    ts: row.get(2)?,
                    modified: row.get(3)?,
                },
            ))
        })?;
        for row in rows {
            let (o_id, current) = row?;
            currents.insert(o_id, current);
        }
    }
    Ok(currents)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
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
