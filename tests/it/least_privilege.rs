//! Two roles: a DBA runs `jst-sync migrate` (CREATE, ALTER), the application user pushes with
//! SELECT, INSERT, UPDATE and DELETE only — and is told to ask for `migrate` when the tables
//! are not at the version it expects.

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway, visible};

/// A server with `jst_app`, who may only read and write rows of database `jst`.
async fn server_with_app_user() -> PrivateMariaDb {
    let mut server = PrivateMariaDb::install();
    server.start().await;
    server
        .admin("CREATE USER 'jst_app'@'%' IDENTIFIED BY 'app-pass'")
        .await;
    server
        .admin("GRANT SELECT, INSERT, UPDATE, DELETE ON `jst`.* TO 'jst_app'@'%'")
        .await;
    server
}

async fn root_db(server: &PrivateMariaDb) -> TestDb {
    TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_create_or_alter_pushes_into_tables_a_dba_migrated() {
    let (gateway, since) = shop_gateway(fast_gateway(), 91, 80);
    let server = server_with_app_user().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let migrated = Jst::new(&["migrate"])
        .env("JST_MYSQL_URL", server.url("jst"))
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    assert!(
        migrated
            .stdout()
            .contains("at the version this jst-sync expects"),
        "{}",
        migrated.stdout()
    );

    let app = server.url_as("jst_app", "app-pass", "jst");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &app, &staging)
        .run()
        .await
        .success();
    let db = root_db(&server).await;
    assert_exact(&db, &visible(&gateway)).await;
    // Changes keep landing (updates replace items and payments: DELETE + INSERT).
    {
        let shop = gateway.shop();
        shop.lock()
            .unwrap()
            .modify_random(20, jst_sync::beijing_time::now());
    }
    fast(Jst::new(&["sync"]))
        .against(&gateway, &app, &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_create_or_alter_is_told_to_run_migrate_when_tables_are_behind() {
    let (gateway, since) = shop_gateway(fast_gateway(), 92, 40);
    let server = server_with_app_user().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let app = server.url_as("jst_app", "app-pass", "jst");

    let refused = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &app, &staging)
        .run()
        .await
        .failure();
    let stderr = refused.stderr();
    assert!(
        stderr.contains("run `jst-sync migrate` once as a user with CREATE and ALTER"),
        "{stderr}"
    );
    assert!(stderr.contains("40 orders staged, not pushed"), "{stderr}");
    assert!(!stderr.contains("app-pass"), "{stderr}");

    Jst::new(&["migrate"])
        .env("JST_MYSQL_URL", server.url("jst"))
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    Jst::new(&["push"])
        .against(&gateway, &app, &staging)
        .run()
        .await
        .success();
    assert_exact(&root_db(&server).await, &visible(&gateway)).await;
}
