//! `jst-sync check`: every part a run needs tried once — a signed API call per route, MySQL
//! with its privileges and table version, staging — one line per part, exit 0 only when all
//! are ok, and no run recorded.

use crate::support::{Jst, TestDb, fast, fast_gateway, json_of, shop_gateway};

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_configuration_passes_every_part_and_records_no_run() {
    let (gateway, since) = shop_gateway(fast_gateway(), 301, 10);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let before = Jst::new(&["check"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let out = before.stdout();
    for part in ["ok    qimen ", "ok    mysql ", "ok    staging "] {
        assert!(out.contains(part), "{part:?} missing:\n{out}");
    }
    assert!(out.contains("tables not created yet"), "{out}");
    assert!(!staging.exists(), "check created the staging file");

    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let after = Jst::new(&["check"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let out = after.stdout();
    assert!(out.contains("quick_check ok"), "{out}");
    assert!(out.contains("tables at migration 2 of 2"), "{out}");
    assert!(out.contains("all 3 parts ok"), "{out}");

    let status = Jst::new(&["status", "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    let runs = json_of(&status.stdout())["runs"].as_array().unwrap().len();
    assert_eq!(runs, 1, "check recorded a run");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_names_the_signature_and_fails() {
    let (gateway, _) = shop_gateway(fast_gateway(), 302, 5);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = Jst::new(&["check"])
        .against(&gateway, &db.url(), &staging)
        .env("JST_APP_SECRET", "not-the-secret-7731")
        .run()
        .await
        .failure();
    let out = ran.stdout();
    let qimen = out
        .lines()
        .find(|l| l.contains("qimen"))
        .unwrap_or_else(|| panic!("no qimen line:\n{out}"));
    assert!(qimen.starts_with("FAIL"), "{out}");
    assert!(qimen.to_lowercase().contains("signature"), "{out}");
    assert!(qimen.contains("JST_APP_SECRET"), "{out}");
    // The other parts are still checked, and are fine.
    assert!(out.contains("ok    mysql "), "{out}");
    assert!(out.contains("1 of 3 parts failed"), "{out}");
    assert!(
        !out.contains("not-the-secret-7731") && !ran.stderr().contains("not-the-secret-7731"),
        "the secret leaked"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_down_names_host_and_port_and_fails() {
    let (gateway, _) = shop_gateway(fast_gateway(), 303, 5);
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let port = closed_port();

    let ran = Jst::new(&["check"])
        .against(
            &gateway,
            &format!("mysql://jst:pw-4471@127.0.0.1:{port}/bi"),
            &staging,
        )
        .run()
        .await
        .failure();
    let out = ran.stdout();
    let mysql = out
        .lines()
        .find(|l| l.contains("mysql"))
        .unwrap_or_else(|| panic!("no mysql line:\n{out}"));
    assert!(mysql.starts_with("FAIL"), "{out}");
    assert!(mysql.contains(&format!("127.0.0.1:{port}")), "{out}");
    assert!(out.contains("ok    qimen "), "{out}");
    assert!(
        !out.contains("pw-4471") && !ran.stderr().contains("pw-4471"),
        "the password leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_write_rows_is_told_what_to_grant() {
    let server = {
        let mut server = crate::support::private_mariadb::PrivateMariaDb::install();
        server.start().await;
        server
            .admin("CREATE USER 'jst_ro'@'%' IDENTIFIED BY 'ro-pass'")
            .await;
        server
            .admin("GRANT SELECT ON `jst`.* TO 'jst_ro'@'%'")
            .await;
        server
    };
    let (gateway, _) = shop_gateway(fast_gateway(), 304, 5);
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let ran = Jst::new(&["check"])
        .against(
            &gateway,
            &server.url_as("jst_ro", "ro-pass", "jst"),
            &staging,
        )
        .run()
        .await
        .failure();
    let out = ran.stdout();
    let mysql = out.lines().find(|l| l.contains("mysql")).unwrap();
    assert!(mysql.starts_with("FAIL"), "{out}");
    assert!(mysql.contains("INSERT, UPDATE, DELETE"), "{out}");
    assert!(
        mysql.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `jst`.*"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_routes_of_each_merchant_are_checked_each_with_its_own_signed_call() {
    use jst_sync::gateway::{OpenApiConfig, OpenApiGateway};
    let (qimen, _) = shop_gateway(fast_gateway(), 305, 5);
    let open = OpenApiGateway::start_sharing(OpenApiConfig::unlimited(), qimen.shop())
        .expect("fake open platform starts");
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let file = dir.path().join("jst-sync.toml");
    std::fs::write(
        &file,
        format!(
            "[[merchant]]\nname = \"a\"\ncustomer_id = \"{}\"\n\
             [[merchant]]\nname = \"b\"\ncustomer_id = \"{}\"\n",
            qimen.config().customer_id,
            qimen.config().customer_id
        ),
    )
    .unwrap();
    let config = open.config();
    let with_routes = |secret: &str| {
        Jst::new(&["check", "--config", file.to_str().unwrap()])
            .against(&qimen, &db.url(), &staging)
            .env("JST_SOURCE", "qimen,openapi")
            .env("JST_OPENAPI_URL", open.url())
            .env("JST_OPENAPI_APP_KEY", config.app_key.clone())
            .env("JST_OPENAPI_APP_SECRET", secret.to_owned())
            .env("JST_OPENAPI_ACCESS_TOKEN", config.access_token.expose())
    };

    let ran = with_routes(config.app_secret.expose())
        .run()
        .await
        .success();
    let out = ran.stdout();
    for merchant in ["a", "b"] {
        for part in ["qimen", "openapi", "mysql", "staging"] {
            let prefix = format!("ok    merchant {merchant}: {part} ");
            assert!(out.contains(&prefix), "{prefix:?} missing:\n{out}");
        }
    }
    assert!(out.contains("all 8 parts ok"), "{out}");

    let ran = with_routes("wrong-open-secret-3051").run().await.failure();
    let out = ran.stdout();
    let refused: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(refused.len(), 2, "{out}");
    assert!(
        refused
            .iter()
            .all(|l| l.contains(": openapi ") && l.to_lowercase().contains("signature")),
        "{out}"
    );
    assert!(
        !out.contains("wrong-open-secret-3051") && !ran.stderr().contains("wrong-open-secret-3051")
    );
    db.drop().await;
}
