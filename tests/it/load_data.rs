//! New orders go into MySQL with `LOAD DATA LOCAL INFILE` streamed from memory: byte-exact for
//! hostile text, and where the server refuses `LOAD DATA LOCAL` (`local_infile = 0`) the push
//! upserts instead, says so once, and every order is still exact.

use mysql_async::prelude::Queryable;
use serde_json::json;

use jst_sync::gateway::FakeGateway;

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway, visible};

/// What the warning says when the server refuses `LOAD DATA LOCAL INFILE`.
const REFUSED: &str = "refuses LOAD DATA LOCAL INFILE";

/// A shop whose orders carry text that breaks naive escaping (NUL, tabs, newlines,
/// backslashes, 4-byte UTF-8, the words `NULL` and `\N`) and empty strings.
fn hostile_shop(seed: u64) -> (FakeGateway, String) {
    let (gateway, since) = shop_gateway(fast_gateway(), seed, 40);
    let ids = gateway.shop().lock().unwrap().o_ids();
    let long = "长文本🙂 ".repeat(400);
    let hostile = [
        (
            "remark",
            json!("it's a \"quoted\" \\ back\\slash; DROP TABLE order_list_query; --"),
        ),
        (
            "buyer_message",
            json!(format!(
                "nul\u{0}inside, bell\u{7}, tab\t, newline\n, cr\r, {long}"
            )),
        ),
        ("shop_name", json!(long.clone())),
        ("receiver_city", json!("🏙️ 上海市 \u{1F600}")),
        ("question_desc", json!("NULL")),
        ("remark", json!("\\N")),
        ("buyer_message", json!("")),
        ("invoice_title", json!("ends with a backslash \\")),
    ];
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        for (i, (field, value)) in hostile.iter().enumerate() {
            assert!(shop.set_field(&ids[i], field, value.clone()));
            assert!(shop.set_field(&ids[39 - i], field, value.clone()));
        }
    }
    (gateway, since)
}

/// Every row of the three tables, each column as hex or `NULL`, without the columns that tell
/// when and from which staging version it was written: two databases compare byte for byte.
async fn dump(db: &TestDb) -> Vec<Vec<String>> {
    let mut conn = db.conn().await;
    let mut tables = Vec::new();
    for table in ["order_list_query", "order_items", "order_pays"] {
        let columns: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = ? AND COLUMN_NAME NOT IN ('jst_synced_at', 'jst_version') \
                 ORDER BY ORDINAL_POSITION",
                (db.name.as_str(), table),
            )
            .await
            .unwrap();
        let fields = columns
            .iter()
            .map(|c| format!("IF(`{c}` IS NULL, 'NULL', HEX(`{c}`))"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<String> = conn
            .query(format!(
                "SELECT CONCAT_WS('|', {fields}) AS line FROM `{table}` ORDER BY line"
            ))
            .await
            .unwrap();
        tables.push(rows);
    }
    tables
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_loaded_with_load_data_is_byte_exact_like_the_upserts_where_local_infile_is_off()
 {
    let (gateway, since) = hostile_shop(1401);
    let dir = tempfile::tempdir().unwrap();

    // The shared server allows LOAD DATA LOCAL: new orders are loaded.
    let loaded = TestDb::create().await;
    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &loaded.url(), &dir.path().join("loaded.sqlite"))
        .env("JST_BATCH_ORDERS", "10")
        .run()
        .await
        .success();
    assert_eq!(ran.summary_number("pushed"), 40, "{}", ran.stdout());
    assert!(!ran.stderr().contains(REFUSED), "{}", ran.stderr());
    assert_exact(&loaded, &visible(&gateway)).await;

    // A private server with local_infile off: the push upserts, says so once, loses nothing.
    let mut server = PrivateMariaDb::install();
    server.start().await;
    server.admin("SET GLOBAL local_infile = 0").await;
    let url = server.url("jst");
    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &dir.path().join("upserted.sqlite"))
        .env("JST_BATCH_ORDERS", "10")
        .run()
        .await
        .success();
    assert_eq!(ran.summary_number("pushed"), 40, "{}", ran.stdout());
    assert_eq!(
        ran.stderr().matches(REFUSED).count(),
        1,
        "said once for four batches:\n{}",
        ran.stderr()
    );
    let upserted = TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await;
    assert_exact(&upserted, &visible(&gateway)).await;

    assert_eq!(dump(&loaded).await, dump(&upserted).await);
    loaded.drop().await;
}
