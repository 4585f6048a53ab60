//! Multi-row statements: SQL text with placeholders, and chunks that fit MySQL's limits.
//!
//! One prepared statement takes at most 65,535 placeholders, and its execute packet must fit
//! `max_allowed_packet`; rows are grouped so that every chunk respects both and the configured
//! `batch_rows`. Values are always bound, never formatted into the SQL.

use mysql_async::Value;

/// The most placeholders one prepared statement may have.
pub(crate) const MAX_PLACEHOLDERS: usize = 65_535;

/// Limits for one statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkLimits {
    pub max_rows: usize,
    /// Estimated bytes of bound values one statement may carry.
    pub max_bytes: usize,
}

impl ChunkLimits {
    /// Limits for statements whose rows have `values_per_row` placeholders.
    pub fn new(batch_rows: usize, max_allowed_packet: usize, values_per_row: usize) -> Self {
        let by_placeholders = MAX_PLACEHOLDERS / values_per_row.max(1);
        Self {
            max_rows: batch_rows.min(by_placeholders).max(1),
            // Half the packet leaves room for the protocol's own overhead and the estimate's error.
            max_bytes: (max_allowed_packet / 2).max(1024),
        }
    }
}

/// Splits `rows` into consecutive chunks within `limits`; a single row over the byte budget
/// still gets a chunk of its own (MySQL then decides).
///
/// The last chunk, the one cut short because the rows ran out, is split further into sizes
/// that are powers of two (`300` → `256, 32, 8, 4`). Each distinct row count is a distinct
/// prepared statement, and preparing one with thousands of placeholders costs the server a
/// column definition per placeholder: with a handful of sizes, every batch reuses statements
/// already in the connection's cache instead of preparing a new one for its odd remainder.
pub(crate) fn chunks<T>(
    rows: &[T],
    limits: ChunkLimits,
    bytes_of: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, row) in rows.iter().enumerate() {
        let row_bytes = bytes_of(row);
        let count = index - start;
        if count > 0 && (count >= limits.max_rows || bytes + row_bytes > limits.max_bytes) {
            out.push(&rows[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += row_bytes;
    }
    let mut rest = &rows[start..];
    while !rest.is_empty() {
        let size = if rest.len() == limits.max_rows {
            rest.len()
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        out.push(chunk);
        rest = tail;
    }
    out
}

/// An estimate of the bytes one row's values take in an execute packet.
pub(crate) fn row_bytes(values: &[Value]) -> usize {
    values
        .iter()
        .map(|value| {
            2 + match value {
                Value::NULL => 1,
                Value::Bytes(bytes) => bytes.len() + 9,
                Value::Date(..) | Value::Time(..) => 12,
                _ => 8,
            }
        })
        .sum()
}

/// `(?, ?, …), (?, ?, …)` for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

fn column_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO t (…) VALUES (…), … ON DUPLICATE KEY UPDATE c = VALUES(c), …` updating every
/// column but the key.
pub(crate) fn upsert_sql(table: &str, columns: &[&str], key: &[&str], rows: usize) -> String {
    let updates = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("`{c}` = VALUES(`{c}`)"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO `{table}` ({}) VALUES {} ON DUPLICATE KEY UPDATE {updates}",
        column_list(columns),
        placeholders(rows, columns.len())
    )
}

/// How many ids one `IN (…)` list carries.
pub(crate) const IDS_PER_STATEMENT: usize = 1000;

/// `(?, ?, …)` with `count` placeholders, for `IN` lists.
pub(crate) fn in_list(count: usize) -> String {
    format!("({})", vec!["?"; count].join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_rows_placeholders_and_bytes() {
        let rows: Vec<usize> = vec![10; 10];
        let sizes = |limits| {
            chunks(&rows, limits, |r| *r)
                .iter()
                .map(|c| c.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sizes(ChunkLimits {
                max_rows: 4,
                max_bytes: 1000
            }),
            [4, 4, 2]
        );
        assert_eq!(
            sizes(ChunkLimits {
                max_rows: 100,
                max_bytes: 30
            }),
            [3, 3, 3, 1]
        );
        assert_eq!(
            sizes(ChunkLimits {
                max_rows: 100,
                max_bytes: 5
            }),
            [1; 10]
        );
        // The remainder comes in powers of two, so its statements are reused.
        assert_eq!(
            sizes(ChunkLimits {
                max_rows: 3,
                max_bytes: 1000
            }),
            [3, 3, 3, 1]
        );
        assert_eq!(
            sizes(ChunkLimits {
                max_rows: 100,
                max_bytes: 1000
            }),
            [8, 2]
        );
        assert!(
            chunks(
                &[] as &[usize],
                ChunkLimits {
                    max_rows: 1,
                    max_bytes: 1
                },
                |r| *r
            )
            .is_empty()
        );
        assert_eq!(
            ChunkLimits::new(100_000, 16 << 20, 44).max_rows,
            65_535 / 44
        );
        assert_eq!(ChunkLimits::new(500, 16 << 20, 44).max_rows, 500);
    }

    #[test]
    fn upsert_updates_every_column_but_the_key() {
        assert_eq!(
            upsert_sql("t", &["id", "a"], &["id"], 2),
            "INSERT INTO `t` (`id`, `a`) VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)"
        );
        assert_eq!(in_list(3), "(?, ?, ?)");
    }
}
