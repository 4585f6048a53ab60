//! What the fake open platform answers: window paging, the `ts` cursor, filters, fields in
//! the query string, other paths, and a shop shared with the Qimen fake.

use super::*;

#[tokio::test]
async fn a_signed_window_query_pages_through_the_shop_and_returns_every_order_once() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(250)).unwrap();
    let mut seen = Vec::new();
    for page_index in 1..=3 {
        let biz = with(
            past_window(),
            json!({"page_index": page_index, "page_size": 100}),
        );
        let body = query(&gateway, &biz).await;
        assert_eq!((code(&body), body["msg"].as_str()), (0, Some("执行成功")));
        let data = &body["data"];
        assert_eq!(
            (
                data["page_index"].as_u64(),
                data["page_size"].as_u64(),
                data["data_count"].as_u64(),
                data["page_count"].as_u64(),
                data["has_next"].as_bool()
            ),
            (
                Some(page_index),
                Some(100),
                Some(250),
                Some(3),
                Some(page_index < 3)
            )
        );
        seen.extend(o_ids(&body));
    }
    assert_eq!(seen.len(), 250);
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    let truth: BTreeSet<u64> = gateway
        .shop()
        .lock()
        .unwrap()
        .o_ids()
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(unique, truth, "every order once");

    let page = query(&gateway, &past_window()).await;
    assert_eq!(orders(&page).len(), 30, "page_size defaults to 30");
    let order = &orders(&page)[0];
    assert!(order["shop_id"].is_i64() && order["co_id"].is_i64() && order["ts"].is_u64());
    assert!(order["pay_amount"].is_number() && order["paid_amount"].is_number());
    assert!(order["freight"].is_string() && order["wms_co_id"].is_string());
    assert!(order["items"][0]["oi_id"].is_i64() && order["items"][0]["qty"].is_i64());
    assert!(order["items"][0]["price"].is_number());
    assert_eq!(order["pays"][0]["o_id"], order["o_id"]);
    assert_eq!(order["pays"][0]["pay_type"], order["pays"][0]["payment"]);
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_ts_cursor_returns_ts_from_start_ts_in_ts_order_without_counts() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(40)).unwrap();
    let changed = gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(3, beijing_time::now());
    let cursor = gateway.shop().lock().unwrap().max_ts() - 2;
    let body = query(
        &gateway,
        &json!({"start_ts": cursor, "is_get_total": false, "page_size": 100}),
    )
    .await;
    assert_eq!(code(&body), 0, "{body}");
    let ts: Vec<u64> = orders(&body)
        .iter()
        .map(|order| order["ts"].as_u64().unwrap())
        .collect();
    assert_eq!(ts, [cursor, cursor + 1, cursor + 2], "oldest change first");
    let mut seen: Vec<String> = o_ids(&body).iter().map(u64::to_string).collect();
    let mut changed = changed;
    seen.sort();
    changed.sort();
    assert_eq!(seen, changed);
    let data = &body["data"];
    assert_eq!(
        (data["data_count"].as_u64(), data["page_count"].as_u64()),
        (Some(0), Some(0))
    );

    let from_start = query(&gateway, &json!({"start_ts": 0, "is_get_total": false})).await;
    let ts: Vec<u64> = orders(&from_start)
        .iter()
        .map(|order| order["ts"].as_u64().unwrap())
        .collect();
    assert!(ts.is_sorted() && ts.len() == 30, "{ts:?}");
}

#[tokio::test]
async fn filters_select_by_o_ids_so_ids_shop_and_status() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(40)).unwrap();
    let truth = gateway.shop().lock().unwrap().visible_orders();
    let first = &truth[0];
    let o_id: u64 = first["o_id"].as_str().unwrap().parse().unwrap();
    let by_id = query(&gateway, &json!({"o_ids": [o_id]})).await;
    assert_eq!(o_ids(&by_id), [o_id]);
    let so_id = first["so_id"].clone();
    let by_so_id = query(&gateway, &json!({"so_ids": [so_id]})).await;
    assert_eq!(o_ids(&by_so_id), [o_id]);

    let shop_id = first["shop_id"].as_i64().unwrap();
    let status = first["status"].as_str().unwrap();
    let filtered = query(
        &gateway,
        &with(
            past_window(),
            json!({"shop_id": shop_id, "status": status, "page_size": 100}),
        ),
    )
    .await;
    let expected: Vec<u64> = truth
        .iter()
        .filter(|order| order["shop_id"] == shop_id && order["status"] == status)
        .map(|order| order["o_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(o_ids(&filtered), expected);
}

/// Every scalar as its text, so that `"227.00"` and `227.00` compare equal.
fn normalised(value: &Value) -> Value {
    match value {
        Value::Number(number) => Value::String(number.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(normalised).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| (key.clone(), normalised(inner)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The Qimen route's order list for a window (its own signer, its own protocol).
async fn qimen_orders(gateway: &FakeGateway, window: &Value, page_index: u32) -> Value {
    let config = gateway.config();
    let mut params: Vec<(String, String)> = [
        ("method", ORDER_LIST_METHOD.to_owned()),
        ("app_key", config.app_key.clone()),
        ("target_app_key", config.target_app_key.clone()),
        ("customer_id", config.customer_id.clone()),
        ("timestamp", beijing_time::format(beijing_time::now())),
        ("format", "json".to_owned()),
        ("v", "2.0".to_owned()),
        ("sign_method", "md5".to_owned()),
        (
            "start_time",
            window["modified_begin"].as_str().unwrap().to_owned(),
        ),
        (
            "end_time",
            window["modified_end"].as_str().unwrap().to_owned(),
        ),
        ("page_index", page_index.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let signature = crate::sign::sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &config.secret,
        crate::sign::SignMethod::Md5,
    );
    params.push(("sign".to_owned(), signature));
    let (status, body) = post_raw(&gateway.url(), &params).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["response"]["orders"].clone()
}

#[tokio::test]
async fn a_shop_shared_with_a_qimen_gateway_serves_the_same_orders_on_both_routes() {
    let qimen = FakeGateway::start(GatewayConfig::unlimited(), past_shop(60)).unwrap();
    let open = OpenApiGateway::start_sharing(OpenApiConfig::unlimited(), qimen.shop()).unwrap();
    let mut from_qimen = Vec::new();
    for page_index in 1..=3 {
        let page = qimen_orders(&qimen, &past_window(), page_index).await;
        from_qimen.extend(page.as_array().unwrap().iter().cloned());
    }
    let body = query(&open, &with(past_window(), json!({"page_size": 100}))).await;
    let from_open = orders(&body);
    assert_eq!(from_qimen.len(), 60);
    assert_eq!(from_open.len(), 60);
    for (qimen_order, open_order) in from_qimen.iter().zip(from_open) {
        assert_eq!(
            qimen_order["o_id"].as_str().unwrap(),
            open_order["o_id"].as_u64().unwrap().to_string()
        );
        let mut open_order = open_order.clone();
        for pay in open_order["pays"].as_array_mut().unwrap() {
            let pay = pay.as_object_mut().unwrap();
            assert!(pay.remove("o_id").is_some() && pay.remove("pay_type").is_some());
        }
        assert_eq!(
            normalised(qimen_order),
            normalised(&open_order),
            "the same values, only the types differ"
        );
    }

    // A change made through one route's shop is seen on the other.
    let o_id = qimen.shop().lock().unwrap().o_ids()[0].clone();
    qimen
        .shop()
        .lock()
        .unwrap()
        .set_decimal_quantity(&o_id, "1.5");
    let by_id = query(&open, &json!({"o_ids": [o_id.parse::<u64>().unwrap()]})).await;
    assert_eq!(orders(&by_id)[0]["items"][0]["qty"].to_string(), "1.5");
    open.shutdown().await;
    qimen.shutdown().await;
}

#[tokio::test]
async fn fields_in_the_query_string_are_accepted() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let fields = Credentials::of(&gateway).order_query(&past_window());
    let query_string: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let response = http_client()
        .post(format!(
            "{}{ORDER_QUERY_PATH}?{query_string}",
            gateway.url()
        ))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(code(&body), 0, "{body}");
}

#[tokio::test]
async fn any_other_path_is_http_404() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let fields = Credentials::of(&gateway).order_query(&past_window());
    for path in [
        "/",
        "/router/qm",
        "/open/orders/query",
        "/openWeb/auth/getInitToken",
    ] {
        let (status, _) = post_raw(&format!("{}{path}", gateway.url()), &fields).await;
        assert_eq!(status, 404, "{path}");
    }
}
