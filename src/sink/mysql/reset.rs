//! Starting the demo from nothing: its tables and their migration records dropped.

use mysql_async::prelude::Queryable;

use super::MysqlConfig;
use crate::transform::Mapping;

/// Drops `config`'s tables (the order table and `mapping`'s child tables) and their migration
/// records; `Err` names the server (host:port) and MySQL's reason, without the password.
pub async fn drop_tables_and_records(
    config: &MysqlConfig,
    mapping: &Mapping,
) -> Result<(), String> {
    let url = &config.url;
    let opts = mysql_async::Opts::from_url(url.expose()).map_err(|e| {
        format!(
            "invalid MySQL URL: {}",
            crate::secret::redact(&e.to_string(), url)
        )
    })?;
    let endpoint = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
    let tables = &config.tables();
    let pool = mysql_async::Pool::new(opts);
    let result = async {
        let mut conn = pool.get_conn().await?;
        let names: Vec<String> = (tables.children_of(mapping).into_iter())
            .chain([tables.orders.clone()])
            .map(|table| format!("`{table}`"))
            .collect();
        conn.query_drop(format!("DROP TABLE IF EXISTS {}", names.join(", ")))
            .await?;
        let has_record: Option<i64> = conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = 'jst_schema_migrations' AND COLUMN_NAME = 'scope'",
            )
            .await?;
        if has_record == Some(1) {
            conn.exec_drop(
                "DELETE FROM jst_schema_migrations WHERE scope = ?",
                (tables.orders.as_str(),),
            )
            .await?;
        }
        Ok::<(), mysql_async::Error>(())
    }
    .await;
    let _ = pool.disconnect().await;
    result.map_err(|e| {
        format!(
            "MySQL at {endpoint} cannot be used for the demo ({})",
            crate::secret::redact(&super::driver_reason(&e), url)
        )
    })
}
