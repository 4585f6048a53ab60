//! The columns a table has on the live server, and the `ADD COLUMN` / `MODIFY COLUMN`
//! statements that bring them up to the mapping (never dropping or narrowing one).

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::column_types::{self, TypeChange};
use super::migrate_failure::MigrateFailure;
use crate::transform::mapping::TableMapping;

/// The statements that bring `table` up to `mapping`: `(table, statement, column)` for each
/// column to add or widen. Refuses a missing table, missing bookkeeping columns and unsafe
/// type changes.
pub(crate) async fn plan_columns(
    conn: &mut Conn,
    table: &str,
    mapping: &TableMapping,
    bookkeeping: &[&str],
) -> Result<Vec<(String, String, String)>, MigrateFailure> {
    let existing = table_columns(conn, table).await?;
    if existing.is_empty() {
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` does not exist although migrations are recorded as applied; \
             were the table names changed after the first migrate? create it or restore the names"
        )));
    }
    let find = |name: &str| existing.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    if let Some(missing) = bookkeeping.iter().find(|c| find(c).is_none()) {
        return Err(MigrateFailure::Schema(format!(
            "table `{table}` lacks bookkeeping column `{missing}`"
        )));
    }
    let mut plan = Vec::new();
    let mut previous: Option<&str> = None;
    for column in &mapping.columns {
        match find(&column.name) {
            None => {
                let position = match previous {
                    Some(previous) => format!("AFTER `{previous}`"),
                    None => "FIRST".to_owned(),
                };
                let sql = format!(
                    "ALTER TABLE `{table}` ADD COLUMN `{}` {} NULL COMMENT '{}' {position}",
                    column.name,
                    super::column_types::sql_type(column.kind),
                    sql_string(column.source.as_str())
                );
                plan.push((table.to_owned(), sql, column.name.clone()));
            }
            Some(live) => match column_types::compare(&column.name, &live.column_type, column.kind)
            {
                TypeChange::Same => {}
                TypeChange::Widen => {
                    plan.push((
                        table.to_owned(),
                        live.modify_to(table, &super::column_types::sql_type(column.kind)),
                        column.name.clone(),
                    ));
                }
                TypeChange::Refuse(why) => {
                    return Err(MigrateFailure::Schema(format!("table `{table}`: {why}")));
                }
            },
        }
        previous = Some(&column.name);
    }
    Ok(plan)
}

/// A string literal's content, quotes and backslashes escaped.
fn sql_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "''")
}

/// A live column, as `information_schema.COLUMNS` describes it.
#[derive(Clone, Debug)]
pub(crate) struct LiveColumn {
    pub name: String,
    /// `varchar(64)`, `bigint(20)`…
    pub column_type: String,
    pub nullable: bool,
    pub collation: Option<String>,
    pub comment: String,
}

impl LiveColumn {
    /// `ALTER TABLE … MODIFY COLUMN` to `sql_type`, keeping nullability, collation and comment.
    fn modify_to(&self, table: &str, sql_type: &str) -> String {
        let collation = match &self.collation {
            Some(collation) if sql_type.contains("CHAR") || sql_type.contains("TEXT") => {
                let charset = collation.split('_').next().unwrap_or("utf8mb4");
                format!(" CHARACTER SET {charset} COLLATE {collation}")
            }
            _ => String::new(),
        };
        let null = if self.nullable { "NULL" } else { "NOT NULL" };
        format!(
            "ALTER TABLE `{table}` MODIFY COLUMN `{}` {sql_type}{collation} {null} COMMENT '{}'",
            self.name,
            sql_string(&self.comment)
        )
    }
}

/// The table's columns, in order; empty when the table does not exist.
pub(crate) async fn table_columns(
    conn: &mut Conn,
    table: &str,
) -> Result<Vec<LiveColumn>, mysql_async::Error> {
    let rows: Vec<(String, String, String, Option<String>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME, COLUMN_COMMENT \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (table,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, column_type, nullable, collation, comment)| LiveColumn {
                name,
                column_type,
                nullable: nullable == "YES",
                collation,
                comment,
            },
        )
        .collect())
}
