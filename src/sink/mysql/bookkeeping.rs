//! The columns the MySQL sink adds after the mapped ones, for its own bookkeeping: which
//! version a row was written from and when (names start with `jst_`, which mappings may not use).

/// The bookkeeping columns the sink adds to the order table after the mapped ones.
/// `jst_modified` and `jst_sha256` are the written version's `modified` and the SHA-256 of its
/// staged JSON: they decide staleness without `ts` and let `verify` check content.
pub const ORDER_BOOKKEEPING_COLUMNS: [&str; 5] = [
    "jst_ts",
    "jst_version",
    "jst_synced_at",
    "jst_modified",
    "jst_sha256",
];
/// The bookkeeping columns the sink adds to each child table after the mapped ones.
pub const CHILD_BOOKKEEPING_COLUMNS: [&str; 2] = ["jst_version", "jst_synced_at"];
