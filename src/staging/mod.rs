//! The SQLite staging store: raw pages as received, every order version keyed by
//! `(o_id, sha256)`, the current version per order, runs, watermarks, the outbox of versions
//! still to push, quarantined records, and the catalog of fields the API sends. Page bodies and
//! canonical JSON are stored compressed; a page read again is a sighting, not a copy.
//!
//! One [`StagingStore`] owns one connection; it is `Send` but not `Sync`, so async callers keep
//! it behind a mutex and call it from blocking tasks.

mod audit;
mod compression;
mod error;
pub mod field_catalog;
mod file_lock;
mod fingerprinted_page;
mod gateway_state;
mod integrity;
mod migrations;
mod outbox;
pub mod prune;
mod sqlite_file;
mod stage;
mod store;
mod timestamp;

pub use audit::{CurrentRecord, OutboxRecord, PageRecord, RequeueFilter, Sighting, VersionRecord};
pub use compression::{DecodeError, PageCompressor, stored_body};
pub use error::StagingError;
pub use field_catalog::{FieldNews, FieldRecord};
pub use fingerprinted_page::FingerprintedPage;
pub use gateway_state::GatewayBan;
pub use integrity::{DamagedPage, DamagedVersion, IntegrityReport};
pub use outbox::{Backlog, OutboxEntry, OutboxState, QuarantineEntry};
pub use prune::{PruneReport, prune};
pub use stage::PageOutcome;
pub use store::{RunRecord, RunStatus, StagingStore, StoreCounts};

#[cfg(test)]
mod tests;
