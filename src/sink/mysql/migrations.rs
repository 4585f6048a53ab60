//! Numbered schema migrations from `sql/mysql/`, recorded in `jst_schema_migrations`.
//!
//! Each file is applied once, under a named lock so two migrators cannot race; the tables are
//! created `IF NOT EXISTS`, so a migration interrupted half-way (MySQL DDL is not
//! transactional) can simply run again. After the files, columns the mapping adds beyond the
//! default (from the config's `[mapping]`) are added with `ALTER TABLE … ADD COLUMN`: additive
//! only, nothing is ever dropped or retyped.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tracing::info;

use super::config::TableNames;
use crate::transform::mapping::{
    CHILD_BOOKKEEPING_COLUMNS, Mapping, ORDER_BOOKKEEPING_COLUMNS, TableMapping,
};

/// One numbered SQL file.
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Creates the migrations record itself.
const MIGRATIONS_TABLE_SQL: &str = include_str!("../../../sql/mysql/jst_schema_migrations.sql");

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_order_tables",
    sql: include_str!("../../../sql/mysql/0001_order_tables.sql"),
}];

/// The outcome of a failed step: a driver error, or a schema mismatch in words.
pub(crate) enum MigrateFailure {
    Driver(mysql_async::Error),
    Schema(String),
}

impl From<mysql_async::Error> for MigrateFailure {
    fn from(error: mysql_async::Error) -> Self {
        Self::Driver(error)
    }
}

/// Applies pending migrations and adds mapped columns the tables lack.
pub(crate) async fn migrate(
    conn: &mut Conn,
    tables: &TableNames,
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
    let result = migrate_locked(conn, tables, mapping).await;
    let released: Result<Option<Option<i64>>, _> = conn
        .query_first("SELECT RELEASE_LOCK(CONCAT('jst_sync_migrate:', DATABASE()))")
        .await;
    result?;
    released?;
    Ok(())
}

async fn migrate_locked(
    conn: &mut Conn,
    tables: &TableNames,
    mapping: &Mapping,
) -> Result<(), MigrateFailure> {
    conn.query_drop(MIGRATIONS_TABLE_SQL).await?;
    let applied: Vec<u32> = conn
        .query("SELECT version FROM jst_schema_migrations")
        .await?;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in statements(&render(migration.sql, tables)?) {
            conn.query_drop(statement).await?;
        }
        conn.exec_drop(
            "INSERT INTO jst_schema_migrations (version, name, applied_at) VALUES (?, ?, NOW(3))",
            (migration.version, migration.name),
        )
        .await?;
        info!(
            version = migration.version,
            name = migration.name,
            "MySQL migration applied."
        );
    }
    add_missing_columns(
        conn,
        &tables.orders,
        &mapping.order,
        &ORDER_BOOKKEEPING_COLUMNS,
    )
    .await?;
    add_missing_columns(
        conn,
        &tables.items,
        &mapping.items,
        &CHILD_BOOKKEEPING_COLUMNS,
    )
    .await?;
    add_missing_columns(
        conn,
        &tables.pays,
        &mapping.pays,
        &CHILD_BOOKKEEPING_COLUMNS,
    )
    .await?;
    Ok(())
}

/// Fills the table-name templates; table names were validated as plain identifiers.
pub(crate) fn render(sql: &str, tables: &TableNames) -> Result<String, MigrateFailure> {
    let rendered = sql
        .replace("{{order_table}}", &tables.orders)
        .replace("{{items_table}}", &tables.items)
        .replace("{{pays_table}}", &tables.pays);
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

async fn add_missing_columns(
    conn: &mut Conn,
    table: &str,
    mapping: &TableMapping,
    bookkeeping: &[&str],
) -> Result<(), MigrateFailure> {
    let existing = table_columns(conn, table).await?;
    if existing.is_empty() {
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` does not exist although migrations are recorded as applied; \
             were the table names changed after the first migrate? create it or restore the names"
        )));
    }
    let has = |name: &str| existing.iter().any(|(c, _)| c.eq_ignore_ascii_case(name));
    if let Some(missing) = bookkeeping.iter().find(|c| !has(c)) {
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` lacks bookkeeping column `{missing}`"
        )));
    }
    let mut previous: Option<&str> = None;
    for column in &mapping.columns {
        if !has(&column.name) {
            let position = match previous {
                Some(previous) => format!("AFTER `{previous}`"),
                None => "FIRST".to_owned(),
            };
            let comment = column
                .source
                .as_str()
                .replace('\'', "''")
                .replace('\\', "\\\\");
            let sql = format!(
                "ALTER TABLE `{table}` ADD COLUMN `{}` {} NULL COMMENT '{comment}' {position}",
                column.name,
                column.kind.sql_type()
            );
            conn.query_drop(sql).await?;
            info!(table, column = %column.name, "MySQL column added for the mapping.");
        }
        previous = Some(&column.name);
    }
    Ok(())
}

/// The table's columns and their types (`varchar(64)`, `bigint(20)`…), in order; empty when
/// the table does not exist.
pub(crate) async fn table_columns(
    conn: &mut Conn,
    table: &str,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    conn.exec(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (table,),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_into_statements_without_comment_only_pieces() {
        let sql = render(MIGRATIONS[0].sql, &TableNames::default())
            .ok()
            .unwrap();
        let parts = statements(&sql);
        assert_eq!(parts.len(), 3);
        assert!(parts[0].contains("CREATE TABLE IF NOT EXISTS `order_list_query`"));
        assert!(parts[2].contains("`order_pays`"));
        assert_eq!(statements(MIGRATIONS_TABLE_SQL).len(), 1);
    }
}
