//! A private database on the shared MariaDB server for one test, dropped at the end.

use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::prelude::Queryable;

/// The shared server the tests use (`JST_TEST_MYSQL` overrides).
pub fn server_url() -> String {
    std::env::var("JST_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One test's database.
pub struct TestDb {
    pub name: String,
    server: String,
    pool: mysql_async::Pool,
}

impl TestDb {
    pub async fn create() -> TestDb {
        Self::create_on(&server_url(), "test").await
    }

    /// A database on another server (`server` without a database; `admin_db` exists there).
    pub async fn create_on(server: &str, admin_db: &str) -> TestDb {
        let name = format!(
            "jst_it_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let admin = mysql_async::Pool::new(format!("{server}/{admin_db}").as_str());
        let mut conn = admin
            .get_conn()
            .await
            .expect("MariaDB answers: start it with .ci/run or start-stop-daemon");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await
            .unwrap();
        drop(conn);
        admin.disconnect().await.unwrap();
        let pool = mysql_async::Pool::new(format!("{server}/{name}").as_str());
        TestDb {
            name,
            server: server.to_owned(),
            pool,
        }
    }

    /// The URL the binary is given.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    pub async fn conn(&self) -> mysql_async::Conn {
        self.pool.get_conn().await.expect("test database answers")
    }

    pub async fn count(&self, table: &str) -> u64 {
        let mut conn = self.conn().await;
        conn.query_first(format!("SELECT COUNT(*) FROM `{table}`"))
            .await
            .unwrap()
            .unwrap_or(0)
    }

    /// Rows inserted, updated or deleted in this database's tables since the server started,
    /// from MariaDB's user statistics (enabled here). Per database, so parallel tests do not
    /// disturb each other.
    pub async fn rows_changed(&self) -> u64 {
        let mut conn = self.conn().await;
        conn.query_drop("SET GLOBAL userstat = 1").await.unwrap();
        let changed: Option<u64> = conn
            .exec_first(
                "SELECT CAST(COALESCE(SUM(ROWS_CHANGED), 0) AS UNSIGNED) FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = ?",
                (self.name.as_str(),),
            )
            .await
            .unwrap();
        changed.unwrap_or(0)
    }

    /// The same server's database `name` (which must exist), e.g. a private server's `jst`.
    pub async fn sibling(self, name: &str) -> TestDb {
        let server = self.server.clone();
        self.drop().await;
        let pool = mysql_async::Pool::new(format!("{server}/{name}").as_str());
        TestDb {
            name: name.to_owned(),
            server,
            pool,
        }
    }

    /// Like [`count`](Self::count), but `None` while the table or server is not there.
    pub async fn try_count(&self, table: &str) -> Option<u64> {
        let mut conn = self.pool.get_conn().await.ok()?;
        conn.query_first(format!("SELECT COUNT(*) FROM `{table}`"))
            .await
            .ok()?
    }

    pub async fn drop(self) {
        let mut conn = self.conn().await;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .unwrap();
        drop(conn);
        self.pool.disconnect().await.unwrap();
    }
}
