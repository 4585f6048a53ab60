//! Push: staging → MySQL. Drains the outbox in batches: each pending version is transformed
//! (failures are quarantined, filtered orders removed), the batch is written in one MySQL
//! transaction, and only after the commit are its outbox entries marked pushed. A MySQL outage
//! therefore loses nothing: the entries stay pending for the next run.

use serde_json::Value;

use super::{SharedStaging, with_staging};
use crate::sink::mysql::{MysqlSink, SinkError};
use crate::staging::{OutboxState, StagingError};
use crate::transform::{Mapping, OrderRows, Transformed, VersionKey, transform};

/// What a push did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    pub batches: u64,
    pub orders_pushed: u64,
    pub stale_skipped: u64,
    pub item_rows: u64,
    pub pay_rows: u64,
    pub write_statements: u64,
    pub quarantined: u64,
    pub filtered: u64,
    /// Orders still pending in the outbox when the push ended.
    pub pending_left: i64,
}

/// Why a push stopped early. Entries not yet marked pushed stay pending.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("staging failed during push: {0}")]
    Staging(#[from] StagingError),
    #[error("interrupted: committed batches are marked pushed, the rest stays pending")]
    Interrupted,
}

/// Drains the outbox into `sink`. With `sink = None` (dry run) nothing is written or marked:
/// the report says what would be pushed.
pub async fn push(
    staging: &SharedStaging,
    sink: Option<&MysqlSink>,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> (PushReport, Result<(), PushError>) {
    let mut report = PushReport::default();
    let result = drain(staging, sink, mapping, run_id, batch_orders, stop, &mut report).await;
    if let Ok(left) = with_staging(staging, |s| s.pending_count()).await {
        report.pending_left = left;
    }
    (report, result)
}

async fn drain(
    staging: &SharedStaging,
    sink: Option<&MysqlSink>,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    report: &mut PushReport,
) -> Result<(), PushError> {
    let mut after = 0i64;
    loop {
        if *stop.borrow() {
            return Err(PushError::Interrupted);
        }
        let entries = with_staging(staging, move |s| s.pending_outbox(after, batch_orders)).await?;
        let Some(last) = entries.last() else { return Ok(()) };
        after = last.id;

        let mut rows: Vec<OrderRows> = Vec::with_capacity(entries.len());
        let mut pushed: Vec<(i64, String)> = Vec::new();
        let mut filtered: Vec<(i64, String)> = Vec::new();
        for entry in entries {
            let version = VersionKey { ts: entry.ts, staging_version: entry.id };
            let outcome = serde_json::from_str::<Value>(&entry.canonical_json)
                .map_err(|e| format!("staged JSON cannot be read: {e}"))
                .and_then(|order| transform(&order, mapping, version).map_err(|e| e.to_string()));
            match outcome {
                Ok(Transformed::Rows(order_rows)) => {
                    pushed.push((entry.id, entry.o_id.clone()));
                    rows.push(order_rows);
                }
                Ok(Transformed::Skipped { reason, .. }) => {
                    tracing::debug!(o_id = %entry.o_id, %reason, "Order filtered.");
                    filtered.push((entry.id, entry.o_id.clone()));
                }
                Err(reason) => {
                    tracing::warn!(o_id = %entry.o_id, %reason, "Order quarantined.");
                    report.quarantined += 1;
                    if sink.is_some() {
                        with_staging(staging, move |s| s.quarantine_outbox(&entry, run_id, &reason)).await?;
                    }
                }
            }
        }
        report.batches += 1;
        report.filtered += filtered.len() as u64;
        let Some(sink) = sink else {
            report.orders_pushed += rows.len() as u64;
            continue;
        };
        if !rows.is_empty() {
            let written = sink.write(&rows).await?;
            report.orders_pushed += written.orders_written as u64;
            report.stale_skipped += written.stale_skipped as u64;
            report.item_rows += written.item_rows as u64;
            report.pay_rows += written.pay_rows as u64;
            report.write_statements += written.statements as u64;
        }
        if !filtered.is_empty() {
            let ids: Vec<i64> = filtered.iter().filter_map(|(_, o_id)| o_id.parse().ok()).collect();
            report.write_statements += sink.delete_orders(&ids).await?;
        }
        with_staging(staging, move |s| {
            let pushed: Vec<(i64, &str)> = pushed.iter().map(|(id, o)| (*id, o.as_str())).collect();
            s.finish_outbox(&pushed, OutboxState::Pushed)?;
            let filtered: Vec<(i64, &str)> = filtered.iter().map(|(id, o)| (*id, o.as_str())).collect();
            s.finish_outbox(&filtered, OutboxState::Filtered)
        })
        .await?;
        tracing::debug!(orders = report.orders_pushed, "Batch pushed.");
    }
}
