//! Re-enqueuing: every order's current staged version goes back into the outbox, so the next
//! push rewrites all of MySQL from staging (no API calls) — after a mapping change added a
//! column, for instance.

use rusqlite::params;

use super::{StagingError, StagingStore};

impl StagingStore {
    /// Supersedes the pending outbox entries and enqueues the current version of every order
    /// (under `run_id` when given); returns how many were enqueued. The new entries have the
    /// newest outbox ids, so they win over anything pushed before unless MySQL holds a newer
    /// `ts`.
    pub fn requeue_current(&self, run_id: Option<i64>) -> Result<u64, StagingError> {
        let tx = self.connection().unchecked_transaction()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        tx.execute(
            "UPDATE outbox SET state = 'superseded', done_at = ?1 WHERE state = 'pending'",
            params![now],
        )?;
        let enqueued = tx.execute(
            "INSERT INTO outbox (version_id, o_id, enqueued_at, run_id)
             SELECT version_id, o_id, ?1, ?2 FROM current_orders ORDER BY o_id",
            params![now, run_id],
        )?;
        tx.commit()?;
        Ok(enqueued as u64)
    }
}
