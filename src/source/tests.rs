//! The Qimen client against a throwaway gateway over real HTTP: signing, failure handling,
//! retries, rate limiting, window paging on a shop that changes while read, and the `ts` cursor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::json;
use tokio::sync::mpsc;

use crate::beijing_time;
use crate::secret::Secret;
use crate::source::client::chain;
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

#[tokio::test]
async fn requests_are_signed_form_posts_and_the_sign_stays_out_of_request_params() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    for method in [SignMethod::Md5, SignMethod::HmacMd5, SignMethod::HmacSha256] {
        let mut config = config(&gateway.url);
        config.sign_method = method;
        let page = client(config)
            .fetch_page(&PageQuery::window(day(), 1, 25).with_filter("status", "Sent"))
            .await
            .unwrap();
        assert_eq!(page.orders.len(), 1);
        assert!(page.request_params.iter().all(|(k, _)| k != "sign"));
        let call = gateway.calls().pop().unwrap();
        assert_eq!(
            call.content_type,
            "application/x-www-form-urlencoded; charset=UTF-8"
        );
        let mut sent = call.params.clone();
        assert!(sent.remove("sign").is_some());
        let kept: BTreeMap<String, String> = page.request_params.iter().cloned().collect();
        assert_eq!(kept, sent);
        for (key, value) in [
            ("method", "jushuitan.order.list.query"),
            ("app_key", "12345678"),
            ("target_app_key", "23060081"),
            ("customer_id", "10969016"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", method.as_param()),
            ("start_time", "2024-05-01 00:00:00"),
            ("end_time", "2024-05-02 00:00:00"),
            ("date_type", "0"),
            ("page_index", "1"),
            ("page_size", "25"),
            ("status", "Sent"),
        ] {
            assert_eq!(call.param(key), value, "{key}");
        }
        let stamped = beijing_time::parse(call.param("timestamp")).unwrap();
        assert!((beijing_time::now() - stamped).num_seconds().abs() <= 60);
    }
}

#[tokio::test]
async fn an_invalid_signature_fails_at_once_with_the_gateways_message() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    let mut config = config(&gateway.url);
    config.app_secret = Secret::new("the-wrong-secret");
    let client = client(config);
    let error = client
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Rejected { code: 25, .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let shown = chain(&error);
    assert_eq!(
        shown,
        "gateway rejected the request: code 25 (Invalid signature) [request_id test-req]: \
         check JST_APP_SECRET and JST_SIGN_METHOD"
    );
    let sent_sign = gateway.calls()[0].param("sign").to_owned();
    for text in [shown, format!("{error:?}")] {
        assert!(!text.contains("the-wrong-secret") && !text.contains(&sent_sign));
    }
    assert_eq!(gateway.calls().len(), 1, "a rejection is not retried");
    let stats = client.stats();
    assert_eq!((stats.calls, stats.retries, stats.pages), (1, 0, 0));
    assert_eq!(stats.errors_by_code.get("25"), Some(&1));
}

#[tokio::test]
async fn throttling_server_errors_and_unreadable_bodies_are_retried_then_succeed() {
    type FirstAnswer = (&'static str, fn() -> Reply);
    let first_answers: Vec<FirstAnswer> = vec![
        ("199", || {
            Reply::Json(failure(199, "more than 5 calls a second"))
        }),
        ("200", || {
            Reply::Json(failure(200, "more than 100 calls a minute"))
        }),
        ("http_503", || Reply::Status(503, "busy".into())),
        ("malformed", || {
            Reply::Raw(r#"{"response":{"flag":"success","orders":[{"o_id":"1""#.into())
        }),
        ("malformed", || {
            Reply::Raw("<response><code>0</code></response>".into())
        }),
    ];
    for (key, first) in first_answers {
        let gateway = TestGateway::start(move |call| {
            if call.number == 0 {
                first()
            } else {
                one_order_page()
            }
        })
        .await;
        let client = client(config(&gateway.url));
        let page = client
            .fetch_page(&PageQuery::window(day(), 1, 25))
            .await
            .unwrap();
        assert_eq!(page.orders.len(), 1, "{key}");
        assert_eq!(gateway.calls().len(), 2, "{key}");
        let stats = client.stats();
        assert_eq!(
            (stats.calls, stats.retries, stats.pages),
            (2, 1, 1),
            "{key}"
        );
        assert_eq!(stats.errors_by_code.get(key), Some(&1), "{key}");
        assert_eq!(
            stats.throttled,
            u64::from(key == "199" || key == "200"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn retries_exhausted_names_the_attempts_and_the_last_error() {
    let gateway = TestGateway::start(|_| Reply::Status(503, "busy".into())).await;
    let mut config = config(&gateway.url);
    config.max_attempts = 3;
    let error = client(config)
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::RetriesExhausted { attempts: 3, .. }
    ));
    assert_eq!(
        chain(&error),
        format!(
            "gave up after 3 attempts: gateway at {} answered HTTP 503: the gateway is failing; try again later",
            gateway.url
        )
    );
    assert_eq!(gateway.calls().len(), 3);
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_transport_error_without_the_query_string() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/router/qm", listener.local_addr().unwrap());
    drop(listener);
    let mut config = config(&format!("{url}?app_key=1"));
    config.max_attempts = 2;
    let error = client(config)
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    let SourceError::RetriesExhausted { last, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        matches!(
            **last,
            SourceError::Transport {
                timed_out: false,
                ..
            }
        ),
        "{last:?}"
    );
    let shown = chain(&error);
    assert!(
        shown.starts_with(&format!(
            "gave up after 2 attempts: could not reach the gateway at {url}: "
        )),
        "{shown}"
    );
    assert!(!shown.contains("app_key=1"), "{shown}");
}

#[tokio::test]
async fn paging_fields_under_data_are_understood() {
    let gateway = TestGateway::start(|call| {
        let mut answer = shop_of(30, 1).answer(call);
        let response = answer["response"].as_object_mut().unwrap();
        let mut data = serde_json::Map::new();
        for key in [
            "page_size",
            "page_index",
            "data_count",
            "page_count",
            "has_next",
            "orders",
        ] {
            data.insert(key.to_owned(), response.remove(key).unwrap());
        }
        response.insert("data".into(), data.into());
        Reply::Json(answer)
    })
    .await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(
        (report.calls, report.distinct_orders, report.data_count_last),
        (3, 30, Some(30))
    );
    assert_eq!(ids_of(&drain(rx)), (1..=30).collect());
}

#[tokio::test]
async fn a_quiet_window_costs_one_call_per_page_plus_one_and_an_empty_one_a_single_call() {
    let (gateway, _) = shop_gateway(shop_of(60, 1), |_, _| {}).await;
    let client = client(config(&gateway.url));
    let (tx, rx) = page_channel();
    let report = client.pull_window(day(), &tx).await.unwrap();
    assert_eq!(
        (
            report.calls,
            report.pages,
            report.orders_seen,
            report.distinct_orders
        ),
        (4, 3, 85, 60)
    );
    assert_eq!(
        (report.drift_events, report.rereads, report.subwindows),
        (0, 0, 0)
    );
    let order: Vec<u32> = gateway
        .calls()
        .iter()
        .map(|c| c.param("page_index").parse().unwrap())
        .collect();
    assert_eq!(order, [1, 3, 2, 1]);
    assert_eq!(drain(rx).len(), 4, "every page fetched is sent on");

    let empty = Window::new(t("2024-04-01 00:00:00"), t("2024-04-02 00:00:00"));
    let (tx, _rx) = page_channel();
    let report = client.pull_window(empty, &tx).await.unwrap();
    assert_eq!(
        (
            report.calls,
            report.distinct_orders,
            report.data_count_first
        ),
        (1, 0, Some(0))
    );
}

#[tokio::test]
async fn a_gateway_that_counts_rows_it_never_returns_costs_no_rereads() {
    let gateway = TestGateway::start(|_| {
        Reply::Json(success(
            vec![json!({"o_id": "1"}), json!({"o_id": 2})],
            3,
            1,
            25,
        ))
    })
    .await;
    let (tx, _rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(
        (report.calls, report.distinct_orders, report.shortfall),
        (1, 2, 1)
    );
    assert_eq!(
        (report.rereads, report.drift_events, report.unresolved_drift),
        (0, 0, false)
    );
}

/// A window that keeps growing: every call adds an order at its front.
#[tokio::test]
async fn a_window_that_never_settles_stops_rereading_at_the_budget_and_says_so() {
    let (gateway, _) = shop_gateway(shop_of(60, 1), |shop, call| {
        let o_id = 1000 + call.number as u64;
        shop.orders.push(ShopOrder {
            o_id,
            modified: t("2024-05-01 00:00:00"),
            ts: o_id as i64,
        });
    })
    .await;
    let mut config = config(&gateway.url);
    config.max_drift_rereads = 2;
    let (tx, _rx) = page_channel();
    let report = client(config).pull_window(day(), &tx).await.unwrap();
    assert!(report.unresolved_drift, "{report:?}");
    assert!(
        report.calls <= 4 + 2 * 4,
        "re-reads are bounded: {report:?}"
    );
}

/// The oldest order still in the window is modified (moves out of it) after every call.
fn the_oldest_order_leaves(shop: &mut Shop, _: &Call) {
    let window = day();
    if let Some(order) = shop
        .orders
        .iter_mut()
        .filter(|o| window.start <= o.modified && o.modified <= window.end)
        .min_by_key(|o| (o.modified, o.o_id))
    {
        order.modified = t("2024-06-01 00:00:00");
    }
}

#[tokio::test]
async fn reverse_paging_reads_every_row_of_a_window_whose_rows_leave_while_it_is_read() {
    // Forward paging on this shop skips rows: the proof that the scenario bites.
    let (gateway, shop) = shop_gateway(shop_of(60, 1), the_oldest_order_leaves).await;
    let forward = client(config(&gateway.url));
    let mut seen = BTreeSet::new();
    for index in 1..=3 {
        let page = forward
            .fetch_page(&PageQuery::window(day(), index, 25))
            .await
            .unwrap();
        seen.extend(ids_of(&[page]));
    }
    let still_in_window: BTreeSet<u64> = shop
        .lock()
        .unwrap()
        .orders
        .iter()
        .filter(|o| o.modified <= day().end)
        .map(|o| o.o_id)
        .collect();
    let skipped: Vec<u64> = still_in_window.difference(&seen).copied().collect();
    assert_eq!(
        skipped,
        [26, 52],
        "forward paging skips the rows at the page boundaries"
    );

    let (gateway, _) = shop_gateway(shop_of(60, 1), the_oldest_order_leaves).await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=60).collect());
    assert_eq!(
        (report.calls, report.distinct_orders, report.rereads),
        (4, 60, 0)
    );
    assert_eq!(
        (report.data_count_first, report.data_count_last),
        (Some(60), Some(57))
    );
    assert_eq!(
        report.drift_events, 3,
        "the count fell at each of the three later reads"
    );
    assert!(!report.unresolved_drift);
}

#[tokio::test]
async fn rows_arriving_mid_scan_are_recovered_by_rereading_the_pages_above() {
    // After the second call (page 3), an order appears at the front of the window: every row
    // shifts down one place and the last row of page 2 slides into page 3, already read.
    let (gateway, _) = shop_gateway(shop_of(60, 1), |shop, call| {
        if call.number == 1 {
            shop.orders.push(ShopOrder {
                o_id: 1000,
                modified: t("2024-05-01 00:00:00"),
                ts: 1000,
            });
        }
    })
    .await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    let expected: BTreeSet<u64> = (1..=60).chain([1000]).collect();
    assert_eq!(ids_of(&drain(rx)), expected);
    let order: Vec<u32> = gateway
        .calls()
        .iter()
        .map(|c| c.param("page_index").parse().unwrap())
        .collect();
    assert_eq!(order, [1, 3, 2, 3, 1]);
    assert_eq!(
        (report.drift_events, report.rereads, report.distinct_orders),
        (1, 1, 61)
    );
    assert_eq!(report.data_count_last, Some(61));
}

#[tokio::test]
async fn a_dense_window_is_halved_instead_of_paged_deeply() {
    let (gateway, _) = shop_gateway(shop_of(40, 36), |_, _| {}).await;
    let mut config = config(&gateway.url);
    config.page_size = 5;
    config.max_page_depth = 2;
    let (tx, rx) = page_channel();
    let report = client(config).pull_window(day(), &tx).await.unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=40).collect());
    assert_eq!(report.distinct_orders, 40);
    assert!(report.subwindows >= 4, "{report:?}");
    let deepest = gateway
        .calls()
        .iter()
        .map(|c| c.param("page_index").parse::<u32>().unwrap())
        .max();
    assert_eq!(deepest, Some(2));
}

#[tokio::test]
async fn a_window_longer_than_the_gateway_allows_is_cut_into_pieces() {
    let (gateway, _) = shop_gateway(shop_of(10, 24 * 60), |_, _| {}).await;
    let (tx, rx) = page_channel();
    let ten_days = Window::new(t("2024-05-01 00:00:00"), t("2024-05-11 00:00:00"));
    let report = client(config(&gateway.url))
        .pull_window(ten_days, &tx)
        .await
        .unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=10).collect());
    assert_eq!(report.subwindows, 2);
}

#[tokio::test]
async fn the_ts_cursor_deduplicates_the_boundary_row_and_stops_on_a_short_page() {
    let (gateway, _) = shop_gateway(shop_of(12, 1), |_, _| {}).await;
    let mut config = config(&gateway.url);
    config.page_size = 5;
    let (tx, rx) = page_channel();
    let report = client(config).pull_from_ts(1, &tx).await.unwrap();
    let calls = gateway.calls();
    let cursors: Vec<&str> = calls.iter().map(|c| c.param("start_ts")).collect();
    assert_eq!(cursors, ["1", "5", "9"]);
    assert!(
        gateway
            .calls()
            .iter()
            .all(|c| c.param("is_get_total") == "false" && c.param("page_index") == "1")
    );
    assert!(
        gateway
            .calls()
            .iter()
            .all(|c| !c.params.contains_key("start_time"))
    );
    assert_eq!(
        (
            report.cursor,
            report.calls,
            report.orders_seen,
            report.distinct_orders
        ),
        (12, 3, 14, 12)
    );
    let pages = drain(rx);
    assert!(pages.iter().all(|p| p.window.is_none()));
    assert_eq!(ids_of(&pages), (1..=12).collect());
}

#[tokio::test]
async fn a_ts_group_larger_than_a_page_is_paged_at_one_cursor_then_reread_in_reverse() {
    let mut shop = shop_of(12, 1);
    for order in &mut shop.orders {
        order.ts = match order.o_id {
            1 => 1,
            2 => 2,
            3..=10 => 3,
            11 => 4,
            _ => 5,
        };
    }
    let (gateway, _) = shop_gateway(shop, |_, _| {}).await;
    let mut config = config(&gateway.url);
    config.page_size = 5;
    let (tx, rx) = page_channel();
    let report = client(config).pull_from_ts(1, &tx).await.unwrap();
    let asked: Vec<(String, String)> = gateway
        .calls()
        .iter()
        .map(|c| {
            (
                c.param("start_ts").to_owned(),
                c.param("page_index").to_owned(),
            )
        })
        .collect();
    let expected = [("1", "1"), ("3", "1"), ("3", "2"), ("3", "1"), ("5", "1")];
    assert_eq!(asked, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(
        (
            report.cursor,
            report.rereads,
            report.distinct_orders,
            report.stuck
        ),
        (5, 1, 12, false)
    );
    assert_eq!(ids_of(&drain(rx)), (1..=12).collect());
}

#[tokio::test]
async fn concurrent_windows_report_each_completion_and_none_start_after_a_fatal_error() {
    let days: Vec<Window> = (1..=5)
        .map(|d| {
            Window::new(
                t(&format!("2024-05-0{d} 00:00:00")),
                t(&format!("2024-05-0{} 00:00:00", d + 1)),
            )
        })
        .collect();
    let (gateway, _) = shop_gateway(shop_of(100, 60), |_, _| {}).await;
    let client = client(config(&gateway.url));
    let (tx, rx) = page_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let summary = client.pull_windows(days.clone(), 3, &tx, &done_tx).await;
    assert_eq!(
        (summary.completed, summary.failed, summary.not_started.len()),
        (5, 0, 0)
    );
    let mut finished = Vec::new();
    while let Ok(outcome) = done_rx.try_recv() {
        finished.push(outcome.unwrap().window);
    }
    finished.sort();
    assert_eq!(finished, days);
    assert_eq!(ids_of(&drain(rx)), (1..=100).collect());

    let failing = TestGateway::start(|call| {
        if call.param("start_time") == "2024-05-02 00:00:00" {
            Reply::Json(failure(140, "bad parameters"))
        } else {
            Reply::Json(success(vec![], 0, 1, 25))
        }
    })
    .await;
    let client = QimenClient::new(config(&failing.url)).unwrap();
    let (tx, _rx) = page_channel();
    let summary = client.pull_windows(days.clone(), 1, &tx, &done_tx).await;
    assert_eq!((summary.completed, summary.failed), (1, 1));
    assert_eq!(summary.not_started, days[2..]);
    assert!(done_rx.try_recv().unwrap().is_ok());
    let (window, error) = done_rx.try_recv().unwrap().unwrap_err();
    assert_eq!(window, days[1]);
    assert_eq!(error.gateway_code(), Some(140));
}

#[tokio::test]
async fn concurrent_calls_through_one_client_never_exceed_the_per_second_limit() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    let mut config = config(&gateway.url);
    config.per_second = 20;
    let client = client(config);
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let client = client.clone();
        calls.spawn(async move {
            client
                .fetch_page(&PageQuery::window(day(), 1, 25))
                .await
                .map(|_| ())
        });
    }
    for result in calls.join_all().await {
        result.unwrap();
    }
    let elapsed = started.elapsed();
    let mut arrivals: Vec<std::time::Instant> = gateway.calls().iter().map(|c| c.arrived).collect();
    arrivals.sort();
    let busiest = (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|a| **a - arrivals[i] < Duration::from_millis(900))
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(
        busiest, 20,
        "at most 20 calls reach the gateway within any second"
    );
    assert!(
        elapsed >= Duration::from_millis(990) && elapsed < Duration::from_millis(1600),
        "{elapsed:?}"
    );
}

#[test]
fn a_configuration_that_cannot_work_is_refused_before_any_call() {
    let mut bad = config("http://127.0.0.1:1/router/qm");
    bad.filters.push(("page_size".into(), "100".into()));
    assert_eq!(
        QimenClient::new(bad).unwrap_err().to_string(),
        "invalid source configuration: filter \"page_size\" would override a parameter the client sets itself"
    );
    let mut bad = config("ftp://gw/router/qm");
    bad.page_size = 25;
    assert!(matches!(QimenClient::new(bad), Err(SourceError::Config(_))));
    let mut bad = config("http://gw/router/qm");
    bad.app_secret = Secret::new("");
    assert!(matches!(QimenClient::new(bad), Err(SourceError::Config(_))));
}

/// 60 orders in 6 seconds (10 share each second) from a gateway that sorts by `modified` only
/// and returns ties in a different order on every call: offset paging skips some orders even
/// though nothing changes. The pager notices the shortfall and halves until a window fits on
/// one page.
#[tokio::test]
async fn a_gateway_with_unstable_order_for_ties_is_read_completely_by_halving() {
    let gateway = TestGateway::start(|call| {
        let start = beijing_time::parse(call.param("start_time")).unwrap();
        let end = beijing_time::parse(call.param("end_time")).unwrap();
        let page_index: usize = call.param("page_index").parse().unwrap();
        let page_size: usize = call.param("page_size").parse().unwrap();
        let mut rows: Vec<(NaiveDateTime, u64)> = (1..=60u64)
            .map(|i| (t("2024-05-01 10:00:00") + chrono::Duration::seconds(((i - 1) / 10) as i64), i))
            .filter(|(modified, _)| start <= *modified && *modified <= end)
            .collect();
        // Ties in a call-dependent order.
        rows.sort_by_key(|(modified, i)| (*modified, (i * 7 + call.number as u64 * 13) % 61));
        let page: Vec<serde_json::Value> = rows
            .iter()
            .skip((page_index - 1) * page_size)
            .take(page_size)
            .map(|(modified, i)| json!({"o_id": i.to_string(), "ts": i, "modified": beijing_time::format(*modified)}))
            .collect();
        Reply::Json(success(page, rows.len() as u64, page_index as u64, page_size as u64))
    })
    .await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=60).collect());
    assert_eq!(report.shortfall, 0, "{report:?}");
    assert!(report.subwindows >= 2, "{report:?}");
}
