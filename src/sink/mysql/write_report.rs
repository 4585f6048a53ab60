//! What one write did, and what the tables hold: the default child tables `items` and `pays`
//! by name (the run summary's and the metrics' figures), the others together.

/// The outcome of [`super::MysqlSink::write`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Orders inserted or updated.
    pub orders_written: usize,
    /// Orders not written because MySQL (or the same batch) holds a newer version.
    pub stale_skipped: usize,
    /// Item rows inserted (after the written orders' old items were deleted): the child table
    /// `items`.
    pub item_rows: usize,
    /// Payment rows inserted (after the written orders' old payments were deleted): the child
    /// table `pays`.
    pub pay_rows: usize,
    /// Rows of the other child tables (those the config's `[mapping]` adds) inserted.
    pub other_child_rows: usize,
    /// `INSERT`/`DELETE` statements sent; the locking `SELECT` is not counted, and an empty
    /// batch sends nothing at all.
    pub statements: usize,
}

impl WriteReport {
    /// The count of the child table `name`'s rows.
    pub(crate) fn rows_of_child(&mut self, name: &str) -> &mut usize {
        match name {
            "items" => &mut self.item_rows,
            "pays" => &mut self.pay_rows,
            _ => &mut self.other_child_rows,
        }
    }
}

/// Row counts of the tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub orders: u64,
    /// The child table `items`.
    pub items: u64,
    /// The child table `pays`.
    pub pays: u64,
    /// The other child tables (those the config's `[mapping]` adds), together.
    pub other_children: u64,
}

impl RowCounts {
    /// The count of the child table `name`'s rows.
    pub(crate) fn of_child(&mut self, name: &str) -> &mut u64 {
        match name {
            "items" => &mut self.items,
            "pays" => &mut self.pays,
            _ => &mut self.other_children,
        }
    }
}
