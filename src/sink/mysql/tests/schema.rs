//! Migrations: the tables the mapping describes, created once, named by the config.

use super::*;

/// `bigint(20)` on MariaDB and `bigint` on MySQL 8 are the same type.
fn normalise_type(column_type: &str) -> String {
    let lower = column_type.to_ascii_lowercase();
    match lower.split_once('(') {
        Some(("bigint" | "int", _)) => lower.split('(').next().unwrap().to_owned(),
        _ => lower,
    }
}

async fn assert_table_matches(
    db: &TestDb,
    table: &str,
    mapping: &TableMapping,
    bookkeeping: &[&str],
) {
    let columns: Vec<(String, String)> = db
        .query(&format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ))
        .await;
    let expected: Vec<String> = mapping
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.name,
                normalise_type(&crate::sink::mysql::column_types::sql_type(c.kind))
            )
        })
        .collect();
    let actual: Vec<String> = columns
        .iter()
        .map(|(name, ty)| format!("{name} {}", normalise_type(ty)))
        .collect();
    assert_eq!(actual[..expected.len()], expected[..], "table {table}");
    let tail: Vec<&str> = columns[expected.len()..]
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(tail, bookkeeping, "table {table}");
}

#[tokio::test]
async fn migrate_creates_the_mapped_tables_once_and_again_is_a_no_op() {
    let db = TestDb::create().await;
    let sink = MysqlSink::connect(&db.config(), Mapping::default())
        .await
        .unwrap();
    sink.migrate().await.unwrap();
    sink.migrate().await.unwrap();
    let recorded: Vec<(u32, String)> = db
        .query("SELECT version, name FROM jst_schema_migrations")
        .await;
    assert_eq!(
        recorded,
        [
            (1, "0001_order_tables".to_owned()),
            (2, "0002_fingerprints_and_exact_decimals".to_owned())
        ]
    );
    let mapping = Mapping::default();
    assert_table_matches(
        &db,
        "order_list_query",
        &mapping.order,
        &ORDER_BOOKKEEPING_COLUMNS,
    )
    .await;
    assert_table_matches(
        &db,
        "order_items",
        &mapping.children[0].mapping,
        &CHILD_BOOKKEEPING_COLUMNS,
    )
    .await;
    assert_table_matches(
        &db,
        "order_pays",
        &mapping.children[1].mapping,
        &CHILD_BOOKKEEPING_COLUMNS,
    )
    .await;
    let mut indexes: Vec<String> = db
        .query("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                AND TABLE_NAME = 'order_list_query'")
        .await;
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "PRIMARY",
            "idx_modified",
            "idx_order_date",
            "idx_pay_date",
            "idx_shop_id",
            "idx_so_id",
            "idx_status"
        ]
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn table_names_come_from_the_config_and_added_columns_are_migrated() {
    let db = TestDb::create().await;
    let mut config = db.config();
    config.orders_table = Some("bi_orders".into());
    config.items_table = Some("bi_items".into());
    config.pays_table = Some("bi_pays".into());
    let overrides: MappingOverrides = toml::from_str(
        "[[order.columns]]\nname = \"receiver_address\"\nsource = \"receiver_address\"\nkind = { type = \"long_text\" }",
    )
    .unwrap();
    let mapping = Mapping::with_overrides(&overrides).unwrap();
    let sink = db.sink_with(config, mapping.clone()).await;
    assert_table_matches(&db, "bi_orders", &mapping.order, &ORDER_BOOKKEEPING_COLUMNS).await;
    let mut input = order(5, "r", &[1]);
    input["receiver_address"] = json!("上海市 1号");
    sink.write(&[rows_with(&mapping, input, 1, 1)])
        .await
        .unwrap();
    let stored: Vec<String> = db.query("SELECT receiver_address FROM bi_orders").await;
    assert_eq!(stored, ["上海市 1号"]);
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts {
            orders: 1,
            items: 1,
            pays: 1,
            other_children: 0,
        }
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn unsupported_settings_are_refused_at_connect() {
    let db = TestDb::create().await;
    let mut config = db.config();
    config.partition_by_month = true;
    let mut mapping = Mapping::default();
    let order_date = mapping.order.position("order_date").unwrap();
    mapping.order.columns[order_date].kind = crate::transform::ColumnKind::LongText;
    let error = MysqlSink::connect(&config, mapping).await.err().unwrap();
    assert_eq!(
        error.to_string(),
        "invalid MySQL sink configuration: partition_by_month needs the order column `order_date` of kind date_time"
    );
    let mut config = db.config();
    config.orders_table = Some("orders; DROP".into());
    assert!(matches!(
        MysqlSink::connect(&config, Mapping::default()).await,
        Err(SinkError::Config(_))
    ));
}
