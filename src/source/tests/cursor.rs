//! The `ts` cursor: boundary rows, groups sharing one `ts`, and where the scan stops.

use super::*;

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
