//! [`OpenApiClient`]: one logical call of `/open/orders/single/query` — rate limit, sign, POST
//! the form with its `biz` JSON, read the envelope, renew the token once on code 100, retry
//! transient faults with a freshly stamped and signed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use tracing::{debug, warn};

use super::config::OpenApiConfig;
use super::token::{self, TokenPair};
use super::{envelope, sign};
use crate::beijing_time;
use crate::secret::{self, Secret};
use crate::source::answer;
use crate::source::error::{SourceError, chain, printable_url};
use crate::source::fetch::{CallCounters, PageFetcher, PagingLimits, SourceStats, lock};
use crate::source::query::{PageQuery, QueryRange};
use crate::source::rate_limit::RateLimiter;
use crate::source::retry::{AfterFailure, RetryPolicy};
use crate::source::{FetchedPage, Window};

/// The order query's path.
pub const ORDERS_PATH: &str = "/open/orders/single/query";
/// Where a token is renewed.
pub const REFRESH_PATH: &str = "/openWeb/auth/refreshToken";

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

/// The open-platform client. Cheap to clone: clones share the connection pool, the rate
/// limiter, the tokens and the counters.
#[derive(Clone, Debug)]
pub struct OpenApiClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: OpenApiConfig,
    http: reqwest::Client,
    orders_url: reqwest::Url,
    refresh_url: reqwest::Url,
    printable_url: String,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    counters: CallCounters,
    page_size: AtomicU32,
    /// The pair in use and how many times it was renewed (so that concurrent calls that all
    /// met code 100 renew it once).
    tokens: tokio::sync::Mutex<(TokenPair, u64)>,
}

impl OpenApiClient {
    /// Checks the configuration and builds the HTTP client. Sends nothing.
    pub fn new(config: OpenApiConfig) -> Result<Self, SourceError> {
        validate(&config)?;
        let base = reqwest::Url::parse(&config.base_url).map_err(|e| {
            SourceError::Config(format!(
                "JST_OPENAPI_URL {:?} is not a URL ({e})",
                printable_url(&config.base_url)
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SourceError::Config(
                "JST_OPENAPI_URL must be http or https".to_owned(),
            ));
        }
        let join = |path: &str| {
            base.join(path).map_err(|e| {
                SourceError::Config(format!("JST_OPENAPI_URL cannot take {path}: {e}"))
            })
        };
        let orders_url = join(ORDERS_PATH)?;
        let refresh_url = join(REFRESH_PATH)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| SourceError::Config(format!("cannot build the HTTP client: {e}")))?;
        // Shared with every other client of this app key at this platform (other merchants).
        let limiter = RateLimiter::shared(
            &config.base_url,
            &config.app_key,
            config.per_second,
            config.per_minute,
            config.rate_margin,
        );
        let configured = TokenPair {
            access: config.access_token.clone(),
            refresh: config.refresh_token.clone(),
        };
        let tokens = token::load(config.token_file.as_deref(), configured);
        let retry = RetryPolicy {
            max_attempts: config.max_attempts,
            base_backoff: config.base_backoff,
            max_backoff: config.max_backoff,
            throttle_pause: config.throttle_pause,
            minute_throttle_pause: config.minute_throttle_pause,
            minute_throttle_code: envelope::codes::TOO_MANY_PER_MINUTE,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                printable_url: printable_url(orders_url.as_str()),
                page_size: AtomicU32::new(config.page_size),
                config,
                http,
                orders_url,
                refresh_url,
                limiter,
                retry,
                counters: CallCounters::default(),
                tokens: tokio::sync::Mutex::new((tokens, 0)),
            }),
        })
    }

    pub fn config(&self) -> &OpenApiConfig {
        &self.inner.config
    }

    /// One logical call, retried like the Qimen route's; on code 100 the token is renewed once
    /// (when a refresh token is known) and the call made again.
    pub async fn fetch_page(&self, query: &PageQuery) -> Result<FetchedPage, SourceError> {
        if query.archive {
            return Err(SourceError::Config(
                "the open platform has no archive query".to_owned(),
            ));
        }
        let counters = &self.inner.counters;
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            self.inner.limiter.acquire().await;
            let (tokens, generation) = self.inner.tokens.lock().await.clone();
            let error = match self.attempt(query, &tokens).await {
                Ok(page) => {
                    counters.pages.fetch_add(1, Ordering::Relaxed);
                    if !page.repairs.is_empty() {
                        lock(&counters.repairs).add(&page.repairs);
                    }
                    return Ok(page);
                }
                Err(error) => error,
            };
            counters.record_error(&error);
            if let SourceError::TokenInvalid { code, message, .. } = &error
                && !renewed
                && tokens.refresh.is_some()
            {
                renewed = true;
                attempt -= 1;
                self.renew(generation, *code, message).await?;
                continue;
            }
            let (error, wait) = match self.inner.retry.after_failure(attempt, error) {
                AfterFailure::GiveUp(error) => {
                    if let SourceError::RetriesExhausted { last, .. } = &error {
                        warn!(attempts = attempt, error = %chain(last.as_ref()), "Open-platform call failed on every attempt.");
                    }
                    return Err(error);
                }
                AfterFailure::Retry {
                    error,
                    wait,
                    throttle_pause,
                } => {
                    if let Some(pause) = throttle_pause {
                        counters.throttled.fetch_add(1, Ordering::Relaxed);
                        self.inner.limiter.pause_for(pause);
                        counters
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
                "Open-platform call failed; retrying."
            );
            counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Renews the token pair with the refresh token, unless another call already did since
    /// `generation`; keeps the new pair in the token file.
    async fn renew(&self, generation: u64, code: i64, message: &str) -> Result<(), SourceError> {
        let mut guard = self.inner.tokens.lock().await;
        if guard.1 != generation {
            return Ok(()); // renewed meanwhile by another call
        }
        let config = &self.inner.config;
        let Some(refresh) = guard.0.refresh.clone() else {
            return Err(SourceError::TokenInvalid {
                code,
                message: message.to_owned(),
                hint: envelope::TOKEN_HINT,
            });
        };
        warn!("The open platform says the access token is invalid or expired; renewing it.");
        let mut fields: Vec<(String, String)> = vec![
            ("app_key".into(), config.app_key.clone()),
            ("timestamp".into(), Utc::now().timestamp().to_string()),
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), refresh.expose().to_owned()),
            ("scope".into(), "all".into()),
            ("charset".into(), "utf-8".into()),
        ];
        let signature = sign::sign(
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &config.app_secret,
        );
        fields.push(("sign".into(), signature));
        self.inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let response = self
            .inner
            .http
            .post(self.inner.refresh_url.clone())
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .form(&fields)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let body = response.text().await.map_err(|e| self.transport(e))?;
        let data = envelope::parse_data(&body).map_err(|error| match error {
            SourceError::TokenInvalid { code, message, .. } => SourceError::Refused {
                code,
                message: self.scrub(&message, &guard.0),
                request_id: None,
                hint: "the refresh token is invalid or expired too: have the merchant authorise \
                       the app again and set JST_OPENAPI_ACCESS_TOKEN and \
                       JST_OPENAPI_REFRESH_TOKEN",
            },
            other => other.scrubbed(|text| self.scrub(text, &guard.0), None),
        })?;
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
        let Some(access) = text("access_token").filter(|t| !t.is_empty()) else {
            return Err(SourceError::MalformedBody {
                reason: "the token refresh answer has no access_token".to_owned(),
            });
        };
        let renewed = TokenPair {
            access: Secret::new(access),
            refresh: text("refresh_token")
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .or(Some(refresh)),
        };
        if let Some(file) = &config.token_file
            && let Err(error) = token::store(file, &config.access_token, &renewed)
        {
            warn!(path = %file.display(), %error, "The renewed token could not be kept in the token file; it is used for this run only.");
        }
        *guard = (renewed, generation + 1);
        tracing::info!("Access token renewed.");
        Ok(())
    }

    /// One HTTP attempt with `tokens`.
    async fn attempt(
        &self,
        query: &PageQuery,
        tokens: &TokenPair,
    ) -> Result<FetchedPage, SourceError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let biz = biz(query, config.date_type).to_string();
        let mut fields: Vec<(String, String)> = vec![
            ("app_key".into(), config.app_key.clone()),
            ("access_token".into(), tokens.access.expose().to_owned()),
            ("timestamp".into(), Utc::now().timestamp().to_string()),
            ("charset".into(), "utf-8".into()),
            ("version".into(), "2".into()),
            ("biz".into(), biz),
        ];
        let signature = sign::sign(
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &config.app_secret,
        );
        let request_params: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| {
                let v = if k == "access_token" {
                    "***".to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        fields.push(("sign".into(), signature.clone()));
        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let response = inner
            .http
            .post(inner.orders_url.clone())
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .form(&fields)
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
            "Open-platform call answered."
        );
        if !status.is_success() {
            let snippet: String = body.chars().take(200).collect();
            return Err(SourceError::HttpStatus {
                status: status.as_u16(),
                url: inner.printable_url.clone(),
                body_snippet: self.scrub(&snippet, tokens),
            });
        }
        let envelope = envelope::parse(&body)
            .map_err(|error| error.scrubbed(|text| self.scrub(text, tokens), clock_offset_secs))?;
        let window = match query.range {
            QueryRange::Window(window) => Some(window),
            QueryRange::FromTs(_) => None,
        };
        Ok(FetchedPage {
            window,
            page_index: query.page_index,
            request_params,
            http_status: status.as_u16(),
            body: self.scrub(&body, tokens),
            received_at: Utc::now(),
            orders: envelope.orders,
            data_count: envelope.data_count,
            page_count: envelope.page_count,
            has_next: envelope.has_next,
            echoed_page_size: envelope.page_size,
            repairs: envelope.repairs,
        })
    }

    fn transport(&self, error: reqwest::Error) -> SourceError {
        SourceError::Transport {
            url: self.inner.printable_url.clone(),
            timed_out: error.is_timeout(),
            source: error.without_url(),
        }
    }

    /// Removes the secret and the tokens from text the platform sent back.
    fn scrub(&self, text: &str, tokens: &TokenPair) -> String {
        let mut text = secret::redact(text, &self.inner.config.app_secret);
        text = secret::redact(&text, &tokens.access);
        if let Some(refresh) = &tokens.refresh {
            text = secret::redact(&text, refresh);
        }
        text
    }
}

/// The `biz` JSON of one page request.
fn biz(query: &PageQuery, date_type: u8) -> Value {
    let mut biz = Map::new();
    match query.range {
        QueryRange::Window(Window { start, end }) => {
            biz.insert("modified_begin".into(), json!(beijing_time::format(start)));
            biz.insert("modified_end".into(), json!(beijing_time::format(end)));
            if date_type != 0 {
                biz.insert("date_type".into(), json!(date_type));
            }
        }
        QueryRange::FromTs(start_ts) => {
            biz.insert("start_ts".into(), json!(start_ts));
            biz.insert("is_get_total".into(), json!(false));
        }
    }
    biz.insert("page_index".into(), json!(query.page_index));
    biz.insert("page_size".into(), json!(query.page_size));
    for (key, value) in &query.filters {
        biz.insert(key.clone(), json!(value));
    }
    Value::Object(biz)
}

fn validate(config: &OpenApiConfig) -> Result<(), SourceError> {
    config.validate()?;
    let fail = |what: &str| Err(SourceError::Config(what.to_owned()));
    if config.app_key.trim().is_empty() {
        return fail("JST_OPENAPI_APP_KEY is empty");
    }
    if config.app_secret.is_empty() {
        return fail("JST_OPENAPI_APP_SECRET is empty");
    }
    if config.access_token.is_empty() {
        return fail("JST_OPENAPI_ACCESS_TOKEN is empty");
    }
    Ok(())
}

impl PageFetcher for OpenApiClient {
    async fn fetch_page(&self, query: &PageQuery) -> Result<FetchedPage, SourceError> {
        OpenApiClient::fetch_page(self, query).await
    }

    fn page_size(&self) -> u32 {
        self.inner.page_size.load(Ordering::Relaxed)
    }

    fn fall_back_to_page_size(&self, requested: u32, size: u32, why: &str) {
        let size = size.max(1);
        if self.inner.page_size.fetch_min(size, Ordering::Relaxed) > size {
            warn!(
                requested,
                page_size = size,
                why,
                "The open platform does not serve this page size; using the smaller one for the rest of the run."
            );
        }
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
        self.inner.counters.snapshot()
    }
}
