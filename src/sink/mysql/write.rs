//! Writing to MySQL: one transaction per batch that locks the stored versions, skips orders
//! older than MySQL holds, loads the orders MySQL does not hold yet with `LOAD DATA LOCAL
//! INFILE` (see `load_data.rs`), upserts the rest in multi-row statements and replaces their
//! rows in each child table (deleted, then loaded as new rows); and deleting orders a filter
//! now skips.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime, Timelike, Utc};
use mysql_async::prelude::Queryable;
use mysql_async::{Transaction, TxOpts, Value};
use tracing::{debug, warn};

use super::MysqlSink;
use super::bookkeeping::{CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS};
use super::error::{Phase, SinkError, reason_of};
use super::load_data::{LoadFile, encode_child, encode_order, is_refusal, load_sql};
use super::partitions::{PARTITION_COLUMN, p_month};
use super::statements::{IDS_PER_STATEMENT, chunks, in_list, row_bytes, upsert_sql};
use super::write_report::WriteReport;
use crate::beijing_time;
use crate::transform::mapping::{ORDER_ID_COLUMN, PARENT_ID_COLUMN, TableMapping};
use crate::transform::{Cell, OrderRows, VersionStamp};

/// How many times a batch is tried when MySQL reports a lock wait timeout or a deadlock.
pub(crate) const CONTENDED_ATTEMPTS: u32 = 3;

/// Bytes of an execute packet besides the values: header, statement id, flags, null bitmap
/// and types, with room for the estimate's error.
const PACKET_OVERHEAD: usize = 16 * 1024;

/// How a batch's orders that MySQL does not hold yet are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewOrders {
    /// With `LOAD DATA LOCAL INFILE` (the changed ones still with upserts).
    Load,
    /// With the same multi-row upserts as changed orders.
    Upsert,
}

/// Why one attempt at a batch failed.
#[derive(Debug)]
enum AttemptError {
    Sink(SinkError),
    /// The server refuses `LOAD DATA LOCAL INFILE`: the batch is written with upserts, and so
    /// is every later one.
    LoadRefused(String),
    /// A `LOAD DATA` did not go in exactly (a row skipped for a duplicate key, a warning, the
    /// rows refused): the batch is rolled back and written again with upserts, which either
    /// succeed or say precisely which data MySQL refuses.
    LoadInexact(String),
}

impl From<SinkError> for AttemptError {
    fn from(error: SinkError) -> Self {
        Self::Sink(error)
    }
}

impl MysqlSink {
    /// Writes a batch in one transaction: locks the stored versions, skips orders older than
    /// what MySQL holds (see [`VersionStamp::is_older_than`]), loads the orders it does not
    /// hold yet with `LOAD DATA LOCAL INFILE` (when `load_data` is on and the server allows
    /// it), upserts the rest and replaces their child rows (the stored ones deleted,
    /// every winner's loaded). A batch whose load is not
    /// exact is rolled back and written again with upserts only; a server that refuses
    /// `LOAD DATA LOCAL` is said so once (a warning) and upserted into from then on. A lock
    /// wait timeout or deadlock is retried up to [`CONTENDED_ATTEMPTS`] times; an order with a
    /// row too big for `max_allowed_packet` is refused before anything is sent
    /// ([`SinkError::PacketTooLarge`]).
    pub async fn write(&self, batch: &[OrderRows]) -> Result<WriteReport, SinkError> {
        if batch.is_empty() {
            return Ok(WriteReport::default());
        }
        let (newest, duplicates) = self.newest_per_order(batch)?;
        self.check_packet_sizes(&newest)?;
        let mut new_orders = match self.load_data.usable() {
            true => NewOrders::Load,
            false => NewOrders::Upsert,
        };
        let mut attempt = 1;
        loop {
            let result = match self.write_once(&newest, duplicates, new_orders).await {
                Ok((report, loaded)) => {
                    self.load_data.loaded(loaded);
                    Ok(report)
                }
                Err(AttemptError::LoadRefused(reason)) => {
                    if self.load_data.refuse(reason.clone()) {
                        warn!(
                            endpoint = %self.who.endpoint,
                            %reason,
                            "MySQL refuses LOAD DATA LOCAL INFILE (local_infile is off): new orders are written with multi-row upserts instead."
                        );
                    }
                    new_orders = NewOrders::Upsert;
                    continue;
                }
                Err(AttemptError::LoadInexact(reason)) => {
                    debug!(%reason, "LOAD DATA was not exact: the batch is written with upserts instead.");
                    self.load_data.upserted_instead();
                    new_orders = NewOrders::Upsert;
                    continue;
                }
                Err(AttemptError::Sink(error)) => Err(error),
            };
            match result {
                Err(SinkError::Contended { reason, .. }) if attempt < CONTENDED_ATTEMPTS => {
                    debug!(attempt, %reason, "MySQL lock wait or deadlock: the batch is tried again.");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                    attempt += 1;
                }
                Err(SinkError::Contended {
                    endpoint, reason, ..
                }) => {
                    return Err(SinkError::Contended {
                        endpoint,
                        reason,
                        attempts: attempt,
                    });
                }
                other => return other,
            }
        }
    }

    /// One attempt at [`write`](Self::write): one transaction. Returns what was written and
    /// how many orders of it were loaded with `LOAD DATA`.
    async fn write_once(
        &self,
        newest: &BTreeMap<i64, &OrderRows>,
        duplicates: usize,
        new_orders: NewOrders,
    ) -> Result<(WriteReport, usize), AttemptError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        let mut report = WriteReport {
            stale_skipped: duplicates,
            ..WriteReport::default()
        };
        let result = self
            .write_in(&mut tx, newest, new_orders, &mut report)
            .await;
        let loaded = match result {
            Ok(loaded) => {
                tx.commit()
                    .await
                    .map_err(|e| self.classify(e, Phase::Write))?;
                loaded
            }
            Err(error) => {
                // Best effort: a lost connection rolls back on the server anyway.
                let _ = tx.rollback().await;
                return Err(error);
            }
        };
        debug!(
            orders = report.orders_written,
            stale = report.stale_skipped,
            items = report.item_rows,
            pays = report.pay_rows,
            other_children = report.other_child_rows,
            statements = report.statements,
            loaded,
            "Batch written to MySQL."
        );
        Ok((report, loaded))
    }

    /// Refuses, before anything is sent, an order with a row that cannot fit one packet of
    /// the server's `max_allowed_packet` (the driver would fail with a confusing I/O error).
    fn check_packet_sizes(&self, newest: &BTreeMap<i64, &OrderRows>) -> Result<(), SinkError> {
        let max = self.who.max_allowed_packet;
        if max == 0 {
            return Ok(());
        }
        for (id, rows) in newest {
            let bytes = std::iter::once(&rows.order)
                .chain(rows.children.iter().flatten())
                .map(|row| cells_bytes(row))
                .max()
                .unwrap_or(0);
            if bytes + PACKET_OVERHEAD > max {
                return Err(SinkError::PacketTooLarge {
                    endpoint: self.who.endpoint.clone(),
                    max_allowed_packet: max,
                    detail: format!("order {id} has a row of about {bytes} bytes"),
                });
            }
        }
        Ok(())
    }

    /// The values of one order row: the mapped cells, then the bookkeeping columns (and
    /// `p_month` with partitions).
    fn order_values(&self, rows: &OrderRows, synced_at: &Value) -> Vec<Value> {
        let mut values: Vec<Value> = rows.order.iter().map(cell_value).collect();
        values.push(rows.version.ts.into());
        values.push(rows.version.staging_version.into());
        values.push(synced_at.clone());
        values.push(rows.modified.map_or(Value::NULL, datetime_value));
        values.push(
            rows.sha256
                .as_ref()
                .map_or(Value::NULL, |sha| Value::Bytes(sha.as_bytes().to_vec())),
        );
        if let Some(position) = self.order_date_position {
            values.push(p_month(&rows.order[position]).into());
        }
        values
    }

    /// The batch's statements inside the transaction; returns how many orders were loaded
    /// with `LOAD DATA`.
    async fn write_in(
        &self,
        tx: &mut Transaction<'_>,
        newest: &BTreeMap<i64, &OrderRows>,
        new_orders: NewOrders,
        report: &mut WriteReport,
    ) -> Result<usize, AttemptError> {
        let ids: Vec<i64> = newest.keys().copied().collect();
        let stored: BTreeMap<i64, VersionStamp> = self
            .versions_in(tx, &ids, " FOR UPDATE")
            .await?
            .into_iter()
            .collect();
        let winners: Vec<(i64, &OrderRows)> = newest
            .iter()
            .filter(|(id, rows)| {
                !stored
                    .get(id)
                    .is_some_and(|theirs| rows.stamp().is_older_than(theirs))
            })
            .map(|(id, rows)| (*id, *rows))
            .collect();
        report.stale_skipped += newest.len() - winners.len();
        if winners.is_empty() {
            return Ok(0);
        }
        let synced_at = now_with_millis();
        let synced_value = datetime_value(synced_at);
        // The locking read above holds the gaps of the ids MySQL lacks, so no other writer can
        // add them before the commit: those orders are new and go in with LOAD DATA; the
        // others are upserted, guarded by the versions just read.
        let (loaded, upserted): (Vec<(i64, &OrderRows)>, Vec<(i64, &OrderRows)>) = match new_orders
        {
            NewOrders::Load => winners.iter().partition(|(id, _)| !stored.contains_key(id)),
            NewOrders::Upsert => (Vec::new(), winners.clone()),
        };
        if !loaded.is_empty() {
            let mut file = LoadFile::default();
            for (_, rows) in &loaded {
                let p_month = self
                    .order_date_position
                    .map(|position| p_month(&rows.order[position]));
                encode_order(rows, synced_at, p_month, &mut file);
            }
            let table = &self.config.tables().orders;
            self.load(tx, table, &self.order_columns(), file, report)
                .await?;
        }
        self.upsert_orders(tx, &upserted, &synced_value, report)
            .await?;
        report.orders_written = winners.len();

        // Child rows are replaced: the stored orders' are deleted (new orders have none: the
        // locking read told which exist), then every winner's are inserted, loaded with
        // LOAD DATA like new rows (a row left behind by a parent deleted outside jst-sync
        // makes the load inexact, and the upserts overwrite it).
        let existing_ids: Vec<i64> = winners
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| stored.contains_key(id))
            .collect();
        for (position, (child, table)) in self
            .mapping
            .children
            .iter()
            .zip(&self.child_tables)
            .enumerate()
        {
            let mapping = &child.mapping;
            self.delete_children(tx, table, &existing_ids, report)
                .await?;
            let count = match new_orders {
                NewOrders::Load => {
                    let mut file = LoadFile::default();
                    for (_, rows) in &winners {
                        for row in &rows.children[position] {
                            encode_child(row, rows, synced_at, &mut file);
                        }
                    }
                    let count = file.rows();
                    let columns = columns_with(mapping, &CHILD_BOOKKEEPING_COLUMNS);
                    self.load(tx, table, &columns, file, report).await?;
                    count
                }
                NewOrders::Upsert => {
                    let rows = winners.iter().flat_map(|(_, rows)| {
                        rows.children[position].iter().map(|row| (*rows, row))
                    });
                    self.upsert_children(tx, table, mapping, rows, &synced_value, report)
                        .await?
                }
            };
            *report.rows_of_child(&child.name) += count;
        }
        Ok(loaded.len())
    }

    /// One `LOAD DATA LOCAL INFILE` of `file` into `table`, exact or an [`AttemptError`].
    async fn load(
        &self,
        tx: &mut Transaction<'_>,
        table: &str,
        columns: &[&str],
        file: LoadFile,
        report: &mut WriteReport,
    ) -> Result<(), AttemptError> {
        let expected = file.rows();
        if expected == 0 {
            return Ok(());
        }
        let registered = self
            .infiles
            .register(file.into_bytes(), self.infile_chunk_bytes());
        let result = tx
            .query_drop(load_sql(registered.name(), table, columns))
            .await;
        drop(registered);
        match result {
            Err(error) if is_refusal(&error) => Err(AttemptError::LoadRefused(
                self.config.redact(&reason_of(&error)),
            )),
            Err(error) => match self.classify(error, Phase::Write) {
                error if error.is_transient() => Err(AttemptError::Sink(error)),
                error => Err(AttemptError::LoadInexact(format!("{table}: {error}"))),
            },
            Ok(()) => {
                report.statements += 1;
                let (affected, warnings) = (tx.affected_rows(), tx.get_warnings());
                if affected == expected as u64 && warnings == 0 {
                    Ok(())
                } else {
                    Err(AttemptError::LoadInexact(format!(
                        "{table}: {affected} of {expected} rows went in, {warnings} warnings"
                    )))
                }
            }
        }
    }

    /// The bytes of one chunk of a `LOAD DATA` stream: well under `max_allowed_packet`.
    fn infile_chunk_bytes(&self) -> usize {
        match self.who.max_allowed_packet {
            0 => 64 << 10,
            max => (max / 2).clamp(16 << 10, 1 << 20),
        }
    }

    /// The order table's columns as written: mapped, bookkeeping, and `p_month` with
    /// partitions.
    fn order_columns(&self) -> Vec<&str> {
        let mut columns = columns_with(&self.mapping.order, &ORDER_BOOKKEEPING_COLUMNS);
        if self.order_date_position.is_some() {
            columns.push(PARTITION_COLUMN);
        }
        columns
    }

    /// Upserts the order rows of `winners` (all orders, or the changed ones when the new were
    /// loaded), after moving those whose month changed with partitions.
    async fn upsert_orders(
        &self,
        tx: &mut Transaction<'_>,
        winners: &[(i64, &OrderRows)],
        synced_at: &Value,
        report: &mut WriteReport,
    ) -> Result<(), SinkError> {
        if winners.is_empty() {
            return Ok(());
        }
        let order_rows: Vec<Vec<Value>> = winners
            .iter()
            .map(|(_, rows)| self.order_values(rows, synced_at))
            .collect();
        let order_columns = self.order_columns();
        let mut order_key = vec![ORDER_ID_COLUMN];
        if let Some(position) = self.order_date_position {
            order_key.push(PARTITION_COLUMN);
            self.delete_moved(tx, winners, position, report).await?;
        }
        let limits = self.limits(order_columns.len());
        for chunk in chunks(&order_rows, limits, |row| row_bytes(row)) {
            let sql = upsert_sql(
                &self.config.tables().orders,
                &order_columns,
                &order_key,
                chunk.len(),
            );
            self.exec(tx, sql, chunk.concat()).await?;
            report.statements += 1;
        }
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
                self.config.tables().orders,
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
                self.config.tables().orders
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

    /// Deletes the child rows of the orders `ids` from `table`.
    async fn delete_children(
        &self,
        tx: &mut Transaction<'_>,
        table: &str,
        ids: &[i64],
        report: &mut WriteReport,
    ) -> Result<(), SinkError> {
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM `{table}` WHERE `{PARENT_ID_COLUMN}` IN {}",
                in_list(chunk.len())
            );
            self.exec(tx, sql, chunk.iter().map(|id| Value::from(*id)).collect())
                .await?;
            report.statements += 1;
        }
        Ok(())
    }

    /// Upserts child `rows` into `table`; returns how many.
    async fn upsert_children<'r>(
        &self,
        tx: &mut Transaction<'_>,
        table: &str,
        mapping: &TableMapping,
        rows: impl Iterator<Item = (&'r OrderRows, &'r Vec<Cell>)>,
        synced_at: &Value,
        report: &mut WriteReport,
    ) -> Result<usize, SinkError> {
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
        let id = rows.o_id.get();
        let fits = |table: &TableMapping, row: &Vec<Cell>| row.len() == table.columns.len();
        let order_fits = fits(&self.mapping.order, &rows.order);
        let children_fit = rows.children.len() == self.mapping.children.len()
            && (self.mapping.children.iter().zip(&rows.children))
                .all(|(child, rows)| rows.iter().all(|row| fits(&child.mapping, row)));
        if order_fits && children_fit {
            Ok(id)
        } else {
            Err(SinkError::Rejected(format!(
                "order {id}: rows do not match the sink's mapping (transformed with another mapping?)"
            )))
        }
    }

    /// Deletes orders and their child rows (e.g. orders a filter now skips); returns
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
        let orders = &self.config.tables().orders;
        let tables: Vec<(&String, &str)> = (self.child_tables.iter())
            .map(|table| (table, PARENT_ID_COLUMN))
            .chain([(orders, ORDER_ID_COLUMN)])
            .collect();
        let mut deleted = 0;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let params: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
            for (table, column) in &tables {
                let sql = format!(
                    "DELETE FROM `{table}` WHERE `{column}` IN {}",
                    in_list(chunk.len())
                );
                self.exec(&mut tx, sql, params.clone()).await?;
                if *table == orders {
                    deleted += tx.affected_rows();
                }
            }
        }
        tx.commit()
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        Ok(deleted)
    }
}

/// The mapped columns followed by the bookkeeping ones.
fn columns_with<'a>(table: &'a TableMapping, bookkeeping: &[&'a str]) -> Vec<&'a str> {
    table
        .column_names()
        .chain(bookkeeping.iter().copied())
        .collect()
}

/// [`row_bytes`] of a row's cells, without building its values (the bookkeeping columns are
/// in the packet overhead).
fn cells_bytes(cells: &[Cell]) -> usize {
    cells
        .iter()
        .map(|cell| {
            2 + match cell {
                Cell::Null => 1,
                Cell::Text(text) | Cell::Decimal(text) => text.len() + 9,
                Cell::DateTime(_) => 12,
                Cell::Int(_) | Cell::Bool(_) => 8,
            }
        })
        .sum()
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
