//! How a [`FakeGateway`](super::FakeGateway) behaves: credentials it accepts, the limits it
//! enforces, the faults it injects and the live behaviour (churn, late visibility) it simulates.
//!
//! [`GatewayConfig::default`] is a well-behaved gateway that enforces the real limits and injects
//! no faults.

use std::net::SocketAddr;
use std::time::Duration;

use crate::secret::Secret;

/// The error codes the gateway answers with (see the protocol document).
pub mod codes {
    /// Gateway: the app's calls are limited (throttled).
    pub const THROTTLED: i64 = 7;
    /// Gateway: no permission (wrong `target_app_key`, unknown `customer_id`).
    pub const NO_PERMISSION: i64 = 11;
    pub const MISSING_METHOD: i64 = 21;
    pub const INVALID_METHOD: i64 = 22;
    pub const INVALID_SIGNATURE: i64 = 25;
    pub const MISSING_APP_KEY: i64 = 28;
    pub const INVALID_APP_KEY: i64 = 29;
    pub const INVALID_TIMESTAMP: i64 = 31;
    pub const MISSING_ARGUMENTS: i64 = 40;
    pub const INVALID_ARGUMENTS: i64 = 41;
    /// TOP: the service behind the router is unavailable for now (transient).
    pub const SERVICE_UNAVAILABLE: i64 = 10;
    /// Jushuitan backend: invalid timestamp ("请求最大时间误差15分钟").
    pub const JUSHUITAN_INVALID_TIMESTAMP: i64 = 140;
    /// Arguments refused (the fake's answer for a window over 7 days, as an invalid argument).
    pub const WINDOW_TOO_LONG: i64 = INVALID_ARGUMENTS;
    /// Jushuitan backend: more than the allowed calls in a second.
    pub const TOO_MANY_CALLS_PER_SECOND: i64 = 199;
    /// Jushuitan backend: more than the allowed calls in a minute.
    pub const TOO_MANY_CALLS_PER_MINUTE: i64 = 200;
}

/// The only method the fake serves.
pub const ORDER_LIST_METHOD: &str = "jushuitan.order.list.query";

/// Everything a [`FakeGateway`](super::FakeGateway) is started with.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The integrator's app key the gateway knows (`app_key`).
    pub app_key: String,
    /// The secret requests are signed with.
    pub secret: Secret,
    /// Jushuitan's Qimen app (`target_app_key`).
    pub target_app_key: String,
    /// The merchant's routing id (`customer_id`).
    pub customer_id: String,
    /// The largest `page_size` accepted (25 as the user's documentation says; the method's
    /// field table says 100).
    pub max_page_size: u32,
    /// The longest `start_time`..`end_time` window accepted.
    pub max_window: chrono::Duration,
    /// The code answered for a window longer than [`max_window`](Self::max_window).
    pub window_too_long_code: i64,
    /// How far `timestamp` may be from the gateway's Beijing now.
    pub timestamp_tolerance: chrono::Duration,
    pub rate_limits: RateLimits,
    pub faults: Faults,
    /// Seeds the fault injection and the key shuffling, so runs are reproducible.
    pub seed: u64,
    /// Shuffle the key order of every JSON object in every response, so clients cannot depend
    /// on it.
    pub shuffle_keys: bool,
    /// Put the paging fields and `orders` under a `"data"` object instead of beside `flag`.
    pub paging_under_data: bool,
    /// Orders changed and added before each successful page request (changeable at run time
    /// with [`FakeGateway::set_churn`](super::FakeGateway::set_churn)).
    pub churn: Churn,
    /// How long a change takes to become visible to queries (applied to the shop at start).
    pub visibility_lag: Duration,
    /// Added to the real Beijing time to get the gateway's "now" (a skewed server clock).
    pub clock_offset: chrono::Duration,
    /// What real gateways do that tidy ones don't (all off by default).
    pub deviations: Deviations,
}

/// The real route's untidy habits, each off by default (see `qimen-protocol.md`, "What real
/// bodies do that tidy ones don't" and "Known error codes").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Deviations {
    /// Raw U+000B and U+001F inside free-text values (`remark`, `buyer_message`) of a success
    /// answer; a client that removes them, as Jushuitan's sample client does, reads the truth.
    pub control_chars_probability: f64,
    /// A lone surrogate escape (`\ud800`) before the `remark` of a success answer: read as
    /// U+FFFD, so that order's remark differs from the truth by that character.
    pub lone_surrogate_probability: f64,
    /// TOP code 10 "Service Currently Unavailable" (no sub_code), transient.
    pub service_unavailable_probability: f64,
    /// A success answer without its order list (the count kept).
    pub missing_list_probability: f64,
    /// The order list under this key instead of `orders`.
    pub order_list_key: Option<String>,
    /// `data_count` reported this many lower than the truth (page_count and has_next follow it).
    pub under_reported_count: u64,
    /// Code 7 bans naming their length.
    pub ban: Option<BanRule>,
    /// Orders modified longer ago than this are served only with `archive=true`.
    pub archive_horizon: Option<chrono::Duration>,
    /// Some changes become visible much later than the others, below a `ts` cursor that moved
    /// past them.
    pub late_changes: Option<LateChanges>,
    /// Answer a timestamp off by more than the tolerance with the backend's 140 instead of
    /// TOP's 31.
    pub timestamp_code_140: bool,
}

impl Deviations {
    /// A bit of everything, as a live Qimen route may do on a bad day: raw control characters
    /// in one answer in five, code 10 and a lost order list in one in twenty, counts two short,
    /// a two-second ban every 40 calls, and an archive for orders older than two weeks.
    pub fn untidy() -> Self {
        Self {
            control_chars_probability: 0.2,
            service_unavailable_probability: 0.05,
            missing_list_probability: 0.05,
            under_reported_count: 2,
            ban: Some(BanRule {
                every_n_calls: 40,
                length: Duration::from_secs(2),
            }),
            archive_horizon: Some(chrono::Duration::days(14)),
            ..Self::default()
        }
    }
}

/// Every `every_n_calls`-th accepted call starts a ban of `length`: until it ends every call is
/// answered `App Call Limited[This ban will last for N more seconds]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BanRule {
    pub every_n_calls: u64,
    pub length: Duration,
}

/// The churn of every `every_nth_request`-th request becomes visible after `lag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LateChanges {
    pub every_nth_request: u64,
    pub lag: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_key: "fake-app-key".to_owned(),
            secret: Secret::new("fake-app-secret"),
            target_app_key: "23060081".to_owned(),
            customer_id: "10969016".to_owned(),
            max_page_size: 25,
            max_window: chrono::Duration::days(7),
            window_too_long_code: codes::WINDOW_TOO_LONG,
            timestamp_tolerance: chrono::Duration::minutes(10),
            rate_limits: RateLimits::default(),
            faults: Faults::default(),
            seed: 0x5eed,
            shuffle_keys: true,
            paging_under_data: false,
            churn: Churn::default(),
            visibility_lag: Duration::ZERO,
            clock_offset: chrono::Duration::zero(),
            deviations: Deviations::default(),
        }
    }
}

impl GatewayConfig {
    /// A gateway with no rate limits (for benchmarks and bulk tests).
    pub fn unlimited() -> Self {
        Self {
            rate_limits: RateLimits::none(),
            ..Self::default()
        }
    }
}

/// Calls allowed per app; `None` disables a limit. A call refused for the limit does not count
/// against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Calls in any sliding second (code 199 beyond it).
    pub per_second: Option<u32>,
    /// Calls in any sliding 60 seconds (code 200 beyond it).
    pub per_minute: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_second: Some(5),
            per_minute: Some(100),
        }
    }
}

impl RateLimits {
    pub fn none() -> Self {
        Self {
            per_second: None,
            per_minute: None,
        }
    }
}

/// Random faults, each with a probability in `[0, 1]`, driven by the gateway's seeded RNG.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Answer code 7 (app call limited) to a call that passed the checks.
    pub throttle_probability: f64,
    /// Answer HTTP 500, 502 or 503 with a plain-text body, before doing anything.
    pub server_error_probability: f64,
    /// Answer HTTP 200 with the body cut in half.
    pub truncated_body_probability: f64,
    /// Wait before answering.
    pub delay: ResponseDelay,
}

/// How long the gateway waits before answering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseDelay {
    #[default]
    None,
    Fixed(Duration),
    /// Uniformly between the two bounds.
    Random {
        min: Duration,
        max: Duration,
    },
}

/// Orders changed and added (with `modified` = the gateway's now) before answering each
/// successful page request, to model a shop that keeps changing while a client pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Churn {
    pub changes_per_request: usize,
    pub arrivals_per_request: usize,
}
