//! The Qimen client's settings: where the gateway is, who we are, and how hard we may push it.

use std::time::Duration;

use super::sign::SignMethod;
use crate::secret::Secret;

/// Jushuitan's Qimen app key in production.
pub const DEFAULT_TARGET_APP_KEY: &str = "23060081";

/// Everything the Qimen client needs. `Debug` never shows the secret or the session
/// (both are [`Secret`]s).
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// The full router URL including its path, e.g. `http://a1q40taq0j.api.taobao.com/router/qm`.
    pub api_url: String,
    /// The integrator's own Qimen app key (`app_key`).
    pub app_key: String,
    /// The secret that signs every request.
    pub app_secret: Secret,
    /// Jushuitan's Qimen app (`target_app_key`), `23060081` in production.
    pub target_app_key: String,
    /// The merchant's routing id (`customer_id`).
    pub customer_id: String,
    pub sign_method: SignMethod,
    /// The optional `session` parameter; sent only when present and non-empty.
    pub session: Option<Secret>,
    /// `page_size` sent: 1 to 100 (the user's documentation says 25, the method's field table
    /// 100); a gateway that refuses more than 25 makes the client fall back to 25.
    pub page_size: u32,
    /// `date_type`: 0 = modified time, 2 = order date, 3 = send date.
    pub date_type: u8,
    /// Longest window the gateway accepts (7 days).
    pub max_window: Duration,
    /// Calls allowed in any one-second span.
    pub per_second: u32,
    /// Calls allowed in any one-minute span.
    pub per_minute: u32,
    /// Added to both rate-limit spans so that network jitter between our clock and the
    /// gateway's arrival times cannot squeeze one span's calls into a shorter one.
    pub rate_margin: Duration,
    /// Attempts per logical call, the first included.
    pub max_attempts: u32,
    /// First retry waits up to this long (full jitter), doubling per attempt.
    pub base_backoff: Duration,
    /// Cap of the exponential backoff.
    pub max_backoff: Duration,
    /// How long all calls of the client pause after a per-second throttle (codes 7, 199).
    pub throttle_pause: Duration,
    /// How long all calls of the client pause after a per-minute throttle (code 200): a full
    /// minute resets the count whether the gateway counts calendar minutes or a sliding minute.
    pub minute_throttle_pause: Duration,
    /// Timeout of one HTTP attempt, connect to last byte.
    pub request_timeout: Duration,
    /// A window holding more than `page_size * max_page_depth` orders is halved instead of
    /// paged deeply.
    pub max_page_depth: u32,
    /// How many times one window may be re-read because its row count grew while paging.
    pub max_drift_rereads: u32,
    /// Extra business parameters sent with every order query (`status`, `shop_id` …).
    pub filters: Vec<(String, String)>,
    /// The longest ban (code 7 naming its length) waited out; a longer one stops the run.
    pub max_ban_wait: Duration,
    /// A response body larger than this is an error, not read further and not stored.
    pub max_body_bytes: u64,
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
            api_url: api_url.into(),
            app_key: app_key.into(),
            app_secret,
            target_app_key: DEFAULT_TARGET_APP_KEY.to_owned(),
            customer_id: customer_id.into(),
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
            max_body_bytes: 16 * 1024 * 1024,
        }
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
