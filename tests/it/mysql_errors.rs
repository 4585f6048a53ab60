//! MySQL errors in their own words, each naming host:port and what to do: unreachable,
//! read-only, a missing privilege (with the GRANT that fixes it), lock waits retried a bounded
//! number of times. In every case the orders stay queued and a later run lands them exactly.

use mysql_async::prelude::Queryable;

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway, visible};

/// A database `jst` on a private server, as root, for checking the tables.
async fn root_db(server: &PrivateMariaDb) -> TestDb {
    TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named_once_with_host_and_port() {
    let (gateway, since) = shop_gateway(fast_gateway(), 81, 20);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = format!("mysql://root@127.0.0.1:{port}/jst");
    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .failure();
    let stderr = ran.stderr();
    assert!(
        stderr.contains(&format!("MySQL at 127.0.0.1:{port} is unreachable")),
        "{stderr}"
    );
    assert!(stderr.contains("20 orders staged, not pushed"), "{stderr}");
    assert!(
        !stderr.contains("Input/output error"),
        "the driver's prefix is not repeated: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_server_is_said_so_and_the_orders_wait_for_the_primary() {
    let (gateway, since) = shop_gateway(fast_gateway(), 82, 40);
    let mut server = PrivateMariaDb::install();
    server.start().await;
    // A user without SUPER: read_only applies to it (as to any application user).
    server
        .admin("CREATE USER 'jst_app'@'%' IDENTIFIED BY 'app-pass'")
        .await;
    server.admin("GRANT ALL ON `jst`.* TO 'jst_app'@'%'").await;
    let url = server.url_as("jst_app", "app-pass", "jst");
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["migrate"])
        .env("JST_MYSQL_URL", url.clone())
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();

    server.admin("SET GLOBAL read_only = 1").await;
    let refused = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .failure();
    let stderr = refused.stderr();
    assert!(
        stderr.contains(&format!(
            "MySQL at 127.0.0.1:{} is read-only",
            server.port()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("primary"), "says what to do: {stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains("40 orders staged, not pushed"), "{stderr}");

    server.admin("SET GLOBAL read_only = 0").await;
    Jst::new(&["push"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_exact(&root_db(&server).await, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_privilege_is_named_with_the_grant_that_fixes_it() {
    let (gateway, since) = shop_gateway(fast_gateway(), 83, 30);
    let mut server = PrivateMariaDb::install();
    server.start().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["migrate"])
        .env("JST_MYSQL_URL", server.url("jst"))
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    server
        .admin("CREATE USER 'jst_reader'@'%' IDENTIFIED BY 'reader-pass'")
        .await;
    server
        .admin("GRANT SELECT ON `jst`.* TO 'jst_reader'@'%'")
        .await;
    let url = server.url_as("jst_reader", "reader-pass", "jst");

    let refused = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .failure();
    let stderr = refused.stderr();
    assert!(
        stderr.contains(&format!("MySQL at 127.0.0.1:{}", server.port()))
            && stderr.contains("denies INSERT"),
        "{stderr}"
    );
    assert!(
        stderr.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `jst`.* TO 'jst_reader'@"),
        "{stderr}"
    );
    assert!(!stderr.contains("reader-pass"), "{stderr}");
    assert!(stderr.contains("30 orders staged, not pushed"), "{stderr}");

    server
        .admin("GRANT INSERT, UPDATE, DELETE ON `jst`.* TO 'jst_reader'@'%'")
        .await;
    Jst::new(&["push"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_exact(&root_db(&server).await, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_locked_by_another_client_are_retried_then_the_batch_stays_queued() {
    let (gateway, since) = shop_gateway(fast_gateway(), 84, 30);
    let mut server = PrivateMariaDb::install();
    server.start_with(&["--innodb-lock-wait-timeout=1"]).await;
    let url = server.url("jst");
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    let db = root_db(&server).await;
    // Every order changes; another client holds the lock on every order row meanwhile.
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        shop.modify_random(30, jst_sync::beijing_time::now());
    }
    let mut holder = db.conn().await;
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop("SELECT id FROM order_list_query FOR UPDATE")
        .await
        .unwrap();
    let busy = fast(Jst::new(&["sync"]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .failure();
    let stderr = busy.stderr();
    assert!(
        stderr.contains(&format!("MySQL at 127.0.0.1:{} is busy", server.port()))
            && stderr.contains("3 attempts"),
        "{stderr}"
    );
    assert!(stderr.contains("staged, not pushed"), "{stderr}");

    holder.query_drop("ROLLBACK").await.unwrap();
    drop(holder);
    Jst::new(&["push"])
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_names_the_mysql_it_cannot_use_and_how_to_fix_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ran = Jst::new(&["demo", "--orders", "20"])
        .arg("--mysql-url")
        .arg(format!("mysql://root:DemoPw@127.0.0.1:{port}/test"))
        .run()
        .await
        .failure();
    let stderr = ran.stderr();
    assert!(
        stderr.contains(&format!(
            "MySQL at 127.0.0.1:{port} cannot be used for the demo"
        )) && stderr.contains("--mysql-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("Input/output error"), "{stderr}");
    assert!(!stderr.contains("DemoPw"), "{stderr}");
}
