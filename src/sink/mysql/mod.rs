//! The MySQL sink: schema migrations and batched, idempotent upserts.
//!
//! [`MysqlSink::write`] writes one batch per transaction: it locks the stored versions of the
//! batch's orders, skips any order older than what MySQL holds (compared by `ts` first, then
//! staging version), loads the orders MySQL does not hold yet with `LOAD DATA LOCAL INFILE`
//! streamed from memory (`load_data.rs`; upserts instead where the server refuses it), upserts
//! the rest with multi-row `INSERT … ON DUPLICATE KEY UPDATE`, and replaces their rows in each
//! of the mapping's child tables (items, payments, and any the config adds). With `partition_by_month` the order table is
//! partitioned by `p_month` (see `partitions.rs`). Errors say whether retrying later can help
//! ([`SinkError::is_transient`]).

pub mod bookkeeping;
pub(crate) mod column_types;
mod config;
mod error;
pub mod health;
mod live_columns;
pub mod load_data;
mod migrate_failure;
mod migrations;
mod partitions;
pub mod reset;
mod sink;
mod snapshot;
mod statements;
mod write;
mod write_report;

#[cfg(test)]
mod tests;

/// mysql_async keeps the buffers of sent statements for reuse: by default up to 128 of up to
/// 4 MiB each, so a push of fat orders (statements of several MB) keeps hundreds of MB
/// resident. A few buffers of at most 256 KiB are plenty (a larger one is shrunk back when
/// returned). An operator's own setting wins.
pub const DRIVER_BUFFER_POOL: [(&str, &str); 2] = [
    ("MYSQL_ASYNC_BUFFER_POOL_CAP", "16"),
    ("MYSQL_ASYNC_BUFFER_SIZE_CAP", "262144"),
];

pub use config::{MysqlConfig, TableNames};
pub use error::SinkError;
pub(crate) use error::reason_of as driver_reason;
pub use health::MysqlHealth;
pub use load_data::LoadDataStats;
pub use partitions::PARTITION_COLUMN;
pub use sink::MysqlSink;
pub use snapshot::StoredOrder;
pub use write_report::{RowCounts, WriteReport};
