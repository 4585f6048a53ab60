//! What one write did, and what the tables hold.

/// The outcome of [`super::MysqlSink::write`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Orders inserted or updated.
    pub orders_written: usize,
    /// Orders not written because MySQL (or the same batch) holds a newer version.
    pub stale_skipped: usize,
    /// Item rows inserted (after the written orders' old items were deleted).
    pub item_rows: usize,
    /// Payment rows inserted (after the written orders' old payments were deleted).
    pub pay_rows: usize,
    /// `INSERT`/`DELETE` statements sent; the locking `SELECT` is not counted, and an empty
    /// batch sends nothing at all.
    pub statements: usize,
}

/// Row counts of the three tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub orders: u64,
    pub items: u64,
    pub pays: u64,
}
