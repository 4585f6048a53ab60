//! The MySQL sink against a real MariaDB/MySQL: each test gets its own database, dropped at
//! the end (also when the test fails). The server is `JST_TEST_MYSQL_URL`, by default
//! `mysql://root@127.0.0.1:3306/test`.

mod errors;
mod load_data;
mod schema;
mod writes;

use std::sync::atomic::{AtomicUsize, Ordering};

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts};
use serde_json::{Value, json};

use super::*;
use crate::secret::Secret;
use crate::sink::mysql::bookkeeping::{CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS};
use crate::transform::{
    Mapping, MappingOverrides, OrderRows, TableMapping, VersionKey, transform_order,
};

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

fn admin_url() -> String {
    std::env::var("JST_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A database of its own for one test; dropped when this value is.
struct TestDb {
    name: String,
}

impl TestDb {
    async fn create() -> Self {
        let name = format!(
            "jst_t_{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = Conn::from_url(admin_url())
            .await
            .expect("test MySQL is running");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .unwrap();
        conn.disconnect().await.unwrap();
        Self { name }
    }

    fn url(&self) -> String {
        let admin = admin_url();
        let base = admin
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&admin);
        format!("{base}/{}", self.name)
    }

    fn config(&self) -> MysqlConfig {
        MysqlConfig::new(Secret::new(self.url()))
    }

    /// A migrated sink with the default mapping.
    async fn sink(&self) -> MysqlSink {
        self.sink_with(self.config(), Mapping::default()).await
    }

    async fn sink_with(&self, config: MysqlConfig, mapping: Mapping) -> MysqlSink {
        let sink = MysqlSink::connect(&config, mapping).await.unwrap();
        sink.migrate().await.unwrap();
        sink
    }

    async fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Vec<T> {
        let mut conn = Conn::new(Opts::from_url(&self.url()).unwrap())
            .await
            .unwrap();
        let rows = conn.query(sql).await.unwrap();
        conn.disconnect().await.unwrap();
        rows
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Async drop does not exist: drop the database from a thread with its own runtime.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = Conn::from_url(admin_url()).await {
                    let _ = conn
                        .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                    let _ = conn.disconnect().await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

fn rows(order: Value, ts: i64, staging_version: i64) -> OrderRows {
    rows_with(&Mapping::default(), order, ts, staging_version)
}

fn rows_with(mapping: &Mapping, order: Value, ts: i64, staging_version: i64) -> OrderRows {
    transform_order(
        &order,
        mapping,
        VersionKey {
            ts: Some(ts),
            staging_version,
        },
    )
    .unwrap()
}

/// An order with the given id, items (by `oi_id`) and one main payment.
fn order(o_id: i64, remark: &str, item_ids: &[i64]) -> Value {
    let items: Vec<Value> = item_ids
        .iter()
        .map(|oi_id| json!({"oi_id": oi_id.to_string(), "sku_id": format!("SKU-{oi_id}"), "qty": "1", "price": "9.90"}))
        .collect();
    json!({
        "o_id": o_id.to_string(), "so_id": format!("SO{o_id}"), "status": "WaitConfirm", "shop_id": "10001",
        "order_date": "2024-05-01 10:00:00", "modified": "2024-05-02 11:00:00", "pay_amount": "19.80",
        "remark": remark, "is_cod": "false",
        "items": items,
        "pays": [{"pay_id": format!("P{o_id}"), "amount": "19.80", "is_order_pay": "true", "payment": "支付宝"}],
    })
}

type OrderLine = (i64, Option<String>, Option<i64>, i64);

async fn order_lines(db: &TestDb) -> Vec<OrderLine> {
    db.query("SELECT id, remark, jst_ts, jst_version FROM order_list_query ORDER BY id")
        .await
}

async fn item_ids(db: &TestDb, o_id: i64) -> Vec<i64> {
    db.query(&format!(
        "SELECT oi_id FROM order_items WHERE o_id = {o_id} ORDER BY oi_id"
    ))
    .await
}
