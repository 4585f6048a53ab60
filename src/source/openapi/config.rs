//! The open-platform client's settings: where the platform is, the app and the merchant's
//! tokens, and how hard we may push it.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;
use crate::source::error::SourceError;

/// Everything the open-platform client needs. `Debug` never shows the secret or the tokens.
#[derive(Clone, Debug)]
pub struct OpenApiConfig {
    /// The platform's base URL, e.g. `https://openapi.jushuitan.com` (sandbox
    /// `https://dev-api.jushuitan.com`); the paths are the API's.
    pub base_url: String,
    pub app_key: String,
    pub app_secret: Secret,
    /// The merchant's access token.
    pub access_token: Secret,
    /// Renews the access token on code 100, when the app may refresh.
    pub refresh_token: Option<Secret>,
    /// Where a renewed token pair is kept (mode 0600; never in staging); `None`: in memory only.
    pub token_file: Option<PathBuf>,
    /// `page_size` sent: up to 100 on this route (the default).
    pub page_size: u32,
    /// `date_type`: 0 = modified time, 2 = order date, 3 = send date.
    pub date_type: u8,
    pub max_window: Duration,
    pub per_second: u32,
    pub per_minute: u32,
    pub rate_margin: Duration,
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub throttle_pause: Duration,
    pub minute_throttle_pause: Duration,
    pub request_timeout: Duration,
    pub max_page_depth: u32,
    pub max_drift_rereads: u32,
    pub max_body_bytes: u64,
}

impl OpenApiConfig {
    /// A configuration with the documented defaults.
    pub fn new(
        base_url: impl Into<String>,
        app_key: impl Into<String>,
        app_secret: Secret,
        access_token: Secret,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            app_key: app_key.into(),
            app_secret,
            access_token,
            refresh_token: None,
            token_file: None,
            page_size: 100,
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
            max_body_bytes: 16 * 1024 * 1024,
        }
    }

    /// Refuses settings the platform cannot honour; called when the configuration is loaded
    /// and again when a client is built. The credentials are checked by the client.
    pub fn validate(&self) -> Result<(), SourceError> {
        let fail = |what: &str| Err(SourceError::Config(what.to_owned()));
        if !(1..=100).contains(&self.page_size) {
            return fail("openapi page_size must be between 1 and 100 (JST_OPENAPI_PAGE_SIZE)");
        }
        if self.per_second == 0 || self.per_minute == 0 || self.max_attempts == 0 {
            return fail("per_second, per_minute and max_attempts must be at least 1");
        }
        Ok(())
    }
}
