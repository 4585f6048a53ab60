//! Keeping the staging file small over time: [`prune`] drops what only the retention needs
//! (sightings of re-read pages, re-read copies stored before 0006) and gives the space back to
//! the file system; also the one-time compression and vacuum-mode switch of migration 0006.
//!
//! What is never dropped: order versions (each was current once), the page that first carried
//! each of them, the pages quarantined records came from, the runs (each row: command, times,
//! status, error), the outbox and watermarks — so `audit` explains every row MySQL holds and
//! `replay` can push it again. The summary JSON of a run that finished before the retention is
//! dropped: a daemon's 5-minute runs would otherwise add their reports forever.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::compression::{self, JsonCodec};
use super::sqlite_file::file_bytes;
use super::{StagingError, StagingStore};

/// What one [`prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Sightings of re-read pages older than the retention, dropped.
    pub sightings_dropped: u64,
    /// Stored pages that explain nothing kept (re-read copies) older than the retention,
    /// dropped.
    pub pages_dropped: u64,
    /// Summaries (the JSON report) of runs finished before the retention, dropped; the runs'
    /// rows stay.
    pub summaries_dropped: u64,
    /// The file's size (database and write-ahead log) before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Whether the file had to be rewritten once (VACUUM) to allow incremental vacuums.
    pub vacuumed_in_full: bool,
}

/// Counts of the one-time compression of migration 0006.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Compacted {
    pub pages: u64,
    pub versions: u64,
}

/// Drops the sightings and the unpinned pages received more than `keep` ago, then shrinks the
/// file (`PRAGMA incremental_vacuum` and a truncating WAL checkpoint).
pub fn prune(store: &mut StagingStore, keep: Duration) -> Result<PruneReport, StagingError> {
    let bytes_before = file_bytes(store.path());
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let cutoff = chrono::Utc::now()
        .checked_sub_signed(keep)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let tx = store.conn.transaction()?;
    let sightings_dropped = tx.execute(
        "DELETE FROM page_sightings WHERE received_at < ?1",
        params![cutoff],
    )? as u64;
    // Pinned pages stay; a page is pinned as soon as a version, a quarantined record or an
    // order's last page refers to it (see `stage.rs`); the checks below are a second guard.
    let pages_dropped = tx.execute(
        "DELETE FROM pages WHERE pinned IS NULL AND received_at < ?1
             AND NOT EXISTS (SELECT 1 FROM page_sightings s WHERE s.page_id = pages.id)
             AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.page_id = pages.id)",
        params![cutoff],
    )? as u64;
    let summaries_dropped = tx.execute(
        "UPDATE runs SET summary_json = NULL
         WHERE summary_json IS NOT NULL AND finished_at IS NOT NULL AND finished_at < ?1",
        params![cutoff],
    )? as u64;
    tx.commit()?;
    let path = store.path.clone();
    let vacuumed_in_full = ensure_incremental_vacuum(&mut store.conn, &path)?;
    store.conn.execute_batch("PRAGMA incremental_vacuum;")?;
    store
        .conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let report = PruneReport {
        sightings_dropped,
        pages_dropped,
        summaries_dropped,
        bytes_before,
        bytes_after: file_bytes(store.path()),
        vacuumed_in_full,
    };
    tracing::info!(
        sightings = report.sightings_dropped,
        pages = report.pages_dropped,
        summaries = report.summaries_dropped,
        bytes_before = report.bytes_before,
        bytes_after = report.bytes_after,
        "Staging pruned."
    );
    Ok(report)
}

/// Switches the file to `auto_vacuum = INCREMENTAL` if it is not yet: SQLite needs one full
/// rewrite (VACUUM) for that, done here once (on a file made before migration 0006, the first
/// time a writer opens it). Returns whether it rewrote the file.
pub(super) fn ensure_incremental_vacuum(
    conn: &mut Connection,
    path: &Path,
) -> Result<bool, StagingError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode == 2 {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    let bytes = file_bytes(path);
    if bytes > 1 << 20 {
        tracing::info!(
            path = %path.display(),
            bytes,
            secs = started.elapsed().as_secs_f64(),
            "Staging file rewritten once to allow incremental vacuum."
        );
    }
    Ok(true)
}

/// Migration 0006 in Rust: makes the dictionary from the first stored versions, compresses
/// every stored canonical JSON and page body still held as text, and pins the pages that
/// explain kept rows.
pub(super) fn compress_stored(conn: &Connection) -> Result<Compacted, StagingError> {
    let mut codec = JsonCodec::load(conn)?;
    if !codec.has_dictionary() {
        let samples: Vec<String> = conn
            .prepare(
                "SELECT canonical_json FROM order_versions WHERE typeof(canonical_json) = 'text'
                 ORDER BY id LIMIT 200",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        codec.create_dictionary(conn, samples.iter().map(String::as_str))?;
    }
    let mut compacted = Compacted::default();
    {
        let mut read = conn.prepare(
            "SELECT id, canonical_json FROM order_versions WHERE typeof(canonical_json) = 'text'",
        )?;
        let mut write =
            conn.prepare("UPDATE order_versions SET canonical_json = ?2 WHERE id = ?1")?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let text = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            write.execute(params![id, codec.compress(text)])?;
            compacted.versions += 1;
        }
    }
    {
        let mut read = conn.prepare("SELECT id, body FROM pages WHERE typeof(body) = 'text'")?;
        let mut write = conn.prepare("UPDATE pages SET body = ?2 WHERE id = ?1")?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            // The bytes as stored, even if they are not UTF-8 (their hash says so later).
            let frame = compression::compress_bytes(
                row.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?,
            );
            write.execute(params![id, frame])?;
            compacted.pages += 1;
        }
    }
    conn.execute_batch(
        "UPDATE pages SET pinned = 1 WHERE pinned IS NULL AND (
             id IN (SELECT first_page_id FROM order_versions)
             OR id IN (SELECT page_id FROM quarantine WHERE page_id IS NOT NULL)
             OR id IN (SELECT last_page_id FROM current_orders))",
    )?;
    Ok(compacted)
}
