//! Transform: turns one staged order (raw JSON) into the rows of the MySQL tables —
//! `order_list_query` (one row per order) and each child table of the mapping (`order_items`,
//! `order_pays` by default) — cleaning values by the mapping's rules. Pure functions: no I/O.
//!
//! [`Mapping`] says which columns exist and where each value comes from (as data, overridable
//! from the config); [`transform`] applies the mapping's filter and [`transform_order`] builds
//! the rows. Conversion decisions are documented in `convert.rs` and `order.rs`.

pub mod cell;
pub mod clean_rule;
pub mod column_spec;
mod convert;
pub mod filter;
pub mod mapping;
pub mod mapping_overrides;
pub mod order;
pub mod source_path;
pub mod transform_error;

#[cfg(test)]
mod tests;

pub use cell::Cell;
pub use clean_rule::CleanRule;
pub use column_spec::{ColumnKind, ColumnSpec};
pub use filter::Filter;
pub use mapping::{ChildTable, Mapping, MappingError, TableMapping};
pub use mapping_overrides::{ColumnOverride, MappingOverrides, TableOverrides};
pub use order::{Transformed, order_id, transform, transform_order};
pub use source_path::SourcePath;
pub use transform_error::TransformError;

use chrono::NaiveDateTime;

/// Which staged version produced a set of rows; the sink never lets an older version overwrite
/// a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionKey {
    /// The order's `ts` row version when the gateway sent one.
    pub ts: Option<i64>,
    /// The staging id of the version (grows with arrival).
    pub staging_version: i64,
}

impl VersionKey {
    /// Whether `self` is older than `other`. When both carry the gateway's `ts` row version it
    /// alone decides, and an equal `ts` is not older (the same row version is the same content,
    /// and a staging store that was recreated starts its ids again). Without `ts` on both sides
    /// the staging version (outbox id) decides. Equal versions are not older (rewriting one is
    /// idempotent).
    pub fn is_older_than(&self, other: &VersionKey) -> bool {
        match (self.ts, other.ts) {
            (Some(mine), Some(theirs)) => mine < theirs,
            _ => self.staging_version < other.staging_version,
        }
    }
}

/// What tells a written version of an order from another one, as MySQL keeps it with the row
/// (`jst_ts`, `jst_modified`, `jst_sha256`, `jst_version`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionStamp {
    /// The gateway's `ts` row version, when sent.
    pub ts: Option<i64>,
    /// The order's `modified` (Beijing time), when sent.
    pub modified: Option<NaiveDateTime>,
    /// The SHA-256 of the staged version's canonical JSON, when known.
    pub sha256: Option<String>,
    /// The staging outbox id; ids restart when a staging file is recreated or restored.
    pub staging_version: i64,
}

impl VersionStamp {
    /// Whether a write of `self` must be skipped because MySQL holds `other`, a newer version.
    ///
    /// The rule (README, "Which version wins"): the gateway's `ts` when both have it; else
    /// `modified` when both have it and they differ; else the version's identity: the same
    /// content (equal SHA-256) is never older, rewriting it is idempotent; only then the
    /// staging version (outbox id). Staging ids start again when a staging file is restored from
    /// an older copy, so they decide only between versions with the same `modified`: a real
    /// update, which moves `modified` forward, is never skipped.
    pub fn is_older_than(&self, other: &VersionStamp) -> bool {
        if let (Some(mine), Some(theirs)) = (self.ts, other.ts) {
            return mine < theirs;
        }
        if let (Some(mine), Some(theirs)) = (self.modified, other.modified)
            && mine != theirs
        {
            return mine < theirs;
        }
        if let (Some(mine), Some(theirs)) = (&self.sha256, &other.sha256)
            && mine == theirs
        {
            return false;
        }
        self.staging_version < other.staging_version
    }
}

/// The rows one order becomes.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRows {
    pub o_id: crate::order_id::OrderId,
    pub version: VersionKey,
    /// The order's `modified`, when it has a valid one.
    pub modified: Option<NaiveDateTime>,
    /// The SHA-256 of the staged JSON these rows come from (set by the push, which has it).
    pub sha256: Option<String>,
    /// One row of the order table, cells in the mapping's column order.
    pub order: Vec<Cell>,
    /// The rows of each child table, in the mapping's order of child tables.
    pub children: Vec<ChildRows>,
}

/// The rows of one child table for one order, cells in the mapping's column order.
pub type ChildRows = Vec<Vec<Cell>>;

impl OrderRows {
    /// The rows of `mapping`'s child table `name` (none when the mapping has no such table).
    pub fn rows_of(&self, mapping: &Mapping, name: &str) -> &[Vec<Cell>] {
        mapping
            .child_position(name)
            .and_then(|position| self.children.get(position))
            .map_or(&[], Vec::as_slice)
    }

    /// This version's stamp, compared with what MySQL holds before writing.
    pub fn stamp(&self) -> VersionStamp {
        VersionStamp {
            ts: self.version.ts,
            modified: self.modified,
            sha256: self.sha256.clone(),
            staging_version: self.version.staging_version,
        }
    }
}
