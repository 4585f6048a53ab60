//! Numbers as the API types them: `qty` is a decimal ("1.5" lands, the order is not
//! quarantined), money keeps six decimals (DECIMAL(20,6)), and tables made by an older
//! jst-sync (DECIMAL(18,4) money, BIGINT qty) are migrated in place.

use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway, visible};

/// Gives order `o_id` a first item with qty "1.5" and a 6-decimal price, and a 6-decimal
/// `pay_amount`.
fn make_fractional(gateway: &jst_sync::gateway::FakeGateway, o_id: &str) {
    let shop = gateway.shop();
    let mut shop = shop.lock().unwrap();
    let mut order = shop.get(o_id).unwrap();
    let items = order["items"].as_array_mut().unwrap();
    assert!(!items.is_empty());
    items[0]["qty"] = json!("1.5");
    items[0]["price"] = json!("0.123456");
    assert!(shop.set_field(o_id, "items", order["items"].clone()));
    assert!(shop.set_field(o_id, "pay_amount", json!("12.345678")));
}

fn an_order_with_items(gateway: &jst_sync::gateway::FakeGateway) -> String {
    visible(gateway)
        .into_iter()
        .find(|o| o["items"].as_array().is_some_and(|i| !i.is_empty()))
        .map(|o| o["o_id"].as_str().unwrap().to_owned())
        .unwrap()
}

async fn stored_numbers(db: &TestDb, o_id: &str) -> (String, String, String) {
    let mut conn = db.conn().await;
    let pay: Option<String> = conn
        .exec_first(
            "SELECT CAST(pay_amount AS CHAR) FROM order_list_query WHERE id = ?",
            (o_id,),
        )
        .await
        .unwrap();
    let item: Option<(String, String)> = conn
        .exec_first(
            "SELECT CAST(qty AS CHAR), CAST(price AS CHAR) FROM order_items WHERE o_id = ? AND qty <> FLOOR(qty)",
            (o_id,),
        )
        .await
        .unwrap();
    let (qty, price) = item.expect("the fractional item");
    (pay.unwrap(), qty, price)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fractional_qty_and_six_decimal_money_land_exactly() {
    let (gateway, since) = shop_gateway(fast_gateway(), 121, 50);
    let o_id = an_order_with_items(&gateway);
    make_fractional(&gateway, &o_id);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(ran.summary_number("pushed"), 50, "{}", ran.stdout());
    assert_eq!(
        stored_numbers(&db, &o_id).await,
        (
            "12.345678".to_owned(),
            "1.500000".to_owned(),
            "0.123456".to_owned()
        )
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

/// The tables as jst-sync made them before migration 2: `sql/mysql/0001_order_tables.sql`
/// with the default names, recorded as applied.
async fn tables_of_version_one(db: &TestDb) {
    let sql = include_str!("../../sql/mysql/0001_order_tables.sql")
        .replace("{{order_table}}", "order_list_query")
        .replace("{{items_table}}", "order_items")
        .replace("{{pays_table}}", "order_pays")
        .replace("{{order_partition_column}}", "")
        .replace("{{order_primary_key}}", "id")
        .replace("{{order_partitioning}}", "");
    let mut conn = db.conn().await;
    for statement in sql.split(";\n").filter(|s| s.contains("CREATE")) {
        conn.query_drop(statement).await.unwrap();
    }
    conn.query_drop(include_str!("../../sql/mysql/jst_schema_migrations.sql"))
        .await
        .unwrap();
    conn.query_drop(
        "INSERT INTO jst_schema_migrations (scope, version, name, applied_at) \
         VALUES ('order_list_query', 1, '0001_order_tables', NOW(3))",
    )
    .await
    .unwrap();
    conn.query_drop(
        "INSERT INTO order_list_query (id, pay_amount, remark, jst_ts, jst_version, jst_synced_at) \
         VALUES (1, 1.5, 'from an older jst-sync', 1, 1, NOW(3))",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_of_an_older_version_are_widened_in_place_keeping_stored_values() {
    let (gateway, since) = shop_gateway(fast_gateway(), 122, 40);
    let db = TestDb::create().await;
    tables_of_version_one(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    // The old version's tables hold what an older jst-sync pushed: stage and push it now,
    // with a fractional qty the old BIGINT column could not take.
    let o_id = an_order_with_items(&gateway);
    make_fractional(&gateway, &o_id);
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let types: Vec<(String, String)> = db
        .conn()
        .await
        .query(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND ((TABLE_NAME = 'order_items' AND COLUMN_NAME IN ('qty', 'price')) \
             OR (TABLE_NAME = 'order_list_query' AND COLUMN_NAME = 'pay_amount')) ORDER BY COLUMN_NAME",
        )
        .await
        .unwrap();
    assert_eq!(
        types,
        [
            ("pay_amount".to_owned(), "decimal(20,6)".to_owned()),
            ("price".to_owned(), "decimal(20,6)".to_owned()),
            ("qty".to_owned(), "decimal(20,6)".to_owned()),
        ]
    );
    let kept: Option<String> = db
        .conn()
        .await
        .query_first("SELECT CAST(pay_amount AS CHAR) FROM order_list_query WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("1.500000"), "stored values are kept");
    assert_eq!(
        stored_numbers(&db, &o_id).await,
        (
            "12.345678".to_owned(),
            "1.500000".to_owned(),
            "0.123456".to_owned()
        )
    );
    db.drop().await;
}
