//! A private MariaDB server on a temporary data directory and a free port, which a test may
//! stop (abruptly) and start again, start with other server options (`--max-allowed-packet`),
//! make read-only or give limited users, without disturbing the shared server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private `mariadbd`.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateMariaDb {
    /// Initialises a data directory (the server is not started).
    pub fn install() -> PrivateMariaDb {
        let dir = tempfile::tempdir().unwrap();
        // A temporary directory of its own: a starting server removes the `#sql*` files it
        // finds in its tmpdir, which breaks other servers bootstrapping in a shared /tmp.
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let output = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--tmpdir={}", dir.path().join("tmp").display()))
            .stdin(Stdio::null())
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            output.status.success(),
            "mariadb-install-db failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        PrivateMariaDb {
            dir,
            port: free_port(),
            server: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of database `db` on this server as `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` as root (e.g. `CREATE USER`, `GRANT`, `SET GLOBAL read_only = 1`).
    pub async fn admin(&self, sql: &str) {
        use mysql_async::prelude::Queryable;
        let pool = mysql_async::Pool::new(self.url("mysql").as_str());
        let mut conn = pool.get_conn().await.expect("private mariadbd answers");
        conn.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(conn);
        let _ = pool.disconnect().await;
    }

    /// Starts the server and waits (with a deadline) until it answers; creates database `jst`.
    pub async fn start(&mut self) {
        self.start_with(&[]).await
    }

    /// [`start`](Self::start) with extra server options, e.g. `--max-allowed-packet=1M`.
    pub async fn start_with(&mut self, options: &[&str]) {
        assert!(self.server.is_none(), "already running");
        let data = self.dir.path().join("data");
        // `mariadbd` is in /usr/sbin, which a non-root PATH may lack.
        let child = ["mariadbd", "/usr/sbin/mariadbd"]
            .iter()
            .find_map(|program| {
                Command::new(program)
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!(
                        "--socket={}",
                        self.dir.path().join("mysqld.sock").display()
                    ))
                    .arg(format!("--port={}", self.port))
                    .arg(format!(
                        "--tmpdir={}",
                        self.dir.path().join("tmp").display()
                    ))
                    .args([
                        "--bind-address=127.0.0.1",
                        "--user=root",
                        "--skip-log-bin",
                        "--innodb-buffer-pool-size=64M",
                    ])
                    .args(options)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()
            })
            .expect("mariadbd starts");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pool = mysql_async::Pool::new(self.url("mysql").as_str());
            let answered = match pool.get_conn().await {
                Ok(mut conn) => {
                    use mysql_async::prelude::Queryable;
                    conn.query_drop("CREATE DATABASE IF NOT EXISTS jst CHARACTER SET utf8mb4")
                        .await
                        .is_ok()
                }
                Err(_) => false,
            };
            let _ = pool.disconnect().await;
            if answered {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private mariadbd did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server at once (SIGKILL), as a crash or a pulled plug would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}
