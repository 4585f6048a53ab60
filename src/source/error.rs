//! What can go wrong talking to the Qimen gateway, sorted by what the caller does about it:
//! retry (transient) or stop the run (fatal).
//!
//! No variant ever holds the app secret, the session or the `sign` value; URLs are kept
//! without their query string.

/// Gateway codes that mean "too many calls": back off and try again.
pub const THROTTLE_CODES: [i64; 3] = [7, 199, 200];

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
    },

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

    /// The body is not the JSON envelope we expect (truncated, XML, no `response`).
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
            | SourceError::Throttled { code, .. }
            | SourceError::Unavailable { code, .. } => code.to_string(),
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
            | SourceError::Throttled { code, .. }
            | SourceError::Unavailable { code, .. } => Some(*code),
            SourceError::RetriesExhausted { last, .. } => last.gateway_code(),
            _ => None,
        }
    }
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
        11 => {
            "check that the app is authorised for this merchant (JST_CUSTOMER_ID) and this method"
        }
        21 | 22 => {
            "the method name was refused: check that the gateway serves jushuitan.order.list.query"
        }
        27 | 100 => "check or renew JST_SESSION",
        28 | 29 => "check JST_APP_KEY and JST_TARGET_APP_KEY",
        31 => "check this machine's clock: the timestamp must be within 10 minutes of Beijing time",
        40 | 41 | 140 => {
            "check the request parameters (windows of at most 7 days, page_size at most 25, filters)"
        }
        _ => "see the gateway's message; the run cannot continue",
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
