//! The Qimen client against a throwaway gateway over real HTTP: signing, failure handling,
//! retries, rate limiting (`calls`), window paging on a shop that changes while read
//! (`paging`), and the `ts` cursor (`cursor`). This file holds the shared fixtures.

mod calls;
mod cursor;
mod paging;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::json;
use tokio::sync::mpsc;

use crate::beijing_time;
use crate::secret::Secret;
use crate::source::error::chain;
use crate::source::pager::order_id;
use crate::source::test_gateway::{
    Call, Reply, SECRET, Shop, ShopOrder, TestGateway, failure, success,
};
use crate::source::{
    FetchedPage, PageQuery, QimenClient, SignMethod, SourceConfig, SourceError, Window,
};

fn t(text: &str) -> NaiveDateTime {
    beijing_time::parse(text).unwrap()
}

fn day() -> Window {
    Window::new(t("2024-05-01 00:00:00"), t("2024-05-02 00:00:00"))
}

/// Fast settings: generous rate limits, millisecond backoff.
fn config(url: &str) -> SourceConfig {
    let mut config = SourceConfig::new(url, "12345678", Secret::new(SECRET), "10969016");
    config.per_second = 10_000;
    config.per_minute = 1_000_000;
    config.rate_margin = Duration::ZERO;
    config.base_backoff = Duration::from_millis(1);
    config.max_backoff = Duration::from_millis(5);
    config.throttle_pause = Duration::from_millis(5);
    config.minute_throttle_pause = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(5);
    config
}

fn client(config: SourceConfig) -> QimenClient {
    QimenClient::new(config).unwrap()
}

/// A page channel big enough for any test, and a way to drain it.
fn page_channel() -> (mpsc::Sender<FetchedPage>, mpsc::Receiver<FetchedPage>) {
    mpsc::channel(4096)
}

fn drain(mut pages: mpsc::Receiver<FetchedPage>) -> Vec<FetchedPage> {
    let mut out = Vec::new();
    while let Ok(page) = pages.try_recv() {
        out.push(page);
    }
    out
}

fn ids_of(pages: &[FetchedPage]) -> BTreeSet<u64> {
    pages
        .iter()
        .flat_map(|p| &p.orders)
        .map(|o| order_id(o).unwrap().parse().unwrap())
        .collect()
}

/// `n` orders modified a minute apart from the start of `day()`, `ts` = `o_id`.
fn shop_of(n: u64, spacing_minutes: i64) -> Shop {
    Shop {
        orders: (1..=n)
            .map(|i| ShopOrder {
                o_id: i,
                modified: t("2024-05-01 00:00:00")
                    + chrono::Duration::minutes(spacing_minutes * (i as i64 - 1)),
                ts: i as i64,
            })
            .collect(),
    }
}

/// A gateway serving `shop`, calling `after` with the shop and the call after every answer.
async fn shop_gateway(
    shop: Shop,
    after: impl Fn(&mut Shop, &Call) + Send + Sync + 'static,
) -> (TestGateway, Arc<Mutex<Shop>>) {
    let shop = Arc::new(Mutex::new(shop));
    let served = shop.clone();
    let gateway = TestGateway::start(move |call| {
        let mut shop = served.lock().unwrap();
        let answer = shop.answer(call);
        after(&mut shop, call);
        Reply::Json(answer)
    })
    .await;
    (gateway, shop)
}

fn one_order_page() -> Reply {
    Reply::Json(success(vec![json!({"o_id": "1", "ts": 1})], 1, 1, 25))
}
