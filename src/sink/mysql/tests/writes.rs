//! Writes: exact values, the version guard, idempotence, chunking, deletes.

use super::*;

#[tokio::test]
async fn awkward_text_round_trips_exactly() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    let long_remark: String = "长备注 with 'quotes' \"double\" \\ backslash 😀\n".repeat(70);
    assert!(long_remark.len() > 3000);
    let nasty = "'; DROP TABLE x; -- \u{0} NUL \u{1}\u{8}\u{1b}[0m \r\n\t \\' \\\\ 𠀀🀄️ \u{200b}";
    let mut input = order(1, &long_remark, &[1]);
    input["buyer_message"] = json!(nasty);
    input["items"][0]["name"] = json!(nasty);
    input["question_desc"] = json!("");
    let report = sink.write(&[rows(input, 1, 1)]).await.unwrap();
    assert_eq!(report.orders_written, 1);
    let stored: Vec<(String, String, String, Option<String>)> =
        db.query("SELECT o.remark, o.buyer_message, i.name, o.question_desc FROM order_list_query o JOIN order_items i ON i.o_id = o.id").await;
    assert_eq!(
        stored,
        [(
            long_remark,
            nasty.to_owned(),
            nasty.to_owned(),
            Some(String::new())
        )]
    );
    let tables: Vec<String> = db.query("SHOW TABLES").await;
    assert_eq!(
        tables.len(),
        4,
        "nothing was dropped or created: {tables:?}"
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn values_land_with_their_types_and_main_payment() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    let mut input = order(7, "", &[]);
    input["pays"] = json!([
        {"pay_id": "A", "amount": "1.00", "is_order_pay": false, "status": "Cancelled"},
        {"pay_id": "B", "amount": "227.5", "is_order_pay": "true", "status": "Confirmed", "pay_date": "2024-05-01 09:08:07"},
    ]);
    input["send_date"] = json!("0000-00-00 00:00:00");
    input["freight"] = json!(12);
    input["free_amount"] = json!("");
    sink.write(&[rows(input, 1, 1)]).await.unwrap();
    type Line = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
        i64,
        String,
    );
    let stored: Vec<Line> = db
        .query("SELECT CAST(pay_amount AS CHAR), CAST(freight AS CHAR), CAST(free_amount AS CHAR), \
                CAST(send_date AS CHAR), pays_pay_id, CAST(pays_amount AS CHAR), CAST(pays_pay_date AS CHAR), \
                pays_is_order_pay, CAST(order_date AS CHAR) FROM order_list_query")
        .await;
    assert_eq!(
        stored,
        [(
            "19.800000".to_owned(),
            "12.000000".to_owned(),
            None,
            None,
            "B".to_owned(),
            Some("227.500000".to_owned()),
            "2024-05-01 09:08:07".to_owned(),
            1,
            "2024-05-01 10:00:00".to_owned()
        )]
    );
    let pays: Vec<(String, i64)> = db
        .query("SELECT pay_id, is_order_pay FROM order_pays ORDER BY pay_id")
        .await;
    assert_eq!(pays, [("A".to_owned(), 0), ("B".to_owned(), 1)]);
    sink.disconnect().await;
}

#[test]
fn a_bad_amount_never_reaches_the_sink() {
    let mut input = order(8, "", &[]);
    input["pay_amount"] = json!("abc");
    let error = transform_order(
        &input,
        &Mapping::default(),
        VersionKey {
            ts: None,
            staging_version: 1,
        },
    )
    .unwrap_err();
    assert_eq!(
        (
            error.o_id.as_deref(),
            error.field.as_str(),
            error.value.as_str()
        ),
        (Some("8"), "pay_amount", "\"abc\"")
    );
}

#[tokio::test]
async fn a_newer_version_replaces_the_order_and_its_items_and_pays() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    sink.write(&[
        rows(order(1, "v1", &[11, 12, 13]), 100, 1),
        rows(order(2, "other", &[21]), 100, 2),
    ])
    .await
    .unwrap();
    let mut changed = order(1, "v2", &[12]);
    changed["pays"][0]["pay_id"] = json!("P1-new");
    let report = sink.write(&[rows(changed, 101, 3)]).await.unwrap();
    assert_eq!(
        report,
        WriteReport {
            orders_written: 1,
            stale_skipped: 0,
            item_rows: 1,
            pay_rows: 1,
            other_child_rows: 0,
            statements: 5
        }
    );
    assert_eq!(
        order_lines(&db).await,
        [
            (1, Some("v2".to_owned()), Some(101), 3),
            (2, Some("other".to_owned()), Some(100), 2)
        ]
    );
    assert_eq!(item_ids(&db, 1).await, [12]);
    assert_eq!(item_ids(&db, 2).await, [21]);
    let pays: Vec<(i64, String)> = db
        .query("SELECT o_id, pay_id FROM order_pays ORDER BY o_id")
        .await;
    assert_eq!(pays, [(1, "P1-new".to_owned()), (2, "P2".to_owned())]);
    sink.disconnect().await;
}

#[tokio::test]
async fn an_older_version_is_skipped_and_mysql_keeps_the_newer() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    sink.write(&[rows(order(1, "new", &[1, 2]), 200, 5)])
        .await
        .unwrap();
    // An older ts loses even with a larger staging version.
    let report = sink
        .write(&[rows(order(1, "old ts", &[9]), 199, 9)])
        .await
        .unwrap();
    assert_eq!(
        report,
        WriteReport {
            stale_skipped: 1,
            ..WriteReport::default()
        }
    );
    // Without a ts on one side, the staging version decides.
    let mut untimed = rows(order(1, "old staging", &[9]), 200, 4);
    untimed.version.ts = None;
    let report = sink.write(&[untimed]).await.unwrap();
    assert_eq!(report.stale_skipped, 1);
    assert_eq!(
        order_lines(&db).await,
        [(1, Some("new".to_owned()), Some(200), 5)]
    );
    assert_eq!(item_ids(&db, 1).await, [1, 2]);
    // Within one batch the newest version of an order wins, whatever the order of arrival.
    let report = sink
        .write(&[
            rows(order(3, "newest", &[1]), 300, 8),
            rows(order(3, "older", &[2]), 299, 9),
        ])
        .await
        .unwrap();
    assert_eq!((report.orders_written, report.stale_skipped), (1, 1));
    assert_eq!(
        sink.order_versions(&[1, 3, 404]).await.unwrap(),
        [
            (
                1,
                VersionKey {
                    ts: Some(200),
                    staging_version: 5
                }
            ),
            (
                3,
                VersionKey {
                    ts: Some(300),
                    staging_version: 8
                }
            )
        ]
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn writing_the_same_batch_twice_leaves_identical_rows() {
    let db = TestDb::create().await;
    // The statements counted are the upserts' (new orders loaded with LOAD DATA: see
    // `load_data.rs`).
    let mut config = db.config();
    config.load_data = false;
    let sink = db.sink_with(config, Mapping::default()).await;
    let batch: Vec<OrderRows> = (1..=20)
        .map(|id| rows(order(id, &format!("r{id}"), &[id * 10, id * 10 + 1]), 1, id))
        .collect();
    let snapshot = || async {
        let orders: Vec<(i64, Option<String>, Option<i64>, i64)> = order_lines(&db).await;
        let items: Vec<(i64, i64, String, i64)> =
            db.query("SELECT o_id, oi_id, CAST(price AS CHAR), jst_version FROM order_items ORDER BY o_id, oi_id").await;
        let pays: Vec<(i64, String)> = db
            .query("SELECT o_id, pay_id FROM order_pays ORDER BY o_id")
            .await;
        (orders, items, pays)
    };
    let first = sink.write(&batch).await.unwrap();
    let after_first = snapshot().await;
    let second = sink.write(&batch).await.unwrap();
    // The second write finds the orders and replaces their children: two DELETEs more.
    assert_eq!(
        WriteReport {
            statements: first.statements + 2,
            ..first
        },
        second
    );
    assert_eq!(snapshot().await, after_first);
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts {
            orders: 20,
            items: 40,
            pays: 20,
            other_children: 0,
        }
    );
    assert_eq!(
        sink.write(&[]).await.unwrap(),
        WriteReport::default(),
        "an empty batch sends nothing"
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn five_thousand_orders_are_chunked_within_the_placeholder_budget() {
    let db = TestDb::create().await;
    let mut config = db.config();
    config.batch_rows = 1_000_000; // let the 65,535 placeholders decide
    config.load_data = false; // the upserts' chunking (new orders are loaded otherwise)
    let sink = db.sink_with(config, Mapping::default()).await;
    let batch: Vec<OrderRows> = (1..=5000)
        .map(|id| rows(order(id, "x", &[1, 2]), 1, id))
        .collect();
    let report = sink.write(&batch).await.unwrap();
    let order_values = Mapping::default().order.columns.len() + ORDER_BOOKKEEPING_COLUMNS.len();
    let item_values =
        Mapping::default().children[0].mapping.columns.len() + CHILD_BOOKKEEPING_COLUMNS.len();
    let pay_values =
        Mapping::default().children[1].mapping.columns.len() + CHILD_BOOKKEEPING_COLUMNS.len();
    // Full statements of as many rows as the placeholders allow, then the remainder in
    // power-of-two row counts (one statement per bit).
    let statements = |rows: usize, values: usize| {
        let per_statement = 65_535 / values;
        rows / per_statement + (rows % per_statement).count_ones() as usize
    };
    let expected_statements = statements(5000, order_values)
        // new orders: no child rows to delete
        + statements(10_000, item_values)
        + statements(5000, pay_values);
    assert_eq!(
        report,
        WriteReport {
            orders_written: 5000,
            stale_skipped: 0,
            item_rows: 10_000,
            pay_rows: 5000,
            other_child_rows: 0,
            statements: expected_statements
        }
    );
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts {
            orders: 5000,
            items: 10_000,
            pays: 5000,
            other_children: 0,
        }
    );
    let ends: Vec<(i64, i64)> = db
        .query("SELECT MIN(id), MAX(id) FROM order_list_query")
        .await;
    assert_eq!(ends, [(1, 5000)]);
    sink.disconnect().await;
}

#[tokio::test]
async fn small_batch_rows_split_statements() {
    let db = TestDb::create().await;
    let mut config = db.config();
    config.batch_rows = 3;
    config.load_data = false; // the upserts' chunking (new orders are loaded otherwise)
    let sink = db.sink_with(config, Mapping::default()).await;
    let batch: Vec<OrderRows> = (1..=7)
        .map(|id| rows(order(id, "x", &[1]), 1, id))
        .collect();
    let report = sink.write(&batch).await.unwrap();
    // 3 order upserts + 3 item inserts + 3 pay inserts; new orders need no DELETE.
    assert_eq!(report.statements, 9);
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts {
            orders: 7,
            items: 7,
            pays: 7,
            other_children: 0,
        }
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn deleting_orders_removes_their_items_and_pays() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    sink.write(&[
        rows(order(1, "a", &[1, 2]), 1, 1),
        rows(order(2, "b", &[3]), 1, 2),
    ])
    .await
    .unwrap();
    assert_eq!(sink.delete_orders(&[1, 99]).await.unwrap(), 1);
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts {
            orders: 1,
            items: 1,
            pays: 1,
            other_children: 0,
        }
    );
    assert_eq!(sink.delete_orders(&[]).await.unwrap(), 0);
    sink.disconnect().await;
}

#[tokio::test]
async fn children_left_by_a_wiped_order_table_are_overwritten_not_a_failure() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    sink.write(&[rows(order(1, "first", &[1, 2]), 100, 1)])
        .await
        .unwrap();
    let _: Vec<(i64,)> = db.query("DELETE FROM order_list_query").await;

    let report = sink
        .write(&[rows(order(1, "again", &[1, 2]), 100, 2)])
        .await
        .unwrap();

    assert_eq!(report.orders_written, 1);
    assert_eq!(item_ids(&db, 1).await, [1, 2]);
    assert_eq!(
        order_lines(&db).await,
        [(1, Some("again".to_owned()), Some(100), 2)]
    );
}
