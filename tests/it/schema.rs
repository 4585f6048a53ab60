//! The MySQL schema as a BI user and a DBA see it: idempotent DDL, exact text, table prefixes,
//! the migrations record, and mapping changes that widen (never narrow) columns. Partitions are
//! in `partitions.rs`, drift reports in `schema_drift.rs`; this file also holds the helpers they
//! share.

use std::path::{Path, PathBuf};

use jst_sync::gateway::{FakeGateway, GatewayConfig};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

pub(crate) fn o_ids(gateway: &FakeGateway) -> Vec<String> {
    gateway.shop().lock().unwrap().o_ids()
}

pub(crate) fn set_field(gateway: &FakeGateway, o_id: &str, key: &str, value: Value) {
    assert!(
        gateway.shop().lock().unwrap().set_field(o_id, key, value),
        "order {o_id} exists"
    );
}

/// A config file holding `text`, kept as long as the directory.
pub(crate) fn config_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) async fn show_create(db: &TestDb, table: &str) -> String {
    let row: Option<(String, String)> = db
        .conn()
        .await
        .query_first(format!("SHOW CREATE TABLE `{table}`"))
        .await
        .unwrap();
    row.unwrap().1
}

pub(crate) async fn column_type(
    db: &TestDb,
    table: &str,
    column: &str,
) -> Option<(String, Option<String>, String)> {
    db.conn()
        .await
        .exec_first(
            "SELECT COLUMN_TYPE, COLLATION_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (&db.name, table, column),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ddl_applies_to_an_empty_database_and_a_second_time_changes_nothing() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    // Only a pull creates a staging file; an empty one stands for it here.
    drop(jst_sync::staging::StagingStore::open(&staging).unwrap());
    let push = || {
        Jst::new(&["push"])
            .env("JST_MYSQL_URL", db.url())
            .env("JST_STAGING", staging.display().to_string())
    };

    push().run().await.success();
    let tables = [
        "order_list_query",
        "order_items",
        "order_pays",
        "jst_schema_migrations",
    ];
    let mut first = Vec::new();
    for table in tables {
        first.push(show_create(&db, table).await);
    }
    push().run().await.success();

    for (table, before) in tables.iter().zip(&first) {
        assert_eq!(
            &show_create(&db, table).await,
            before,
            "{table} changed on the second migrate"
        );
    }
    // One record per numbered migration (0001, 0002), each applied once.
    assert_eq!(db.count("jst_schema_migrations").await, 2);
    let mut conn = db.conn().await;
    let indexes: Vec<String> = conn
        .exec(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'order_list_query' ORDER BY 1",
            (&db.name,),
        )
        .await
        .unwrap();
    assert_eq!(
        indexes,
        [
            "idx_modified",
            "idx_order_date",
            "idx_pay_date",
            "idx_shop_id",
            "idx_so_id",
            "idx_status",
            "PRIMARY"
        ]
    );
    let (not_utf8mb4, uncommented): (u64, u64) = conn
        .exec_first(
            "SELECT SUM(CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'), \
                    SUM(COLUMN_COMMENT = '') \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'order%'",
            (&db.name,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (not_utf8mb4, uncommented),
        (0, 0),
        "every text column is utf8mb4 and every column says its source"
    );
    drop(conn);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_kb_remark_and_4_byte_utf8_arrive_in_mysql_byte_for_byte() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 71, 30);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let ids = o_ids(&gateway);
    let remark: String = "备注😀𠜎 emoji & \"quotes\" \\ back\n".repeat(80);
    assert!(remark.len() > 3000, "{} bytes", remark.len());
    let message = "🧧🀄 红包 \u{1F600}";
    set_field(&gateway, &ids[0], "remark", json!(remark));
    set_field(&gateway, &ids[1], "buyer_message", json!(message));

    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let mut conn = db.conn().await;
    let stored: Option<String> = conn
        .exec_first(
            "SELECT remark FROM order_list_query WHERE id = ?",
            (&ids[0],),
        )
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(remark.as_str()));
    let stored: Option<String> = conn
        .exec_first(
            "SELECT buyer_message FROM order_list_query WHERE id = ?",
            (&ids[1],),
        )
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(message));
    drop(conn);
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_may_widen_a_column_but_never_narrow_it() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 76, 20);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let push = |config: &Path| {
        Jst::new(&["push"])
            .against(&gateway, &db.url(), &staging)
            .env("JST_CONFIG", config.display().to_string())
    };

    let wider = config_file(
        dir.path(),
        "wider.toml",
        "[[mapping.order.columns]]\nname = \"so_id\"\nkind = { type = \"text\", max_chars = 255 }\n",
    );
    push(&wider).run().await.success();
    let (so_id_type, collation, comment) =
        column_type(&db, "order_list_query", "so_id").await.unwrap();
    assert_eq!(so_id_type, "varchar(255)");
    assert_eq!(
        collation.as_deref(),
        Some("utf8mb4_bin"),
        "the key's binary collation is kept"
    );
    assert!(comment.starts_with("so_id"), "{comment}");

    // Every later config keeps the wider so_id: going back to 128 would be a narrowing too.
    let so_id_255 = "[[mapping.order.columns]]\nname = \"so_id\"\nkind = { type = \"text\", max_chars = 255 }\n";
    let narrower = config_file(
        dir.path(),
        "narrower.toml",
        &format!(
            "{so_id_255}[[mapping.order.columns]]\nname = \"remark\"\nkind = {{ type = \"text\", max_chars = 64 }}\n"
        ),
    );
    let refused = push(&narrower).run().await.failure();
    let stderr = refused.stderr();
    assert!(
        stderr.contains("`remark` is mediumtext in MySQL") && stderr.contains("narrower"),
        "{stderr}"
    );
    assert_eq!(
        column_type(&db, "order_list_query", "remark")
            .await
            .unwrap()
            .0,
        "mediumtext"
    );

    let other_kind = config_file(
        dir.path(),
        "kind.toml",
        &format!(
            "{so_id_255}[[mapping.order.columns]]\nname = \"status\"\nkind = {{ type = \"big_int\" }}\n"
        ),
    );
    let stderr = push(&other_kind).run().await.failure().stderr();
    assert!(stderr.contains("another kind of value"), "{stderr}");
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_prefixes_keep_two_merchants_apart_in_one_database() {
    let (shop1, since1) = shop_gateway(GatewayConfig::default(), 77, 30);
    let (shop2, since2) = shop_gateway(GatewayConfig::default(), 78, 20);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();

    Jst::new(&["sync", "--since", &since1])
        .against(&shop1, &db.url(), &dir.path().join("shop1.sqlite"))
        .env("JST_MYSQL_TABLE_PREFIX", "shop1_")
        .run()
        .await
        .success();
    let config = config_file(
        dir.path(),
        "shop2.toml",
        "[mysql]\ntable_prefix = \"shop2_\"\norders_table = \"shop2_orders\"\n",
    );
    Jst::new(&["sync", "--since", &since2])
        .against(&shop2, &db.url(), &dir.path().join("shop2.sqlite"))
        .env("JST_CONFIG", config.display().to_string())
        .run()
        .await
        .success();

    assert_eq!(db.count("shop1_order_list_query").await, 30);
    assert_eq!(db.count("shop2_orders").await, 20);
    let items: usize = visible(&shop2)
        .iter()
        .map(|o| o["items"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(db.count("shop2_order_items").await, items as u64);
    assert!(db.count("shop1_order_pays").await > 0);
    assert_eq!(
        db.try_count("order_list_query").await,
        None,
        "no table under the default name"
    );
    let scopes: Vec<String> = db
        .conn()
        .await
        .query("SELECT scope FROM jst_schema_migrations ORDER BY scope")
        .await
        .unwrap();
    // Each merchant's tables have each numbered migration (0001, 0002) recorded once.
    assert_eq!(
        scopes,
        [
            "shop1_order_list_query",
            "shop1_order_list_query",
            "shop2_orders",
            "shop2_orders"
        ]
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrations_record_from_before_table_scopes_is_upgraded_in_place() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    // Only a pull creates a staging file; an empty one stands for it here.
    drop(jst_sync::staging::StagingStore::open(&staging).unwrap());
    let push = || {
        Jst::new(&["push"])
            .env("JST_MYSQL_URL", db.url())
            .env("JST_STAGING", staging.display().to_string())
    };
    push().run().await.success();
    db.conn()
        .await
        .query_drop("ALTER TABLE jst_schema_migrations DROP PRIMARY KEY, DROP COLUMN scope, ADD PRIMARY KEY (version)")
        .await
        .unwrap();

    push().run().await.success();

    let rows: Vec<(String, u32)> = db
        .conn()
        .await
        .query("SELECT scope, version FROM jst_schema_migrations")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            ("order_list_query".to_owned(), 1),
            ("order_list_query".to_owned(), 2)
        ]
    );
    db.drop().await;
}
