//! The fake gateway over real HTTP: a signed client's view of paging, refusals, limits, churn,
//! late visibility and the `ts` cursor.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde_json::Value;

use super::config::ORDER_LIST_METHOD;
use super::*;
use crate::beijing_time;
use crate::sign::{SignMethod, sign};

fn hours_ago(hours: i64) -> NaiveDateTime {
    beijing_time::now() - chrono::Duration::hours(hours)
}

fn format(time: NaiveDateTime) -> String {
    beijing_time::format(time)
}

/// A shop of `count` orders modified between three and two days ago.
fn past_shop(count: usize) -> Shop {
    Shop::generate(7, count, hours_ago(72), hours_ago(48))
}

/// The window that holds every order of [`past_shop`].
fn past_window() -> [(&'static str, String); 2] {
    [
        ("start_time", format(hours_ago(73))),
        ("end_time", format(hours_ago(47))),
    ]
}

/// A request as a correct client sends it: system parameters, `business`, then `sign`.
fn signed(
    config: &GatewayConfig,
    business: &[(&str, String)],
    method: SignMethod,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("method", ORDER_LIST_METHOD.to_owned()),
        ("app_key", config.app_key.clone()),
        ("target_app_key", config.target_app_key.clone()),
        ("customer_id", config.customer_id.clone()),
        ("timestamp", format(beijing_time::now())),
        ("format", "json".to_owned()),
        ("v", "2.0".to_owned()),
        ("sign_method", method.as_param().to_owned()),
    ]
    .into_iter()
    .chain(business.iter().cloned())
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let signature = sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &config.secret,
        method,
    );
    params.push(("sign".to_owned(), signature));
    params
}

/// A plain-HTTP client; reqwest still wants a TLS crypto provider installed to build one.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn post_raw(gateway: &FakeGateway, params: &[(String, String)]) -> (u16, String) {
    let response = http_client()
        .post(gateway.url())
        .form(params)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Posts a signed request and returns the `response` object.
async fn call(gateway: &FakeGateway, business: &[(&str, String)]) -> Value {
    let params = signed(gateway.config(), business, SignMethod::Md5);
    let (status, body) = post_raw(gateway, &params).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    body["response"].clone()
}

fn code(response: &Value) -> i64 {
    response["code"].as_i64().expect("a numeric code")
}

fn o_ids(response: &Value) -> Vec<String> {
    response["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["o_id"].as_str().unwrap().to_owned())
        .collect()
}

fn unlimited() -> GatewayConfig {
    GatewayConfig::unlimited()
}

#[tokio::test]
async fn a_signed_request_gets_pages_of_25_with_paging_facts() {
    let gateway = FakeGateway::start(unlimited(), past_shop(60)).unwrap();
    let first = call(&gateway, &past_window()).await;
    assert_eq!(
        (first["flag"].as_str(), code(&first)),
        (Some("success"), 0),
        "{first}"
    );
    assert_eq!(first["orders"].as_array().unwrap().len(), 25);
    assert_eq!(
        (first["data_count"].as_u64(), first["page_count"].as_u64()),
        (Some(60), Some(3))
    );
    assert_eq!(first["has_next"], Value::Bool(true));

    let [start, end] = past_window();
    let last = call(&gateway, &[start, end, ("page_index", "3".to_owned())]).await;
    assert_eq!(last["orders"].as_array().unwrap().len(), 10);
    assert_eq!(last["has_next"], Value::Bool(false));

    let modified: Vec<&str> = first["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["modified"].as_str().unwrap())
        .collect();
    assert!(modified.is_sorted(), "orders come by modified ascending");
    gateway.shutdown().await;
}

#[tokio::test]
async fn every_sign_method_is_accepted_and_an_unknown_one_is_refused() {
    let gateway = FakeGateway::start(unlimited(), past_shop(5)).unwrap();
    for method in [SignMethod::Md5, SignMethod::HmacMd5, SignMethod::HmacSha256] {
        let (_, body) = post_raw(&gateway, &signed(gateway.config(), &past_window(), method)).await;
        assert!(
            body.contains(r#""flag":"success""#) || body.contains(r#""code":0"#),
            "{method:?}: {body}"
        );
    }
    let mut params = signed(gateway.config(), &past_window(), SignMethod::Md5);
    params
        .iter_mut()
        .filter(|(k, _)| k == "sign_method")
        .for_each(|(_, v)| *v = "sha1".to_owned());
    let (_, body) = post_raw(&gateway, &params).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["response"]["code"],
        25
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_code_25() {
    let gateway = FakeGateway::start(unlimited(), past_shop(5)).unwrap();
    let mut client_config = gateway.config().clone();
    client_config.secret = crate::secret::Secret::new("not-the-secret");
    let (_, body) = post_raw(
        &gateway,
        &signed(&client_config, &past_window(), SignMethod::Md5),
    )
    .await;
    let response = &serde_json::from_str::<Value>(&body).unwrap()["response"];
    assert_eq!(
        (response["flag"].as_str(), code(response)),
        (Some("failure"), 25)
    );
    assert_eq!(response["message"], "Invalid signature");
    assert_eq!(gateway.stats().calls_with_code(25), 1);
}

#[tokio::test]
async fn system_parameter_refusals_use_the_gateway_codes() {
    let gateway = FakeGateway::start(unlimited(), past_shop(5)).unwrap();
    let with = |edit: &dyn Fn(&mut GatewayConfig)| {
        let mut config = gateway.config().clone();
        edit(&mut config);
        signed(&config, &past_window(), SignMethod::Md5)
    };
    let cases: Vec<(Vec<(String, String)>, i64)> = vec![
        (with(&|c| c.app_key = "someone-else".into()), 29),
        (with(&|c| c.target_app_key = "1".into()), 11),
        (with(&|c| c.customer_id = "1".into()), 11),
        (
            signed(
                gateway.config(),
                &[
                    ("page_size", "x".into()),
                    past_window()[0].clone(),
                    past_window()[1].clone(),
                ],
                SignMethod::Md5,
            ),
            41,
        ),
    ];
    for (params, expected) in cases {
        let (_, body) = post_raw(&gateway, &params).await;
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["response"]["code"],
            expected,
            "{body}"
        );
    }
    let mut stale = signed(gateway.config(), &past_window(), SignMethod::Md5);
    let stale_time = format(beijing_time::now() - chrono::Duration::minutes(11));
    stale.retain(|(k, _)| k != "timestamp" && k != "sign");
    stale.push(("timestamp".into(), stale_time));
    let signature = sign(
        stale.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &gateway.config().secret,
        SignMethod::Md5,
    );
    stale.push(("sign".into(), signature));
    let (_, body) = post_raw(&gateway, &stale).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["response"]["code"],
        31,
        "{body}"
    );
}

#[tokio::test]
async fn a_window_of_eight_days_is_refused_as_an_invalid_argument() {
    // 140 is the backend's invalid timestamp (qimen-protocol.md, corrected): an over-long
    // window is an argument error.
    let gateway = FakeGateway::start(unlimited(), past_shop(5)).unwrap();
    let window = [
        ("start_time", format(hours_ago(8 * 24))),
        ("end_time", format(hours_ago(0))),
    ];
    let response = call(&gateway, &window).await;
    assert_eq!(code(&response), 41);
    assert!(
        response["message"].as_str().unwrap().contains("7 days"),
        "{response}"
    );
}

#[tokio::test]
async fn page_size_26_is_refused_as_an_invalid_argument_naming_page_size() {
    let gateway = FakeGateway::start(unlimited(), past_shop(5)).unwrap();
    let [start, end] = past_window();
    let response = call(&gateway, &[start, end, ("page_size", "26".to_owned())]).await;
    assert_eq!(code(&response), 41);
    assert!(
        response["message"].as_str().unwrap().contains("page_size"),
        "{response}"
    );
}

#[tokio::test]
async fn the_sixth_call_within_a_second_gets_code_199() {
    let gateway = FakeGateway::start(GatewayConfig::default(), past_shop(5)).unwrap();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(code(&call(&gateway, &past_window()).await));
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
async fn without_format_json_the_answer_is_xml() {
    let gateway = FakeGateway::start(unlimited(), past_shop(3)).unwrap();
    let mut params = signed(gateway.config(), &past_window(), SignMethod::Md5);
    params.retain(|(k, _)| k != "format" && k != "sign");
    let signature = sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &gateway.config().secret,
        SignMethod::Md5,
    );
    params.push(("sign".into(), signature));
    let (_, body) = post_raw(&gateway, &params).await;
    assert!(
        body.starts_with("<?xml") && body.contains("<flag>success</flag>"),
        "{body}"
    );
    assert!(serde_json::from_str::<Value>(&body).is_err());
}

#[tokio::test]
async fn paging_under_data_puts_the_paging_fields_and_orders_under_data() {
    let config = GatewayConfig {
        paging_under_data: true,
        ..unlimited()
    };
    let gateway = FakeGateway::start(config, past_shop(30)).unwrap();
    let response = call(&gateway, &past_window()).await;
    assert_eq!(response["data"]["data_count"], 30);
    assert_eq!(response["data"]["orders"].as_array().unwrap().len(), 25);
    assert!(response.get("orders").is_none());
}

#[tokio::test]
async fn churn_moves_an_order_out_of_a_past_window_between_two_requests() {
    let gateway = FakeGateway::start(unlimited(), past_shop(30)).unwrap();
    let before = call(&gateway, &past_window()).await;
    assert_eq!(before["data_count"], 30);

    gateway.set_churn(Churn {
        changes_per_request: 1,
        arrivals_per_request: 1,
    });
    let after = call(&gateway, &past_window()).await;
    gateway.set_churn(Churn::default());
    assert_eq!(after["data_count"], 29, "the changed order left the window");
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        assert_eq!(shop.len(), 31, "one order arrived");
        let moved: Vec<Value> = shop
            .visible_orders()
            .into_iter()
            .filter(|order| {
                beijing_time::parse(order["modified"].as_str().unwrap()).unwrap() > hours_ago(1)
            })
            .collect();
        assert_eq!(
            moved.len(),
            2,
            "the changed and the new order are modified now"
        );
    }
    let quiet = call(&gateway, &past_window()).await;
    assert_eq!(quiet["data_count"], 29, "no churn once switched off");
}

#[tokio::test]
async fn late_visibility_hides_a_change_until_the_lag_passes() {
    let lag = Duration::from_secs(1);
    let config = GatewayConfig {
        visibility_lag: lag,
        ..unlimited()
    };
    let gateway = FakeGateway::start(config, past_shop(10)).unwrap();
    let o_id = gateway.shop().lock().unwrap().o_ids()[3].clone();
    let by_id = [("o_ids", o_id.clone())];
    let original = call(&gateway, &by_id).await["orders"][0].clone();

    let changed_at = Instant::now();
    assert!(
        gateway
            .shop()
            .lock()
            .unwrap()
            .modify(&o_id, beijing_time::now())
    );
    let hidden = call(&gateway, &by_id).await["orders"][0].clone();
    assert_eq!(hidden, original, "the change is not visible yet");

    let deadline = changed_at + Duration::from_secs(5);
    loop {
        let seen = call(&gateway, &by_id).await["orders"][0].clone();
        if seen != original {
            assert!(changed_at.elapsed() >= lag, "visible only after the lag");
            assert!(seen["ts"].as_u64() > original["ts"].as_u64());
            break;
        }
        assert!(Instant::now() < deadline, "the change never became visible");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn start_ts_returns_orders_with_ts_from_the_cursor_sorted_by_ts() {
    let gateway = FakeGateway::start(unlimited(), past_shop(40)).unwrap();
    let changed = gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(3, beijing_time::now());
    let cursor = gateway.shop().lock().unwrap().max_ts() - 2;
    let response = call(
        &gateway,
        &[
            ("start_ts", cursor.to_string()),
            ("is_get_total", "false".to_owned()),
        ],
    )
    .await;
    let ts: Vec<u64> = response["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["ts"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ts,
        [cursor, cursor + 1, cursor + 2],
        "the three changes, oldest first"
    );
    let mut seen = o_ids(&response);
    let mut changed = changed;
    seen.sort();
    changed.sort();
    assert_eq!(seen, changed);
    assert_eq!(
        (
            response["data_count"].as_u64(),
            response["page_count"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn injected_faults_give_server_errors_and_truncated_bodies() {
    let faults = Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    };
    let gateway = FakeGateway::start(
        GatewayConfig {
            faults,
            ..unlimited()
        },
        past_shop(3),
    )
    .unwrap();
    let (status, _) = post_raw(
        &gateway,
        &signed(gateway.config(), &past_window(), SignMethod::Md5),
    )
    .await;
    assert!([500, 502, 503].contains(&status));

    let faults = Faults {
        truncated_body_probability: 1.0,
        ..Faults::default()
    };
    let gateway = FakeGateway::start(
        GatewayConfig {
            faults,
            ..unlimited()
        },
        past_shop(3),
    )
    .unwrap();
    let (status, body) = post_raw(
        &gateway,
        &signed(gateway.config(), &past_window(), SignMethod::Md5),
    )
    .await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(gateway.stats().truncated_bodies, 1);
}

#[test]
fn the_same_seed_generates_the_same_orders() {
    let (from, to) = (hours_ago(100), hours_ago(1));
    let mut first = Shop::generate(42, 200, from, to);
    let mut second = Shop::generate(42, 200, from, to);
    assert_eq!(first.visible_orders(), second.visible_orders());
    assert_ne!(
        first.visible_orders(),
        Shop::generate(43, 200, from, to).visible_orders()
    );
}

#[test]
fn generated_orders_look_like_qimen_orders() {
    let mut shop = Shop::generate(1, 300, hours_ago(100), hours_ago(1));
    for order in shop.visible_orders() {
        assert!(order["o_id"].as_str().unwrap().parse::<u64>().is_ok());
        assert!(
            order["ts"].is_u64() && order["pay_amount"].is_string() && order["freight"].is_number()
        );
        assert!((1..=4).contains(&order["items"].as_array().unwrap().len()));
        assert!((1..=2).contains(&order["pays"].as_array().unwrap().len()));
        assert!(order["items"][0]["is_gift"].is_string());
        let modified = beijing_time::parse(order["modified"].as_str().unwrap()).unwrap();
        assert!(modified >= hours_ago(101) && modified <= hours_ago(0));
        if order["status"] != "Sent" {
            assert!(
                order.get("send_date").is_none_or(|date| date == ""),
                "{order}"
            );
        }
    }
}

#[test]
fn a_poisoned_field_is_served_as_set() {
    let mut shop = past_shop(3);
    let o_id = shop.o_ids()[0].clone();
    assert!(shop.set_field(
        &o_id,
        "modified",
        Value::String("0000-00-00 00:00:00".into())
    ));
    assert!(shop.remove_field(&o_id, "pay_amount"));
    let order = shop.get_visible(&o_id).unwrap();
    assert_eq!(order["modified"], "0000-00-00 00:00:00");
    assert!(order.get("pay_amount").is_none());
    assert_eq!(
        shop.visible_orders().len(),
        3,
        "the poisoned order keeps its place"
    );
}
