//! [`MysqlSink`]: connects, migrates, and writes batches of orders in one transaction each.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime, Timelike, Utc};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, Transaction, TxOpts, Value};
use tracing::debug;

use super::config::MysqlConfig;
use super::error::{Phase, SinkError, classify};
use super::migrations::{self, MigrateFailure};
use super::partitions::{PARTITION_COLUMN, p_month};
use super::statements::{ChunkLimits, chunks, in_list, row_bytes, upsert_sql};
use super::write_report::{RowCounts, WriteReport};
use crate::beijing_time;
use crate::transform::mapping::{
    CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS, ORDER_ID_COLUMN, PARENT_ID_COLUMN,
    TableMapping,
};
use crate::transform::{Cell, ColumnKind, Mapping, OrderRows, VersionKey};

/// Prepared statements each connection keeps: the row-count shapes of three tables' inserts
/// and the `IN (…)` lists, with room to spare.
const MIN_STMT_CACHE_SIZE: usize = 128;

/// How many ids one `IN (…)` list carries.
const IDS_PER_STATEMENT: usize = 1000;

/// Session settings for every pooled connection: full UTF-8, and strict mode so MySQL refuses
/// rather than truncates or zeroes a value.
const SESSION_INIT: [&str; 2] = [
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
];

/// The MySQL sink: a connection pool, the mapping it writes, and the server's packet limit.
pub struct MysqlSink {
    pool: Pool,
    config: MysqlConfig,
    mapping: Mapping,
    endpoint: String,
    max_allowed_packet: usize,
    /// With `partition_by_month`: where `order_date` is in an order row (it gives `p_month`).
    order_date_position: Option<usize>,
}

impl MysqlSink {
    /// Connects eagerly (one ping) so an outage shows up here as [`SinkError::Unreachable`].
    pub async fn connect(config: &MysqlConfig, mapping: Mapping) -> Result<Self, SinkError> {
        config.validate()?;
        mapping
            .validate()
            .map_err(|e| SinkError::Config(e.to_string()))?;
        let order_date_position = match config.partition_by_month {
            false => None,
            true => Some(
                mapping
                    .order
                    .columns
                    .iter()
                    .position(|c| c.name == "order_date" && c.kind == ColumnKind::DateTime)
                    .ok_or_else(|| {
                        SinkError::Config(
                            "partition_by_month needs the order column `order_date` of kind date_time"
                                .to_owned(),
                        )
                    })?,
            ),
        };
        let opts = Opts::from_url(config.url.expose()).map_err(|e| {
            SinkError::Config(format!("MySQL URL: {}", config.redact(&e.to_string())))
        })?;
        let endpoint = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
        create_database_if_missing(&opts).await;
        // Room for every statement shape a batch uses (see `statements::chunks`), so none is
        // prepared twice on one connection.
        let stmt_cache_size = opts.stmt_cache_size().max(MIN_STMT_CACHE_SIZE);
        // A connection going back to the pool is not reset (`COM_RESET_CONNECTION`): a reset
        // drops the server's prepared statements, so every batch would prepare its big
        // multi-row statements again (one column definition sent back per placeholder). The
        // sink leaves no session state behind: every write commits or rolls back.
        let pool_opts = opts.pool_opts().clone().with_reset_connection(false);
        let pool = Pool::new(
            OptsBuilder::from_opts(opts)
                .init(SESSION_INIT.to_vec())
                .stmt_cache_size(stmt_cache_size)
                .pool_opts(pool_opts),
        );
        let sink = Self {
            pool,
            config: config.clone(),
            mapping,
            endpoint,
            max_allowed_packet: 0,
            order_date_position,
        };
        match sink.probe().await {
            Ok(max_allowed_packet) => Ok(Self {
                max_allowed_packet,
                ..sink
            }),
            Err(error) => {
                sink.disconnect().await;
                Err(error)
            }
        }
    }

    /// Pings and reads `max_allowed_packet`.
    async fn probe(&self) -> Result<usize, SinkError> {
        let mut conn = self.conn().await?;
        conn.ping()
            .await
            .map_err(|e| self.classify(e, Phase::Connect))?;
        let packet: Option<u64> = conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(|e| self.classify(e, Phase::Connect))?;
        Ok(packet.unwrap_or(4 << 20) as usize)
    }

    /// `host:port` of the server, for messages.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Applies pending migrations and adds columns the mapping has and the tables lack.
    pub async fn migrate(&self) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        migrations::migrate(&mut conn, &self.config, &self.mapping)
            .await
            .map_err(|failure| match failure {
                MigrateFailure::Driver(e) => self.classify(e, Phase::Migrate),
                MigrateFailure::Schema(message) => SinkError::Schema(message),
            })
    }

    /// Writes a batch in one transaction: locks the stored versions, skips orders older than
    /// what MySQL holds, upserts the rest and replaces their items and payments.
    pub async fn write(&self, batch: &[OrderRows]) -> Result<WriteReport, SinkError> {
        if batch.is_empty() {
            return Ok(WriteReport::default());
        }
        let (newest, duplicates) = self.newest_per_order(batch)?;
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        let mut report = WriteReport {
            stale_skipped: duplicates,
            ..WriteReport::default()
        };
        let result = self.write_in(&mut tx, &newest, &mut report).await;
        match result {
            Ok(()) => tx
                .commit()
                .await
                .map_err(|e| self.classify(e, Phase::Write))?,
            Err(error) => {
                // Best effort: a lost connection rolls back on the server anyway.
                let _ = tx.rollback().await;
                return Err(error);
            }
        }
        debug!(
            orders = report.orders_written,
            stale = report.stale_skipped,
            items = report.item_rows,
            pays = report.pay_rows,
            statements = report.statements,
            "Batch written to MySQL."
        );
        Ok(report)
    }

    async fn write_in(
        &self,
        tx: &mut Transaction<'_>,
        newest: &BTreeMap<i64, &OrderRows>,
        report: &mut WriteReport,
    ) -> Result<(), SinkError> {
        let ids: Vec<i64> = newest.keys().copied().collect();
        let stored: BTreeMap<i64, VersionKey> = self
            .versions_in(tx, &ids, " FOR UPDATE")
            .await?
            .into_iter()
            .collect();
        let winners: Vec<(i64, &OrderRows)> = newest
            .iter()
            .filter(|(id, rows)| {
                !stored
                    .get(id)
                    .is_some_and(|theirs| rows.version.is_older_than(theirs))
            })
            .map(|(id, rows)| (*id, *rows))
            .collect();
        report.stale_skipped += newest.len() - winners.len();
        if winners.is_empty() {
            return Ok(());
        }
        let synced_at = datetime_value(now_with_millis());
        let tables = &self.config.tables;

        let order_rows: Vec<Vec<Value>> = winners
            .iter()
            .map(|(_, rows)| {
                let mut values: Vec<Value> = rows.order.iter().map(cell_value).collect();
                values.push(rows.version.ts.into());
                values.push(rows.version.staging_version.into());
                values.push(synced_at.clone());
                if let Some(position) = self.order_date_position {
                    values.push(p_month(&rows.order[position]).into());
                }
                values
            })
            .collect();
        let mut order_columns = columns_with(&self.mapping.order, &ORDER_BOOKKEEPING_COLUMNS);
        let mut order_key = vec![ORDER_ID_COLUMN];
        if let Some(position) = self.order_date_position {
            order_columns.push(PARTITION_COLUMN);
            order_key.push(PARTITION_COLUMN);
            self.delete_moved(tx, &winners, position, report).await?;
        }
        let limits = self.limits(order_columns.len());
        for chunk in chunks(&order_rows, limits, |row| row_bytes(row)) {
            let sql = upsert_sql(&tables.orders, &order_columns, &order_key, chunk.len());
            self.exec(tx, sql, chunk.concat()).await?;
            report.statements += 1;
        }
        report.orders_written = winners.len();

        // Only orders already in MySQL can have child rows to replace: new orders skip the
        // DELETEs (the locking read above told which exist).
        let existing_ids: Vec<i64> = winners
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| stored.contains_key(id))
            .collect();
        let items = winners
            .iter()
            .flat_map(|(_, rows)| rows.items.iter().map(|row| (*rows, row)));
        report.item_rows = self
            .replace_children(
                tx,
                &tables.items,
                &self.mapping.items,
                &existing_ids,
                items,
                &synced_at,
                report,
            )
            .await?;
        let pays = winners
            .iter()
            .flat_map(|(_, rows)| rows.pays.iter().map(|row| (*rows, row)));
        report.pay_rows = self
            .replace_children(
                tx,
                &tables.pays,
                &self.mapping.pays,
                &existing_ids,
                pays,
                &synced_at,
                report,
            )
            .await?;
        Ok(())
    }

    /// With partitions: deletes the stored rows of `winners` whose `p_month` differs from the
    /// one about to be written (their `order_date` moved to another month), so the upsert that
    /// follows in the same transaction leaves exactly one row per order. Their rows are already
    /// locked by the version check.
    async fn delete_moved(
        &self,
        tx: &mut Transaction<'_>,
        winners: &[(i64, &OrderRows)],
        order_date_position: usize,
        report: &mut WriteReport,
    ) -> Result<(), SinkError> {
        let wanted: BTreeMap<i64, i64> = winners
            .iter()
            .map(|(id, rows)| (*id, p_month(&rows.order[order_date_position])))
            .collect();
        let ids: Vec<i64> = wanted.keys().copied().collect();
        let mut moved = Vec::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT `{ORDER_ID_COLUMN}`, `{PARTITION_COLUMN}` FROM `{}` WHERE `{ORDER_ID_COLUMN}` IN {}",
                self.config.tables.orders,
                in_list(chunk.len())
            );
            let stored: Vec<(i64, i64)> = tx
                .exec(sql, chunk.to_vec())
                .await
                .map_err(|e| self.classify(e, Phase::Write))?;
            moved.extend(
                stored
                    .into_iter()
                    .filter(|(id, month)| wanted.get(id) != Some(month)),
            );
        }
        for chunk in moved.chunks(IDS_PER_STATEMENT / 2) {
            let pairs = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "DELETE FROM `{}` WHERE (`{ORDER_ID_COLUMN}`, `{PARTITION_COLUMN}`) IN ({pairs})",
                self.config.tables.orders
            );
            let params = chunk
                .iter()
                .flat_map(|(id, month)| [Value::from(*id), Value::from(*month)])
                .collect();
            self.exec(tx, sql, params).await?;
            report.statements += 1;
        }
        if !moved.is_empty() {
            debug!(
                orders = moved.len(),
                "Orders moved to another month's partition."
            );
        }
        Ok(())
    }

    /// Deletes the child rows of `ids` and inserts `rows` instead; returns how many were inserted.
    #[allow(clippy::too_many_arguments)]
    async fn replace_children<'r>(
        &self,
        tx: &mut Transaction<'_>,
        table: &str,
        mapping: &TableMapping,
        ids: &[i64],
        rows: impl Iterator<Item = (&'r OrderRows, &'r Vec<Cell>)>,
        synced_at: &Value,
        report: &mut WriteReport,
    ) -> Result<usize, SinkError> {
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM `{table}` WHERE `{PARENT_ID_COLUMN}` IN {}",
                in_list(chunk.len())
            );
            self.exec(tx, sql, chunk.iter().map(|id| Value::from(*id)).collect())
                .await?;
            report.statements += 1;
        }
        let values: Vec<Vec<Value>> = rows
            .map(|(order, row)| {
                let mut values: Vec<Value> = row.iter().map(cell_value).collect();
                values.push(order.version.staging_version.into());
                values.push(synced_at.clone());
                values
            })
            .collect();
        let columns = columns_with(mapping, &CHILD_BOOKKEEPING_COLUMNS);
        // An upsert, not a plain insert: child rows left behind by a parent deleted outside
        // jst-sync (a wiped order table) are overwritten instead of failing the batch.
        let key: Vec<&str> = mapping.key.iter().map(String::as_str).collect();
        for chunk in chunks(&values, self.limits(columns.len()), |row| row_bytes(row)) {
            self.exec(
                tx,
                upsert_sql(table, &columns, &key, chunk.len()),
                chunk.concat(),
            )
            .await?;
            report.statements += 1;
        }
        Ok(values.len())
    }

    /// The newest rows per order id in the batch, and how many older duplicates were dropped.
    fn newest_per_order<'a>(
        &self,
        batch: &'a [OrderRows],
    ) -> Result<(BTreeMap<i64, &'a OrderRows>, usize), SinkError> {
        let mut newest: BTreeMap<i64, &OrderRows> = BTreeMap::new();
        for rows in batch {
            let id = self.check_shape(rows)?;
            match newest.get(&id) {
                Some(kept) if rows.version.is_older_than(&kept.version) => {}
                _ => {
                    newest.insert(id, rows);
                }
            }
        }
        let duplicates = batch.len() - newest.len();
        Ok((newest, duplicates))
    }

    /// The order's id, after checking its rows have the mapping's number of cells.
    fn check_shape(&self, rows: &OrderRows) -> Result<i64, SinkError> {
        let id = rows
            .o_id
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                SinkError::Rejected(format!(
                    "order id `{}` is not a positive integer",
                    rows.o_id
                ))
            })?;
        let fits = |table: &TableMapping, row: &Vec<Cell>| row.len() == table.columns.len();
        let order_fits = fits(&self.mapping.order, &rows.order);
        let items_fit = rows.items.iter().all(|row| fits(&self.mapping.items, row));
        let pays_fit = rows.pays.iter().all(|row| fits(&self.mapping.pays, row));
        if order_fits && items_fit && pays_fit {
            Ok(id)
        } else {
            Err(SinkError::Rejected(format!(
                "order {id}: rows do not match the sink's mapping (transformed with another mapping?)"
            )))
        }
    }

    /// Deletes orders and their items and payments (e.g. orders a filter now skips); returns
    /// how many order rows were deleted.
    pub async fn delete_orders(&self, ids: &[i64]) -> Result<u64, SinkError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        let tables = &self.config.tables;
        let mut deleted = 0;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let params: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
            for (table, column) in [
                (&tables.items, PARENT_ID_COLUMN),
                (&tables.pays, PARENT_ID_COLUMN),
                (&tables.orders, ORDER_ID_COLUMN),
            ] {
                let sql = format!(
                    "DELETE FROM `{table}` WHERE `{column}` IN {}",
                    in_list(chunk.len())
                );
                self.exec(&mut tx, sql, params.clone()).await?;
                if table == &tables.orders {
                    deleted += tx.affected_rows();
                }
            }
        }
        tx.commit()
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        Ok(deleted)
    }

    /// How many rows each table holds.
    pub async fn count_rows(&self) -> Result<RowCounts, SinkError> {
        let mut conn = self.conn().await?;
        let tables = &self.config.tables;
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM `{}`), (SELECT COUNT(*) FROM `{}`), (SELECT COUNT(*) FROM `{}`)",
            tables.orders, tables.items, tables.pays
        );
        let counts: Option<(u64, u64, u64)> = conn
            .query_first(sql)
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        let (orders, items, pays) = counts.unwrap_or_default();
        Ok(RowCounts {
            orders,
            items,
            pays,
        })
    }

    /// The stored `(jst_ts, jst_version)` of those of `ids` that are in the order table.
    pub async fn order_versions(&self, ids: &[i64]) -> Result<Vec<(i64, VersionKey)>, SinkError> {
        let mut conn = self.conn().await?;
        self.versions_in(&mut conn, ids, "").await
    }

    async fn versions_in(
        &self,
        conn: &mut impl Queryable,
        ids: &[i64],
        suffix: &str,
    ) -> Result<Vec<(i64, VersionKey)>, SinkError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT `{ORDER_ID_COLUMN}`, jst_ts, jst_version FROM `{}` WHERE `{ORDER_ID_COLUMN}` IN {}{suffix}",
                self.config.tables.orders,
                in_list(chunk.len())
            );
            let rows: Vec<(i64, Option<i64>, i64)> = conn
                .exec(sql, chunk.to_vec())
                .await
                .map_err(|e| self.classify(e, Phase::Write))?;
            out.extend(rows.into_iter().map(|(id, ts, staging_version)| {
                (
                    id,
                    VersionKey {
                        ts,
                        staging_version,
                    },
                )
            }));
        }
        Ok(out)
    }

    /// The table names the sink writes, for read-only reports (`verify`).
    pub(crate) fn tables(&self) -> &super::config::TableNames {
        &self.config.tables
    }

    /// A pooled connection, for read-only reports in this crate (`verify`).
    pub(crate) async fn connection(&self) -> Result<Conn, SinkError> {
        self.conn().await
    }

    /// Sorts a driver error of a read-only report.
    pub(crate) fn read_error(&self, error: mysql_async::Error) -> SinkError {
        self.classify(error, Phase::Write)
    }

    /// Closes the pool's connections.
    pub async fn disconnect(self) {
        if let Err(error) = self.pool.disconnect().await {
            debug!(error = %self.config.redact(&error.to_string()), "MySQL pool did not close cleanly.");
        }
    }

    async fn conn(&self) -> Result<Conn, SinkError> {
        match tokio::time::timeout(self.config.connect_timeout(), self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(self.classify(error, Phase::Connect)),
            Err(_) => Err(SinkError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!(
                    "no connection within {} s",
                    self.config.connect_timeout().as_secs()
                ),
            }),
        }
    }

    async fn exec(
        &self,
        tx: &mut Transaction<'_>,
        sql: String,
        params: Vec<Value>,
    ) -> Result<(), SinkError> {
        tx.exec_drop(sql, Params::Positional(params))
            .await
            .map_err(|e| self.classify(e, Phase::Write))
    }

    fn limits(&self, values_per_row: usize) -> ChunkLimits {
        ChunkLimits::new(
            self.config.batch_rows,
            self.max_allowed_packet,
            values_per_row,
        )
    }

    fn classify(&self, error: mysql_async::Error, phase: Phase) -> SinkError {
        classify(error, &self.endpoint, phase, |text| {
            self.config.redact(text)
        })
    }
}

/// The mapped columns followed by the bookkeeping ones.
fn columns_with<'a>(table: &'a TableMapping, bookkeeping: &[&'a str]) -> Vec<&'a str> {
    table
        .column_names()
        .chain(bookkeeping.iter().copied())
        .collect()
}

fn cell_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::NULL,
        Cell::Text(text) => Value::Bytes(text.as_bytes().to_vec()),
        Cell::Int(int) => Value::Int(*int),
        // Sent as text: the server converts it to DECIMAL exactly.
        Cell::Decimal(text) => Value::Bytes(text.as_bytes().to_vec()),
        Cell::DateTime(time) => datetime_value(*time),
        Cell::Bool(b) => Value::Int(i64::from(*b)),
    }
}

fn datetime_value(time: NaiveDateTime) -> Value {
    Value::Date(
        time.year() as u16,
        time.month() as u8,
        time.day() as u8,
        time.hour() as u8,
        time.minute() as u8,
        time.second() as u8,
        time.nanosecond() / 1000,
    )
}

/// Beijing wall-clock now, to the millisecond (`jst_synced_at` is `DATETIME(3)`).
fn now_with_millis() -> NaiveDateTime {
    let now = Utc::now()
        .with_timezone(&beijing_time::offset())
        .naive_local();
    now.with_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

/// Creates the URL's database (utf8mb4) when the server does not have it yet, so a first run
/// needs no manual `CREATE DATABASE`. Best effort: without the privilege, or with the server
/// down, it does nothing and the real connection reports the problem.
async fn create_database_if_missing(opts: &Opts) {
    let Some(database) = opts.db_name().map(str::to_owned) else {
        return;
    };
    if database.contains('`') {
        return;
    }
    let server_only = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let Ok(Ok(mut conn)) = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        mysql_async::Conn::new(server_only),
    )
    .await
    else {
        return;
    };
    let exists: Option<String> = conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (database.as_str(),),
        )
        .await
        .ok()
        .flatten();
    if exists.is_none() {
        let created = conn
            .query_drop(format!("CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            .await;
        match created {
            Ok(()) => tracing::info!(%database, "MySQL database created."),
            Err(error) => {
                tracing::debug!(%database, %error, "Could not create the MySQL database.")
            }
        }
    }
    let _ = conn.disconnect().await;
}
