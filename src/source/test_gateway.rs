//! A throwaway Qimen gateway for the source's unit tests: real HTTP on 127.0.0.1, checks the
//! signature of every call like the real router, then answers whatever the test scripts.
//! [`Shop`] is a tiny model shop that answers window and `ts` queries by offset, so tests can
//! change it between calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::beijing_time;
use crate::secret::Secret;
use crate::source::qimen::sign::{self, SignMethod};

pub const SECRET: &str = "test-secret-do-not-print";

/// One call as the gateway received it.
#[derive(Clone, Debug)]
pub struct Call {
    /// 0-based arrival number.
    pub number: usize,
    pub params: BTreeMap<String, String>,
    pub content_type: String,
    pub arrived: std::time::Instant,
}

impl Call {
    pub fn param(&self, key: &str) -> &str {
        self.params.get(key).map_or("", String::as_str)
    }
}

/// What the gateway answers.
pub enum Reply {
    Json(Value),
    Status(u16, String),
    Raw(String),
}

type Script = dyn Fn(&Call) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    calls: Mutex<Vec<Call>>,
}

/// A running test gateway; stops when dropped.
pub struct TestGateway {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl TestGateway {
    /// Serves `script` for every correctly signed call; a badly signed one gets code 25.
    pub async fn start(script: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .route("/router/qm", axum::routing::post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/router/qm", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url,
            shared,
            server,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let params: BTreeMap<String, String> = pairs.into_iter().collect();
    let call = {
        let mut calls = shared.calls.lock().unwrap();
        let call = Call {
            number: calls.len(),
            params: params.clone(),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            arrived: std::time::Instant::now(),
        };
        calls.push(call.clone());
        call
    };
    let method = SignMethod::from_param(call.param("sign_method")).unwrap_or_default();
    let expected = sign::sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &Secret::new(SECRET),
        method,
    );
    let reply = if call.param("sign") != expected {
        Reply::Json(failure(25, "Invalid signature"))
    } else {
        (shared.script)(&call)
    };
    match reply {
        Reply::Json(value) => (
            [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
            value.to_string(),
        )
            .into_response(),
        Reply::Status(status, body) => {
            (StatusCode::from_u16(status).unwrap(), body).into_response()
        }
        Reply::Raw(body) => body.into_response(),
    }
}

pub fn failure(code: i64, message: &str) -> Value {
    json!({"response": {"flag": "failure", "code": code, "message": message, "request_id": "test-req"}})
}

/// A success envelope with the paging fields beside the orders.
pub fn success(orders: Vec<Value>, data_count: u64, page_index: u64, page_size: u64) -> Value {
    let page_count = data_count.div_ceil(page_size.max(1));
    json!({"response": {
        "flag": "success", "code": 0, "message": "", "request_id": "test-req",
        "page_size": page_size, "page_index": page_index, "data_count": data_count,
        "page_count": page_count, "has_next": page_index < page_count, "orders": orders,
    }})
}

/// One order of the model shop.
#[derive(Clone, Debug)]
pub struct ShopOrder {
    pub o_id: u64,
    pub modified: NaiveDateTime,
    pub ts: i64,
}

impl ShopOrder {
    pub fn to_json(&self) -> Value {
        json!({"o_id": self.o_id.to_string(), "so_id": format!("SO{}", self.o_id),
               "modified": beijing_time::format(self.modified), "ts": self.ts})
    }
}

/// A model shop answering `jushuitan.order.list.query` by offset, like the real one.
#[derive(Clone, Debug, Default)]
pub struct Shop {
    pub orders: Vec<ShopOrder>,
}

impl Shop {
    pub fn answer(&self, call: &Call) -> Value {
        let page_index: u64 = call.param("page_index").parse().unwrap();
        let page_size: u64 = call.param("page_size").parse().unwrap();
        let mut rows: Vec<&ShopOrder> = if let Ok(start_ts) = call.param("start_ts").parse::<i64>()
        {
            let mut rows: Vec<&ShopOrder> =
                self.orders.iter().filter(|o| o.ts >= start_ts).collect();
            rows.sort_by_key(|o| (o.ts, o.o_id));
            rows
        } else {
            let start = beijing_time::parse(call.param("start_time")).unwrap();
            let end = beijing_time::parse(call.param("end_time")).unwrap();
            assert!(
                end - start <= chrono::Duration::days(7),
                "window over 7 days"
            );
            self.orders
                .iter()
                .filter(|o| start <= o.modified && o.modified <= end)
                .collect()
        };
        if call.params.contains_key("start_time") {
            rows.sort_by_key(|o| (o.modified, o.o_id));
        }
        let count = rows.len() as u64;
        let offset = ((page_index - 1) * page_size) as usize;
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(page_size as usize)
            .map(|o| o.to_json())
            .collect();
        success(page, count, page_index, page_size)
    }
}
