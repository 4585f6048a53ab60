//! Reading an HTTP answer the way every route needs it: the body up to a size cap (an error
//! naming the page past it, nothing kept), as UTF-8 (a stray invalid byte becomes U+FFFD), and
//! how far this machine's clock is from the gateway's `Date` header.

use chrono::Utc;

use crate::source::SourceError;

/// An answer read off the wire.
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub body: String,
    /// This machine's clock minus the gateway's, in seconds, when it sent a `Date` header.
    pub clock_offset_secs: Option<i64>,
}

/// Reads `response` whole, refusing a body over `limit` bytes; `transport` turns a read
/// failure into the caller's error.
pub async fn read(
    mut response: reqwest::Response,
    limit: u64,
    page_index: u32,
    transport: impl Fn(reqwest::Error) -> SourceError,
) -> Result<Answer, SourceError> {
    let status = response.status();
    let clock_offset_secs = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|gateway| (Utc::now() - gateway.to_utc()).num_seconds());
    let too_large = || SourceError::BodyTooLarge { page_index, limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large());
    }
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&transport)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = match String::from_utf8(bytes) {
        Ok(body) => body,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
    Ok(Answer {
        status,
        body,
        clock_offset_secs,
    })
}
