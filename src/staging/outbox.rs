//! The outbox (versions still to push, marked only after MySQL commits) and the quarantine
//! (orders that could not be staged or transformed).

use rusqlite::params;

use super::timestamp::now;
use super::{StagingError, StagingStore};

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

/// What waits in staging: versions in the outbox and quarantine entries not resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub outbox_pending: i64,
    pub quarantine_open: i64,
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

/// The most canonical JSON one read of the outbox returns (beyond its first entry): a batch of
/// fat orders (60 items with long names, 70 KB each) is parsed, transformed and written while
/// the next is read, so its size in bytes, not only in orders, bounds the push's memory.
pub const OUTBOX_READ_BYTES: usize = 4 << 20;

impl StagingStore {
    /// Pending outbox entries with ids above `after`, oldest first: up to `limit` of them, and
    /// fewer when their canonical JSON passes [`OUTBOX_READ_BYTES`] (always at least one).
    /// Empty only when no entry is pending after `after`.
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
        let mut rows = statement.query(params![after, limit as i64])?;
        let mut entries = Vec::new();
        let mut bytes = 0;
        while bytes < OUTBOX_READ_BYTES
            && let Some(row) = rows.next()?
        {
            let entry = OutboxEntry {
                id: row.get(0)?,
                version_id: row.get(1)?,
                o_id: row.get(2)?,
                ts: row.get(3)?,
                canonical_json: self.canonical_at(row, 4)?,
            };
            bytes += entry.canonical_json.len();
            entries.push(entry);
        }
        Ok(entries)
    }

    /// The id of the newest outbox entry (0 for an empty outbox): entries enqueued later have
    /// larger ids.
    pub fn last_outbox_id(&self) -> Result<i64, StagingError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |r| r.get(0))?)
    }

    /// Number of pending outbox entries.
    pub fn pending_count(&self) -> Result<i64, StagingError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The pending outbox entries and the open quarantine entries, counted (the run summary,
    /// `status` and the `run --listen` endpoints all read these).
    pub fn backlog(&self) -> Result<Backlog, StagingError> {
        Ok(Backlog {
            outbox_pending: self.pending_count()?,
            quarantine_open: self.conn.query_row(
                "SELECT COUNT(*) FROM quarantine WHERE resolved_at IS NULL",
                [],
                |r| r.get(0),
            )?,
        })
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

    /// Quarantines the outbox entry `outbox_id` at `stage` (e.g. `push`: MySQL refused its
    /// rows), with the staged JSON of its version; the entry stops being pending.
    pub fn quarantine_outbox_at(
        &mut self,
        outbox_id: i64,
        run_id: i64,
        stage: &str,
        reason: &str,
    ) -> Result<(), StagingError> {
        // The staged JSON, read back as text (it is stored compressed).
        let staged: Option<(String, i64, String)> = {
            let mut statement = self.conn.prepare(
                "SELECT o.o_id, o.version_id, v.canonical_json
                 FROM outbox o JOIN order_versions v ON v.id = o.version_id WHERE o.id = ?1",
            )?;
            let mut rows = statement.query([outbox_id])?;
            match rows.next()? {
                Some(row) => Some((row.get(0)?, row.get(1)?, self.canonical_at(row, 2)?)),
                None => None,
            }
        };
        let tx = self.conn.transaction()?;
        let at = now();
        if let Some((o_id, version_id, json)) = staged {
            tx.execute(
                "INSERT INTO quarantine (o_id, version_id, run_id, stage, reason, raw_json, quarantined_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![o_id, version_id, run_id, stage, reason, json, at],
            )?;
        }
        tx.execute(
            "UPDATE outbox SET state = 'quarantined', done_at = ?2 WHERE id = ?1 AND state = 'pending'",
            params![outbox_id, at],
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
}
