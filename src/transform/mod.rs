//! Transform: turns one staged order (raw JSON) into the rows of the MySQL tables —
//! `order_list_query` (one row per order), `order_items` and `order_pays` — cleaning values by
//! the mapping's rules. Pure functions: no I/O.
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
pub use mapping::{Mapping, MappingError, TableMapping};
pub use mapping_overrides::{ColumnOverride, MappingOverrides, TableOverrides};
pub use order::{Transformed, order_id, transform, transform_order};
pub use source_path::SourcePath;
pub use transform_error::TransformError;

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

/// The rows one order becomes.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRows {
    pub o_id: String,
    pub version: VersionKey,
    /// One row of the order table, cells in the mapping's column order.
    pub order: Vec<Cell>,
    /// Rows of the items table, cells in the mapping's column order.
    pub items: Vec<Vec<Cell>>,
    /// Rows of the payments table, cells in the mapping's column order.
    pub pays: Vec<Vec<Cell>>,
}
