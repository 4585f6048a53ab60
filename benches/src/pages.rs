//! Synthetic gateway pages for the benchmark, generated on the fly: page `p` holds orders
//! `25p .. 25p + 25`, built from a seed that depends only on the page, so the same page can be
//! produced again for a rerun (byte for byte the same orders) without keeping any order in
//! memory. A "changed" rerun modifies every order whose index is a multiple of 100 (1 %).

use chrono::{Duration, NaiveDateTime};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Number, Value};

use jst_sync::gateway::generate;
use jst_sync::source::FetchedPage;
use jst_sync::source::qimen::envelope;

/// Orders per page, as the gateway sends them.
pub const PAGE_SIZE: usize = 25;
/// Every `CHANGE_EVERY`-th order changes in the "1 % changed" rerun.
pub const CHANGE_EVERY: usize = 100;
const FIRST_O_ID: u64 = 30_000_001;
const FIRST_TS: u64 = 7_000_000_001;

/// Which version of the shop a page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edition {
    /// The orders as first generated.
    Original,
    /// Every hundredth order changed once (new `modified`, `ts` and some fields).
    OnePercentChanged,
}

/// The synthetic shop: `orders` orders, modified one second apart from `start`.
#[derive(Clone, Copy, Debug)]
pub struct SyntheticShop {
    pub orders: usize,
    pub seed: u64,
    pub start: NaiveDateTime,
}

impl SyntheticShop {
    pub fn pages(&self) -> usize {
        self.orders.div_ceil(PAGE_SIZE)
    }

    /// How many orders [`Edition::OnePercentChanged`] changes.
    pub fn changed_orders(&self) -> usize {
        self.orders.div_ceil(CHANGE_EVERY)
    }

    /// The orders of page `page` (0-based), as JSON objects.
    pub fn page_orders(&self, page: usize, edition: Edition) -> Vec<Map<String, Value>> {
        let first = page * PAGE_SIZE;
        let last = (first + PAGE_SIZE).min(self.orders);
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ (page as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (first..last)
            .map(|index| {
                let o_id = FIRST_O_ID + index as u64;
                let modified = self.start + Duration::seconds(index as i64);
                let mut order =
                    generate::new_order(&mut rng, o_id, modified, FIRST_TS + index as u64);
                if edition == Edition::OnePercentChanged && index.is_multiple_of(CHANGE_EVERY) {
                    let mut change_rng = StdRng::seed_from_u64(self.seed ^ o_id);
                    let at = self.start + Duration::seconds((self.orders + index) as i64);
                    let ts = FIRST_TS + (self.orders + index) as u64;
                    generate::change_order(&mut change_rng, &mut order, at, ts);
                }
                order
            })
            .collect()
    }

    /// The response body the gateway would send for page `page` of a `ts`-cursor read.
    pub fn page_body(&self, page: usize, edition: Edition) -> String {
        let orders: Vec<Value> = self
            .page_orders(page, edition)
            .into_iter()
            .map(Value::Object)
            .collect();
        let number = |n: u64| Value::Number(Number::from(n));
        let mut response = Map::new();
        response.insert("flag".into(), "success".into());
        response.insert("code".into(), number(0));
        response.insert("message".into(), "".into());
        response.insert("request_id".into(), format!("bench{page}").into());
        response.insert("page_size".into(), number(PAGE_SIZE as u64));
        response.insert("page_index".into(), number(1));
        response.insert("data_count".into(), number(0));
        response.insert("page_count".into(), number(0));
        response.insert("has_next".into(), Value::Bool(page + 1 < self.pages()));
        response.insert("orders".into(), Value::Array(orders));
        let mut body = Map::new();
        body.insert("response".into(), Value::Object(response));
        serde_json::to_string(&body).expect("a JSON map serialises")
    }

    /// The request parameters a `ts`-cursor read of page `page` sends (without `sign`).
    pub fn request_params(&self, page: usize) -> Vec<(String, String)> {
        let start_ts = FIRST_TS + (page * PAGE_SIZE) as u64;
        [
            ("method", "jushuitan.order.list.query".to_owned()),
            ("app_key", "bench-app".to_owned()),
            ("target_app_key", "23060081".to_owned()),
            ("customer_id", "10969016".to_owned()),
            ("timestamp", jst_sync::beijing_time::format(self.start)),
            ("format", "json".to_owned()),
            ("v", "2.0".to_owned()),
            ("sign_method", "md5".to_owned()),
            ("page_index", "1".to_owned()),
            ("page_size", PAGE_SIZE.to_string()),
            ("start_ts", start_ts.to_string()),
            ("is_get_total", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Reads `body` as the client does and wraps it as the page the source hands to staging.
pub fn fetched_page(body: String, request_params: Vec<(String, String)>) -> FetchedPage {
    let read = envelope::parse(&body).expect("synthetic pages are valid success envelopes");
    FetchedPage {
        window: None,
        page_index: 1,
        request_params,
        http_status: 200,
        body,
        received_at: chrono::Utc::now(),
        orders: read.orders,
        data_count: read.data_count,
        page_count: read.page_count,
        has_next: read.has_next,
        echoed_page_size: read.page_size,
        repairs: read.repairs,
    }
}
