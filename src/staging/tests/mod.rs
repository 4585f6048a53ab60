//! Specifications of the staging store: what a staged page does to versions and the outbox
//! (`stage`), opening, locking and watermarks (`store`), page bodies as zstd frames and pages
//! read again (`compression`), the integrity check (`integrity`), `prune` and the migrations of
//! older files (`migrations`). This file holds the shared fixtures.

mod compression;
mod integrity;
mod migrations;
mod prune;
mod stage;
mod store;

use chrono::Utc;
use serde_json::{Value, json};

use super::{FingerprintedPage, OutboxState, RunStatus, StagingError, StagingStore};
use crate::source::FetchedPage;

fn page(orders: Vec<Value>) -> FetchedPage {
    let body = json!({"response": {"flag": "success", "orders": orders}}).to_string();
    FetchedPage {
        window: None,
        page_index: 1,
        request_params: vec![("method".into(), "jushuitan.order.list.query".into())],
        http_status: 200,
        body,
        received_at: Utc::now(),
        orders,
        data_count: None,
        page_count: None,
        has_next: None,
        echoed_page_size: None,
        repairs: Default::default(),
    }
}

fn order(o_id: &str, remark: &str, ts: i64) -> Value {
    json!({"o_id": o_id, "remark": remark, "ts": ts, "modified": "2024-05-01 10:00:00"})
}

fn store() -> (tempfile::TempDir, StagingStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StagingStore::open(&dir.path().join("staging.sqlite")).unwrap();
    (dir, store)
}

/// `page` with another envelope `request_id`, as a second call returns the same orders.
fn reread(orders: Vec<Value>, request_id: &str) -> FetchedPage {
    let mut page = page(orders.clone());
    page.body =
        json!({"response": {"flag": "success", "request_id": request_id, "orders": orders}})
            .to_string();
    page
}

fn count(store: &StagingStore, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}
