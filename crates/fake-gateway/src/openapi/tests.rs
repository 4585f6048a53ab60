//! The fake open platform over real HTTP: a signed client's view of paging, refusals, tokens,
//! limits, faults, the `ts` cursor and a shop shared with the Qimen fake.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::config::{ORDER_QUERY_PATH, REFRESH_TOKEN_PATH};
use super::sign::sign;
use super::*;
use crate::beijing_time;
use crate::config::{Churn, Faults, GatewayConfig, ORDER_LIST_METHOD, RateLimits};
use crate::secret::Secret;
use crate::server::FakeGateway;
use crate::shop::Shop;

fn hours_ago(hours: i64) -> NaiveDateTime {
    beijing_time::now() - chrono::Duration::hours(hours)
}

/// A shop of `count` orders modified between three and two days ago.
fn past_shop(count: usize) -> Shop {
    Shop::generate(7, count, hours_ago(72), hours_ago(48))
}

/// The window that holds every order of [`past_shop`].
fn past_window() -> Value {
    json!({
        "modified_begin": beijing_time::format(hours_ago(73)),
        "modified_end": beijing_time::format(hours_ago(47)),
    })
}

/// `base` with `extra`'s fields added.
fn with(base: Value, extra: Value) -> Value {
    let (Value::Object(mut base), Value::Object(extra)) = (base, extra) else {
        panic!("objects")
    };
    base.extend(extra);
    Value::Object(base)
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How a test client signs: its own credentials and clock, so a test can get any of them wrong.
#[derive(Clone)]
struct Credentials {
    app_key: String,
    app_secret: Secret,
    access_token: String,
    timestamp: i64,
}

impl Credentials {
    fn of(gateway: &OpenApiGateway) -> Self {
        Self {
            app_key: gateway.config().app_key.clone(),
            app_secret: gateway.config().app_secret.clone(),
            access_token: gateway.current_access_token(),
            timestamp: unix_now(),
        }
    }

    /// The order query's fields as a correct client sends them, `sign` last.
    fn order_query(&self, biz: &Value) -> Vec<(String, String)> {
        self.signed(vec![
            ("app_key", self.app_key.clone()),
            ("access_token", self.access_token.clone()),
            ("timestamp", self.timestamp.to_string()),
            ("charset", "utf-8".to_owned()),
            ("version", "2".to_owned()),
            ("biz", biz.to_string()),
        ])
    }

    fn refresh(&self, refresh_token: &str) -> Vec<(String, String)> {
        self.signed(vec![
            ("app_key", self.app_key.clone()),
            ("timestamp", self.timestamp.to_string()),
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
            ("scope", "all".to_owned()),
            ("charset", "utf-8".to_owned()),
        ])
    }

    fn signed(&self, fields: Vec<(&str, String)>) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        let signature = sign(
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.app_secret,
        );
        fields.push(("sign".to_owned(), signature));
        fields
    }
}

/// A plain-HTTP client; reqwest still wants a TLS crypto provider installed to build one.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn post_raw(url: &str, fields: &[(String, String)]) -> (u16, String) {
    let response = http_client()
        .post(url)
        .form(fields)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn post(gateway: &OpenApiGateway, path: &str, fields: &[(String, String)]) -> Value {
    let (status, body) = post_raw(&format!("{}{path}", gateway.url()), fields).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a JSON body")
}

/// Queries orders with the gateway's current credentials.
async fn query(gateway: &OpenApiGateway, biz: &Value) -> Value {
    let fields = Credentials::of(gateway).order_query(biz);
    post(gateway, ORDER_QUERY_PATH, &fields).await
}

fn code(body: &Value) -> i64 {
    body["code"].as_i64().expect("a numeric code")
}

fn orders(body: &Value) -> &Vec<Value> {
    body["data"]["orders"].as_array().expect("an order list")
}

fn o_ids(body: &Value) -> Vec<u64> {
    orders(body)
        .iter()
        .map(|order| order["o_id"].as_u64().expect("an integer o_id"))
        .collect()
}

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
async fn a_wrong_sign_or_an_unknown_app_key_is_refused_with_code_10() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let wrong_secret = Credentials {
        app_secret: Secret::new("not-the-secret"),
        ..Credentials::of(&gateway)
    };
    let unknown_app = Credentials {
        app_key: "someone-else".into(),
        ..Credentials::of(&gateway)
    };
    let mut unsigned = Credentials::of(&gateway).order_query(&past_window());
    unsigned.retain(|(key, _)| key != "sign");
    let mut upper_case = Credentials::of(&gateway).order_query(&past_window());
    upper_case
        .iter_mut()
        .filter(|(key, _)| key == "sign")
        .for_each(|(_, value)| *value = value.to_uppercase());
    for fields in [
        wrong_secret.order_query(&past_window()),
        unknown_app.order_query(&past_window()),
        unsigned,
        upper_case,
    ] {
        let body = post(&gateway, ORDER_QUERY_PATH, &fields).await;
        assert_eq!(code(&body), 10, "{body}");
        assert_eq!(body["data"], Value::Null);
        assert!(body["msg"].as_str().unwrap().contains("签名错误"), "{body}");
    }
    assert_eq!(gateway.stats().calls_with_code(10), 4);
}

#[tokio::test]
async fn a_timestamp_off_by_more_than_the_tolerance_is_refused_with_code_140() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    for offset in [-11 * 60, 11 * 60] {
        let stale = Credentials {
            timestamp: unix_now() + offset,
            ..Credentials::of(&gateway)
        };
        let body = post(
            &gateway,
            ORDER_QUERY_PATH,
            &stale.order_query(&past_window()),
        )
        .await;
        assert_eq!(code(&body), 140, "{body}");
    }
    let nearly = Credentials {
        timestamp: unix_now() - 9 * 60,
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &nearly.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 0, "{body}");
}

#[tokio::test]
async fn a_wrong_access_token_is_refused_with_code_100() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let wrong = Credentials {
        access_token: "not-the-token".into(),
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &wrong.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 100, "{body}");
    assert!(
        !body.to_string().contains("not-the-token"),
        "a token is never echoed"
    );
}

#[tokio::test]
async fn an_expired_token_works_again_only_as_the_new_token_a_refresh_issues() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let old = Credentials::of(&gateway);
    assert_eq!(code(&query(&gateway, &past_window()).await), 0);
    gateway.expire_token();
    let body = post(&gateway, ORDER_QUERY_PATH, &old.order_query(&past_window())).await;
    assert_eq!(code(&body), 100, "{body}");

    let refreshed = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &old.refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&refreshed), 0, "{refreshed}");
    let data = &refreshed["data"];
    assert_eq!(
        (data["expires_in"].as_u64(), data["scope"].as_str()),
        (Some(2_592_000), Some("all"))
    );
    let new_token = data["access_token"].as_str().unwrap().to_owned();
    let new_refresh = data["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, "fake-access-token");
    assert_ne!(new_refresh, "fake-refresh-token");
    assert_eq!(gateway.current_access_token(), new_token);

    let new = Credentials {
        access_token: new_token,
        ..old.clone()
    };
    let body = post(&gateway, ORDER_QUERY_PATH, &new.order_query(&past_window())).await;
    assert_eq!(code(&body), 0, "{body}");
    let body = post(&gateway, ORDER_QUERY_PATH, &old.order_query(&past_window())).await;
    assert_eq!(code(&body), 100, "the old token stays dead: {body}");
    let again = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &old.refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&again), 100, "the old refresh token stops working");
    let stats = gateway.stats();
    assert_eq!(
        (
            stats.refreshes,
            stats.calls_with_code(100),
            stats.total_calls
        ),
        (1, 3, 6)
    );
}

#[tokio::test]
async fn a_service_provider_app_may_not_refresh_and_gets_code_150() {
    let config = OpenApiConfig {
        refresh_allowed: false,
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(5)).unwrap();
    let body = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &Credentials::of(&gateway).refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&body), 150, "{body}");
    assert!(body["msg"].as_str().unwrap().contains("重新授权"), "{body}");
    assert_eq!(gateway.current_access_token(), "fake-access-token");
}

#[tokio::test]
async fn page_size_101_is_refused_and_100_is_accepted() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let refused = query(&gateway, &with(past_window(), json!({"page_size": 101}))).await;
    assert_eq!(code(&refused), 120, "{refused}");
    assert!(refused["msg"].as_str().unwrap().contains("page_size"));
    let accepted = query(&gateway, &with(past_window(), json!({"page_size": 100}))).await;
    assert_eq!(code(&accepted), 0, "{accepted}");
}

#[tokio::test]
async fn a_window_of_eight_days_is_refused_and_one_of_seven_is_accepted() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let window = |days: i64| {
        let end = hours_ago(0);
        json!({
            "modified_begin": beijing_time::format(end - chrono::Duration::days(days)),
            "modified_end": beijing_time::format(end),
        })
    };
    let refused = query(&gateway, &window(8)).await;
    assert_eq!(code(&refused), 120, "{refused}");
    assert!(refused["msg"].as_str().unwrap().contains("7 days"));
    let accepted = query(&gateway, &window(7)).await;
    assert_eq!(code(&accepted), 0, "{accepted}");
    assert_eq!(accepted["data"]["data_count"], 5);
}

#[tokio::test]
async fn the_sixth_call_within_a_second_gets_code_199() {
    let gateway = OpenApiGateway::start(OpenApiConfig::default(), past_shop(5)).unwrap();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(code(&query(&gateway, &past_window()).await));
    }
    assert_eq!(codes, [0, 0, 0, 0, 0, 199]);
    let stats = gateway.stats();
    assert_eq!(
        (
            stats.total_calls,
            stats.successful_calls,
            stats.calls_with_code(199)
        ),
        (6, 5, 1)
    );
    assert_eq!(stats.max_calls_in_any_second, 6);
}

#[tokio::test]
async fn calls_beyond_the_per_minute_limit_get_code_200() {
    let config = OpenApiConfig {
        rate_limits: RateLimits {
            per_second: None,
            per_minute: Some(3),
        },
        ..OpenApiConfig::default()
    };
    let gateway = OpenApiGateway::start(config, past_shop(5)).unwrap();
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(code(&query(&gateway, &past_window()).await));
    }
    assert_eq!(codes, [0, 0, 0, 200]);
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
async fn refused_arguments_are_code_120_naming_the_field() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    for (biz, field) in [
        (json!({}), "required"),
        (
            json!({"modified_begin": "2024-05-01 00:00:00"}),
            "modified_end",
        ),
        (with(past_window(), json!({"page_index": 0})), "page_index"),
        (with(past_window(), json!({"date_type": 1})), "date_type"),
        (json!({"o_ids": "20000001"}), "o_ids"),
        (json!([1, 2]), "JSON object"),
    ] {
        let body = query(&gateway, &biz).await;
        assert_eq!(code(&body), 120, "{body}");
        assert!(body["msg"].as_str().unwrap().contains(field), "{body}");
    }
    let mut no_version = Credentials::of(&gateway).order_query(&past_window());
    no_version.retain(|(key, _)| key != "version" && key != "sign");
    let fields = Credentials::of(&gateway).signed(
        no_version
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect(),
    );
    let body = post(&gateway, ORDER_QUERY_PATH, &fields).await;
    assert_eq!(code(&body), 120, "{body}");
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

#[tokio::test]
async fn injected_faults_give_server_errors_throttling_and_truncated_bodies() {
    let start = |faults: Faults| {
        OpenApiGateway::start(
            OpenApiConfig {
                faults,
                ..OpenApiConfig::unlimited()
            },
            past_shop(3),
        )
        .unwrap()
    };
    let gateway = start(Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    });
    let fields = Credentials::of(&gateway).order_query(&past_window());
    let url = format!("{}{ORDER_QUERY_PATH}", gateway.url());
    let (status, _) = post_raw(&url, &fields).await;
    assert!([500, 502, 503].contains(&status), "{status}");
    assert_eq!(gateway.stats().server_errors, 1);
    let refreshed = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &Credentials::of(&gateway).refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&refreshed), 0, "the refresh route is never faulted");

    let gateway = start(Faults {
        throttle_probability: 1.0,
        ..Faults::default()
    });
    assert_eq!(code(&query(&gateway, &past_window()).await), 199);

    let gateway = start(Faults {
        truncated_body_probability: 1.0,
        ..Faults::default()
    });
    let fields = Credentials::of(&gateway).order_query(&past_window());
    let (status, body) = post_raw(&format!("{}{ORDER_QUERY_PATH}", gateway.url()), &fields).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(gateway.stats().truncated_bodies, 1);
}

#[tokio::test]
async fn churn_changes_and_adds_orders_before_each_successful_page() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(30)).unwrap();
    assert_eq!(
        query(&gateway, &past_window()).await["data"]["data_count"],
        30
    );
    gateway.set_churn(Churn {
        changes_per_request: 1,
        arrivals_per_request: 1,
    });
    let after = query(&gateway, &past_window()).await;
    assert_eq!(
        after["data"]["data_count"], 29,
        "the changed order left the window"
    );
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "one order arrived"
    );
    let refused = query(&gateway, &json!({})).await;
    assert_eq!(code(&refused), 120);
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "no churn before a refusal"
    );
    gateway.set_churn(Churn::default());
    assert_eq!(
        query(&gateway, &past_window()).await["data"]["data_count"],
        29
    );
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "no churn once switched off"
    );
}

#[tokio::test]
async fn a_skewed_clock_moves_the_timestamp_the_platform_accepts() {
    let config = OpenApiConfig {
        clock_offset: chrono::Duration::hours(1),
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(3)).unwrap();
    assert_eq!(code(&query(&gateway, &past_window()).await), 140);
    let ahead = Credentials {
        timestamp: unix_now() + 3600,
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &ahead.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 0, "{body}");
    assert!(gateway.now() > beijing_time::now() + chrono::Duration::minutes(59));
}

#[tokio::test]
async fn late_visibility_hides_a_change_until_the_lag_passes() {
    let lag = std::time::Duration::from_secs(1);
    let config = OpenApiConfig {
        visibility_lag: lag,
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(10)).unwrap();
    let o_id = gateway.shop().lock().unwrap().o_ids()[3].clone();
    let by_id = json!({"o_ids": [o_id.parse::<u64>().unwrap()]});
    let original = orders(&query(&gateway, &by_id).await)[0].clone();

    let changed_at = std::time::Instant::now();
    assert!(
        gateway
            .shop()
            .lock()
            .unwrap()
            .modify(&o_id, beijing_time::now())
    );
    let hidden = orders(&query(&gateway, &by_id).await)[0].clone();
    assert_eq!(hidden, original, "the change is not visible yet");

    let deadline = changed_at + std::time::Duration::from_secs(5);
    loop {
        let seen = orders(&query(&gateway, &by_id).await)[0].clone();
        if seen != original {
            assert!(changed_at.elapsed() >= lag, "visible only after the lag");
            assert!(seen["ts"].as_u64() > original["ts"].as_u64());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change never became visible"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
