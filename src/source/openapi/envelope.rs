//! Reading an open-platform answer: `{"code":0,"msg":…,"data":{…,"orders":[…]}}`, or a failure
//! code sorted by what the caller does about it. The success part (paging fields, the order
//! list, strict about a missing list) and the body repair are the Qimen route's.

use serde_json::{Map, Value};

use crate::source::SourceError;
use crate::source::qimen::envelope::{
    Envelope, lenient_i64, malformed, parse_object, read_success, text,
};

/// The open platform's codes (see `jushuitan-openapi-protocol.md`).
pub mod codes {
    pub const BAD_SIGNATURE: i64 = 10;
    pub const TOKEN_INVALID: i64 = 100;
    pub const IP_NOT_WHITELISTED: i64 = 110;
    pub const INVALID_TIMESTAMP: i64 = 140;
    pub const REFRESH_NOT_ALLOWED: i64 = 150;
    pub const NO_PERMISSION: i64 = 190;
    pub const TOO_MANY_PER_SECOND: i64 = 199;
    pub const TOO_MANY_PER_MINUTE: i64 = 200;
}

/// Reads a response body: `Ok` for a success, the matching [`SourceError`] otherwise.
pub fn parse(body: &str) -> Result<Envelope, SourceError> {
    let (top, repairs) = parse_object(body)?;
    match top.get("code").map(lenient_i64) {
        None => return Err(malformed("no `code` in the answer")),
        Some(Some(0)) => {}
        Some(Some(code)) => return Err(failure(code, &top)),
        Some(None) => return Err(malformed("`code` is not a number")),
    }
    read_success(top, repairs)
}

/// The data object of a success answer that is not a page (a token refresh).
pub fn parse_data(body: &str) -> Result<Map<String, Value>, SourceError> {
    let (mut top, _) = parse_object(body)?;
    match top.get("code").and_then(lenient_i64) {
        Some(0) => match top.remove("data") {
            Some(Value::Object(data)) => Ok(data),
            _ => Err(malformed("a success answer without its `data` object")),
        },
        Some(code) => Err(failure(code, &top)),
        None => Err(malformed("no `code` in the answer")),
    }
}

fn failure(code: i64, top: &Map<String, Value>) -> SourceError {
    let message = text(top.get("msg"))
        .or_else(|| text(top.get("message")))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "no message".to_owned());
    let request_id = text(top.get("request_id"));
    let refused = |hint: &'static str| SourceError::Refused {
        code,
        message: message.clone(),
        request_id: request_id.clone(),
        hint,
    };
    match code {
        codes::TOO_MANY_PER_SECOND | codes::TOO_MANY_PER_MINUTE => SourceError::Throttled {
            code,
            message,
            request_id,
            ban: None,
        },
        codes::INVALID_TIMESTAMP => SourceError::Clock {
            code,
            message,
            request_id,
            clock_offset_secs: None,
        },
        codes::TOKEN_INVALID => SourceError::TokenInvalid {
            code,
            message,
            hint: TOKEN_HINT,
        },
        codes::BAD_SIGNATURE => refused("check JST_OPENAPI_APP_KEY and JST_OPENAPI_APP_SECRET"),
        codes::IP_NOT_WHITELISTED => {
            refused("add this machine's public IP to the app's whitelist on the open platform")
        }
        codes::REFRESH_NOT_ALLOWED => refused(REAUTHORISE_HINT),
        codes::NO_PERMISSION => refused(
            "the app has no permission for /open/orders/single/query: enable the API for the app",
        ),
        _ => refused("see the open platform's message; the run cannot continue"),
    }
}

/// What to do when the token is invalid and cannot be renewed here.
pub const TOKEN_HINT: &str = "set JST_OPENAPI_REFRESH_TOKEN so jst-sync renews it, or get a new \
     access token for the merchant and set JST_OPENAPI_ACCESS_TOKEN";

/// What to do when the app may not refresh its tokens.
pub const REAUTHORISE_HINT: &str = "this app may not refresh tokens (service-provider apps since \
     2023-08-15): have the merchant authorise the app again and set JST_OPENAPI_ACCESS_TOKEN \
     (and JST_OPENAPI_REFRESH_TOKEN) to the new pair";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_carries_its_paging_fields_and_orders_under_data() {
        let page = parse(r#"{"code":0,"msg":"执行成功","data":{"page_size":100,"page_index":1,"data_count":2,"page_count":1,"has_next":false,"orders":[{"o_id":1},{"o_id":2}]}}"#).unwrap();
        assert_eq!((page.data_count, page.orders.len()), (Some(2), 2));
    }

    #[test]
    fn codes_are_sorted_by_what_the_caller_does() {
        let error =
            |code: i64| parse(&format!(r#"{{"code":{code},"msg":"m","data":null}}"#)).unwrap_err();
        assert!(matches!(error(10), SourceError::Refused { code: 10, .. }));
        assert!(error(10).to_string().contains("JST_OPENAPI_APP_SECRET"));
        assert!(matches!(error(100), SourceError::TokenInvalid { .. }));
        assert!(matches!(error(110), SourceError::Refused { code: 110, .. }));
        assert!(matches!(error(140), SourceError::Clock { .. }));
        assert!(error(150).to_string().contains("authorise the app again"));
        assert!(matches!(error(190), SourceError::Refused { code: 190, .. }));
        assert!(error(199).is_transient() && error(200).is_transient());
        for code in [10, 100, 110, 140, 150, 190] {
            assert!(!error(code).is_transient(), "{code}");
        }
    }

    #[test]
    fn a_success_that_counts_orders_but_lists_none_is_malformed() {
        let error = parse(r#"{"code":0,"data":{"data_count":5}}"#).unwrap_err();
        assert!(matches!(error, SourceError::MalformedBody { .. }));
    }
}
