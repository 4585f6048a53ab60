//! Reading the gateway's `{"response": …}` envelope: success with orders and paging facts, or
//! a failure code sorted into rejected (fatal) and throttled (transient).
//!
//! Lenient where the gateway is loose: codes as numbers or strings, paging fields beside the
//! orders or under `data`, counts as numbers or strings.

use serde_json::{Map, Value};

use crate::source::error::{SourceError, THROTTLE_CODES};

/// A successful answer, read.
#[derive(Debug, Default)]
pub struct Envelope {
    pub orders: Vec<Value>,
    pub data_count: Option<u64>,
    pub page_count: Option<u64>,
    pub has_next: Option<bool>,
    pub request_id: Option<String>,
}

/// Reads a response body: `Ok` for a success, the matching [`SourceError`] otherwise.
pub fn parse(body: &str) -> Result<Envelope, SourceError> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        return Err(malformed(
            "the gateway answered XML instead of JSON (format=json is sent; is JST_API_URL the Qimen router?)",
        ));
    }
    let top: Value = serde_json::from_str(body)
        .map_err(|e| malformed(&format!("not valid JSON ({e}; {} bytes)", body.len())))?;
    let Value::Object(mut top) = top else {
        return Err(malformed("the JSON is not an object"));
    };
    if let Some(Value::Object(error)) = top.get("error_response") {
        return Err(failure(error));
    }
    // The parsed tree is taken apart by value: the orders move out, never cloned.
    let Some(Value::Object(mut response)) = top.remove("response") else {
        return Err(malformed("no `response` object in the answer"));
    };
    if is_failure(&response) {
        return Err(failure(&response));
    }

    let mut data = match response.remove("data") {
        Some(Value::Object(data)) => Some(data),
        // Some Jushuitan answers carry `data` as a JSON string.
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(data)) => Some(data),
            _ => None,
        },
        _ => None,
    };
    // A field beside the orders wins over the same field under `data`; `null` counts as absent.
    let mut take = |name: &str| -> Option<Value> {
        let beside = response.remove(name).filter(|v| !v.is_null());
        let under = data
            .as_mut()
            .and_then(|d| d.remove(name))
            .filter(|v| !v.is_null());
        beside.or(under)
    };

    let orders = match take("orders") {
        None => Vec::new(),
        Some(Value::Array(orders)) => orders,
        Some(_) => return Err(malformed("`orders` is not an array")),
    };
    // An element that is not an object is passed on all the same: staging quarantines it with
    // its raw JSON, and one bad element must not block the page (and the watermark) for ever.
    let data_count = take("data_count").as_ref().and_then(lenient_u64);
    let page_count = take("page_count").as_ref().and_then(lenient_u64);
    let has_next = take("has_next").as_ref().and_then(lenient_bool);
    Ok(Envelope {
        orders,
        data_count,
        page_count,
        has_next,
        request_id: text(response.get("request_id")),
    })
}

fn malformed(reason: &str) -> SourceError {
    SourceError::MalformedBody {
        reason: reason.to_owned(),
    }
}

fn is_failure(response: &Map<String, Value>) -> bool {
    let flag_failure = response.get("flag").and_then(Value::as_str) == Some("failure");
    let code_failure = match response.get("code") {
        None | Some(Value::Null) => false,
        Some(code) => lenient_i64(code) != Some(0) && !is_empty_string(code),
    };
    let not_success = response.get("issuccess").and_then(lenient_bool) == Some(false);
    flag_failure || code_failure || not_success
}

fn is_empty_string(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// The Taobao-family gateways' "remote service error" (with `isp.*` sub-codes): the service
/// behind the gateway failed; temporary.
const REMOTE_SERVICE_ERROR_CODE: i64 = 15;

fn failure(response: &Map<String, Value>) -> SourceError {
    let raw_code = response.get("code");
    let code = raw_code
        .and_then(lenient_i64)
        .filter(|c| *c != 0)
        .unwrap_or(-1);
    let mut parts: Vec<String> = Vec::new();
    if code == -1
        && let Some(text) = text(raw_code)
        && !text.is_empty()
        && text != "0"
    {
        parts.push(text);
    }
    for key in ["message", "msg", "sub_code", "sub_message", "sub_msg"] {
        if let Some(text) = text(response.get(key))
            && !text.is_empty()
            && !parts.contains(&text)
        {
            parts.push(text);
        }
    }
    let message = if parts.is_empty() {
        "no message".to_owned()
    } else {
        parts.join("; ")
    };
    let request_id = text(response.get("request_id"));
    let sub_code = text(response.get("sub_code")).unwrap_or_default();
    if code == REMOTE_SERVICE_ERROR_CODE || sub_code.starts_with("isp.") {
        SourceError::Unavailable {
            code,
            message,
            request_id,
        }
    } else if THROTTLE_CODES.contains(&code) {
        SourceError::Throttled {
            code,
            message,
            request_id,
        }
    } else {
        SourceError::Rejected {
            code,
            message,
            request_id,
        }
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A whole number sent as a number or a string (`3`, `"3"`, `3.0` is refused).
pub fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.to_string().parse().ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn lenient_u64(value: &Value) -> Option<u64> {
    lenient_i64(value).and_then(|n| u64::try_from(n).ok())
}

pub fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "True" | "TRUE" | "1" => Some(true),
            "false" | "False" | "FALSE" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_fields_are_read_beside_the_orders() {
        let page = parse(r#"{"response":{"flag":"success","code":0,"request_id":"r1","page_size":25,"page_index":1,"data_count":1,"page_count":1,"has_next":false,"orders":[{"o_id":"38852"}]}}"#).unwrap();
        assert_eq!(
            (page.data_count, page.page_count, page.has_next),
            (Some(1), Some(1), Some(false))
        );
        assert_eq!(page.orders.len(), 1);
        assert_eq!(page.request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn paging_fields_are_read_under_data_too() {
        let page = parse(r#"{"response":{"code":"0","issuccess":true,"data":{"data_count":"30","page_count":2,"has_next":"true","orders":[{"o_id":1},{"o_id":2}]}}}"#).unwrap();
        assert_eq!(
            (page.data_count, page.page_count, page.has_next),
            (Some(30), Some(2), Some(true))
        );
        assert_eq!(page.orders.len(), 2);
    }

    #[test]
    fn a_field_beside_the_orders_wins_over_data_unless_it_is_null() {
        let page = parse(r#"{"response":{"code":0,"data_count":5,"has_next":null,"orders":null,"data":{"data_count":9,"has_next":true,"orders":[{"o_id":3}]}}}"#).unwrap();
        assert_eq!((page.data_count, page.has_next), (Some(5), Some(true)));
        assert_eq!(page.orders.len(), 1);
    }

    #[test]
    fn an_empty_page_may_omit_its_orders() {
        let page =
            parse(r#"{"response":{"flag":"success","code":0,"data_count":0,"orders":null}}"#)
                .unwrap();
        assert!(page.orders.is_empty());
        assert_eq!(page.data_count, Some(0));
    }

    fn error_of(body: &str) -> SourceError {
        parse(body).unwrap_err()
    }

    #[test]
    fn failures_are_sorted_into_rejected_and_throttled() {
        let rejected = error_of(
            r#"{"response":{"flag":"failure","code":25,"message":"Invalid signature","request_id":"x"}}"#,
        );
        assert!(
            matches!(rejected, SourceError::Rejected { code: 25, ref message, .. } if message == "Invalid signature")
        );
        let string_code =
            error_of(r#"{"response":{"flag":"failure","code":"199","message":"too fast"}}"#);
        assert!(matches!(
            string_code,
            SourceError::Throttled { code: 199, .. }
        ));
        let not_success =
            error_of(r#"{"response":{"issuccess":false,"code":140,"msg":"bad window"}}"#);
        assert!(
            matches!(not_success, SourceError::Rejected { code: 140, ref message, .. } if message == "bad window")
        );
        let code_only = error_of(r#"{"response":{"code":200}}"#);
        assert!(matches!(
            code_only,
            SourceError::Throttled { code: 200, .. }
        ));
        let top_error = error_of(
            r#"{"error_response":{"code":28,"msg":"Missing app key","sub_code":"isv.x"}}"#,
        );
        assert!(
            matches!(top_error, SourceError::Rejected { code: 28, ref message, .. } if message == "Missing app key; isv.x")
        );
    }

    #[test]
    fn unreadable_bodies_are_malformed() {
        for body in [
            r#"{"response":{"flag":"success","orders":[{"o_id":1}"#,
            "<?xml version=\"1.0\"?><response/>",
            r#"{"result":{}}"#,
            r#"{"response":{"orders":{}}}"#,
            "",
        ] {
            assert!(
                matches!(error_of(body), SourceError::MalformedBody { .. }),
                "{body}"
            );
        }
    }

    #[test]
    fn elements_that_are_not_orders_pass_through_for_staging_to_quarantine() {
        let page = parse(r#"{"response":{"flag":"success","orders":[1,{"o_id":"2"}]}}"#).unwrap();
        assert_eq!(page.orders.len(), 2);
    }

    #[test]
    fn a_remote_service_error_is_temporary() {
        for body in [
            r#"{"response":{"flag":"failure","code":15,"message":"Remote service error"}}"#,
            r#"{"error_response":{"code":"50","msg":"x","sub_code":"isp.remote-service-timeout"}}"#,
        ] {
            let error = error_of(body);
            assert!(
                matches!(error, SourceError::Unavailable { .. }) && error.is_transient(),
                "{body}"
            );
        }
    }
}
