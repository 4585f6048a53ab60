//! New orders through `LOAD DATA LOCAL INFILE`: byte-exact like the upserts, mixed with changed
//! orders, and written again with upserts when a load is not exact.

use super::*;

/// Text that breaks naive escaping: every `LOAD DATA` escape, NUL, 4-byte UTF-8, the words
/// `NULL` and `\N`, a trailing backslash.
const HOSTILE: [&str; 8] = [
    "'; DROP TABLE x; -- \u{0} NUL \u{1}\u{8}\u{1b}[0m \r\n\t \\' \\\\ 𠀀🀄️ \u{200b}",
    "NULL",
    "\\N",
    "ends with a backslash \\",
    "tab\tin\tthe\tmiddle",
    "line\nbreaks\r\nand\rreturns",
    "\u{0}",
    "长文本🙂 with \"quotes\"",
];

/// Orders with the hostile texts in order, item and payment columns, and empty strings
/// beside absent (NULL) values.
fn hostile_batch() -> Vec<OrderRows> {
    HOSTILE
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let id = index as i64 + 1;
            let mut input = order(id, text, &[id * 10, id * 10 + 1]);
            input["buyer_message"] = json!(text);
            input["question_desc"] = json!("");
            input["items"][0]["name"] = json!(text);
            input["items"][1]["name"] = json!("");
            input["pays"][0]["buyer_account"] = json!(text);
            let mut rows = rows(input, 1, id);
            rows.sha256 = Some(format!("{id:064x}"));
            rows
        })
        .collect()
}

/// Every row of `table` with every column but `jst_synced_at` (when it was written), as hex
/// or `NULL`, sorted: two tables compare byte for byte.
async fn dump(db: &TestDb, table: &str) -> Vec<String> {
    let columns: Vec<String> = db
        .query(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = '{table}' AND COLUMN_NAME <> 'jst_synced_at' ORDER BY ORDINAL_POSITION",
            db.name
        ))
        .await;
    assert!(columns.len() > 5, "{table}: {columns:?}");
    let fields = columns
        .iter()
        .map(|c| format!("IF(`{c}` IS NULL, 'NULL', HEX(`{c}`))"))
        .collect::<Vec<_>>()
        .join(", ");
    db.query(&format!(
        "SELECT CONCAT_WS('|', {fields}) AS line FROM `{table}` ORDER BY line"
    ))
    .await
}

async fn dump_all(db: &TestDb) -> [Vec<String>; 3] {
    [
        dump(db, "order_list_query").await,
        dump(db, "order_items").await,
        dump(db, "order_pays").await,
    ]
}

async fn upserting_sink(db: &TestDb) -> MysqlSink {
    let mut config = db.config();
    config.load_data = false;
    db.sink_with(config, Mapping::default()).await
}

#[tokio::test]
async fn new_orders_are_loaded_byte_exact_as_the_upserts_write_them() {
    let (loaded_db, upserted_db) = (TestDb::create().await, TestDb::create().await);
    let (loading, upserting) = (loaded_db.sink().await, upserting_sink(&upserted_db).await);
    let batch = hostile_batch();

    let loaded = loading.write(&batch).await.unwrap();
    let upserted = upserting.write(&batch).await.unwrap();

    assert_eq!(
        loaded,
        WriteReport {
            statements: 3,
            ..upserted
        },
        "one LOAD DATA per table"
    );
    assert_eq!(loading.load_data_stats().orders_loaded, 8);
    assert_eq!(loading.load_data_stats().batches_upserted_instead, 0);
    assert_eq!(upserting.load_data_stats().orders_loaded, 0);
    let dumped = dump_all(&loaded_db).await;
    assert_eq!(dumped[0].len(), 8);
    assert_eq!(dumped[1].len(), 16);
    assert_eq!(dumped, dump_all(&upserted_db).await);
    // And as sent: the texts themselves, NULL apart from the empty string.
    let stored: Vec<(i64, Option<String>, Option<String>, Option<String>)> = loaded_db
        .query("SELECT id, remark, question_desc, invoice_title FROM order_list_query ORDER BY id")
        .await;
    for ((id, remark, empty, absent), text) in stored.iter().zip(HOSTILE) {
        assert_eq!(remark.as_deref(), Some(text), "order {id}");
        assert_eq!(empty.as_deref(), Some(""), "order {id}");
        assert_eq!(absent, &None, "order {id}");
    }
    let named: Vec<String> = loaded_db
        .query("SELECT name FROM order_items WHERE oi_id = o_id * 10 ORDER BY o_id")
        .await;
    assert_eq!(named, HOSTILE);
    let unnamed: Vec<String> = loaded_db
        .query("SELECT name FROM order_items WHERE oi_id = o_id * 10 + 1 ORDER BY o_id")
        .await;
    assert_eq!(unnamed, [""; 8]);
    loading.disconnect().await;
    upserting.disconnect().await;
}

#[tokio::test]
async fn a_batch_of_new_and_changed_orders_loads_the_new_and_upserts_the_changed() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    sink.write(&[
        rows(order(1, "v1", &[11, 12]), 100, 1),
        rows(order(2, "v1", &[21]), 100, 2),
    ])
    .await
    .unwrap();
    assert_eq!(sink.load_data_stats().orders_loaded, 2);

    let report = sink
        .write(&[
            rows(order(1, "v2", &[12]), 101, 3),
            rows(order(2, "stale", &[29]), 99, 4),
            rows(order(3, "new", &[31, 32]), 100, 5),
        ])
        .await
        .unwrap();

    assert_eq!(
        (
            report.orders_written,
            report.stale_skipped,
            report.item_rows,
            report.pay_rows
        ),
        (2, 1, 3, 2)
    );
    assert_eq!(
        sink.load_data_stats().orders_loaded,
        3,
        "only order 3 is new"
    );
    assert_eq!(
        order_lines(&db).await,
        [
            (1, Some("v2".to_owned()), Some(101), 3),
            (2, Some("v1".to_owned()), Some(100), 2),
            (3, Some("new".to_owned()), Some(100), 5)
        ]
    );
    assert_eq!(item_ids(&db, 1).await, [12]);
    assert_eq!(item_ids(&db, 2).await, [21]);
    assert_eq!(item_ids(&db, 3).await, [31, 32]);
    sink.disconnect().await;
}

#[tokio::test]
async fn a_load_that_meets_rows_left_behind_is_written_again_with_upserts() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    // An item of order 5 whose order row was deleted outside jst-sync.
    db.query::<i64>(
        "INSERT INTO order_items (o_id, oi_id, name, jst_version, jst_synced_at) VALUES (5, 50, 'left behind', 1, NOW())",
    )
    .await;

    let report = sink
        .write(&[rows(order(5, "back", &[50, 51]), 1, 7)])
        .await
        .unwrap();

    assert_eq!((report.orders_written, report.item_rows), (1, 2));
    let stats = sink.load_data_stats();
    assert_eq!(
        (stats.orders_loaded, stats.batches_upserted_instead),
        (0, 1)
    );
    let items: Vec<(i64, Option<String>, i64)> = db
        .query("SELECT oi_id, sku_id, jst_version FROM order_items ORDER BY oi_id")
        .await;
    assert_eq!(
        items,
        [
            (50, Some("SKU-50".to_owned()), 7),
            (51, Some("SKU-51".to_owned()), 7)
        ]
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn a_row_mysql_refuses_in_a_loaded_batch_is_refused_as_the_upserts_refuse_it() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    db.query::<i64>(
        "ALTER TABLE order_list_query ADD CONSTRAINT no_poison CHECK (remark IS NULL OR remark NOT LIKE '%POISON%')",
    )
    .await;
    let batch = [
        rows(order(1, "fine", &[1]), 1, 1),
        rows(order(2, "POISON", &[2]), 1, 2),
    ];

    let error = sink.write(&batch).await.unwrap_err();

    assert!(error.is_data_rejection(), "{error}");
    assert!(error.to_string().contains("no_poison"), "{error}");
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts::default(),
        "the batch is rolled back whole"
    );
    // The rest of the batch still loads (the push splits a refused batch until the bad order
    // is alone).
    sink.write(&batch[..1]).await.unwrap();
    assert_eq!(
        order_lines(&db).await,
        [(1, Some("fine".to_owned()), Some(1), 1)]
    );
    let stats = sink.load_data_stats();
    assert_eq!(
        (stats.orders_loaded, stats.batches_upserted_instead),
        (1, 1)
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn partitioned_tables_load_new_orders_into_their_month() {
    let (loaded_db, upserted_db) = (TestDb::create().await, TestDb::create().await);
    let partitioned = |db: &TestDb, load_data| {
        let mut config = db.config();
        config.partition_by_month = true;
        config.load_data = load_data;
        config
    };
    let loading = loaded_db
        .sink_with(partitioned(&loaded_db, true), Mapping::default())
        .await;
    let upserting = upserted_db
        .sink_with(partitioned(&upserted_db, false), Mapping::default())
        .await;
    let batch = hostile_batch();

    loading.write(&batch).await.unwrap();
    upserting.write(&batch).await.unwrap();

    assert_eq!(loading.load_data_stats().orders_loaded, 8);
    assert_eq!(dump_all(&loaded_db).await, dump_all(&upserted_db).await);
    let months: Vec<i64> = loaded_db
        .query("SELECT DISTINCT p_month FROM order_list_query")
        .await;
    assert!(months.len() == 1 && months[0] > 0, "{months:?}");
    loading.disconnect().await;
    upserting.disconnect().await;
}

#[tokio::test]
async fn changed_orders_are_upserted_and_their_children_replaced_byte_exact_as_the_upserts_do() {
    let (loaded_db, upserted_db) = (TestDb::create().await, TestDb::create().await);
    let (loading, upserting) = (loaded_db.sink().await, upserting_sink(&upserted_db).await);
    let first = hostile_batch();
    let newer: Vec<OrderRows> = first
        .iter()
        .map(|rows| {
            let mut rows = rows.clone();
            rows.version.ts = Some(2);
            rows.version.staging_version += 100;
            rows.children[0].reverse(); // the items
            rows.children[0].pop();
            rows
        })
        .collect();
    for batch in [&first, &newer] {
        loading.write(batch).await.unwrap();
        upserting.write(batch).await.unwrap();
    }

    let stats = loading.load_data_stats();
    assert_eq!(
        (stats.orders_loaded, stats.batches_upserted_instead),
        (8, 0)
    );
    let dumped = dump_all(&loaded_db).await;
    assert_eq!(dumped[1].len(), 8, "one item left per order");
    assert_eq!(dumped, dump_all(&upserted_db).await);
    loading.disconnect().await;
    upserting.disconnect().await;
}
