//! Opt-in monthly partitions of the order table: exact upserts, one row per order when its
//! `order_date` moves, and the coming months split out at migrate.

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::schema::{o_ids, set_field};
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

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
async fn migrate_splits_the_coming_months_out_of_the_catch_all_partition() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    // Only a pull creates a staging file; an empty one stands for it here.
    drop(jst_sync::staging::StagingStore::open(&staging).unwrap());
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
