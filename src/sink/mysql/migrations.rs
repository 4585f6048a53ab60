//! Numbered schema migrations from `sql/mysql/`, recorded in `jst_schema_migrations`.
//!
//! Each file is applied once per set of tables (the record's `scope` is the order table's
//! name, so several merchants' prefixed tables can share a database), under a named lock so two
//! migrators cannot race; the tables are created `IF NOT EXISTS`, so a migration interrupted
//! half-way (MySQL DDL is not transactional) can simply run again.
//!
//! After the files:
//! - the order table's partitioning must match `partition_by_month` (it is decided when the
//!   table is created; a mismatch is refused), and a partitioned table gets its future months;
//! - a child table the config's `[mapping]` adds (one no migration file creates) is created
//!   from the mapping when missing ([`create_child_table`]), and the orders MySQL holds are
//!   written again to fill it;
//! - columns the mapping adds beyond the default (from the config's `[mapping]`) are added with
//!   `ALTER TABLE … ADD COLUMN`, and a mapped column whose kind changed is widened with
//!   `MODIFY COLUMN` when that keeps every stored value, else refused ([`column_types`]).
//!   Nothing is ever dropped or narrowed.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tracing::info;

use super::bookkeeping::{CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS};
use super::config::{MysqlConfig, TableNames};
use super::live_columns::{create_child_table, plan_columns, table_columns};
pub(crate) use super::migrate_failure::MigrateFailure;
use super::partitions::{self, PARTITION_COLUMN};
use crate::beijing_time;
use crate::transform::mapping::{ChildTable, Mapping, ORDER_ID_COLUMN};

/// One numbered SQL file.
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Creates the migrations record itself.
const MIGRATIONS_TABLE_SQL: &str = include_str!("../../../sql/mysql/jst_schema_migrations.sql");
/// Gives a record made before scopes existed its `scope` column.
const MIGRATIONS_SCOPE_SQL: &str =
    include_str!("../../../sql/mysql/jst_schema_migrations_scope.sql");

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_order_tables",
        sql: include_str!("../../../sql/mysql/0001_order_tables.sql"),
    },
    Migration {
        version: 2,
        name: "0002_fingerprints_and_exact_decimals",
        sql: include_str!("../../../sql/mysql/0002_fingerprints_and_exact_decimals.sql"),
    },
];

/// MySQL's "duplicate column name" and "duplicate key name": a statement of an interrupted
/// migration that already took effect.
const ALREADY_APPLIED: [u16; 2] = [1060, 1061];

/// The `jst_schema_migrations` version of the refill mark: the migrator changed what rows hold
/// (a column re-added or widened, fingerprints added), so the next push re-enqueues every
/// current staged order and writes it again, then removes the mark.
pub(crate) const REFILL_MARK_VERSION: u32 = 0;

/// What the templates of a migration are filled with.
pub(crate) struct Template<'a> {
    pub tables: &'a TableNames,
    /// Its child tables fill the `{{<name>_table}}` templates (`{{items_table}}`).
    pub mapping: &'a Mapping,
    /// The `PARTITION BY` clause of a new order table, or `None` for an unpartitioned one.
    pub partitioning: Option<String>,
}

impl<'a> Template<'a> {
    pub fn new(config: &MysqlConfig, tables: &'a TableNames, mapping: &'a Mapping) -> Self {
        Self {
            tables,
            mapping,
            partitioning: config
                .partition_by_month
                .then(|| partitions::partition_clause(beijing_time::now())),
        }
    }
}

/// Applies pending migrations, checks partitioning, and brings the columns up to the mapping.
pub(crate) async fn migrate(
    conn: &mut Conn,
    config: &MysqlConfig,
    mapping: &Mapping,
) -> Result<(), MigrateFailure> {
    let locked: Option<Option<i64>> = conn
        .query_first("SELECT GET_LOCK(CONCAT('jst_sync_migrate:', DATABASE()), 60)")
        .await?;
    if locked.flatten() != Some(1) {
        return Err(MigrateFailure::Schema(
            "another migration holds the lock for over 60 s".to_owned(),
        ));
    }
    let result = migrate_locked(conn, config, mapping).await;
    let released: Result<Option<Option<i64>>, _> = conn
        .query_first("SELECT RELEASE_LOCK(CONCAT('jst_sync_migrate:', DATABASE()))")
        .await;
    result?;
    released?;
    Ok(())
}

async fn migrate_locked(
    conn: &mut Conn,
    config: &MysqlConfig,
    mapping: &Mapping,
) -> Result<(), MigrateFailure> {
    let tables = &config.tables();
    conn.query_drop(MIGRATIONS_TABLE_SQL).await?;
    let has_scope: Option<i64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'jst_schema_migrations' AND COLUMN_NAME = 'scope'",
        )
        .await?;
    if has_scope == Some(0) {
        conn.query_drop(MIGRATIONS_SCOPE_SQL).await?;
        info!("MySQL migrations record upgraded: applied migrations now have a table scope.");
    }
    let applied: Vec<u32> = conn
        .exec(
            "SELECT version FROM jst_schema_migrations WHERE scope = ?",
            (&tables.orders,),
        )
        .await?;
    let template = Template::new(config, tables, mapping);
    // Rows written before a column was re-added or widened must be written again.
    let had_rows = has_rows(conn, &tables.orders).await?;
    let mut refill_reasons: Vec<String> = Vec::new();
    let fingerprints_added = !applied.contains(&2);
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in statements(&render(migration.sql, &template)?) {
            match conn.query_drop(&statement).await {
                Err(mysql_async::Error::Server(e)) if ALREADY_APPLIED.contains(&e.code) => {
                    info!(
                        version = migration.version,
                        code = e.code,
                        "MySQL migration step already applied."
                    );
                }
                other => other?,
            }
        }

        conn.exec_drop(
            "INSERT INTO jst_schema_migrations (scope, version, name, applied_at) \
             VALUES (?, ?, ?, NOW(3))",
            (&tables.orders, migration.version, migration.name),
        )
        .await?;
        info!(
            version = migration.version,
            name = migration.name,
            tables = %tables.orders,
            "MySQL migration applied."
        );
    }
    check_partitioning(conn, &tables.orders, config.partition_by_month).await?;
    for child in &mapping.children {
        let table = tables.child(child);
        if !created_by_migrations(child) && table_columns(conn, &table).await?.is_empty() {
            conn.query_drop(create_child_table(&table, child)?).await?;
            info!(table, child = %child.name, "MySQL child table created from the mapping.");
            if had_rows {
                refill_reasons.push(format!("table `{table}` created"));
            }
        }
    }

    let order_extra: Vec<&str> = ORDER_BOOKKEEPING_COLUMNS
        .iter()
        .copied()
        .chain(config.partition_by_month.then_some(PARTITION_COLUMN))
        .collect();
    let mut plans = vec![plan_columns(conn, &tables.orders, &mapping.order, &order_extra).await?];
    for child in &mapping.children {
        let table = tables.child(child);
        plans.push(plan_columns(conn, &table, &child.mapping, &CHILD_BOOKKEEPING_COLUMNS).await?);
    }
    // Every table was checked before anything is altered: a refusal changes nothing.
    for (table, statement, column) in plans.iter().flatten() {
        conn.query_drop(statement).await?;
        info!(table, column, "MySQL column brought up to the mapping.");
        if had_rows {
            refill_reasons.push(format!("column `{table}`.`{column}` added or widened"));
        }
    }
    if !refill_reasons.is_empty() {
        // A row without a fingerprint is one the next push writes again from staging.
        conn.query_drop(format!(
            "UPDATE `{}` SET jst_sha256 = NULL WHERE jst_sha256 IS NOT NULL",
            tables.orders
        ))
        .await?;
    }
    if !refill_reasons.is_empty() || (had_rows && fingerprints_added) {
        let reason: String = if refill_reasons.is_empty() {
            "refill: rows written before fingerprints".to_owned()
        } else {
            format!("refill: {}", refill_reasons.join("; "))
        };
        conn.exec_drop(
            "INSERT INTO jst_schema_migrations (scope, version, name, applied_at) VALUES (?, ?, ?, NOW(3)) \
             ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = VALUES(applied_at)",
            (&tables.orders, REFILL_MARK_VERSION, reason.chars().take(255).collect::<String>()),
        )
        .await?;
        info!(
            tables = %tables.orders,
            reasons = %refill_reasons.join("; "),
            "Every current order will be written again by the next push."
        );
    }
    Ok(())
}

/// Whether `table` exists and holds at least one row.
async fn has_rows(conn: &mut Conn, table: &str) -> Result<bool, MigrateFailure> {
    if table_columns(conn, table).await?.is_empty() {
        return Ok(false);
    }
    let row: Option<i64> = conn
        .query_first(format!("SELECT 1 FROM `{table}` LIMIT 1"))
        .await?;
    Ok(row.is_some())
}

/// What DDL the tables still need for this jst-sync and mapping, found by reading only.
#[derive(Debug, Default)]
pub(crate) struct PendingDdl {
    /// What must change before a push can write (empty: a user with SELECT, INSERT, UPDATE and
    /// DELETE can push).
    pub needed: Vec<String>,
    /// Partitions for the coming months are missing (rows land in `pmax` meanwhile, so this
    /// one can wait for a user who may ALTER).
    pub partitions_due: bool,
}

/// Reads (no CREATE, no ALTER, no lock) what DDL the tables still need; refuses a
/// partitioning other than the setting's.
pub(crate) async fn pending_ddl(
    conn: &mut Conn,
    config: &MysqlConfig,
    mapping: &Mapping,
) -> Result<PendingDdl, MigrateFailure> {
    let needed = needed_ddl(conn, config, mapping).await?;
    let partitions_due = if needed.is_empty() {
        partitions_due(conn, &config.tables().orders, config.partition_by_month)
            .await?
            .is_some()
    } else {
        false
    };
    Ok(PendingDdl {
        needed,
        partitions_due,
    })
}

async fn needed_ddl(
    conn: &mut Conn,
    config: &MysqlConfig,
    mapping: &Mapping,
) -> Result<Vec<String>, MigrateFailure> {
    let tables = &config.tables();
    let record: Option<i64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'jst_schema_migrations' AND COLUMN_NAME = 'scope'",
        )
        .await?;
    if record != Some(1) {
        return Ok(vec![
            "the migrations record `jst_schema_migrations`".to_owned(),
        ]);
    }
    let applied: Vec<u32> = conn
        .exec(
            "SELECT version FROM jst_schema_migrations WHERE scope = ?",
            (&tables.orders,),
        )
        .await?;
    let missing: Vec<String> = MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("migration {}", m.name))
        .collect();
    if !missing.is_empty() {
        return Ok(missing);
    }
    let order_extra: Vec<&str> = ORDER_BOOKKEEPING_COLUMNS
        .iter()
        .copied()
        .chain(config.partition_by_month.then_some(PARTITION_COLUMN))
        .collect();
    let mut needed = Vec::new();
    let mut tables_and_mappings = vec![(
        tables.orders.clone(),
        &mapping.order,
        order_extra.as_slice(),
    )];
    for child in &mapping.children {
        let table = tables.child(child);
        if !created_by_migrations(child) && table_columns(conn, &table).await?.is_empty() {
            needed.push(format!("table `{table}`"));
            continue;
        }
        tables_and_mappings.push((table, &child.mapping, &CHILD_BOOKKEEPING_COLUMNS[..]));
    }
    for (table, table_mapping, extra) in tables_and_mappings {
        for (table, _, column) in plan_columns(conn, &table, table_mapping, extra).await? {
            needed.push(format!("column `{table}`.`{column}`"));
        }
    }
    Ok(needed)
}

/// Whether a migration left a refill mark on these tables.
pub(crate) async fn refill_wanted(
    conn: &mut Conn,
    tables: &TableNames,
) -> Result<bool, mysql_async::Error> {
    let marked: Option<i64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM jst_schema_migrations WHERE scope = ? AND version = ?",
            (&tables.orders, REFILL_MARK_VERSION),
        )
        .await?;
    Ok(marked.unwrap_or(0) > 0)
}

/// Removes the refill mark once staging has re-enqueued the orders.
pub(crate) async fn clear_refill_mark(
    conn: &mut Conn,
    tables: &TableNames,
) -> Result<(), mysql_async::Error> {
    conn.exec_drop(
        "DELETE FROM jst_schema_migrations WHERE scope = ? AND version = ?",
        (&tables.orders, REFILL_MARK_VERSION),
    )
    .await
}

/// The orders whose row carries no fingerprint (for `verify`).
pub(crate) async fn unfingerprinted(
    conn: &mut Conn,
    tables: &TableNames,
) -> Result<Vec<i64>, mysql_async::Error> {
    conn.query(format!(
        "SELECT `{ORDER_ID_COLUMN}` FROM `{}` WHERE jst_sha256 IS NULL",
        tables.orders
    ))
    .await
}

/// Refuses a partitioning other than the setting's; adds future months to a partitioned table.
async fn check_partitioning(
    conn: &mut Conn,
    table: &str,
    by_month: bool,
) -> Result<(), MigrateFailure> {
    if let Some(statement) = partitions_due(conn, table, by_month).await? {
        conn.query_drop(statement).await?;
        info!(table, "MySQL partitions added for the coming months.");
    }
    Ok(())
}

/// Refuses a partitioning other than the setting's (reading only); the statement that adds the
/// coming months to a partitioned table, when some are missing.
async fn partitions_due(
    conn: &mut Conn,
    table: &str,
    by_month: bool,
) -> Result<Option<String>, MigrateFailure> {
    let rows: Vec<(String, Option<String>)> = conn
        .exec(
            "SELECT PARTITION_NAME, PARTITION_DESCRIPTION FROM information_schema.PARTITIONS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL",
            (table,),
        )
        .await?;
    let partitioned = !rows.is_empty();
    if partitioned != by_month {
        let (is, setting) = if partitioned {
            ("is partitioned by month", "partition_by_month is off")
        } else {
            ("is not partitioned", "partition_by_month is on")
        };
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` {is} but {setting}: partitioning is decided when the table is created \
             and switching it needs a rebuild (see docs/schema.md, \"Switching partitioning\"); \
             set partition_by_month to match the table, or rebuild it"
        )));
    }
    if !partitioned {
        return Ok(None);
    }
    let has_key = !table_columns(conn, table)
        .await?
        .iter()
        .all(|c| c.name != PARTITION_COLUMN);
    if !has_key || !rows.iter().any(|(name, _)| name == "pmax") {
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` is partitioned, but not by jst-sync's `{PARTITION_COLUMN}` with a \
             `pmax` partition; rebuild it (see docs/schema.md) or use another table name"
        )));
    }
    let bounds: Vec<u32> = rows
        .iter()
        .filter_map(|(_, description)| description.as_deref()?.trim().parse().ok())
        .collect();
    Ok(partitions::extend_statement(
        table,
        &bounds,
        beijing_time::now(),
    ))
}

/// Whether a migration file creates `child`'s table (the default child tables' files name
/// them `{{items_table}}`, `{{pays_table}}`); the others are created from the mapping.
fn created_by_migrations(child: &ChildTable) -> bool {
    let template = format!("{{{{{}_table}}}}", child.name);
    MIGRATIONS.iter().any(|m| m.sql.contains(&template))
}

/// Fills the templates; table names were validated as plain identifiers.
pub(crate) fn render(sql: &str, template: &Template<'_>) -> Result<String, MigrateFailure> {
    let tables = template.tables;
    let (column, key, partitioning) = match &template.partitioning {
        Some(clause) => (
            format!(
                "    {PARTITION_COLUMN} INT NOT NULL COMMENT 'jst-sync: partition key, yyyymm of order_date (0 when none)',\n"
            ),
            format!("{ORDER_ID_COLUMN}, {PARTITION_COLUMN}"),
            clause.as_str(),
        ),
        None => (String::new(), ORDER_ID_COLUMN.to_owned(), ""),
    };
    let mut rendered = sql.replace("{{order_table}}", &tables.orders);
    for child in &template.mapping.children {
        let name = format!("{{{{{}_table}}}}", child.name);
        rendered = rendered.replace(&name, &tables.child(child));
    }
    let rendered = rendered
        .replace("{{order_partition_column}}", &column)
        .replace("{{order_primary_key}}", &key)
        .replace("{{order_partitioning}}", partitioning);
    match rendered.find("{{") {
        Some(at) => Err(MigrateFailure::Schema(format!(
            "migration has an unknown template near `{}`",
            &rendered[at..rendered.len().min(at + 40)]
        ))),
        None => Ok(rendered),
    }
}

/// Splits a file into statements at lines ending with `;`, dropping comment-only pieces.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out.push(current);
    out.into_iter()
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_into_statements_without_comment_only_pieces() {
        let tables = TableNames::default();
        let template = Template {
            tables: &tables,
            mapping: &Mapping::default(),
            partitioning: None,
        };
        let sql = render(MIGRATIONS[0].sql, &template).ok().unwrap();
        let parts = statements(&sql);
        assert_eq!(parts.len(), 3);
        assert!(parts[0].contains("CREATE TABLE IF NOT EXISTS `order_list_query`"));
        assert!(parts[2].contains("`order_pays`"));
        assert_eq!(statements(MIGRATIONS_TABLE_SQL).len(), 1);
    }

    #[test]
    fn a_partitioned_order_table_keys_on_id_and_month_and_the_default_is_unchanged() {
        let tables = TableNames::default();
        let mapping = Mapping::default();
        let plain = render(
            MIGRATIONS[0].sql,
            &Template {
                tables: &tables,
                mapping: &mapping,
                partitioning: None,
            },
        )
        .ok()
        .unwrap();
        assert!(plain.contains("PRIMARY KEY (id),"));
        assert!(!plain.contains("p_month INT") && !plain.contains("PARTITION p_old"));
        let clause = partitions::partition_clause(beijing_time::parse("2024-05-10").unwrap());
        let partitioned = render(
            MIGRATIONS[0].sql,
            &Template {
                tables: &tables,
                mapping: &mapping,
                partitioning: Some(clause),
            },
        )
        .ok()
        .unwrap();
        let orders = &statements(&partitioned)[0];
        assert!(orders.contains("p_month INT NOT NULL"));
        assert!(orders.contains("PRIMARY KEY (id, p_month),"));
        assert!(
            orders.contains("jst-sync'\n  PARTITION BY RANGE (p_month) ("),
            "{orders}"
        );
        assert!(orders.trim_end().ends_with(");"));
        assert!(
            !statements(&partitioned)[1].contains("PARTITION"),
            "children stay unpartitioned"
        );
    }
}
