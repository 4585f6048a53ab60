//! The benchmark's own MySQL database, dropped and created fresh, and MariaDB's count of the
//! rows changed in it.

use anyhow::{Context, bail};
use mysql_async::prelude::Queryable;

/// The benchmark's own database, dropped and created fresh.
pub(super) struct BenchDatabase {
    name: String,
    admin: mysql_async::Pool,
}

impl BenchDatabase {
    pub(super) async fn create(url: &str) -> anyhow::Result<Self> {
        let opts = mysql_async::Opts::from_url(url).context("--mysql-url is not a MySQL URL")?;
        let name = opts
            .db_name()
            .context("--mysql-url must name the benchmark database")?
            .to_owned();
        if !jst_sync::transform::mapping::is_identifier(&name) {
            bail!("benchmark database name `{name}` must be letters, digits or `_`");
        }
        let admin = mysql_async::Pool::new(
            mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>),
        );
        let mut conn = admin
            .get_conn()
            .await
            .context("cannot connect to MySQL for the benchmark")?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await?;
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await?;
        conn.query_drop("SET GLOBAL userstat = 1")
            .await
            .context("enabling MariaDB user statistics")?;
        Ok(Self { name, admin })
    }

    /// Rows inserted, updated or deleted in the database's tables, from MariaDB's user
    /// statistics.
    pub(super) async fn rows_changed(&self) -> anyhow::Result<u64> {
        let mut conn = self.admin.get_conn().await?;
        let changed: Option<u64> = conn
            .exec_first(
                "SELECT CAST(COALESCE(SUM(ROWS_CHANGED), 0) AS UNSIGNED) FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = ?",
                (self.name.as_str(),),
            )
            .await?;
        Ok(changed.unwrap_or(0))
    }

    pub(super) async fn drop(self) -> anyhow::Result<()> {
        let mut conn = self.admin.get_conn().await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await?;
        drop(conn);
        self.admin.disconnect().await?;
        Ok(())
    }
}
