//! [`OpenApiGateway`]: serves `/open/orders/single/query` and `/openWeb/auth/refreshToken` over
//! real HTTP on loopback, checking requests in the platform's order and answering with its
//! `{code, msg, data}` envelopes, tokens, limits and faults.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::{ORDER_QUERY_PATH, OpenApiConfig, REFRESH_TOKEN_PATH, TOKEN_EXPIRES_IN, codes};
use super::orders::to_open_platform;
use super::query;
use super::sign::sign;
use super::stats::{self, OpenApiStats, RefreshCounts};
use crate::beijing_time;
use crate::call_times::CallTimes;
use crate::config::{Churn, ResponseDelay};
use crate::envelope::{self, BodyFormat};
use crate::order_query::Refusal;
use crate::secret::Secret;
use crate::server::{lock, merge_params};
use crate::shop::{SharedShop, Shop};
use crate::stats::{Outcome, StatsRecorder};

/// A running fake open platform. Dropping it stops the server; [`shutdown`](Self::shutdown)
/// also waits for it to finish.
#[derive(Debug)]
pub struct OpenApiGateway {
    address: SocketAddr,
    state: Arc<OpenApiState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl OpenApiGateway {
    /// Binds `config.bind` and serves `shop` in a task on the current tokio runtime (either
    /// flavour). Fails outside a runtime. The shop's visibility lag is set from the config.
    pub fn start(config: OpenApiConfig, mut shop: Shop) -> io::Result<Self> {
        shop.set_visibility_lag(config.visibility_lag);
        Self::start_sharing(config, Arc::new(Mutex::new(shop)))
    }

    /// Serves the same shop a Qimen [`FakeGateway`](crate::FakeGateway) serves (one merchant,
    /// two routes). The shop's visibility lag is left as its owner set it; each gateway applies
    /// its own churn.
    pub fn start_sharing(config: OpenApiConfig, shop: SharedShop) -> io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|error| {
            io::Error::other(format!(
                "the fake open platform needs a tokio runtime: {error}"
            ))
        })?;
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = Arc::new(OpenApiState {
            tokens: Mutex::new(Tokens {
                access: config.access_token.clone(),
                access_valid: true,
                refresh: config.refresh_token.clone(),
            }),
            churn: Mutex::new(config.churn),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            shop,
            stats: Mutex::default(),
            refresh_counts: Mutex::default(),
            accepted_calls: Mutex::default(),
            issued_tokens: AtomicU64::new(0),
        });
        let router = Router::new()
            .route(ORDER_QUERY_PATH, post(order_query))
            .route(REFRESH_TOKEN_PATH, post(refresh_token))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::debug!(%address, "Fake open platform listening.");
        Ok(Self {
            address,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT` (no path).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn config(&self) -> &OpenApiConfig {
        &self.state.config
    }

    /// The shop being served; tests may change it while the server runs.
    pub fn shop(&self) -> SharedShop {
        Arc::clone(&self.state.shop)
    }

    pub fn stats(&self) -> OpenApiStats {
        let orders = lock(&self.state.stats).snapshot();
        stats::combine(orders, &lock(&self.state.refresh_counts))
    }

    /// The platform's Beijing "now" (real time plus the configured clock offset).
    pub fn now(&self) -> NaiveDateTime {
        beijing_time::now() + self.state.config.clock_offset
    }

    /// Changes the churn applied before each successful page request from now on.
    pub fn set_churn(&self, churn: Churn) {
        *lock(&self.state.churn) = churn;
    }

    pub fn churn(&self) -> Churn {
        *lock(&self.state.churn)
    }

    /// The current access token stops working (code 100) until refreshed.
    pub fn expire_token(&self) {
        lock(&self.state.tokens).access_valid = false;
    }

    /// The access token valid now (changes after a refresh; still the latest one after
    /// [`expire_token`](Self::expire_token)).
    pub fn current_access_token(&self) -> String {
        lock(&self.state.tokens).access.expose().to_owned()
    }

    /// The refresh token that renews the current access token now (changes after a refresh).
    pub fn current_refresh_token(&self) -> Option<String> {
        lock(&self.state.tokens)
            .refresh
            .as_ref()
            .map(|token| token.expose().to_owned())
    }

    /// Stops accepting calls, lets calls in flight finish (up to 5 s) and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => {
                    tracing::warn!(%error, "Fake open platform stopped with an error.")
                }
                Ok(Err(error)) => tracing::warn!(%error, "Fake open platform task failed."),
                Err(_) => task.abort(),
            }
        }
    }
}

impl Drop for OpenApiGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug)]
struct OpenApiState {
    config: OpenApiConfig,
    shop: SharedShop,
    tokens: Mutex<Tokens>,
    churn: Mutex<Churn>,
    /// Drives faults, delays, key shuffling and the tokens issued.
    rng: Mutex<StdRng>,
    /// The order query's counters.
    stats: Mutex<StatsRecorder>,
    refresh_counts: Mutex<RefreshCounts>,
    /// Order queries that passed the rate limits, for the limits.
    accepted_calls: Mutex<CallTimes>,
    issued_tokens: AtomicU64,
}

/// The merchant's token pair as the platform knows it now.
#[derive(Debug)]
struct Tokens {
    access: Secret,
    /// False after [`OpenApiGateway::expire_token`] until the next refresh.
    access_valid: bool,
    refresh: Option<Secret>,
}

async fn order_query(State(state): State<Arc<OpenApiState>>, uri: Uri, body: Bytes) -> Response {
    lock(&state.stats).record_arrival(Instant::now());
    if let Some(delay) = state.response_delay() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = state.injected_server_error() {
        lock(&state.stats).record_outcome(Outcome::ServerError);
        let reason = status.canonical_reason().unwrap_or("error");
        return (
            status,
            [(header::CONTENT_TYPE, "text/html")],
            format!(
                "<html><body><h1>{} {reason}</h1></body></html>",
                status.as_u16()
            ),
        )
            .into_response();
    }
    let params = merge_params(uri.query(), &body);
    let (body, outcome) = match state.answer_order_query(&params) {
        Ok(data) => (success(data), Outcome::Success { truncated: false }),
        Err(refusal) => (failure(&refusal), Outcome::Failure { code: refusal.code }),
    };
    let mut text = state.render(&body);
    let truncated = lock(&state.rng).random_bool(
        state
            .config
            .faults
            .truncated_body_probability
            .clamp(0.0, 1.0),
    );
    if truncated {
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let outcome = match outcome {
        Outcome::Success { .. } => Outcome::Success { truncated },
        other => other,
    };
    lock(&state.stats).record_outcome(outcome);
    state.respond(text)
}

async fn refresh_token(State(state): State<Arc<OpenApiState>>, uri: Uri, body: Bytes) -> Response {
    lock(&state.refresh_counts).calls += 1;
    let params = merge_params(uri.query(), &body);
    let body = match state.answer_refresh(&params) {
        Ok(data) => {
            lock(&state.refresh_counts).refreshes += 1;
            success(data)
        }
        Err(refusal) => {
            *lock(&state.refresh_counts)
                .refusals_by_code
                .entry(refusal.code)
                .or_default() += 1;
            failure(&refusal)
        }
    };
    let text = state.render(&body);
    state.respond(text)
}

/// `{"code":0,"msg":"执行成功","data":…}`.
fn success(data: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), Value::Number(Number::from(codes::SUCCESS)));
    body.insert("msg".into(), "执行成功".into());
    body.insert("data".into(), Value::Object(data));
    Value::Object(body)
}

/// `{"code":N,"msg":"…","data":null}`.
fn failure(refusal: &Refusal) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), Value::Number(Number::from(refusal.code)));
    body.insert("msg".into(), refusal.message.clone().into());
    body.insert("data".into(), Value::Null);
    Value::Object(body)
}

impl OpenApiState {
    fn render(&self, body: &Value) -> String {
        let mut rng = lock(&self.rng);
        let shuffle = self.config.shuffle_keys.then_some(&mut *rng);
        envelope::render(body, BodyFormat::Json, shuffle)
    }

    fn respond(&self, text: String) -> Response {
        // The platform's own clock, as a client reads it to tell how far off its clock is.
        let date = (chrono::Utc::now() + self.config.clock_offset)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::DATE, date.as_str()),
            ],
            text,
        )
            .into_response()
    }

    fn response_delay(&self) -> Option<Duration> {
        match self.config.faults.delay {
            ResponseDelay::None => None,
            ResponseDelay::Fixed(delay) => Some(delay),
            ResponseDelay::Random { min, max } if min < max => {
                Some(lock(&self.rng).random_range(min..=max))
            }
            ResponseDelay::Random { min, .. } => Some(min),
        }
    }

    fn injected_server_error(&self) -> Option<StatusCode> {
        let mut rng = lock(&self.rng);
        if !rng.random_bool(self.config.faults.server_error_probability.clamp(0.0, 1.0)) {
            return None;
        }
        let statuses = [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
        ];
        Some(statuses[rng.random_range(0..statuses.len())])
    }

    /// Checks an order query in the platform's order and answers it with a page.
    ///
    /// The order (decided where the protocol is silent): `app_key` and `sign` (10),
    /// `timestamp` (140), `charset` and `version` (120), `access_token` (100), the rate
    /// limits (199, 200; a refused call does not count against them), the throttle fault
    /// (199), then `biz` (120).
    fn answer_order_query(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<Map<String, Value>, Refusal> {
        self.check_signature(params)?;
        self.check_timestamp(params)?;
        check_charset(params)?;
        if params.get("version").map(String::as_str) != Some("2") {
            return Err(Refusal::new(
                codes::INVALID_ARGUMENTS,
                "参数错误: version must be 2",
            ));
        }
        self.check_access_token(params)?;
        self.check_rate_limits()?;
        if lock(&self.rng).random_bool(self.config.faults.throttle_probability.clamp(0.0, 1.0)) {
            return Err(too_many_calls_per_second(
                self.config.rate_limits.per_second.unwrap_or(5),
            ));
        }
        let biz = params
            .get("biz")
            .ok_or_else(|| Refusal::new(codes::INVALID_ARGUMENTS, "参数错误: biz is required"))?;
        let query = query::parse(biz, &self.config)?;

        let churn = *lock(&self.churn);
        let now = beijing_time::now() + self.config.clock_offset;
        let mut shop = lock(&self.shop);
        if churn.changes_per_request > 0 {
            shop.modify_random(churn.changes_per_request, now);
        }
        if churn.arrivals_per_request > 0 {
            shop.add_random(churn.arrivals_per_request, now);
        }
        let page = shop.page(&query);
        drop(shop);

        let (data_count, page_count) = if query.is_get_total {
            (
                page.data_count,
                page.data_count.div_ceil(u64::from(query.page_size)),
            )
        } else {
            (0, 0)
        };
        let orders = page.orders.into_iter().map(to_open_platform).collect();
        let mut data = Map::new();
        data.insert("page_size".into(), Number::from(query.page_size).into());
        data.insert("page_index".into(), Number::from(query.page_index).into());
        data.insert("data_count".into(), Number::from(data_count).into());
        data.insert("page_count".into(), Number::from(page_count).into());
        data.insert("has_next".into(), Value::Bool(page.has_next));
        data.insert("orders".into(), Value::Array(orders));
        Ok(data)
    }

    /// Checks a refresh and issues a new token pair: `app_key` and `sign` (10), `timestamp`
    /// (140), `charset`, `grant_type=refresh_token` and `scope=all` (120), a service-provider
    /// app (150), the refresh token (100). The old pair stops working.
    fn answer_refresh(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<Map<String, Value>, Refusal> {
        self.check_signature(params)?;
        self.check_timestamp(params)?;
        check_charset(params)?;
        for (name, expected) in [("grant_type", "refresh_token"), ("scope", "all")] {
            if params.get(name).map(String::as_str) != Some(expected) {
                return Err(Refusal::new(
                    codes::INVALID_ARGUMENTS,
                    format!("参数错误: {name} must be {expected}"),
                ));
            }
        }
        if !self.config.refresh_allowed {
            return Err(Refusal::new(
                codes::REFRESH_NOT_ALLOWED,
                "服务商应用不允许刷新token，请重新授权",
            ));
        }
        let mut tokens = lock(&self.tokens);
        let given = params.get("refresh_token").map(String::as_str);
        let known = tokens.refresh.as_ref().map(Secret::expose);
        if given.is_none() || given != known {
            return Err(Refusal::new(
                codes::INVALID_TOKEN,
                "refresh_token无效或已过期",
            ));
        }
        let sequence = self.issued_tokens.fetch_add(1, Ordering::Relaxed) + 1;
        let (access_salt, refresh_salt): (u64, u64) = {
            let mut rng = lock(&self.rng);
            (rng.random(), rng.random())
        };
        let access = format!("fake-access-token-{sequence}-{access_salt:016x}");
        let refresh = format!("fake-refresh-token-{sequence}-{refresh_salt:016x}");
        *tokens = Tokens {
            access: Secret::new(access.clone()),
            access_valid: true,
            refresh: Some(Secret::new(refresh.clone())),
        };
        drop(tokens);
        let mut data = Map::new();
        data.insert("access_token".into(), access.into());
        data.insert("expires_in".into(), Number::from(TOKEN_EXPIRES_IN).into());
        data.insert("refresh_token".into(), refresh.into());
        data.insert("scope".into(), "all".into());
        Ok(data)
    }

    /// A missing or unknown `app_key` is answered as a bad signature: without the app there
    /// is no secret to check the signature with.
    fn check_signature(&self, params: &BTreeMap<String, String>) -> Result<(), Refusal> {
        if params.get("app_key") != Some(&self.config.app_key) {
            return Err(Refusal::new(
                codes::INVALID_SIGNATURE,
                "签名错误: unknown app_key",
            ));
        }
        let expected = sign(
            params
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
            &self.config.app_secret,
        );
        match params.get("sign") {
            Some(given) if *given == expected => Ok(()),
            _ => Err(Refusal::new(codes::INVALID_SIGNATURE, "签名错误")),
        }
    }

    fn check_timestamp(&self, params: &BTreeMap<String, String>) -> Result<(), Refusal> {
        let now = chrono::Utc::now().timestamp() + self.config.clock_offset.num_seconds();
        let tolerance = self.config.timestamp_tolerance.num_seconds();
        let on_time = params
            .get("timestamp")
            .and_then(|text| text.parse::<i64>().ok())
            .is_some_and(|timestamp| (timestamp - now).abs() <= tolerance);
        if on_time {
            Ok(())
        } else {
            Err(Refusal::new(
                codes::INVALID_TIMESTAMP,
                "验证失败！无效的timestamp，请求最大时间误差15分钟",
            ))
        }
    }

    fn check_access_token(&self, params: &BTreeMap<String, String>) -> Result<(), Refusal> {
        let tokens = lock(&self.tokens);
        let valid = tokens.access_valid
            && params.get("access_token").map(String::as_str) == Some(tokens.access.expose());
        if valid {
            Ok(())
        } else {
            Err(Refusal::new(
                codes::INVALID_TOKEN,
                "access_token无效或已过期",
            ))
        }
    }

    fn check_rate_limits(&self) -> Result<(), Refusal> {
        let limits = self.config.rate_limits;
        let now = Instant::now();
        let mut accepted = lock(&self.accepted_calls);
        let over = |limit: Option<u32>, window: Duration| {
            limit.is_some_and(|limit| accepted.count_within(now, window) >= limit as usize)
        };
        if over(limits.per_second, Duration::from_secs(1)) {
            return Err(too_many_calls_per_second(
                limits.per_second.unwrap_or_default(),
            ));
        }
        if over(limits.per_minute, Duration::from_secs(60)) {
            let limit = limits.per_minute.unwrap_or_default();
            return Err(Refusal::new(
                codes::TOO_MANY_CALLS_PER_MINUTE,
                format!("接口调用频率超限: 每分钟最多{limit}次"),
            ));
        }
        accepted.push(now);
        Ok(())
    }
}

fn too_many_calls_per_second(limit: u32) -> Refusal {
    Refusal::new(
        codes::TOO_MANY_CALLS_PER_SECOND,
        format!("接口调用频率超限: 每秒最多{limit}次"),
    )
}

fn check_charset(params: &BTreeMap<String, String>) -> Result<(), Refusal> {
    match params.get("charset") {
        Some(charset) if charset.eq_ignore_ascii_case("utf-8") => Ok(()),
        _ => Err(Refusal::new(
            codes::INVALID_ARGUMENTS,
            "参数错误: charset must be utf-8",
        )),
    }
}
