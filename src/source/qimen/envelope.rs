//! Reading the gateway's `{"response": …}` envelope: success with orders and paging facts, or
//! a failure code sorted into what the caller does about it (retry, wait, stop).
//!
//! Lenient where the gateway is loose: raw control characters and lone surrogate escapes
//! repaired (`super::body_repair`), codes as numbers or strings, paging fields beside the
//! orders or under `data`, counts as numbers or strings, the order list under another key.
//! Strict about what is missing: a success with a positive count (or a next page) but no order
//! list is not an empty page.

use serde_json::{Map, Value};

use crate::source::body_repair::{self, BodyRepairs};
use crate::source::error::{
    APP_CALL_LIMITED_CODE, CLOCK_CODES, REMOTE_SERVICE_ERROR_CODE, SERVICE_UNAVAILABLE_CODE,
    SourceError, THROTTLE_CODES,
};

/// A successful answer, read.
#[derive(Debug, Default)]
pub struct Envelope {
    pub orders: Vec<Value>,
    pub data_count: Option<u64>,
    pub page_count: Option<u64>,
    pub has_next: Option<bool>,
    /// The `page_size` the gateway says it used, when it echoes one.
    pub page_size: Option<u64>,
    pub request_id: Option<String>,
    /// What had to be repaired before the body would parse.
    pub repairs: BodyRepairs,
}

/// Reads a response body: `Ok` for a success, the matching [`SourceError`] otherwise.
pub fn parse(body: &str) -> Result<Envelope, SourceError> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        return Err(malformed(
            "the gateway answered XML instead of JSON (format=json is sent; is JST_API_URL the Qimen router?)",
        ));
    }
    let (mut top, repairs) = parse_object(body)?;
    if let Some(Value::Object(error)) = top.get("error_response") {
        return Err(failure(error));
    }
    // The parsed tree is taken apart by value: the orders move out, never cloned. Some
    // gateways answer a success without the `response` wrapper.
    let response = match top.remove("response") {
        Some(Value::Object(response)) => response,
        Some(_) => return Err(malformed("`response` is not an object")),
        None if looks_like_a_response(&top) => top,
        None => return Err(malformed("no `response` object in the answer")),
    };
    if is_failure(&response) {
        return Err(failure(&response));
    }
    read_success(response, repairs)
}

/// A body as a JSON object: tidy bodies parse at once; only a body a strict parser refuses is
/// repaired (and what was repaired is said).
pub fn parse_object(body: &str) -> Result<(Map<String, Value>, BodyRepairs), SourceError> {
    let (top, repairs) = match serde_json::from_str::<Value>(body) {
        Ok(top) => (top, BodyRepairs::default()),
        Err(first_error) => {
            let (repaired, repairs) = body_repair::repair(body);
            if repairs.is_empty() {
                return Err(not_json(&first_error, body));
            }
            let top = serde_json::from_str::<Value>(&repaired).map_err(|e| not_json(&e, body))?;
            (top, repairs)
        }
    };
    match top {
        Value::Object(top) => Ok((top, repairs)),
        _ => Err(malformed("the JSON is not an object")),
    }
}

/// The orders and paging facts of a success answer's object (fields beside the orders or
/// under `data`), strict about a missing order list.
pub fn read_success(
    mut response: Map<String, Value>,
    repairs: BodyRepairs,
) -> Result<Envelope, SourceError> {
    let mut data = match response.remove("data") {
        Some(Value::Object(data)) => Some(data),
        // Some Jushuitan answers carry `data` as a JSON string.
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(data)) => Some(data),
            _ => None,
        },
        _ => None,
    };
    // `"orders": null` says "no orders" in so many words; an absent key says nothing.
    let null_list = response.get("orders").is_some_and(Value::is_null)
        || data
            .as_ref()
            .is_some_and(|d| d.get("orders").is_some_and(Value::is_null));
    // A field beside the orders wins over the same field under `data`; `null` counts as absent.
    let mut take = |name: &str| -> Option<Value> {
        let beside = response.remove(name).filter(|v| !v.is_null());
        let under = data
            .as_mut()
            .and_then(|d| d.remove(name))
            .filter(|v| !v.is_null());
        beside.or(under)
    };

    let listed = match take("orders") {
        None => None,
        Some(Value::Array(orders)) => Some(orders),
        Some(_) => return Err(malformed("`orders` is not an array")),
    };
    // An element that is not an object is passed on all the same: staging quarantines it with
    // its raw JSON, and one bad element must not block the page (and the watermark) for ever.
    let data_count = take("data_count").as_ref().and_then(lenient_u64);
    let page_count = take("page_count").as_ref().and_then(lenient_u64);
    let has_next = take("has_next").as_ref().and_then(lenient_bool);
    let page_size = take("page_size").as_ref().and_then(lenient_u64);
    let orders = match listed {
        Some(orders) => orders,
        None => match take_order_list_under_another_key(&mut response, data.as_mut()) {
            Some((key, orders)) => {
                tracing::warn!(
                    key,
                    orders = orders.len(),
                    "The gateway sent the order list under another key than `orders`; read it from there."
                );
                orders
            }
            None => {
                match (data_count, has_next) {
                    // Nothing to list: an empty page may omit its orders.
                    (Some(0), _) | (None, Some(false)) => Vec::new(),
                    // An explicit null list with no count (a cursor page of nothing).
                    (None, None) if null_list => Vec::new(),
                    (Some(count), _) => {
                        return Err(malformed(&format!(
                            "a success answer counts {count} orders but carries no order list"
                        )));
                    }
                    (None, _) => {
                        return Err(malformed(
                            "a success answer with neither an order list nor a count",
                        ));
                    }
                }
            }
        },
    };
    Ok(Envelope {
        orders,
        data_count,
        page_count,
        has_next,
        page_size,
        request_id: text(response.get("request_id")),
        repairs,
    })
}

fn not_json(error: &serde_json::Error, body: &str) -> SourceError {
    malformed(&format!("not valid JSON ({error}; {} bytes)", body.len()))
}

/// An unwrapped success answer: the envelope's own fields at the top level.
fn looks_like_a_response(top: &Map<String, Value>) -> bool {
    ["flag", "code", "orders", "data_count", "issuccess", "data"]
        .iter()
        .any(|key| top.contains_key(*key))
}

/// An array of objects that carry an `o_id`, under a key other than `orders`.
fn take_order_list_under_another_key(
    response: &mut Map<String, Value>,
    data: Option<&mut Map<String, Value>>,
) -> Option<(String, Vec<Value>)> {
    let is_order_list = |value: &Value| {
        value.as_array().is_some_and(|items| {
            !items.is_empty()
                && items
                    .iter()
                    .all(|item| item.as_object().is_some_and(|o| o.contains_key("o_id")))
        })
    };
    for map in std::iter::once(response).chain(data) {
        let key = map
            .iter()
            .find(|(_, value)| is_order_list(value))
            .map(|(key, _)| key.clone());
        if let Some(key) = key
            && let Some(Value::Array(orders)) = map.remove(&key)
        {
            return Some((key, orders));
        }
    }
    None
}

pub(crate) fn malformed(reason: &str) -> SourceError {
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

/// Jushuitan backend codes that come through as a `sub_code` and decide the meaning.
const BACKEND_CODES: [i64; 5] = [100, 140, 190, 199, 200];

fn failure(response: &Map<String, Value>) -> SourceError {
    let raw_code = response.get("code");
    let top_code = raw_code
        .and_then(lenient_i64)
        .filter(|c| *c != 0)
        .unwrap_or(-1);
    let mut parts: Vec<String> = Vec::new();
    if top_code == -1
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
    // A Jushuitan backend code passed through as the sub_code says what happened.
    let code = sub_code
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|c| BACKEND_CODES.contains(c))
        .unwrap_or(top_code);
    let mentions_signature = {
        let lower = message.to_lowercase();
        lower.contains("sign") || message.contains("签名")
    };
    if code == REMOTE_SERVICE_ERROR_CODE
        || sub_code.starts_with("isp.")
        || (code == SERVICE_UNAVAILABLE_CODE && !mentions_signature)
    {
        SourceError::Unavailable {
            code,
            message,
            request_id,
        }
    } else if THROTTLE_CODES.contains(&code) {
        let ban = (code == APP_CALL_LIMITED_CODE)
            .then(|| ban_seconds(&message))
            .flatten()
            .map(std::time::Duration::from_secs);
        SourceError::Throttled {
            code,
            message,
            request_id,
            ban,
        }
    } else if CLOCK_CODES.contains(&code) {
        SourceError::Clock {
            code,
            message,
            request_id,
            clock_offset_secs: None,
        }
    } else {
        SourceError::Rejected {
            code,
            message,
            request_id,
        }
    }
}

/// The length of a ban named in a message: `App Call Limited[This ban will last for 39 more
/// seconds]` → 39.
pub fn ban_seconds(message: &str) -> Option<u64> {
    let lower = message.to_lowercase();
    let at = lower.find("ban will last for")? + "ban will last for".len();
    let digits: String = lower[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub(crate) fn text(value: Option<&Value>) -> Option<String> {
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
            error_of(r#"{"response":{"issuccess":false,"code":190,"msg":"no permission"}}"#);
        assert!(
            matches!(not_success, SourceError::Rejected { code: 190, ref message, .. } if message == "no permission")
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

    #[test]
    fn a_body_with_raw_control_characters_parses_and_counts_them() {
        let page = parse("{\"response\":{\"code\":0,\"data_count\":1,\"orders\":[{\"o_id\":\"1\",\"remark\":\"a\u{0b}b\u{1f}\"}]}}").unwrap();
        assert_eq!(page.orders[0]["remark"], "ab");
        assert_eq!(page.repairs.control_chars, 2);
    }

    #[test]
    fn a_lone_surrogate_escape_parses_as_a_replacement_character() {
        let page = parse(
            r#"{"response":{"code":0,"data_count":1,"orders":[{"o_id":"1","remark":"x\ud800"}]}}"#,
        )
        .unwrap();
        assert_eq!(page.orders[0]["remark"], "x\u{fffd}");
        assert_eq!(page.repairs.lone_surrogates, 1);
    }

    #[test]
    fn a_success_that_counts_orders_but_lists_none_is_malformed_not_empty() {
        for body in [
            r#"{"response":{"flag":"success","code":0,"data_count":30,"page_count":2}}"#,
            r#"{"response":{"flag":"success","code":0,"data_count":"3","orders":null}}"#,
            r#"{"response":{"flag":"success","code":0,"has_next":true}}"#,
            r#"{"response":{"flag":"success","code":0}}"#,
        ] {
            let error = error_of(body);
            assert!(
                matches!(error, SourceError::MalformedBody { .. }) && error.is_transient(),
                "{body}: {error}"
            );
        }
    }

    #[test]
    fn an_explicit_null_list_without_a_count_is_an_empty_page() {
        let page = parse(r#"{"response":{"flag":"success","code":0,"orders":null}}"#).unwrap();
        assert!(page.orders.is_empty());
        let error =
            error_of(r#"{"response":{"flag":"success","code":0,"data_count":2,"orders":null}}"#);
        assert!(matches!(error, SourceError::MalformedBody { .. }));
    }

    #[test]
    fn an_order_list_under_another_key_is_read_from_there() {
        let page =
            parse(r#"{"response":{"code":0,"data_count":2,"datas":[{"o_id":"1"},{"o_id":"2"}]}}"#)
                .unwrap();
        assert_eq!(page.orders.len(), 2);
        let page =
            parse(r#"{"response":{"code":0,"data":{"data_count":1,"list":[{"o_id":"1"}]}}}"#)
                .unwrap();
        assert_eq!(page.orders.len(), 1);
    }

    #[test]
    fn a_success_without_the_response_wrapper_is_read() {
        let page = parse(r#"{"code":0,"data_count":1,"orders":[{"o_id":"1"}]}"#).unwrap();
        assert_eq!(page.orders.len(), 1);
    }

    #[test]
    fn code_10_on_the_qimen_route_is_a_temporary_unavailability() {
        let error =
            error_of(r#"{"error_response":{"code":10,"msg":"Service Currently Unavailable"}}"#);
        assert!(
            matches!(error, SourceError::Unavailable { code: 10, .. }) && error.is_transient(),
            "{error}"
        );
    }

    #[test]
    fn an_app_call_limit_names_the_length_of_its_ban() {
        let error = error_of(
            r#"{"error_response":{"code":7,"msg":"App Call Limited","sub_msg":"This ban will last for 39 more seconds"}}"#,
        );
        assert!(
            matches!(error, SourceError::Throttled { code: 7, ban: Some(ban), .. } if ban.as_secs() == 39),
            "{error:?}"
        );
        let error = error_of(
            r#"{"response":{"flag":"failure","code":7,"message":"App Call Limited[This ban will last for 22238 more seconds]"}}"#,
        );
        assert!(
            matches!(error, SourceError::Throttled { ban: Some(ban), .. } if ban.as_secs() == 22238)
        );
        let error =
            error_of(r#"{"response":{"flag":"failure","code":7,"message":"App Call Limited"}}"#);
        assert!(matches!(error, SourceError::Throttled { ban: None, .. }));
    }

    #[test]
    fn an_invalid_timestamp_is_a_clock_error_whether_top_or_jushuitan_says_it() {
        for body in [
            r#"{"response":{"flag":"failure","code":140,"message":"验证失败！无效的timestamp，请求最大时间误差15分钟"}}"#,
            r#"{"error_response":{"code":31,"msg":"Invalid timestamp"}}"#,
            r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"140","sub_msg":"无效的timestamp"}}"#,
        ] {
            let error = error_of(body);
            assert!(
                matches!(error, SourceError::Clock { .. }) && !error.is_transient(),
                "{body}: {error:?}"
            );
        }
    }

    #[test]
    fn a_backend_throttle_passed_through_as_sub_code_is_a_throttle() {
        let error = error_of(
            r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"199","sub_msg":"too fast"}}"#,
        );
        assert!(
            matches!(error, SourceError::Throttled { code: 199, .. }),
            "{error:?}"
        );
    }
}
