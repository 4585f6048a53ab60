//! Child tables as data: a `[mapping.children.<name>]` block adds a table with one row per
//! element of an array of the order, which jst-sync creates, fills, keeps current (removed
//! elements deleted) and verifies like `order_items` and `order_pays`. The fake gateway's
//! orders carry `items` and `pays`; the tests map a second table from `items`.

use std::collections::BTreeSet;

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, SyncedShop, TestDb, fast, json_of, shop_gateway, synced_shop, visible};

/// A child table `item_skus` (`order_item_skus`): three columns of every item.
const ITEM_SKUS: &str = r#"
[mapping.children.item_skus]
rows_from = "items"
key = ["o_id", "oi_id"]

[[mapping.children.item_skus.columns]]
name = "o_id"
source = "$.o_id"
kind = { type = "big_int" }
required = true

[[mapping.children.item_skus.columns]]
name = "oi_id"
source = "oi_id"
kind = { type = "big_int" }
required = true

[[mapping.children.item_skus.columns]]
name = "sku_id"
source = "sku_id"
kind = { type = "text", max_chars = 255 }
"#;

/// `(o_id, oi_id, sku_id)` of every item of `orders`.
fn skus_of(orders: &[Value]) -> BTreeSet<(i64, i64, Option<String>)> {
    let number = |v: &Value| match v {
        Value::String(s) => s.trim().parse::<i64>().unwrap(),
        other => other.as_i64().unwrap(),
    };
    orders
        .iter()
        .flat_map(|order| {
            let o_id = number(&order["o_id"]);
            order["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |item| {
                    let sku = item["sku_id"].as_str().map(str::to_owned);
                    (o_id, number(&item["oi_id"]), sku)
                })
        })
        .collect()
}

async fn skus_in_mysql(db: &TestDb) -> BTreeSet<(i64, i64, Option<String>)> {
    let mut conn = db.conn().await;
    conn.query("SELECT o_id, oi_id, sku_id FROM order_item_skus")
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_table_added_in_the_mapping_is_created_written_and_loses_removed_elements() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 41, 30);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let config = dir.path().join("jst-sync.toml");
    std::fs::write(&config, ITEM_SKUS).unwrap();
    let with_config = |jst: Jst| {
        jst.env("JST_CONFIG", config.display().to_string())
            .against(&gateway, &db.url(), &staging)
    };
    fast(with_config(Jst::new(&["sync", "--since", &since])))
        .run()
        .await
        .success();
    assert_eq!(skus_in_mysql(&db).await, skus_of(&visible(&gateway)));
    assert!(db.count("order_item_skus").await > 0);
    assert_eq!(
        db.count("order_item_skus").await,
        db.count("order_items").await
    );
    let status = json_of(
        &with_config(Jst::new(&["status", "--json"]))
            .run()
            .await
            .success()
            .stdout(),
    );
    let push = &status["runs"][0]["summary"]["push"];
    assert_eq!(push["other_child_rows"], db.count("order_item_skus").await);
    assert_eq!(push["item_rows"], db.count("order_items").await);

    // An order loses an item (and changes, so the next sync pulls it).
    let o_id = visible(&gateway)
        .into_iter()
        .find(|o| o["items"].as_array().is_some_and(|items| items.len() >= 2))
        .map(|o| o["o_id"].as_str().unwrap().to_owned())
        .expect("an order with two items");
    let removed = {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        let mut items = shop.get(&o_id).unwrap()["items"].clone();
        let removed = items.as_array_mut().unwrap().pop().unwrap();
        assert!(shop.set_field(&o_id, "items", items));
        assert!(shop.modify(&o_id, gateway.now()));
        removed
    };
    let removed = skus_of(&[serde_json::json!({"o_id": o_id, "items": [removed]})]);
    assert!(skus_in_mysql(&db).await.is_superset(&removed));
    fast(with_config(Jst::new(&["sync"]))).run().await.success();
    let truth = visible(&gateway);
    assert_eq!(skus_in_mysql(&db).await, skus_of(&truth));
    assert!(
        skus_in_mysql(&db).await.is_disjoint(&removed),
        "the removed item's row is gone"
    );
    assert_exact(&db, &truth).await;

    let report = json_of(
        &with_config(Jst::new(&["verify", "--json"]))
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(report["in_sync"], true, "{report}");
    let items: u64 = truth
        .iter()
        .map(|o| o["items"].as_array().map_or(0, Vec::len) as u64)
        .sum();
    assert_eq!(
        report["counts"]["item_skus"],
        serde_json::json!({"staging": items, "mysql": items})
    );
    assert_eq!(report["drift"]["item_skus_differ"]["count"], 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_table_added_to_synced_tables_is_filled_from_staging_without_api_calls() {
    let SyncedShop {
        gateway,
        db,
        dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 42, 30).await;
    assert_eq!(db.try_count("order_item_skus").await, None);
    let calls = gateway.stats().total_calls;

    let config = dir.path().join("jst-sync.toml");
    std::fs::write(&config, ITEM_SKUS).unwrap();
    for command in ["migrate", "push"] {
        Jst::new(&[command])
            .env("JST_CONFIG", config.display().to_string())
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success();
    }
    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "filled from staging alone"
    );
    assert_eq!(skus_in_mysql(&db).await, skus_of(&visible(&gateway)));
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}
