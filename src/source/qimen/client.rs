//! [`QimenClient`]: one logical call of `jushuitan.order.list.query` — rate limit, sign, POST,
//! read the envelope, retry transient faults with a freshly signed request.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use tracing::{Instrument, debug, info_span, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use super::config::SourceConfig;
use super::{envelope, sign};
use crate::beijing_time;
use crate::secret::{self, Secret};
use crate::source::answer;
use crate::source::error::{MINUTE_THROTTLE_CODE, SourceError, chain, printable_url};
use crate::source::fetch::{CallCounters, PageFetcher, PagingLimits, SourceStats};
use crate::source::query::{PageQuery, QueryRange, SAFE_PAGE_SIZE};
use crate::source::rate_limit::RateLimiter;
use crate::source::retry::{AfterFailure, RetryPolicy};
use crate::source::{BeijingTime, CursorReport, FetchedPage, PageSender, Window, WindowReport};

/// Ban waits within one logical call before the ban counts as an ordinary failed attempt.
const MAX_BAN_WAITS_PER_CALL: u32 = 3;

/// The one method this client calls.
pub const METHOD: &str = "jushuitan.order.list.query";

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=UTF-8";

/// Parameters the client sets itself; filters may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "method",
    "app_key",
    "target_app_key",
    "customer_id",
    "timestamp",
    "format",
    "v",
    "sign_method",
    "session",
    "sign",
    "page_index",
    "page_size",
    "start_time",
    "end_time",
    "date_type",
    "start_ts",
    "is_get_total",
    "archive",
];

/// The Qimen client. Cheap to clone: clones share the HTTP connection pool, the rate limiter
/// and the counters.
#[derive(Clone, Debug)]
pub struct QimenClient {
    inner: Arc<Inner>,
}

/// Who the client calls as, taken out of the configuration once it is checked.
#[derive(Debug)]
struct Credentials {
    api_url: String,
    app_key: String,
    app_secret: Secret,
    customer_id: String,
}

#[derive(Debug)]
struct Inner {
    config: SourceConfig,
    credentials: Credentials,
    http: reqwest::Client,
    url: reqwest::Url,
    printable_url: String,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    counters: CallCounters,
    /// The page size in use: the configured one, or [`SAFE_PAGE_SIZE`] after a refusal.
    page_size: AtomicU32,
    /// The end of a ban too long to wait out, and the gateway's words, once it named one.
    banned_until: Mutex<Option<(BeijingTime, String)>>,
}

impl QimenClient {
    /// Checks the configuration and builds the HTTP client. Sends nothing.
    pub fn new(config: SourceConfig) -> Result<Self, SourceError> {
        let credentials = credentials(&config)?;
        let url = reqwest::Url::parse(&credentials.api_url).map_err(|e| {
            SourceError::Config(format!(
                "JST_API_URL {:?} is not a URL ({e})",
                printable_url(&credentials.api_url)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SourceError::Config(format!(
                "JST_API_URL must be http or https, not {:?}",
                url.scheme()
            )));
        }
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| SourceError::Config(format!("cannot build the HTTP client: {e}")))?;
        // Shared with every other client of this app key at this gateway (other merchants).
        let limiter = RateLimiter::shared(
            &credentials.api_url,
            &credentials.app_key,
            config.per_second,
            config.per_minute,
            config.rate_margin,
        );
        let printable_url = printable_url(url.as_str());
        let page_size = AtomicU32::new(config.page_size);
        let retry = RetryPolicy {
            max_attempts: config.max_attempts,
            base_backoff: config.base_backoff,
            max_backoff: config.max_backoff,
            throttle_pause: config.throttle_pause,
            minute_throttle_pause: config.minute_throttle_pause,
            minute_throttle_code: MINUTE_THROTTLE_CODE,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                credentials,
                http,
                url,
                printable_url,
                limiter,
                retry,
                counters: CallCounters::default(),
                page_size,
                banned_until: Mutex::new(None),
            }),
        })
    }

    /// The page size to ask for: the configured one unless the gateway refused it.
    pub fn page_size(&self) -> u32 {
        self.inner.page_size.load(Ordering::Relaxed)
    }

    /// When a ban too long to wait out ends (Beijing time), with the gateway's message, if the
    /// gateway named one.
    pub fn banned_until(&self) -> Option<(BeijingTime, String)> {
        lock(&self.inner.banned_until).clone()
    }

    pub fn config(&self) -> &SourceConfig {
        &self.inner.config
    }

    /// The app key the client calls as (its rate limit and any ban are the app key's).
    pub fn app_key(&self) -> &str {
        &self.inner.credentials.app_key
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SourceStats {
        self.inner.counters.snapshot()
    }

    /// One logical call: waits for the rate limiter, signs, sends, reads the envelope, and
    /// retries transient faults (throttling, 5xx, timeouts, unreadable bodies) with exponential
    /// backoff and full jitter, re-stamping and re-signing every attempt.
    pub async fn fetch_page(&self, query: &PageQuery) -> Result<FetchedPage, SourceError> {
        let config = &self.inner.config;
        let mut attempt = 0;
        let mut ban_waits = 0;
        loop {
            attempt += 1;
            // Never call into a ban we know is too long to wait out.
            if let Some((until, message)) = self.banned_until()
                && until > beijing_time::now()
            {
                return Err(SourceError::Banned { until, message });
            }
            self.inner.limiter.acquire().await;
            let error = match self.attempt(query).await {
                Ok(page) => {
                    self.inner.counters.pages.fetch_add(1, Ordering::Relaxed);
                    if !page.repairs.is_empty() {
                        lock(&self.inner.counters.repairs).add(&page.repairs);
                        warn!(
                            page_index = query.page_index,
                            control_chars = page.repairs.control_chars,
                            raw_whitespace = page.repairs.raw_whitespace,
                            lone_surrogates = page.repairs.lone_surrogates,
                            "The gateway's body needed repair before it would parse (staged as received)."
                        );
                    }
                    return Ok(page);
                }
                Err(error) => error,
            };
            self.record_error(&error);
            if let SourceError::Throttled { ban, message, .. } = &error {
                self.inner
                    .counters
                    .throttled
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(ban) = *ban {
                    if ban > config.max_ban_wait {
                        let until = beijing_time::now()
                            + chrono::Duration::from_std(ban).unwrap_or(chrono::Duration::MAX);
                        *lock(&self.inner.banned_until) = Some((until, message.clone()));
                        return Err(SourceError::Banned {
                            until,
                            message: message.clone(),
                        });
                    }
                    if ban_waits < MAX_BAN_WAITS_PER_CALL {
                        ban_waits += 1;
                        attempt -= 1; // waiting out a named ban is not a failed attempt
                        self.wait_out_ban(ban).await;
                        continue;
                    }
                }
            }
            let (error, wait) = match self.inner.retry.after_failure(attempt, error) {
                AfterFailure::GiveUp(error) => {
                    if let SourceError::RetriesExhausted { last, .. } = &error {
                        warn!(attempts = attempt, error = %chain(last.as_ref()), "Qimen call failed on every attempt.");
                    }
                    return Err(error);
                }
                AfterFailure::Retry {
                    error,
                    wait,
                    throttle_pause,
                } => {
                    if let Some(pause) = throttle_pause {
                        self.inner.limiter.pause_for(pause);
                        self.inner
                            .counters
                            .throttle_wait_ms
                            .fetch_add(pause.as_millis() as u64, Ordering::Relaxed);
                    }
                    (error, wait)
                }
            };
            warn!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                page_index = query.page_index,
                error = %chain(&error),
                "Qimen call failed; retrying."
            );
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every call of this client back for the ban plus a little jitter, visibly.
    async fn wait_out_ban(&self, ban: Duration) {
        let jitter = Duration::from_millis(rand::rng().random_range(0..=1000));
        let wait = ban + Duration::from_secs(1) + jitter;
        self.inner.limiter.pause_for(wait);
        self.inner
            .counters
            .throttle_wait_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
        let until = beijing_time::now()
            + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
        warn!(
            ban_secs = ban.as_secs(),
            wait_ms = wait.as_millis() as u64,
            until = %until.format("%H:%M:%S"),
            "The gateway banned the app's calls for a while; waiting it out (JST_MAX_BAN_WAIT)."
        );
        let bar = info_span!("ban", indicatif.pb_show = tracing::field::Empty);
        bar.pb_set_style(
            &indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.pb_set_message(&format!(
            "waiting out a gateway ban of {} s, until {} (Beijing)",
            ban.as_secs(),
            until.format("%H:%M:%S")
        ));
        self.inner.limiter.acquire_pause().instrument(bar).await;
    }

    fn record_error(&self, error: &SourceError) {
        self.inner.counters.record_error(error);
    }

    /// One HTTP attempt.
    async fn attempt(&self, query: &PageQuery) -> Result<FetchedPage, SourceError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let params = self.params(query);
        let signature = sign::sign(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &inner.credentials.app_secret,
            config.sign_method,
        );
        let mut form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("sign", &signature));

        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let response = inner
            .http
            .post(inner.url.clone())
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let answer = answer::read(response, config.max_body_bytes, query.page_index, |e| {
            self.transport(e)
        })
        .await?;
        let (status, body, clock_offset_secs) =
            (answer.status, answer.body, answer.clock_offset_secs);
        debug!(
            page_index = query.page_index,
            status = status.as_u16(),
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Qimen call answered."
        );
        if !status.is_success() {
            let snippet: String = body.chars().take(200).collect();
            return Err(SourceError::HttpStatus {
                status: status.as_u16(),
                url: inner.printable_url.clone(),
                body_snippet: self.scrub(&snippet, &signature),
            });
        }
        let envelope = envelope::parse(&body).map_err(|error| match error {
            SourceError::Rejected { code, message, .. }
                if matches!(code, 40 | 41) && query.page_size > SAFE_PAGE_SIZE =>
            {
                self.fall_back_to_safe_page_size(query.page_size, code, &message);
                SourceError::PageSizeRefused {
                    requested: query.page_size,
                    code,
                    message: self.scrub(&message, &signature),
                }
            }
            other => other.scrubbed(|text| self.scrub(text, &signature), clock_offset_secs),
        })?;
        let window = match query.range {
            QueryRange::Window(window) => Some(window),
            QueryRange::FromTs(_) => None,
        };
        Ok(FetchedPage {
            window,
            page_index: query.page_index,
            request_params: redact_session(params),
            http_status: status.as_u16(),
            body,
            received_at: Utc::now(),
            orders: envelope.orders,
            data_count: envelope.data_count,
            page_count: envelope.page_count,
            has_next: envelope.has_next,
            echoed_page_size: envelope.page_size,
            repairs: envelope.repairs,
        })
    }

    /// The gateway refused a page size above 25 (or cut pages to a smaller size): use 25, or
    /// the size it used, for the rest of the run, and say so once.
    pub fn fall_back_to_safe_page_size(&self, requested: u32, code: i64, message: &str) {
        self.fall_back_to_page_size(
            requested,
            SAFE_PAGE_SIZE,
            &format!("code {code}: {message}"),
        );
    }

    /// Uses `size` for the rest of the run (only ever smaller), saying so once.
    pub fn fall_back_to_page_size(&self, requested: u32, size: u32, why: &str) {
        let size = size.max(1);
        let previous = self.inner.page_size.fetch_min(size, Ordering::Relaxed);
        if previous > size {
            warn!(
                requested,
                page_size = size,
                why,
                "The gateway does not serve this page size; using the smaller one for the rest of the run (set JST_PAGE_SIZE to it)."
            );
        }
    }

    /// Every parameter to send except `sign`: system parameters, then business parameters.
    fn params(&self, query: &PageQuery) -> Vec<(String, String)> {
        let config = &self.inner.config;
        let mut params: Vec<(String, String)> = Vec::with_capacity(16);
        let mut push = |key: &str, value: String| params.push((key.to_owned(), value));
        push("method", METHOD.to_owned());
        push("app_key", self.inner.credentials.app_key.clone());
        push("target_app_key", config.target_app_key.clone());
        push("customer_id", self.inner.credentials.customer_id.clone());
        push("timestamp", beijing_time::format(beijing_time::now()));
        push("format", "json".to_owned());
        push("v", "2.0".to_owned());
        push("sign_method", config.sign_method.as_param().to_owned());
        if let Some(session) = config
            .session
            .as_ref()
            .filter(|s| !s.expose().trim().is_empty())
        {
            push("session", session.expose().to_owned());
        }
        match query.range {
            QueryRange::Window(window) => {
                push("start_time", beijing_time::format(window.start));
                push("end_time", beijing_time::format(window.end));
                push("date_type", config.date_type.to_string());
            }
            QueryRange::FromTs(start_ts) => {
                push("start_ts", start_ts.to_string());
                push("is_get_total", "false".to_owned());
            }
        }
        push("page_index", query.page_index.to_string());
        push("page_size", query.page_size.to_string());
        if query.archive {
            push("archive", "true".to_owned());
        }
        for (key, value) in config.filters.iter().chain(&query.filters) {
            push(key, value.clone());
        }
        // Whitespace-only values are empty: neither sent nor signed, as the TOP SDK does.
        params.retain(|(_, value)| !value.trim().is_empty());
        params
    }

    fn transport(&self, error: reqwest::Error) -> SourceError {
        SourceError::Transport {
            url: self.inner.printable_url.clone(),
            timed_out: error.is_timeout(),
            source: error.without_url(),
        }
    }

    /// Removes the signature and the secrets from text the gateway sent back.
    fn scrub(&self, text: &str, signature: &str) -> String {
        let config = &self.inner.config;
        let mut text = text.replace(signature, "***");
        text = secret::redact(&text, &self.inner.credentials.app_secret);
        if let Some(session) = &config.session {
            text = secret::redact(&text, session);
        }
        text
    }
}

/// The session is a credential: it is sent, but kept out of what we hand on (and stage).
fn redact_session(mut params: Vec<(String, String)>) -> Vec<(String, String)> {
    for (key, value) in &mut params {
        if key == "session" {
            *value = "***".to_owned();
        }
    }
    params
}

/// The credentials a client cannot be built without, checked, and the filters checked.
fn credentials(config: &SourceConfig) -> Result<Credentials, SourceError> {
    config.validate()?;
    let fail = |what: &str| Err(SourceError::Config(what.to_owned()));
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let credentials = Credentials {
        api_url: config.api_url.clone().unwrap_or_default(),
        app_key: text(&config.app_key),
        app_secret: config.app_secret.clone().unwrap_or_default(),
        customer_id: text(&config.customer_id),
    };
    if credentials.app_key.trim().is_empty() {
        return fail("JST_APP_KEY is empty");
    }
    if credentials.app_secret.is_empty() {
        return fail("JST_APP_SECRET is empty");
    }
    if credentials.customer_id.trim().is_empty() {
        return fail("JST_CUSTOMER_ID is empty");
    }
    if config.target_app_key.trim().is_empty() {
        return fail("JST_TARGET_APP_KEY is empty");
    }
    if let Some((key, _)) = config
        .filters
        .iter()
        .find(|(k, _)| RESERVED_PARAMS.contains(&k.as_str()))
    {
        return Err(SourceError::Config(format!(
            "filter {key:?} would override a parameter the client sets itself"
        )));
    }
    Ok(credentials)
}

/// Installs rustls' ring provider if no crypto provider is installed yet, so that building the
/// HTTP client never panics (reqwest is built without a provider of its own). The binary
/// installs the same provider first; this covers tests and library users.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PageFetcher for QimenClient {
    async fn fetch_page(&self, query: &PageQuery) -> Result<FetchedPage, SourceError> {
        QimenClient::fetch_page(self, query).await
    }

    fn page_size(&self) -> u32 {
        QimenClient::page_size(self)
    }

    fn fall_back_to_page_size(&self, requested: u32, size: u32, why: &str) {
        QimenClient::fall_back_to_page_size(self, requested, size, why)
    }

    fn paging(&self) -> PagingLimits {
        let config = &self.inner.config;
        PagingLimits {
            max_window: config.max_window,
            max_page_depth: config.max_page_depth,
            max_drift_rereads: config.max_drift_rereads,
        }
    }

    fn stats(&self) -> SourceStats {
        QimenClient::stats(self)
    }
}

/// The pager and the cursor, called on the client (for tests and callers that hold one).
impl QimenClient {
    /// Reads every order modified in `window` (see [`crate::source::pager`]).
    pub async fn pull_window(
        &self,
        window: Window,
        pages: &PageSender,
    ) -> Result<WindowReport, SourceError> {
        crate::source::pager::pull_window(self, window, false, pages).await
    }

    /// [`pull_window`](Self::pull_window) from the live orders or, with `archive`, the archive.
    pub async fn pull_window_from(
        &self,
        window: Window,
        archive: bool,
        pages: &PageSender,
    ) -> Result<WindowReport, SourceError> {
        crate::source::pager::pull_window(self, window, archive, pages).await
    }

    /// Reads every order with `ts >= start_ts` (see [`crate::source::cursor`]).
    pub async fn pull_from_ts(
        &self,
        start_ts: i64,
        pages: &PageSender,
    ) -> Result<CursorReport, SourceError> {
        crate::source::cursor::pull_from_ts(self, start_ts, pages).await
    }
}
