//! [`MysqlSink`]: connects, migrates, and reads what MySQL holds; writing is in `write.rs`.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, Transaction, Value};
use tracing::{debug, warn};

use super::config::MysqlConfig;
use super::error::{Identity, Phase, SinkError, classify};
use super::load_data::{InfileRegistry, LoadDataStats, LoadDataSwitch};
use super::migrations::{self, MigrateFailure};
use super::statements::{ChunkLimits, IDS_PER_STATEMENT, in_list};
use super::write_report::RowCounts;
use crate::transform::mapping::ORDER_ID_COLUMN;
use crate::transform::{ColumnKind, Mapping, VersionKey, VersionStamp};
use chrono::NaiveDateTime;

/// Prepared statements each connection keeps: the row-count shapes of three tables' inserts
/// and the `IN (…)` lists, with room to spare.
const MIN_STMT_CACHE_SIZE: usize = 128;

/// Session settings for every pooled connection: full UTF-8, and strict mode so MySQL refuses
/// rather than truncates or zeroes a value.
const SESSION_INIT: [&str; 2] = [
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
];

/// The MySQL sink: a connection pool, the mapping it writes, and the server's packet limit.
pub struct MysqlSink {
    pool: Pool,
    pub(super) config: MysqlConfig,
    pub(super) mapping: Mapping,
    /// The MySQL table of each of the mapping's child tables, in its order.
    pub(super) child_tables: Vec<String>,
    /// Server, user and database, and the server's `max_allowed_packet` once read.
    pub(super) who: Identity,
    /// With `partition_by_month`: where `order_date` is in an order row (it gives `p_month`).
    pub(super) order_date_position: Option<usize>,
    /// The in-memory files `LOAD DATA LOCAL INFILE` statements read (the pool's handler).
    pub(super) infiles: InfileRegistry,
    /// Whether new orders are loaded with `LOAD DATA`, and how that went.
    pub(super) load_data: LoadDataSwitch,
}

impl MysqlSink {
    /// Connects eagerly (one ping) so an outage shows up here as [`SinkError::Unreachable`].
    pub async fn connect(config: &MysqlConfig, mapping: Mapping) -> Result<Self, SinkError> {
        config.validate(&mapping)?;
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
        let who = Identity {
            endpoint: format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()),
            user: opts.user().unwrap_or_default().to_owned(),
            database: opts.db_name().unwrap_or_default().to_owned(),
            max_allowed_packet: 0,
        };
        create_database_if_missing(&opts).await;
        // Room for every statement shape a batch uses (see `statements::chunks`), so none is
        // prepared twice on one connection.
        let stmt_cache_size = opts.stmt_cache_size().max(MIN_STMT_CACHE_SIZE);
        // A connection going back to the pool is not reset (`COM_RESET_CONNECTION`): a reset
        // drops the server's prepared statements, so every batch would prepare its big
        // multi-row statements again (one column definition sent back per placeholder). The
        // sink leaves no session state behind: every write commits or rolls back.
        let pool_opts = opts.pool_opts().clone().with_reset_connection(false);
        // The handler serves only the files the sink registered for its own statements.
        let infiles = InfileRegistry::default();
        let pool = Pool::new(
            OptsBuilder::from_opts(opts)
                .init(SESSION_INIT.to_vec())
                .stmt_cache_size(stmt_cache_size)
                .pool_opts(pool_opts)
                .local_infile_handler(config.load_data.then(|| infiles.clone())),
        );
        let sink = Self {
            pool,
            config: config.clone(),
            child_tables: config.tables().children_of(&mapping),
            mapping,
            who,
            order_date_position,
            infiles,
            load_data: LoadDataSwitch::new(config.load_data),
        };
        match sink.probe().await {
            Ok(max_allowed_packet) => {
                let mut sink = sink;
                sink.who.max_allowed_packet = max_allowed_packet;
                Ok(sink)
            }
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
        self.who.endpoint.clone()
    }

    /// Whether new orders are loaded with `LOAD DATA LOCAL INFILE` and how that went: the
    /// setting, the server's refusal (then every order is upserted), orders loaded, batches
    /// written with upserts instead.
    pub fn load_data_stats(&self) -> LoadDataStats {
        self.load_data.stats()
    }

    /// The server's `max_allowed_packet`, in bytes.
    pub fn max_allowed_packet(&self) -> usize {
        self.who.max_allowed_packet
    }

    /// Applies pending migrations and adds columns the mapping has and the tables lack.
    pub async fn migrate(&self) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        migrations::migrate(&mut conn, &self.config, &self.mapping)
            .await
            .map_err(|failure| self.migrate_failure(failure))
    }

    fn migrate_failure(&self, failure: MigrateFailure) -> SinkError {
        match failure {
            MigrateFailure::Driver(e) => self.classify(e, Phase::Migrate),
            MigrateFailure::Schema(message) => SinkError::Schema(message),
        }
    }

    /// How many rows each table holds.
    pub async fn count_rows(&self) -> Result<RowCounts, SinkError> {
        let mut conn = self.conn().await?;
        let counts: String = std::iter::once(&self.config.tables().orders)
            .chain(&self.child_tables)
            .map(|table| format!("(SELECT COUNT(*) FROM `{table}`)"))
            .collect::<Vec<_>>()
            .join(", ");
        let row: Option<mysql_async::Row> = conn
            .query_first(format!("SELECT {counts}"))
            .await
            .map_err(|e| self.classify(e, Phase::Write))?;
        let count = |i: usize| {
            row.as_ref()
                .and_then(|row| row.get::<u64, _>(i))
                .unwrap_or_default()
        };
        let mut counts = RowCounts {
            orders: count(0),
            ..RowCounts::default()
        };
        for (i, child) in self.mapping.children.iter().enumerate() {
            *counts.of_child(&child.name) += count(i + 1);
        }
        Ok(counts)
    }

    /// The stored `(jst_ts, jst_version)` of those of `ids` that are in the order table.
    pub async fn order_versions(&self, ids: &[i64]) -> Result<Vec<(i64, VersionKey)>, SinkError> {
        let stamps = self.order_stamps(ids).await?;
        Ok(stamps
            .into_iter()
            .map(|(id, stamp)| {
                (
                    id,
                    VersionKey {
                        ts: stamp.ts,
                        staging_version: stamp.staging_version,
                    },
                )
            })
            .collect())
    }

    /// The stored version stamps (`jst_ts`, `jst_modified`, `jst_sha256`, `jst_version`) of
    /// those of `ids` that are in the order table.
    pub async fn order_stamps(&self, ids: &[i64]) -> Result<Vec<(i64, VersionStamp)>, SinkError> {
        let mut conn = self.conn().await?;
        self.versions_in(&mut conn, ids, "").await
    }

    pub(super) async fn versions_in(
        &self,
        conn: &mut impl Queryable,
        ids: &[i64],
        suffix: &str,
    ) -> Result<Vec<(i64, VersionStamp)>, SinkError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT `{ORDER_ID_COLUMN}`, jst_ts, jst_version, jst_modified, jst_sha256 FROM `{}` WHERE `{ORDER_ID_COLUMN}` IN {}{suffix}",
                self.config.tables().orders,
                in_list(chunk.len())
            );
            type Stored = (i64, Option<i64>, i64, Option<NaiveDateTime>, Option<String>);
            let rows: Vec<Stored> = conn
                .exec(sql, chunk.to_vec())
                .await
                .map_err(|e| self.classify(e, Phase::Write))?;
            out.extend(
                rows.into_iter()
                    .map(|(id, ts, staging_version, modified, sha256)| {
                        (
                            id,
                            VersionStamp {
                                ts,
                                modified,
                                sha256,
                                staging_version,
                            },
                        )
                    }),
            );
        }
        Ok(out)
    }

    /// Checks the tables need no DDL and, when they do, migrates. A user without CREATE or
    /// ALTER pushes as long as the tables are at the expected version; when they are not,
    /// [`SinkError::MigrationNeeded`] says to run `jst-sync migrate` as a user who may.
    pub async fn prepare(&self) -> Result<(), SinkError> {
        let pending = {
            let mut conn = self.conn().await?;
            migrations::pending_ddl(&mut conn, &self.config, &self.mapping)
                .await
                .map_err(|failure| self.migrate_failure(failure))?
        };
        if pending.needed.is_empty() && !pending.partitions_due {
            return Ok(());
        }
        match self.migrate().await {
            // Only partitions were due: rows land in `pmax` until someone who may ALTER runs.
            Err(error) if error.is_denied() && pending.needed.is_empty() => {
                warn!(%error, "MySQL partitions for the coming months not added: run `jst-sync migrate` as a user with ALTER.");
                Ok(())
            }
            Err(error) if error.is_denied() => Err(SinkError::MigrationNeeded {
                endpoint: self.who.endpoint.clone(),
                needed: pending.needed.join(", "),
                reason: error.to_string(),
            }),
            other => other,
        }
    }

    /// Whether a migration marked the tables for a refill: every current staged order must be
    /// written again (a column was re-added or widened, or rows predate fingerprints).
    pub async fn refill_wanted(&self) -> Result<bool, SinkError> {
        let mut conn = self.conn().await?;
        migrations::refill_wanted(&mut conn, &self.config.tables())
            .await
            .map_err(|e| self.classify(e, Phase::Write))
    }

    /// Removes the refill mark (after staging re-enqueued every current order).
    pub async fn clear_refill_mark(&self) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        migrations::clear_refill_mark(&mut conn, &self.config.tables())
            .await
            .map_err(|e| self.classify(e, Phase::Write))
    }

    /// The orders whose MySQL row carries no fingerprint (for `verify`).
    pub async fn unfingerprinted_orders(&self) -> Result<Vec<i64>, SinkError> {
        let mut conn = self.conn().await?;
        migrations::unfingerprinted(&mut conn, &self.config.tables())
            .await
            .map_err(|e| self.classify(e, Phase::Write))
    }

    /// The table names the sink writes, for read-only reports (`verify`).
    pub(crate) fn tables(&self) -> super::config::TableNames {
        self.config.tables()
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

    pub(super) async fn conn(&self) -> Result<Conn, SinkError> {
        match tokio::time::timeout(self.config.connect_timeout(), self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(self.classify(error, Phase::Connect)),
            Err(_) => Err(SinkError::Unreachable {
                endpoint: self.who.endpoint.clone(),
                reason: format!(
                    "no connection within {} s",
                    self.config.connect_timeout().as_secs()
                ),
            }),
        }
    }

    pub(super) async fn exec(
        &self,
        tx: &mut Transaction<'_>,
        sql: String,
        params: Vec<Value>,
    ) -> Result<(), SinkError> {
        tx.exec_drop(sql, Params::Positional(params))
            .await
            .map_err(|e| self.classify(e, Phase::Write))
    }

    pub(super) fn limits(&self, values_per_row: usize) -> ChunkLimits {
        ChunkLimits::new(
            self.config.batch_rows,
            self.who.max_allowed_packet,
            values_per_row,
        )
    }

    pub(super) fn classify(&self, error: mysql_async::Error, phase: Phase) -> SinkError {
        classify(error, &self.who, phase, |text| self.config.redact(text))
    }
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
