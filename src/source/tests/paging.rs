//! Paging a window: reverse order, drift re-reads, halving dense or unstable windows, cutting
//! long ones, and several windows at once.

use super::*;

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
    let pages = drain(rx);
    assert_eq!(ids_of(&pages), (1..=40).collect());
    assert_eq!(report.distinct_orders, 40);
    assert!(report.subwindows >= 4, "{report:?}");
    // No orders are read deeper than the depth limit; a full last page is followed only by
    // one check of the next page, which comes back empty.
    let deepest_with_orders = pages
        .iter()
        .filter(|page| !page.orders.is_empty())
        .map(|page| page.page_index)
        .max();
    assert_eq!(deepest_with_orders, Some(2));
    let deepest = gateway
        .calls()
        .iter()
        .map(|c| c.param("page_index").parse::<u32>().unwrap())
        .max();
    assert_eq!(deepest, Some(3));
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

/// The gateway's answer with `data_count` (and so `page_count`, `has_next`) under-reported by
/// `by` orders.
fn under_reported(answer: serde_json::Value, by: u64) -> serde_json::Value {
    let mut answer = answer;
    let response = answer["response"].as_object_mut().unwrap();
    let count = response["data_count"].as_u64().unwrap().saturating_sub(by);
    let size = response["page_size"].as_u64().unwrap();
    let index = response["page_index"].as_u64().unwrap();
    let pages = count.div_ceil(size);
    response.insert("data_count".into(), json!(count));
    response.insert("page_count".into(), json!(pages));
    response.insert("has_next".into(), json!(index < pages));
    answer
}

#[tokio::test]
async fn a_full_last_page_is_followed_by_the_next_so_an_under_reported_count_loses_nothing() {
    // 60 orders counted as 50: by the count the window ends with a full second page.
    let shop = shop_of(60, 1);
    let gateway =
        TestGateway::start(move |call| Reply::Json(under_reported(shop.answer(call), 10))).await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=60).collect());
    assert!(report.extra_pages >= 1, "{report:?}");
    assert!(report.is_complete(), "{report:?}");
}

#[tokio::test]
async fn a_window_whose_orders_fall_short_of_its_count_is_reported_incomplete() {
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
    assert!(!report.is_complete());
    assert!(
        report
            .incomplete
            .as_deref()
            .unwrap()
            .contains("1 more orders"),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_success_without_its_order_list_is_retried_never_taken_as_an_empty_page() {
    let shop = shop_of(30, 1);
    let gateway = TestGateway::start(move |call| {
        let mut answer = shop.answer(call);
        // The first two answers lose their order list but keep the count.
        if call.number < 2 {
            answer["response"].as_object_mut().unwrap().remove("orders");
        }
        Reply::Json(answer)
    })
    .await;
    let client = client(config(&gateway.url));
    let (tx, rx) = page_channel();
    let report = client.pull_window(day(), &tx).await.unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=30).collect());
    assert!(report.is_complete());
    assert_eq!(client.stats().errors_by_code.get("malformed"), Some(&2));
}

#[tokio::test]
async fn a_refused_page_size_above_25_falls_back_to_25_for_the_run() {
    let shop = shop_of(60, 1);
    let gateway = TestGateway::start(move |call| {
        if call.param("page_size").parse::<u32>().unwrap() > 25 {
            Reply::Json(failure(
                41,
                "Invalid arguments: page_size must be from 1 to 25",
            ))
        } else {
            Reply::Json(shop.answer(call))
        }
    })
    .await;
    let mut config = config(&gateway.url);
    config.page_size = 100;
    let client = client(config);
    let (tx, rx) = page_channel();
    let report = client.pull_window(day(), &tx).await.unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=60).collect());
    assert!(report.is_complete());
    assert_eq!(client.page_size(), 25);
    let sizes: Vec<String> = gateway
        .calls()
        .iter()
        .map(|c| c.param("page_size").to_owned())
        .collect();
    assert_eq!(sizes.first().map(String::as_str), Some("100"));
    assert!(sizes[1..].iter().all(|s| s == "25"), "{sizes:?}");
}

#[tokio::test]
async fn a_gateway_that_silently_serves_smaller_pages_is_read_at_its_size() {
    let shop = shop_of(60, 1);
    let gateway = TestGateway::start(move |call| {
        // Serves at most 25 a page, whatever is asked, and echoes the size it was asked.
        let mut call = call.clone();
        let asked = call.param("page_size").to_owned();
        let size = asked.parse::<u32>().unwrap().min(25);
        call.params.insert("page_size".into(), size.to_string());
        let mut answer = shop.answer(&call);
        answer["response"]["page_size"] = json!(asked.parse::<u32>().unwrap());
        let count = answer["response"]["data_count"].as_u64().unwrap();
        answer["response"]["page_count"] = json!(count.div_ceil(asked.parse().unwrap()));
        Reply::Json(answer)
    })
    .await;
    let mut config = config(&gateway.url);
    config.page_size = 100;
    let client = client(config);
    let (tx, rx) = page_channel();
    let report = client.pull_window(day(), &tx).await.unwrap();
    assert_eq!(ids_of(&drain(rx)), (1..=60).collect());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(client.page_size(), 25);
}

#[tokio::test]
async fn page_size_100_reads_a_window_in_a_quarter_of_the_calls() {
    let (gateway, _) = shop_gateway(shop_of(200, 1), |_, _| {}).await;
    let mut config = config(&gateway.url);
    config.page_size = 100;
    let (tx, rx) = page_channel();
    let report = client(config).pull_window(day(), &tx).await.unwrap();
    assert_eq!(ids_of(&drain(rx)).len(), 200);
    // page 1, then 2 (full: the next is checked) and 3, then 1 again.
    assert_eq!(report.calls, 4, "{report:?}");
}
