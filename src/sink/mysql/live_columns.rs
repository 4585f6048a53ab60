//! The columns a table has on the live server, and the DDL that brings them up to the mapping:
//! `ADD COLUMN` / `MODIFY COLUMN` (never dropping or narrowing one), and `CREATE TABLE` for a
//! child table the config's `[mapping]` adds.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::bookkeeping::CHILD_BOOKKEEPING_COLUMNS;
use super::column_types::{self, TypeChange};
use super::migrate_failure::MigrateFailure;
use crate::transform::ColumnKind;
use crate::transform::mapping::{ChildTable, TableMapping};

/// `CREATE TABLE IF NOT EXISTS` for `child` as `table`, the way `0001_order_tables.sql`
/// creates the default child tables: the mapped columns (the key's `NOT NULL`, key text
/// compared byte for byte with `utf8mb4_bin`, the source as the comment), the bookkeeping
/// columns, and the mapping's primary key. Refuses a key column of kind `long_text` (MySQL
/// cannot key on it).
pub(crate) fn create_child_table(
    table: &str,
    child: &ChildTable,
) -> Result<String, MigrateFailure> {
    let mapping = &child.mapping;
    let array = mapping.rows_from.as_deref().unwrap_or_default();
    let mut lines = Vec::new();
    for column in &mapping.columns {
        let is_key = mapping.key.contains(&column.name);
        if is_key && column.kind == ColumnKind::LongText {
            return Err(MigrateFailure::Schema(format!(
                "child table `{}`: key column `{}` cannot be long_text; give it a text kind with max_chars",
                child.name, column.name
            )));
        }
        let sql_type = column_types::sql_type(column.kind);
        let collation = match (is_key, column.kind) {
            (true, ColumnKind::Text { .. }) => " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            _ => "",
        };
        let source = column.source.as_str();
        let comment = match source.strip_prefix("$.") {
            Some(order_field) => format!("{order_field} of the order"),
            None => format!("{array}[].{source}"),
        };
        lines.push(format!(
            "    `{}` {sql_type}{collation} {} COMMENT '{}'",
            column.name,
            if is_key { "NOT NULL" } else { "NULL" },
            sql_string(&comment)
        ));
    }
    let [version, synced_at] = CHILD_BOOKKEEPING_COLUMNS;
    lines.push(format!(
        "    {version} BIGINT NOT NULL COMMENT 'jst-sync: staging version id written'"
    ));
    lines.push(format!(
        "    {synced_at} DATETIME(3) NOT NULL COMMENT 'jst-sync: when written (Beijing time)'"
    ));
    let key: Vec<String> = mapping.key.iter().map(|k| format!("`{k}`")).collect();
    lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS `{table}` (\n{}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci\n  COMMENT='{}'",
        lines.join(",\n"),
        sql_string(&format!(
            "Jushuitan order {array}[] (child table `{}`), one row per ({}), kept by jst-sync",
            child.name,
            mapping.key.join(", ")
        ))
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{ColumnSpec, Mapping};

    #[test]
    fn a_new_child_table_is_created_like_the_default_ones_with_its_key_and_bookkeeping() {
        let mut gifts = Mapping::default().children[1].clone();
        gifts.name = "gifts".into();
        gifts.mapping.columns.truncate(3);
        let sql = create_child_table("shop1_order_gifts", &gifts)
            .ok()
            .unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE IF NOT EXISTS `shop1_order_gifts` (\n\
             \x20   `o_id` BIGINT NOT NULL COMMENT 'o_id of the order',\n\
             \x20   `pay_id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'pays[].pay_id',\n\
             \x20   `outer_pay_id` VARCHAR(255) NULL COMMENT 'pays[].outer_pay_id',\n\
             \x20   jst_version BIGINT NOT NULL COMMENT 'jst-sync: staging version id written',\n\
             \x20   jst_synced_at DATETIME(3) NOT NULL COMMENT 'jst-sync: when written (Beijing time)',\n\
             \x20   PRIMARY KEY (`o_id`, `pay_id`)\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci\n\
             \x20 COMMENT='Jushuitan order pays[] (child table `gifts`), one row per (o_id, pay_id), kept by jst-sync'"
        );
        gifts.mapping.columns[1] =
            ColumnSpec::new("pay_id", "pay_id", ColumnKind::LongText).required();
        assert!(
            create_child_table("t", &gifts).is_err(),
            "no key on MEDIUMTEXT"
        );
    }
}
