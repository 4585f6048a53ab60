//! The fake open platform over real HTTP: a signed client's view of paging, refusals, tokens,
//! limits, faults, the `ts` cursor and a shop shared with the Qimen fake.

mod live;
mod queries;
mod refusals;
mod tokens;

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
