//! The Qimen client's settings: where the gateway is, who we are, and how hard we may push it.
//! They are the `[qimen]` section of the configuration file as it is (serde defaults for what
//! the file leaves out), and they check themselves once ([`SourceConfig::validate`]).

use std::time::Duration;

use serde::Deserialize;

use super::sign::SignMethod;
use crate::secret::Secret;
use crate::source::error::SourceError;
use crate::units::{MAX_DURATION, deserialize_bytes, deserialize_duration};

/// Jushuitan's Qimen app key in production.
pub const DEFAULT_TARGET_APP_KEY: &str = "23060081";

/// Everything the Qimen client needs, read from `[qimen]` (the keys the file may set are the
/// fields not marked `skip`). The credentials are `None` until a layer sets them; the client
/// refuses to be built without them. `Debug` never shows the secret or the session (both are
/// [`Secret`]s).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// The full router URL including its path, e.g. `http://a1q40taq0j.api.taobao.com/router/qm`.
    pub api_url: Option<String>,
    /// The integrator's own Qimen app key (`app_key`).
    pub app_key: Option<String>,
    /// The secret that signs every request.
    pub app_secret: Option<Secret>,
    /// Jushuitan's Qimen app (`target_app_key`), `23060081` in production.
    pub target_app_key: String,
    /// The merchant's routing id (`customer_id`).
    pub customer_id: Option<String>,
    pub sign_method: SignMethod,
    /// The optional `session` parameter; sent only when present and non-empty.
    #[serde(skip)]
    pub session: Option<Secret>,
    /// `page_size` sent: 1 to 100 (the user's documentation says 25, the method's field table
    /// 100); a gateway that refuses more than 25 makes the client fall back to 25.
    pub page_size: u32,
    /// `date_type`: 0 = modified time, 2 = order date, 3 = send date.
    #[serde(skip)]
    pub date_type: u8,
    /// Longest window the gateway accepts (7 days).
    #[serde(skip)]
    pub max_window: Duration,
    /// Calls allowed in any one-second span.
    pub per_second: u32,
    /// Calls allowed in any one-minute span.
    pub per_minute: u32,
    /// Added to both rate-limit spans so that network jitter between our clock and the
    /// gateway's arrival times cannot squeeze one span's calls into a shorter one.
    #[serde(skip)]
    pub rate_margin: Duration,
    /// Attempts per logical call, the first included.
    pub max_attempts: u32,
    /// First retry waits up to this long (full jitter), doubling per attempt.
    #[serde(skip)]
    pub base_backoff: Duration,
    /// Cap of the exponential backoff.
    #[serde(skip)]
    pub max_backoff: Duration,
    /// How long all calls of the client pause after a per-second throttle (codes 7, 199).
    #[serde(skip)]
    pub throttle_pause: Duration,
    /// How long all calls of the client pause after a per-minute throttle (code 200): a full
    /// minute resets the count whether the gateway counts calendar minutes or a sliding minute.
    #[serde(skip)]
    pub minute_throttle_pause: Duration,
    /// Timeout of one HTTP attempt, connect to last byte.
    #[serde(deserialize_with = "deserialize_duration")]
    pub request_timeout: Duration,
    /// A window holding more than `page_size * max_page_depth` orders is halved instead of
    /// paged deeply.
    #[serde(skip)]
    pub max_page_depth: u32,
    /// How many times one window may be re-read because its row count grew while paging.
    #[serde(skip)]
    pub max_drift_rereads: u32,
    /// Extra business parameters sent with every order query (`status`, `shop_id` …).
    #[serde(skip)]
    pub filters: Vec<(String, String)>,
    /// The longest ban (code 7 naming its length) waited out; a longer one stops the run.
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_ban_wait: Duration,
    /// Windows starting before `now - archive_after` are also read with `archive=true` (zero:
    /// never). Read by the pull's planner, not by the client.
    #[serde(deserialize_with = "deserialize_duration")]
    pub archive_after: Duration,
    /// A response body larger than this is an error, not read further and not stored
    /// (`max_body = "16MB"` in the file).
    #[serde(rename = "max_body", deserialize_with = "deserialize_bytes")]
    pub max_body_bytes: u64,
}

impl Default for SourceConfig {
    /// The documented defaults, without credentials.
    fn default() -> Self {
        Self {
            api_url: None,
            app_key: None,
            app_secret: None,
            customer_id: None,
            ..Self::new("", "", Secret::default(), "")
        }
    }
}

impl SourceConfig {
    /// A configuration with the documented defaults.
    pub fn new(
        api_url: impl Into<String>,
        app_key: impl Into<String>,
        app_secret: Secret,
        customer_id: impl Into<String>,
    ) -> Self {
        Self {
            api_url: Some(api_url.into()),
            app_key: Some(app_key.into()),
            app_secret: Some(app_secret),
            target_app_key: DEFAULT_TARGET_APP_KEY.to_owned(),
            customer_id: Some(customer_id.into()),
            sign_method: SignMethod::Md5,
            session: None,
            page_size: 25,
            date_type: 0,
            max_window: Duration::from_secs(7 * 24 * 3600),
            per_second: 5,
            per_minute: 100,
            rate_margin: Duration::from_millis(100),
            max_attempts: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            throttle_pause: Duration::from_secs(1),
            minute_throttle_pause: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_page_depth: 40,
            max_drift_rereads: 3,
            filters: Vec::new(),
            max_ban_wait: Duration::from_secs(10 * 60),
            archive_after: Duration::from_secs(90 * 86400),
            max_body_bytes: 16 * 1024 * 1024,
        }
    }

    /// Refuses settings the gateway cannot honour; called when the configuration is loaded
    /// and again when a client is built from one made in code. The credentials are checked by
    /// the client (a configuration without them is valid until a pull needs them).
    pub fn validate(&self) -> Result<(), SourceError> {
        let fail = |what: &str| Err(SourceError::Config(what.to_owned()));
        if !(1..=100).contains(&self.page_size) {
            return fail("page_size must be between 1 and 100 (JST_PAGE_SIZE; default 25)");
        }
        if self.per_second == 0 || self.per_minute == 0 {
            return fail("per_second and per_minute must be at least 1");
        }
        if self.max_attempts == 0 {
            return fail("max_attempts must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return fail("max_body must be at least 1 KB (JST_MAX_BODY, e.g. 16MB)");
        }
        if self.request_timeout.is_zero() {
            return fail("request_timeout must be longer than zero, e.g. 30s");
        }
        if self.request_timeout > MAX_DURATION {
            return fail("request_timeout is longer than ten years: use at most 3650d");
        }
        if self.max_page_depth == 0 {
            return fail("max_page_depth must be at least 1");
        }
        if self.max_window < Duration::from_secs(1) {
            return fail("max_window must be at least one second");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_the_session() {
        let mut config =
            SourceConfig::new("http://gw/router/qm", "app", Secret::new("hunter2"), "42");
        config.session = Some(Secret::new("sess-token"));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sess-token"),
            "{shown}"
        );
    }
}
