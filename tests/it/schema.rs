//! The MySQL schema as a BI user and a DBA see it, and as the API drifts: idempotent DDL,
//! exact text, monthly partitions, table prefixes, drift reports from the field catalog, and
//! mapping changes that add (or refuse to narrow) columns and are filled by a replay.

use std::path::{Path, PathBuf};

use jst_sync::gateway::{FakeGateway, GatewayConfig};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

fn o_ids(gateway: &FakeGateway) -> Vec<String> {
    gateway.shop().lock().unwrap().o_ids()
}

fn set_field(gateway: &FakeGateway, o_id: &str, key: &str, value: Value) {
    assert!(
        gateway.shop().lock().unwrap().set_field(o_id, key, value),
        "order {o_id} exists"
    );
}

/// A config file holding `text`, kept as long as the directory.
fn config_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn show_create(db: &TestDb, table: &str) -> String {
    let row: Option<(String, String)> = db
        .conn()
        .await
        .query_first(format!("SHOW CREATE TABLE `{table}`"))
        .await
        .unwrap();
    row.unwrap().1
}

async fn column_type(
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

async fn partition_names(db: &TestDb) -> Vec<String> {
    db.conn()
        .await
        .exec(
            "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = 'order_list_query' ORDER BY PARTITION_ORDINAL_POSITION",
            (&db.name,),
        )
        .await
        .unwrap()
}

/// `(row count, p_month)` of one order.
async fn rows_of(db: &TestDb, o_id: &str) -> (u64, Option<i64>) {
    let row: Option<(u64, Option<i64>)> = db
        .conn()
        .await
        .exec_first(
            "SELECT COUNT(*), MAX(p_month) FROM order_list_query WHERE id = ?",
            (o_id,),
        )
        .await
        .unwrap();
    row.unwrap()
}

async fn schema_json(staging: &Path, config: Option<&Path>) -> Value {
    let mut jst = Jst::new(&["schema", "--json"]).env("JST_STAGING", staging.display().to_string());
    if let Some(config) = config {
        jst = jst.env("JST_CONFIG", config.display().to_string());
    }
    serde_json::from_str(&jst.run().await.success().stdout()).expect("schema --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ddl_applies_to_an_empty_database_and_a_second_time_changes_nothing() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
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
    assert_eq!(db.count("jst_schema_migrations").await, 1);
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
async fn with_monthly_partitions_a_backfill_and_a_rerun_are_exact_and_the_setting_cannot_flip() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 72, 150);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let sync = || {
        Jst::new(&["sync", "--since", &since])
            .against(&gateway, &db.url(), &staging)
            .env("JST_MYSQL_PARTITION_BY_MONTH", "true")
    };

    sync().run().await.success();
    assert_exact(&db, &visible(&gateway)).await;
    let partitions = partition_names(&db).await;
    assert_eq!(partitions.first().map(String::as_str), Some("p_old"));
    assert_eq!(partitions.last().map(String::as_str), Some("pmax"));
    assert_eq!(partitions.len(), 2 + 24 + 1 + 3, "{partitions:?}");
    let rows_changed = db.rows_changed().await;

    let rerun = sync().run().await.success();
    assert_eq!(rerun.summary_number("pushed"), 0, "{}", rerun.stdout());
    assert_eq!(db.rows_changed().await, rows_changed);
    assert_exact(&db, &visible(&gateway)).await;

    let unpartitioned = Jst::new(&["push"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure();
    let stderr = unpartitioned.stderr();
    assert!(
        stderr.contains("is partitioned by month but partition_by_month is off"),
        "{stderr}"
    );
    assert!(stderr.contains("docs/schema.md"), "{stderr}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_monthly_partitions_an_order_whose_order_date_changes_leaves_exactly_one_row() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 73, 40);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let sync = || {
        Jst::new(&["sync", "--since", &since])
            .against(&gateway, &db.url(), &staging)
            .env("JST_MYSQL_PARTITION_BY_MONTH", "true")
    };
    sync().run().await.success();
    let o_id = o_ids(&gateway)[5].clone();
    let (count, month) = rows_of(&db, &o_id).await;
    assert_eq!(count, 1);
    assert_ne!(month, Some(202301));

    set_field(&gateway, &o_id, "order_date", json!("2023-01-15 10:00:00"));
    let moved = sync().run().await.success();
    assert_eq!(moved.summary_number("changed"), 1, "{}", moved.stdout());
    assert_eq!(rows_of(&db, &o_id).await, (1, Some(202301)));

    set_field(&gateway, &o_id, "order_date", Value::Null);
    sync().run().await.success();
    assert_eq!(
        rows_of(&db, &o_id).await,
        (1, Some(0)),
        "an order without order_date is kept in month 0"
    );
    assert_eq!(db.count("order_list_query").await, 40);
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_api_field_is_reported_then_mapped_and_a_replay_fills_it_without_api_calls() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 74, 60);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let first = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert!(
        !first.stdout().contains("fields   new"),
        "the first run is the baseline:\n{}",
        first.stdout()
    );

    let ids = o_ids(&gateway);
    for o_id in &ids {
        set_field(
            &gateway,
            o_id,
            "gift_note",
            json!(format!("gift for {o_id}")),
        );
    }
    let second = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(
        second.summary_number("fields   new"),
        1,
        "{}",
        second.stdout()
    );
    assert!(
        second.stderr().contains("New field in the API payload"),
        "{}",
        second.stderr()
    );

    let text = Jst::new(&["schema"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    let line = text
        .lines()
        .find(|l| l.contains("gift_note"))
        .unwrap_or_else(|| panic!("gift_note not reported:\n{text}"));
    assert!(
        line.contains("first seen run 2 (new)") && line.contains("\"gift for "),
        "{line}"
    );
    let report = schema_json(&staging, None).await;
    let unmapped = &report["unmapped"][0];
    assert_eq!(
        (unmapped["path"].as_str(), unmapped["first_run_id"].as_i64()),
        (Some("gift_note"), Some(2))
    );

    let config = config_file(
        dir.path(),
        "mapped.toml",
        "[[mapping.order.columns]]\nname = \"gift_note\"\nsource = \"gift_note\"\nkind = { type = \"text\", max_chars = 64 }\n",
    );
    let calls = gateway.stats().total_calls;
    let replay = Jst::new(&["replay"])
        .against(&gateway, &db.url(), &staging)
        .env("JST_CONFIG", config.display().to_string())
        .run()
        .await
        .success();

    assert_eq!(replay.summary_number("pushed"), 60, "{}", replay.stdout());
    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "a replay makes no API call"
    );
    let filled: Option<u64> = db
        .conn()
        .await
        .query_first(
            "SELECT COUNT(*) FROM order_list_query WHERE gift_note = CONCAT('gift for ', id)",
        )
        .await
        .unwrap();
    assert_eq!(filled, Some(60));
    assert_eq!(
        column_type(&db, "order_list_query", "gift_note")
            .await
            .unwrap()
            .0,
        "varchar(64)"
    );
    let report = schema_json(&staging, Some(&config)).await;
    assert!(
        report["unmapped"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["path"] != "gift_note"),
        "{report}"
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_that_turns_from_number_to_string_is_reported() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 75, 40);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    for o_id in &o_ids(&gateway)[..3] {
        set_field(&gateway, o_id, "freight", json!("12.50"));
    }

    let rerun = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(
        rerun.summary_number("type changes"),
        1,
        "{}",
        rerun.stdout()
    );
    let report = schema_json(&staging, None).await;
    let changes = report["type_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["path"], "freight");
    let types: Vec<&str> = changes[0]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["json_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["number", "string"]);
    assert_eq!(changes[0]["types"][1]["first_run_id"], 2);
    assert_eq!(changes[0]["types"][1]["example"], "\"12.50\"");
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
    assert_eq!(scopes, ["shop1_order_list_query", "shop2_orders"]);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrations_record_from_before_table_scopes_is_upgraded_in_place() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
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
    assert_eq!(rows, [("order_list_query".to_owned(), 1)]);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_splits_the_coming_months_out_of_the_catch_all_partition() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let push = || {
        Jst::new(&["push"])
            .env("JST_MYSQL_URL", db.url())
            .env("JST_STAGING", staging.display().to_string())
            .env("JST_MYSQL_PARTITION_BY_MONTH", "true")
    };
    push().run().await.success();
    let planned = partition_names(&db).await;
    // As if the table had been created three months ago: the last months are still in pmax.
    let last_three = planned[planned.len() - 4..planned.len() - 1].join(", ");
    db.conn()
        .await
        .query_drop(format!(
            "ALTER TABLE order_list_query REORGANIZE PARTITION {last_three}, pmax \
             INTO (PARTITION pmax VALUES LESS THAN MAXVALUE)"
        ))
        .await
        .unwrap();
    assert_eq!(partition_names(&db).await.len(), planned.len() - 3);

    push().run().await.success();

    assert_eq!(partition_names(&db).await, planned);
    db.drop().await;
}
