//! What `jst-sync check` asks of MySQL, reading only: who the sink is connected as, which of
//! the privileges it uses it holds on the database (from `SHOW GRANTS`), and whether the
//! tables are at the migration version this jst-sync expects.

use mysql_async::prelude::Queryable;

use super::error::{Phase, SinkError};
use super::migrations::{self, MIGRATIONS, MigrateFailure};
use super::sink::MysqlSink;

/// What a push needs on the database's tables.
pub const PUSH_PRIVILEGES: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];
/// What `jst-sync migrate` (and a push that migrates by itself) needs besides.
pub const MIGRATE_PRIVILEGES: [&str; 2] = ["CREATE", "ALTER"];

/// The sink's view of the server, for `check`.
#[derive(Clone, Debug)]
pub struct MysqlHealth {
    /// `host:port`.
    pub endpoint: String,
    pub user: String,
    pub database: String,
    /// Of [`PUSH_PRIVILEGES`], those the user lacks on the database.
    pub missing_for_push: Vec<&'static str>,
    /// Of [`MIGRATE_PRIVILEGES`], those the user lacks on the database.
    pub missing_for_migrate: Vec<&'static str>,
    /// The highest migration recorded for these tables (`None`: not created yet).
    pub applied_version: Option<u32>,
    /// The highest migration this jst-sync has.
    pub expected_version: u32,
    /// What DDL the tables still need for this jst-sync and mapping (empty: none).
    pub pending_ddl: Vec<String>,
}

impl MysqlSink {
    /// Reads the user's privileges and the tables' version; changes nothing.
    pub async fn health(&self) -> Result<MysqlHealth, SinkError> {
        let mut conn = self.conn().await?;
        let grants: Vec<String> = conn
            .query("SHOW GRANTS")
            .await
            .map_err(|e| self.classify(e, Phase::Connect))?;
        let database = self.who.database.clone();
        let held = privileges_on(&grants, &database);
        let lacking = |wanted: &[&'static str]| -> Vec<&'static str> {
            wanted
                .iter()
                .copied()
                .filter(|p| !held.iter().any(|h| h == p))
                .collect()
        };
        let pending = migrations::pending_ddl(&mut conn, &self.config, &self.mapping)
            .await
            .map_err(|failure| match failure {
                MigrateFailure::Driver(e) => self.classify(e, Phase::Migrate),
                MigrateFailure::Schema(message) => SinkError::Schema(message),
            })?;
        let record: Option<i64> = conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = 'jst_schema_migrations' AND COLUMN_NAME = 'scope'",
            )
            .await
            .map_err(|e| self.classify(e, Phase::Connect))?;
        let applied_version = if record == Some(1) {
            conn.exec_first::<Option<u32>, _, _>(
                "SELECT MAX(version) FROM jst_schema_migrations WHERE scope = ? AND version > 0",
                (&self.config.tables().orders,),
            )
            .await
            .map_err(|e| self.classify(e, Phase::Connect))?
            .flatten()
        } else {
            None
        };
        Ok(MysqlHealth {
            endpoint: self.who.endpoint.clone(),
            user: self.who.user.clone(),
            database,
            missing_for_push: lacking(&PUSH_PRIVILEGES),
            missing_for_migrate: lacking(&MIGRATE_PRIVILEGES),
            applied_version,
            expected_version: MIGRATIONS.last().map_or(0, |m| m.version),
            pending_ddl: pending.needed,
        })
    }
}

/// The privileges `SHOW GRANTS` lines give on every table of `database` (global grants and
/// grants on the database or a pattern matching it; table and column grants and roles are not
/// counted). `ALL PRIVILEGES` gives every privilege named in this module.
fn privileges_on(grants: &[String], database: &str) -> Vec<String> {
    let mut held = Vec::new();
    for grant in grants {
        let Some(rest) = grant.strip_prefix("GRANT ") else {
            continue;
        };
        let Some((privileges, rest)) = rest.split_once(" ON ") else {
            continue; // a role granted to the user
        };
        let object = rest.split(" TO ").next().unwrap_or_default().trim();
        let Some(schema) = object.strip_suffix(".*") else {
            continue; // one table, or a proxy grant
        };
        let applies = schema == "*" || like(&unquote(schema), database);
        if !applies {
            continue;
        }
        for privilege in privileges.split(',').map(str::trim) {
            if privilege.contains('(') {
                continue; // column privileges
            }
            if privilege == "ALL PRIVILEGES" || privilege == "ALL" {
                held.extend(
                    PUSH_PRIVILEGES
                        .iter()
                        .chain(MIGRATE_PRIVILEGES.iter())
                        .map(|p| (*p).to_owned()),
                );
            } else {
                held.push(privilege.to_ascii_uppercase());
            }
        }
    }
    held
}

/// A schema name as `SHOW GRANTS` writes it, without its quotes.
fn unquote(name: &str) -> String {
    let name = name.trim();
    for quote in ['`', '\'', '"'] {
        if let Some(inner) = name.strip_prefix(quote).and_then(|n| n.strip_suffix(quote)) {
            return inner.replace(&format!("{quote}{quote}"), &quote.to_string());
        }
    }
    name.to_owned()
}

/// SQL `LIKE` as grants use it: `%` any run, `_` any one character, `\` escapes.
fn like(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| matches(rest, &text[skip..])),
            Some(('_', rest)) => !text.is_empty() && matches(rest, &text[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                text.first() == Some(&rest[0]) && matches(&rest[1..], &text[1..])
            }
            Some((c, rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(grants: &[&str], database: &str) -> Vec<String> {
        let grants: Vec<String> = grants.iter().map(|g| (*g).to_owned()).collect();
        privileges_on(&grants, database)
    }

    #[test]
    fn global_and_database_grants_count_and_others_do_not() {
        let root = held(
            &["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"],
            "bi",
        );
        assert!(root.contains(&"ALTER".to_owned()) && root.contains(&"DELETE".to_owned()));
        let app = held(
            &[
                "GRANT USAGE ON *.* TO `jst_app`@`%` IDENTIFIED BY PASSWORD '*0000'",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `jst`.* TO `jst_app`@`%`",
                "GRANT ALTER ON `other`.* TO `jst_app`@`%`",
                "GRANT CREATE ON `jst`.`order_items` TO `jst_app`@`%`",
                "GRANT `dba_role` TO `jst_app`@`%`",
            ],
            "jst",
        );
        assert_eq!(app, ["USAGE", "SELECT", "INSERT", "UPDATE", "DELETE"]);
    }

    #[test]
    fn database_patterns_match_as_like_does() {
        assert!(like("jst\\_%", "jst_shop1"));
        assert!(!like("jst\\_%", "jstxshop1"));
        assert!(like("jst_", "jst1"));
        assert!(!like("jst", "jst1"));
        assert_eq!(
            held(&["GRANT SELECT ON `jst\\_%`.* TO `u`@`%`"], "jst_a"),
            ["SELECT"]
        );
    }
}
