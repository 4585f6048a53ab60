//! Transform: turns one staged order (raw JSON) into the rows of the MySQL tables —
//! `order_list_query` (one row per order), `order_items` and `order_pays` — cleaning values by
//! the mapping's rules. Pure functions: no I/O.

pub mod cell;

pub use cell::Cell;

/// Which staged version produced a set of rows; the sink never lets an older version overwrite
/// a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionKey {
    /// The order's `ts` row version when the gateway sent one.
    pub ts: Option<i64>,
    /// The staging id of the version (grows with arrival).
    pub staging_version: i64,
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
