//! [`FakeGateway`]: serves `jushuitan.order.list.query` over real HTTP on loopback, checking
//! requests in the gateway's order and answering with its envelopes, limits and faults.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::call_times::CallTimes;
use super::config::{Churn, GatewayConfig, ORDER_LIST_METHOD, ResponseDelay, codes};
use super::deviations;
use super::envelope::{self, BodyFormat};
use super::order_query::{self, Refusal};
use super::shop::{SharedShop, Shop};
use super::stats::{GatewayStats, Outcome, StatsRecorder};
use crate::beijing_time;
use crate::sign::{SignMethod, sign};

/// A running fake gateway. Dropping it stops the server; [`shutdown`](Self::shutdown) also
/// waits for it to finish.
#[derive(Debug)]
pub struct FakeGateway {
    address: SocketAddr,
    state: Arc<GatewayState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl FakeGateway {
    /// Binds `config.bind` and serves `shop` in a task on the current tokio runtime (either
    /// flavour). Fails outside a runtime. The shop's visibility lag is set from the config.
    pub fn start(config: GatewayConfig, mut shop: Shop) -> io::Result<FakeGateway> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|error| {
            io::Error::other(format!("the fake gateway needs a tokio runtime: {error}"))
        })?;
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        shop.set_visibility_lag(config.visibility_lag);
        let state = Arc::new(GatewayState {
            churn: Mutex::new(config.churn),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            fault_rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0xfa17)),
            config,
            shop: Arc::new(Mutex::new(shop)),
            stats: Mutex::default(),
            accepted_calls: Mutex::default(),
            request_counter: AtomicU64::new(0),
            banned_until: Mutex::new(None),
            bannable_calls: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(handle)
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
        tracing::debug!(%address, "Fake gateway listening.");
        Ok(FakeGateway {
            address,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The router URL, e.g. `http://127.0.0.1:PORT/router/qm` (any path is served).
    pub fn url(&self) -> String {
        format!("http://{}/router/qm", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The shop being served; tests may change it while the server runs.
    pub fn shop(&self) -> SharedShop {
        Arc::clone(&self.state.shop)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.state.config
    }

    pub fn stats(&self) -> GatewayStats {
        lock(&self.state.stats).snapshot()
    }

    /// Bans the app's calls for `length` from now: every call is answered code 7 with the
    /// seconds left (`App Call Limited[This ban will last for N more seconds]`).
    pub fn ban_for(&self, length: Duration) {
        *lock(&self.state.banned_until) = Some(Instant::now() + length);
    }

    /// Changes the churn applied before each successful page request from now on.
    pub fn set_churn(&self, churn: Churn) {
        *lock(&self.state.churn) = churn;
    }

    pub fn churn(&self) -> Churn {
        *lock(&self.state.churn)
    }

    /// The gateway's Beijing "now" (real time plus the configured clock offset).
    pub fn now(&self) -> NaiveDateTime {
        self.state.now()
    }

    /// Stops accepting calls, lets calls in flight finish (up to 5 s) and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => tracing::warn!(%error, "Fake gateway stopped with an error."),
                Ok(Err(error)) => tracing::warn!(%error, "Fake gateway task failed."),
                Err(_) => task.abort(),
            }
        }
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug)]
struct GatewayState {
    config: GatewayConfig,
    shop: SharedShop,
    churn: Mutex<Churn>,
    /// Drives faults, delays, request ids and key shuffling.
    rng: Mutex<StdRng>,
    /// Drives the injected faults alone, so that how many keys a body shuffles (which varies
    /// with the page) never moves which calls fail: the same seed fails the same calls.
    fault_rng: Mutex<StdRng>,
    stats: Mutex<StatsRecorder>,
    /// Calls that passed the rate limits, for the limits.
    accepted_calls: Mutex<CallTimes>,
    request_counter: AtomicU64,
    /// A code 7 ban in force until then.
    banned_until: Mutex<Option<Instant>>,
    /// Accepted calls counted towards the next [`BanRule`](super::BanRule) ban.
    bannable_calls: AtomicU64,
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the cause behind another).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(State(state): State<Arc<GatewayState>>, uri: Uri, body: Bytes) -> Response {
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
    let format = match params.get("format").map(String::as_str) {
        Some("json") => BodyFormat::Json,
        _ => BodyFormat::Xml,
    };
    let request_id = state.next_request_id();
    let (envelope, outcome) = match state.answer(&params, &request_id) {
        Ok(mut envelope) => {
            deviations::untidy_success(
                &mut envelope,
                &state.config.deviations,
                &mut lock(&state.rng),
            );
            (envelope, Outcome::Success { truncated: false })
        }
        Err(refusal) => {
            let outcome = Outcome::Failure { code: refusal.code };
            let envelope = if refusal.code == codes::SERVICE_UNAVAILABLE {
                envelope::top_error(refusal.code, &refusal.message, &request_id)
            } else {
                envelope::failure(refusal.code, &refusal.message, &request_id)
            };
            (envelope, outcome)
        }
    };

    let mut rng = lock(&state.rng);
    let shuffle = state.config.shuffle_keys.then_some(&mut *rng);
    let mut text = envelope::render(&envelope, format, shuffle);
    if matches!(outcome, Outcome::Success { .. }) && format == BodyFormat::Json {
        text = deviations::untidy_text(text, &state.config.deviations, &mut rng);
    }
    drop(rng);
    let truncated = lock(&state.fault_rng).random_bool(
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
    let content_type = match format {
        BodyFormat::Json => "application/json;charset=UTF-8",
        BodyFormat::Xml => "text/xml;charset=UTF-8",
    };
    // The gateway's own clock, as a client reads it to tell how far off its clock is.
    let date = (chrono::Utc::now() + state.config.clock_offset)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::DATE, date.as_str()),
        ],
        text,
    )
        .into_response()
}

/// The form body's fields merged over the query string's (the body wins on a clash).
pub(crate) fn merge_params(query: Option<&str>, body: &[u8]) -> BTreeMap<String, String> {
    let from_query = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    from_query
        .chain(form_urlencoded::parse(body))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

impl GatewayState {
    fn now(&self) -> NaiveDateTime {
        beijing_time::now() + self.config.clock_offset
    }

    fn next_request_id(&self) -> String {
        let sequence = self.request_counter.fetch_add(1, Ordering::Relaxed);
        let salt: u32 = lock(&self.rng).random();
        format!("{sequence:x}{salt:08x}")
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
        let mut rng = lock(&self.fault_rng);
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

    /// Checks a request in the gateway's order and answers it.
    ///
    /// Decided where the protocol is silent: a missing or unknown `customer_id` is code 11 (no
    /// permission), like a wrong `target_app_key`; a missing `v` is 40 and any `v` but `2.0`
    /// is 41; a `format` other than `json` or `xml` is 41 (and, like a missing one, answered
    /// in XML); the rate limits are checked after the system parameters and before the
    /// business ones, and a refused call does not count against them.
    fn answer(
        &self,
        params: &BTreeMap<String, String>,
        request_id: &str,
    ) -> Result<Value, Refusal> {
        self.check_system_parameters(params)?;
        self.check_ban()?;
        self.check_rate_limits()?;
        if lock(&self.fault_rng)
            .random_bool(self.config.faults.throttle_probability.clamp(0.0, 1.0))
        {
            return Err(Refusal::new(codes::THROTTLED, "App Call Limited"));
        }
        let deviations = &self.config.deviations;
        if lock(&self.fault_rng)
            .random_bool(deviations.service_unavailable_probability.clamp(0.0, 1.0))
        {
            return Err(Refusal::new(
                codes::SERVICE_UNAVAILABLE,
                "Service Currently Unavailable",
            ));
        }
        let mut query = order_query::parse(params, &self.config)?;
        let churn = *lock(&self.churn);
        let now = self.now();
        query.archive_before = deviations
            .archive_horizon
            .and_then(|horizon| now.checked_sub_signed(horizon));
        let request_number = self.request_counter.load(Ordering::Relaxed);
        let late = deviations.late_changes.filter(|late| {
            late.every_nth_request > 0 && request_number.is_multiple_of(late.every_nth_request)
        });
        let mut shop = lock(&self.shop);
        if churn.changes_per_request > 0 {
            match late {
                Some(late) => shop.modify_random_late(churn.changes_per_request, now, late.lag),
                None => shop.modify_random(churn.changes_per_request, now),
            };
        }
        if churn.arrivals_per_request > 0 {
            shop.add_random(churn.arrivals_per_request, now);
        }
        let mut page = shop.page(&query);
        drop(shop);
        if deviations.under_reported_count > 0 {
            page.data_count = page
                .data_count
                .saturating_sub(deviations.under_reported_count);
            let before = u64::from(query.page_index - 1) * u64::from(query.page_size);
            page.has_next = before + (page.orders.len() as u64) < page.data_count;
        }
        Ok(envelope::success(
            page,
            query.page_index,
            query.page_size,
            query.is_get_total,
            self.config.paging_under_data,
            request_id,
        ))
    }

    fn check_system_parameters(&self, params: &BTreeMap<String, String>) -> Result<(), Refusal> {
        let config = &self.config;
        let get = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|value| !value.is_empty())
        };
        match get("method") {
            None => return Err(Refusal::new(codes::MISSING_METHOD, "Missing method")),
            Some(ORDER_LIST_METHOD) => {}
            Some(_) => return Err(Refusal::new(codes::INVALID_METHOD, "Invalid method")),
        }
        match get("app_key") {
            None => return Err(Refusal::new(codes::MISSING_APP_KEY, "Missing app key")),
            Some(app_key) if app_key == config.app_key => {}
            Some(_) => return Err(Refusal::new(codes::INVALID_APP_KEY, "Invalid app key")),
        }
        let sign_method = match get("sign_method") {
            None => Some(SignMethod::Md5),
            Some(name) => SignMethod::from_param(name),
        };
        let signed_params = params
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()));
        let signature_ok = match (sign_method, get("sign")) {
            (Some(method), Some(given)) => sign(signed_params, &config.secret, method) == given,
            _ => false,
        };
        if !signature_ok {
            return Err(Refusal::new(codes::INVALID_SIGNATURE, "Invalid signature"));
        }
        let timestamp = get("timestamp")
            .and_then(|text| NaiveDateTime::parse_from_str(text, beijing_time::FORMAT).ok());
        let on_time = timestamp
            .is_some_and(|timestamp| (timestamp - self.now()).abs() <= config.timestamp_tolerance);
        if !on_time {
            return Err(if config.deviations.timestamp_code_140 {
                Refusal::new(
                    codes::JUSHUITAN_INVALID_TIMESTAMP,
                    "验证失败！无效的timestamp，请求最大时间误差15分钟",
                )
            } else {
                Refusal::new(codes::INVALID_TIMESTAMP, "Invalid timestamp")
            });
        }
        if get("target_app_key") != Some(config.target_app_key.as_str()) {
            return Err(Refusal::new(
                codes::NO_PERMISSION,
                "No permission: unknown target_app_key",
            ));
        }
        if get("customer_id") != Some(config.customer_id.as_str()) {
            return Err(Refusal::new(
                codes::NO_PERMISSION,
                "No permission: unknown customer_id",
            ));
        }
        match get("v") {
            None => {
                return Err(Refusal::new(
                    codes::MISSING_ARGUMENTS,
                    "Missing required arguments: v",
                ));
            }
            Some("2.0") => {}
            Some(_) => {
                return Err(Refusal::new(
                    codes::INVALID_ARGUMENTS,
                    "Invalid arguments: v must be 2.0",
                ));
            }
        }
        match get("format") {
            None | Some("json" | "xml") => Ok(()),
            Some(_) => Err(Refusal::new(
                codes::INVALID_ARGUMENTS,
                "Invalid arguments: format must be json or xml",
            )),
        }
    }

    /// A ban in force answers code 7 with its seconds left; a [`BanRule`](super::BanRule)
    /// starts one every so many accepted calls.
    fn check_ban(&self) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut banned_until = lock(&self.banned_until);
        if let Some(rule) = self.config.deviations.ban
            && banned_until.is_none_or(|until| until <= now)
        {
            let calls = self.bannable_calls.fetch_add(1, Ordering::Relaxed) + 1;
            if rule.every_n_calls > 0 && calls.is_multiple_of(rule.every_n_calls) {
                *banned_until = Some(now + rule.length);
            }
        }
        match *banned_until {
            Some(until) if until > now => {
                let left = (until - now).as_secs_f64().ceil() as u64;
                Err(Refusal::new(
                    codes::THROTTLED,
                    format!("App Call Limited[This ban will last for {left} more seconds]"),
                ))
            }
            _ => Ok(()),
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
            let limit = limits.per_second.unwrap_or_default();
            return Err(Refusal::new(
                codes::TOO_MANY_CALLS_PER_SECOND,
                format!("more than {limit} calls a second"),
            ));
        }
        if over(limits.per_minute, Duration::from_secs(60)) {
            let limit = limits.per_minute.unwrap_or_default();
            return Err(Refusal::new(
                codes::TOO_MANY_CALLS_PER_MINUTE,
                format!("more than {limit} calls a minute"),
            ));
        }
        accepted.push(now);
        Ok(())
    }
}
