//! How an [`OpenApiGateway`](super::OpenApiGateway) behaves: the credentials and tokens it
//! accepts, the limits it enforces, the faults it injects and the live shop it simulates.
//!
//! [`OpenApiConfig::default`] is a well-behaved open platform that enforces the real limits and
//! injects no faults.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Churn, Faults, RateLimits};
use crate::secret::Secret;

/// The `code`s the open platform answers with (`jushuitan-openapi-protocol.md`, "Error codes").
pub mod codes {
    pub const SUCCESS: i64 = 0;
    /// Bad or missing `sign` (also answered for a missing or unknown `app_key`: without the
    /// app there is no secret to check the signature with).
    pub const INVALID_SIGNATURE: i64 = 10;
    /// The access token (or, on a refresh, the refresh token) is invalid or expired.
    pub const INVALID_TOKEN: i64 = 100;
    /// Refused arguments: a `biz` that is not a JSON object, a bad field in it, a wrong
    /// `version`, `charset`, `grant_type` or `scope`. Inferred: the protocol document names
    /// no code for argument errors.
    pub const INVALID_ARGUMENTS: i64 = 120;
    /// `timestamp` missing or further from the platform's clock than the tolerance.
    pub const INVALID_TIMESTAMP: i64 = 140;
    /// Service-provider (ISV) apps may not refresh their token; they must be re-authorised.
    pub const REFRESH_NOT_ALLOWED: i64 = 150;
    /// More than the allowed calls in a second (also the injected throttle fault).
    pub const TOO_MANY_CALLS_PER_SECOND: i64 = 199;
    /// More than the allowed calls in a minute.
    pub const TOO_MANY_CALLS_PER_MINUTE: i64 = 200;
}

/// The order query's path.
pub const ORDER_QUERY_PATH: &str = "/open/orders/single/query";
/// The token refresh's path.
pub const REFRESH_TOKEN_PATH: &str = "/openWeb/auth/refreshToken";
/// The `expires_in` of a token the fake issues: 30 days, in seconds.
pub const TOKEN_EXPIRES_IN: u64 = 30 * 24 * 3600;
/// The `page_size` of a query that names none (the real default is undocumented).
pub const DEFAULT_PAGE_SIZE: u32 = 30;
/// The most `so_ids` one query may list.
pub const MAX_SO_IDS: usize = 20;

/// Everything an [`OpenApiGateway`](super::OpenApiGateway) is started with.
#[derive(Clone, Debug)]
pub struct OpenApiConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The app's key (`app_key`).
    pub app_key: String,
    /// The secret requests are signed with.
    pub app_secret: Secret,
    /// The merchant's access token valid at start.
    pub access_token: Secret,
    /// The refresh token that renews it; `None`: every refresh is refused with code 100.
    pub refresh_token: Option<Secret>,
    /// False models a service-provider app: every refresh is answered code 150.
    pub refresh_allowed: bool,
    /// How far `timestamp` may be from the platform's clock.
    pub timestamp_tolerance: chrono::Duration,
    /// The largest `page_size` accepted.
    pub max_page_size: u32,
    /// The longest `modified_begin`..`modified_end` window accepted.
    pub max_window: chrono::Duration,
    /// Order queries allowed (codes 199 and 200 beyond them); refreshes are not limited.
    pub rate_limits: RateLimits,
    /// As for the Qimen fake, on the order query only; the throttle fault answers code 199.
    pub faults: Faults,
    /// Orders changed and added before each successful page request (changeable at run time
    /// with [`OpenApiGateway::set_churn`](super::OpenApiGateway::set_churn)).
    pub churn: Churn,
    /// How long a change takes to become visible to queries (applied to the shop by
    /// [`OpenApiGateway::start`](super::OpenApiGateway::start), not by `start_sharing`).
    pub visibility_lag: Duration,
    /// Shuffle the key order of every JSON object in every response.
    pub shuffle_keys: bool,
    /// Seeds the fault injection, the key shuffling and the tokens issued.
    pub seed: u64,
    /// Added to the real time to get the platform's "now" (a skewed server clock).
    pub clock_offset: chrono::Duration,
}

impl Default for OpenApiConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_key: "fake-openapi-app-key".to_owned(),
            app_secret: Secret::new("fake-openapi-secret"),
            access_token: Secret::new("fake-access-token"),
            refresh_token: Some(Secret::new("fake-refresh-token")),
            refresh_allowed: true,
            timestamp_tolerance: chrono::Duration::minutes(10),
            max_page_size: 100,
            max_window: chrono::Duration::days(7),
            rate_limits: RateLimits::default(),
            faults: Faults::default(),
            churn: Churn::default(),
            visibility_lag: Duration::ZERO,
            shuffle_keys: true,
            seed: 0x0be1,
            clock_offset: chrono::Duration::zero(),
        }
    }
}

impl OpenApiConfig {
    /// An open platform with no rate limits (for benchmarks and bulk tests).
    pub fn unlimited() -> Self {
        Self {
            rate_limits: RateLimits::none(),
            ..Self::default()
        }
    }
}
