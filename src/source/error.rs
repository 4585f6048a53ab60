//! What can go wrong talking to the Qimen gateway, sorted by what the caller does about it:
//! retry (transient) or stop the run (fatal).
//!
//! No variant ever holds the app secret, the session or the `sign` value; URLs are kept
//! without their query string.

/// Gateway codes that mean "too many calls": back off and try again.
pub const THROTTLE_CODES: [i64; 3] = [7, 199, 200];

/// TOP's "App Call Limited": the app is banned for a while; the message may say how long.
pub const APP_CALL_LIMITED_CODE: i64 = 7;

/// TOP's "Service Currently Unavailable" (on the Qimen route; the open platform's own code 10
/// is a bad signature).
pub const SERVICE_UNAVAILABLE_CODE: i64 = 10;

/// The Taobao-family gateways' "remote service error" (with `isp.*` sub-codes): the service
/// behind the gateway failed; temporary.
pub const REMOTE_SERVICE_ERROR_CODE: i64 = 15;

/// Invalid timestamp: TOP's 31 and the Jushuitan backend's 140 ("请求最大时间误差15分钟").
pub const CLOCK_CODES: [i64; 2] = [31, 140];

/// The per-minute throttle code of the Jushuitan backend.
pub const MINUTE_THROTTLE_CODE: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The gateway refused the request for a reason retrying cannot fix.
    #[error(
        "gateway rejected the request: code {code} ({message}){}: {}",
        request_id_suffix(request_id),
        rejection_hint(*code)
    )]
    Rejected {
        code: i64,
        message: String,
        request_id: Option<String>,
    },

    /// The open platform refused the request for a reason retrying cannot fix.
    #[error(
        "open platform rejected the request: code {code} ({message}){}: {hint}",
        request_id_suffix(request_id)
    )]
    Refused {
        code: i64,
        message: String,
        request_id: Option<String>,
        hint: &'static str,
    },

    /// The open platform's access token is invalid or expired (code 100): renewed once with
    /// the refresh token when there is one.
    #[error("open platform access token invalid or expired: code {code} ({message}): {hint}")]
    TokenInvalid {
        code: i64,
        message: String,
        hint: &'static str,
    },

    /// The service behind the gateway failed for now (code 15, `isp.*` sub-codes): retried.
    #[error(
        "gateway reports a temporary service error: code {code} ({message}){}: will retry",
        request_id_suffix(request_id)
    )]
    Unavailable {
        code: i64,
        message: String,
        request_id: Option<String>,
    },

    /// The gateway throttled us (codes 7, 199, 200).
    #[error(
        "gateway throttled the request: code {code} ({message}){}: too many calls; lower the \
         rate limits or the number of windows pulled at once if this persists",
        request_id_suffix(request_id)
    )]
    Throttled {
        code: i64,
        message: String,
        request_id: Option<String>,
        /// How long the gateway says the ban lasts (`This ban will last for N more seconds`).
        ban: Option<std::time::Duration>,
    },

    /// The gateway banned the app for longer than we are willing to wait: the run stops, and
    /// no later run calls before `until`.
    #[error(
        "throttled by the gateway until {} (Beijing): {message}; no call is made before then \
         (raise JST_MAX_BAN_WAIT to wait it out instead)",
        until.format("%H:%M:%S")
    )]
    Banned {
        /// Beijing wall-clock time the ban ends.
        until: crate::source::BeijingTime,
        message: String,
    },

    /// The gateway refused our timestamp: this machine's clock is off.
    #[error(
        "gateway refused the request's timestamp: code {code} ({message}){}: {}",
        request_id_suffix(request_id),
        clock_hint(*clock_offset_secs)
    )]
    Clock {
        code: i64,
        message: String,
        request_id: Option<String>,
        /// This machine's clock minus the gateway's (from its `Date` header), in seconds.
        clock_offset_secs: Option<i64>,
    },

    /// The gateway refused a `page_size` above 25; the client falls back to 25 for the run.
    #[error("gateway refused page_size {requested}: code {code} ({message}); falling back to 25")]
    PageSizeRefused {
        requested: u32,
        code: i64,
        message: String,
    },

    /// The body is larger than `JST_MAX_BODY`: not read further, not stored.
    #[error(
        "gateway answered page {page_index} with a body over {limit} bytes: not stored; lower \
         JST_PAGE_SIZE or raise JST_MAX_BODY"
    )]
    BodyTooLarge { page_index: u32, limit: u64 },

    /// The gateway answered with a non-success HTTP status.
    #[error("gateway at {url} answered HTTP {status}: {}", status_hint(*status))]
    HttpStatus {
        status: u16,
        url: String,
        body_snippet: String,
    },

    /// No answer: connection refused or reset, DNS, timeout.
    #[error("could not {} the gateway at {url}: check the network and JST_API_URL", if *timed_out { "get an answer in time from" } else { "reach" })]
    Transport {
        url: String,
        timed_out: bool,
        #[source]
        source: reqwest::Error,
    },

    /// The body is not the JSON envelope we expect (truncated, XML, no `response`, a success
    /// without its order list).
    #[error("gateway sent an answer that cannot be read: {reason}")]
    MalformedBody { reason: String },

    /// A transient fault persisted through every attempt.
    #[error("gave up after {attempts} attempts")]
    RetriesExhausted {
        attempts: u32,
        #[source]
        last: Box<SourceError>,
    },

    /// The configuration cannot work; nothing was sent.
    #[error("invalid source configuration: {0}")]
    Config(String),

    /// Whoever receives pages has gone away; the run is stopping.
    #[error("the page receiver closed before the pull finished: the run is stopping")]
    ReceiverClosed,
}

impl SourceError {
    /// The same error with the gateway's message passed through `scrub` (which removes
    /// secrets, tokens and the signature from text the gateway sent back), and, for a clock
    /// error, the offset measured from the answer's `Date` header.
    pub fn scrubbed(self, scrub: impl Fn(&str) -> String, clock_offset: Option<i64>) -> Self {
        match self {
            SourceError::Rejected {
                code,
                message,
                request_id,
            } => SourceError::Rejected {
                code,
                message: scrub(&message),
                request_id,
            },
            SourceError::Refused {
                code,
                message,
                request_id,
                hint,
            } => SourceError::Refused {
                code,
                message: scrub(&message),
                request_id,
                hint,
            },
            SourceError::TokenInvalid {
                code,
                message,
                hint,
            } => SourceError::TokenInvalid {
                code,
                message: scrub(&message),
                hint,
            },
            SourceError::Throttled {
                code,
                message,
                request_id,
                ban,
            } => SourceError::Throttled {
                code,
                message: scrub(&message),
                request_id,
                ban,
            },
            SourceError::Clock {
                code,
                message,
                request_id,
                ..
            } => SourceError::Clock {
                code,
                message: scrub(&message),
                request_id,
                clock_offset_secs: clock_offset,
            },
            SourceError::Unavailable {
                code,
                message,
                request_id,
            } => SourceError::Unavailable {
                code,
                message: scrub(&message),
                request_id,
            },
            other => other,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Throttled { .. }
            | SourceError::Unavailable { .. }
            | SourceError::Transport { .. }
            | SourceError::MalformedBody { .. } => true,
            SourceError::HttpStatus { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            SourceError::Rejected { .. }
            | SourceError::Refused { .. }
            | SourceError::TokenInvalid { .. }
            | SourceError::Banned { .. }
            | SourceError::Clock { .. }
            | SourceError::PageSizeRefused { .. }
            | SourceError::BodyTooLarge { .. }
            | SourceError::RetriesExhausted { .. }
            | SourceError::Config(_)
            | SourceError::ReceiverClosed => false,
        }
    }

    /// A short key for counting errors by kind: the gateway code, `http_503`, `transport`,
    /// `timeout`, `malformed`.
    pub fn stats_key(&self) -> String {
        match self {
            SourceError::Rejected { code, .. }
            | SourceError::Refused { code, .. }
            | SourceError::TokenInvalid { code, .. }
            | SourceError::Throttled { code, .. }
            | SourceError::Clock { code, .. }
            | SourceError::PageSizeRefused { code, .. }
            | SourceError::Unavailable { code, .. } => code.to_string(),
            SourceError::Banned { .. } => "banned".to_owned(),
            SourceError::BodyTooLarge { .. } => "body_too_large".to_owned(),
            SourceError::HttpStatus { status, .. } => format!("http_{status}"),
            SourceError::Transport {
                timed_out: true, ..
            } => "timeout".to_owned(),
            SourceError::Transport { .. } => "transport".to_owned(),
            SourceError::MalformedBody { .. } => "malformed".to_owned(),
            SourceError::RetriesExhausted { last, .. } => last.stats_key(),
            SourceError::Config(_) => "config".to_owned(),
            SourceError::ReceiverClosed => "receiver_closed".to_owned(),
        }
    }

    /// The gateway code, if the gateway answered with one.
    pub fn gateway_code(&self) -> Option<i64> {
        match self {
            SourceError::Rejected { code, .. }
            | SourceError::Refused { code, .. }
            | SourceError::TokenInvalid { code, .. }
            | SourceError::Throttled { code, .. }
            | SourceError::Clock { code, .. }
            | SourceError::PageSizeRefused { code, .. }
            | SourceError::Unavailable { code, .. } => Some(*code),
            SourceError::RetriesExhausted { last, .. } => last.gateway_code(),
            _ => None,
        }
    }
}

/// `error` and its causes, joined by `: ` (what `{:#}` shows through anyhow).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn request_id_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) if !id.is_empty() => format!(" [request_id {id}]"),
        _ => String::new(),
    }
}

/// What the user can do about a rejection code.
fn rejection_hint(code: i64) -> &'static str {
    match code {
        10 | 25 => "check JST_APP_SECRET and JST_SIGN_METHOD",
        190 => {
            "the app has no permission for jushuitan.order.list.query: ask Jushuitan to grant it"
        }
        11 => {
            "check that the app is authorised for this merchant (JST_CUSTOMER_ID) and this method"
        }
        21 | 22 => {
            "the method name was refused: check that the gateway serves jushuitan.order.list.query"
        }
        27 | 100 => "check or renew JST_SESSION",
        28 | 29 => "check JST_APP_KEY and JST_TARGET_APP_KEY",
        40 | 41 => {
            "check the request parameters (windows of at most 7 days, page_size 1 to 100, filters)"
        }
        _ => "see the gateway's message; the run cannot continue",
    }
}

fn clock_hint(offset: Option<i64>) -> String {
    let fix = "set this machine's clock right (e.g. enable NTP): the timestamp must be within \
               10 minutes of Beijing time";
    match offset {
        Some(secs) if secs != 0 => format!(
            "this machine's clock is {} {} the gateway's; {fix}",
            humanize_secs(secs.unsigned_abs()),
            if secs > 0 { "ahead of" } else { "behind" }
        ),
        Some(_) => format!("the gateway's Date header agrees with this machine's clock; {fix}"),
        None => fix.to_owned(),
    }
}

/// `3725` → `1 h 2 min 5 s`.
pub fn humanize_secs(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min {s} s"),
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        500..=599 | 408 | 429 => "the gateway is failing; try again later",
        404 => "check the path of JST_API_URL (e.g. /router/qm)",
        _ => "check JST_API_URL",
    }
}

/// `url` without its query string and fragment, safe to print.
pub fn printable_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    // Drop any `user:password@` in the authority.
    match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_urls_lose_their_query_and_credentials() {
        assert_eq!(
            printable_url("http://gw/router/qm?a=1#x"),
            "http://gw/router/qm"
        );
        assert_eq!(
            printable_url("https://u:p@gw:8080/router/qm"),
            "https://gw:8080/router/qm"
        );
        assert_eq!(printable_url("http://gw/path@x"), "http://gw/path@x");
    }

    #[test]
    fn a_signature_rejection_names_the_settings_to_check() {
        let error = SourceError::Rejected {
            code: 25,
            message: "Invalid signature".into(),
            request_id: Some("abc".into()),
        };
        assert_eq!(
            error.to_string(),
            "gateway rejected the request: code 25 (Invalid signature) [request_id abc]: \
             check JST_APP_SECRET and JST_SIGN_METHOD"
        );
        assert!(!error.is_transient());
    }

    #[test]
    fn throttling_server_errors_and_bad_bodies_are_transient_client_errors_are_not() {
        let throttled = SourceError::Throttled {
            code: 199,
            message: String::new(),
            request_id: None,
            ban: None,
        };
        let status = |status| SourceError::HttpStatus {
            status,
            url: "u".into(),
            body_snippet: String::new(),
        };
        assert!(throttled.is_transient());
        assert!(status(503).is_transient());
        assert!(!status(404).is_transient());
        assert!(SourceError::MalformedBody { reason: "x".into() }.is_transient());
        let exhausted = SourceError::RetriesExhausted {
            attempts: 3,
            last: Box::new(status(503)),
        };
        assert!(!exhausted.is_transient());
        assert_eq!(exhausted.stats_key(), "http_503");
    }

    #[test]
    fn printable_urls_lose_their_query_string() {
        assert_eq!(
            printable_url("http://h/router/qm?app_key=1&sign=X"),
            "http://h/router/qm"
        );
        assert_eq!(printable_url("http://h/router/qm"), "http://h/router/qm");
    }
}
