//! The SQLite staging store: raw pages as received, every order version keyed by
//! `(o_id, sha256)`, the current version per order, runs, watermarks, the outbox of versions
//! still to push, and quarantined records.
//!
//! One [`StagingStore`] owns one connection; it is `Send` but not `Sync`, so async callers keep
//! it behind a mutex and call it from blocking tasks.

mod audit;
mod error;
mod migrations;
mod store;

pub use audit::{CurrentRecord, OutboxRecord, PageRecord, RequeueFilter, VersionRecord};
pub use error::StagingError;
pub use store::{
    OutboxEntry, OutboxState, PageOutcome, QuarantineEntry, RunRecord, RunStatus, StagingStore,
    StoreCounts,
};

#[cfg(test)]
mod tests;
