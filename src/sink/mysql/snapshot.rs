//! Reading what MySQL holds, for `verify`: per order its stored version and fingerprint, the
//! mapped columns as text, and how many rows it has in each child table. Read-only.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use super::error::SinkError;
use super::sink::MysqlSink;
use crate::transform::mapping::{ORDER_ID_COLUMN, PARENT_ID_COLUMN};

/// One order row as MySQL holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredOrder {
    /// Whether the order table has the row (false: only child rows name the order).
    pub has_row: bool,
    /// `jst_ts`: the gateway's row version of the stored version.
    pub ts: Option<i64>,
    /// `jst_sha256`: the SHA-256 of the staged JSON the row was written from (`None`: written
    /// before fingerprints were kept, or cleared by a migration that changed a column).
    pub sha256: Option<String>,
    /// The requested columns, as MySQL renders them as text (`NULL` = `None`).
    pub fields: Vec<Option<String>>,
    /// Rows per child table, in the mapping's order (empty: none in any).
    pub children: Vec<u64>,
}

impl MysqlSink {
    /// Every order row with `columns` as text and its child row counts, by order id.
    pub async fn snapshot(
        &self,
        columns: &[&str],
    ) -> Result<BTreeMap<i64, StoredOrder>, SinkError> {
        let mut conn = self.connection().await?;
        let tables = self.tables().clone();
        let child_tables = self.child_tables.clone();
        let select: String = columns
            .iter()
            .map(|c| format!(", CAST(`{c}` AS CHAR)"))
            .collect();
        let sql = format!(
            "SELECT `{ORDER_ID_COLUMN}`, jst_ts, jst_sha256{select} FROM `{}`",
            tables.orders
        );
        let rows: Vec<mysql_async::Row> = conn.query(sql).await.map_err(|e| self.read_error(e))?;
        let mut orders = BTreeMap::new();
        for row in rows {
            let id: i64 = row.get(0).unwrap_or_default();
            let ts: Option<i64> = row.get::<Option<i64>, _>(1).flatten();
            let sha256: Option<String> = row.get::<Option<String>, _>(2).flatten();
            let fields = (0..columns.len())
                .map(|i| row.get::<Option<String>, _>(i + 3).flatten())
                .collect();
            orders.insert(
                id,
                StoredOrder {
                    has_row: true,
                    ts,
                    sha256,
                    fields,
                    children: vec![0; child_tables.len()],
                },
            );
        }
        for (position, table) in child_tables.iter().enumerate() {
            let sql = format!(
                "SELECT `{PARENT_ID_COLUMN}`, COUNT(*) FROM `{table}` GROUP BY `{PARENT_ID_COLUMN}`"
            );
            let counts: Vec<(i64, u64)> = conn.query(sql).await.map_err(|e| self.read_error(e))?;
            for (id, count) in counts {
                let order = orders.entry(id).or_default();
                order.children.resize(child_tables.len(), 0);
                order.children[position] = count;
            }
        }
        Ok(orders)
    }
}
