//! A dry run's account: what a push would insert, update, skip as stale and delete, table by
//! table, telling inserts from updates by the versions MySQL holds (read-only).

use std::collections::HashMap;

use crate::order_id::OrderId;
use crate::sink::mysql::{MysqlSink, SinkError};
use crate::transform::{Mapping, OrderRows, VersionStamp};

/// What a dry run would write, table by table. Inserts and updates are told apart by reading
/// the stored versions from MySQL (read-only); without MySQL every order counts as unknown.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DryRunReport {
    /// Whether MySQL was read to tell inserts from updates.
    pub compared_with_mysql: bool,
    /// Why MySQL was not read (not configured, unreachable, tables missing).
    pub mysql_note: Option<String>,
    /// Orders not in MySQL yet.
    pub orders_insert: u64,
    /// Orders in MySQL that would be overwritten.
    pub orders_update: u64,
    /// Orders MySQL holds a newer version of (would be skipped).
    pub orders_stale: u64,
    /// Orders whose insert-or-update could not be told (MySQL not read).
    pub orders_unknown: u64,
    /// Filtered orders in MySQL that would be deleted.
    pub orders_delete: u64,
    /// Item rows of new orders, and item rows that would replace those of stored orders.
    pub items_insert: u64,
    pub items_replace: u64,
    pub pays_insert: u64,
    pub pays_replace: u64,
}

/// Counts what a dry-run batch would do, reading stored versions from `probe` while it answers.
pub(super) async fn count_batch(
    dry: &mut DryRunReport,
    probe: Option<&MysqlSink>,
    mapping: &Mapping,
    rows: &[OrderRows],
    filtered: &[(i64, String, OrderId)],
) {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.o_id.get()).collect();
    ids.extend(filtered.iter().map(|(_, _, o_id)| o_id.get()));
    let stored = match probe {
        Some(sink) if dry.compared_with_mysql => match sink.order_stamps(&ids).await {
            Ok(stored) => Some(stored.into_iter().collect::<HashMap<i64, VersionStamp>>()),
            // The tables are created by the first real push: until then every order is new.
            Err(SinkError::SchemaChanged { .. }) => {
                dry.mysql_note = Some(
                    "tables not created or not migrated yet: every order counts as an insert"
                        .to_owned(),
                );
                Some(HashMap::new())
            }
            Err(error) => {
                dry.compared_with_mysql = false;
                dry.mysql_note = Some(format!("cannot read MySQL: {error}"));
                None
            }
        },
        _ => None,
    };
    let Some(stored) = stored else {
        dry.orders_unknown += rows.len() as u64;
        return;
    };
    for order in rows {
        let count = |child| order.rows_of(mapping, child).len() as u64;
        let (items, pays) = (count("items"), count("pays"));
        match stored.get(&order.o_id.get()) {
            None => {
                dry.orders_insert += 1;
                dry.items_insert += items;
                dry.pays_insert += pays;
            }
            Some(theirs) if order.stamp().is_older_than(theirs) => dry.orders_stale += 1,
            Some(_) => {
                dry.orders_update += 1;
                dry.items_replace += items;
                dry.pays_replace += pays;
            }
        }
    }
    dry.orders_delete += filtered
        .iter()
        .filter(|(_, _, o_id)| stored.contains_key(&o_id.get()))
        .count() as u64;
}
