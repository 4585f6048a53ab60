//! The `biz` of `/open/orders/single/query`, parsed and validated into the shop's
//! [`OrderQuery`], or refused with code 120 and a message naming the field.
//!
//! Decided where the protocol is silent: `biz` must be a JSON object; ids, `page_index`,
//! `page_size`, `date_type`, `shop_id` and `start_ts` may be JSON integers or strings of
//! digits, `so_ids` entries strings or integers; `page_size` defaults to 30; an unknown
//! `date_type` (1 included) and an unknown `status` are refused; `is_offline_shop`,
//! `order_flds`, `order_item_flds`, `order_types` and `is_get_cbfinance` are accepted and
//! ignored (the fake serves every field of every order); unknown fields are ignored.
//! `start_ts` selects `ts >= start_ts` sorted by `ts` whatever `is_get_total` says
//! (`is_get_total=false` only answers the counts as 0); `modified_begin`/`modified_end`
//! select on the time `date_type` names, and the 7-day rule holds for every `date_type`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::config::{DEFAULT_PAGE_SIZE, MAX_SO_IDS, OpenApiConfig, codes};
use crate::beijing_time;
use crate::generate::STATUSES;
use crate::order_query::{DateType, OrderQuery, Refusal};

fn invalid(message: impl std::fmt::Display) -> Refusal {
    Refusal::new(codes::INVALID_ARGUMENTS, format!("参数错误: {message}"))
}

/// Parses `biz` (the form field's text).
pub(crate) fn parse(biz: &str, config: &OpenApiConfig) -> Result<OrderQuery, Refusal> {
    let biz: Map<String, Value> = match serde_json::from_str(biz) {
        Ok(Value::Object(biz)) => biz,
        _ => return Err(invalid("biz must be a JSON object")),
    };
    let get = |name: &str| biz.get(name).filter(|value| !value.is_null());

    let page_index = match get("page_index") {
        None => 1,
        Some(value) => integer(value)
            .and_then(|index| u32::try_from(index).ok())
            .filter(|&index| index >= 1)
            .ok_or_else(|| invalid("page_index must be an integer from 1"))?,
    };
    let page_size = match get("page_size") {
        None => DEFAULT_PAGE_SIZE.min(config.max_page_size),
        Some(value) => integer(value)
            .and_then(|size| u32::try_from(size).ok())
            .filter(|size| (1..=config.max_page_size).contains(size))
            .ok_or_else(|| {
                invalid(format!(
                    "page_size must be an integer from 1 to {}",
                    config.max_page_size
                ))
            })?,
    };

    let time = |name: &str, value: &Value| {
        value
            .as_str()
            .and_then(beijing_time::parse)
            .ok_or_else(|| invalid(format!("{name} must be a time as yyyy-MM-dd HH:mm:ss")))
    };
    let window = match (get("modified_begin"), get("modified_end")) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(invalid(
                "modified_begin and modified_end must be given together",
            ));
        }
        (Some(begin), Some(end)) => {
            let (begin, end) = (time("modified_begin", begin)?, time("modified_end", end)?);
            if end < begin {
                return Err(invalid("modified_end must not be before modified_begin"));
            }
            if end - begin > config.max_window {
                return Err(invalid(format!(
                    "modified_begin and modified_end may be at most {} days apart",
                    config.max_window.num_days()
                )));
            }
            Some((begin, end))
        }
    };

    let date_type = match get("date_type").map(integer) {
        None | Some(Some(0)) => DateType::Modified,
        Some(Some(2)) => DateType::OrderDate,
        Some(Some(3)) => DateType::SendDate,
        Some(_) => return Err(invalid("date_type must be 0, 2 or 3")),
    };
    let status = match get("status") {
        None => None,
        Some(Value::String(status)) if status.is_empty() => None,
        Some(Value::String(status)) if STATUSES.contains(&status.as_str()) => Some(status.clone()),
        Some(_) => {
            return Err(invalid(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    };
    let shop_id = get("shop_id")
        .map(|value| integer(value).ok_or_else(|| invalid("shop_id must be an integer")))
        .transpose()?;
    let list = |name: &str| -> Result<Option<&Vec<Value>>, Refusal> {
        match get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(invalid(format!("{name} must be a list"))),
        }
    };
    let so_ids = list("so_ids")?
        .map(|items| {
            if items.len() > MAX_SO_IDS {
                return Err(invalid(format!("so_ids may list at most {MAX_SO_IDS}")));
            }
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    Value::Number(number) if number.is_u64() => Ok(number.to_string()),
                    _ => Err(invalid("so_ids must list strings")),
                })
                .collect::<Result<HashSet<_>, _>>()
        })
        .transpose()?;
    let o_ids = list("o_ids")?
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    integer(item)
                        .and_then(|id| u64::try_from(id).ok())
                        .ok_or_else(|| invalid("o_ids must list integers"))
                })
                .collect::<Result<HashSet<_>, _>>()
        })
        .transpose()?;
    let start_ts = get("start_ts")
        .map(|value| {
            integer(value)
                .and_then(|ts| u64::try_from(ts).ok())
                .ok_or_else(|| invalid("start_ts must be an integer"))
        })
        .transpose()?;
    let boolean = |name: &str, default: bool| match get(name) {
        None => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(invalid(format!("{name} must be true or false"))),
    };
    let is_get_total = boolean("is_get_total", true)?;
    boolean("is_offline_shop", false)?;

    if window.is_none() && so_ids.is_none() && o_ids.is_none() && start_ts.is_none() {
        return Err(invalid(
            "one of modified_begin and modified_end, so_ids, o_ids or start_ts is required",
        ));
    }

    Ok(OrderQuery {
        page_index,
        page_size,
        window,
        date_type,
        status,
        shop_id,
        so_ids,
        o_ids,
        start_ts,
        is_get_total,
        ..OrderQuery::default()
    })
}

/// A JSON integer, or a string of digits (with an optional sign).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(biz: &str, expected: Result<(), i64>) {
        let outcome = parse(biz, &OpenApiConfig::default())
            .map(|_| ())
            .map_err(|refusal| refusal.code);
        assert_eq!(outcome, expected, "{biz}");
    }

    const WEEK: &str =
        r#""modified_begin":"2024-05-01 00:00:00","modified_end":"2024-05-08 00:00:00""#;

    #[test]
    fn biz_is_validated_with_code_120() {
        check(&format!("{{{WEEK}}}"), Ok(()));
        check(
            &format!(r#"{{{WEEK},"page_size":100,"page_index":"2"}}"#),
            Ok(()),
        );
        check(&format!(r#"{{{WEEK},"page_size":101}}"#), Err(120));
        check(&format!(r#"{{{WEEK},"page_size":0}}"#), Err(120));
        check(&format!(r#"{{{WEEK},"page_index":0}}"#), Err(120));
        check(&format!(r#"{{{WEEK},"date_type":1}}"#), Err(120));
        check(
            &format!(r#"{{{WEEK},"date_type":3,"shop_id":10012345}}"#),
            Ok(()),
        );
        check(&format!(r#"{{{WEEK},"status":"Shipped"}}"#), Err(120));
        check(
            r#"{"modified_begin":"2024-05-01 00:00:00","modified_end":"2024-05-08 00:00:01"}"#,
            Err(120),
        );
        check(r#"{"modified_begin":"2024-05-01 00:00:00"}"#, Err(120));
        check(
            r#"{"modified_begin":"2024-05-02 00:00:00","modified_end":"2024-05-01 00:00:00"}"#,
            Err(120),
        );
        check(r#"{"start_ts":5000000001,"is_get_total":false}"#, Ok(()));
        check(r#"{"o_ids":[20000001,"20000002"]}"#, Ok(()));
        check(r#"{"o_ids":["x"]}"#, Err(120));
        check(r#"{"so_ids":"1"}"#, Err(120));
        let twenty_one: Vec<String> = (0..21).map(|i| format!("\"{i}\"")).collect();
        check(
            &format!(r#"{{"so_ids":[{}]}}"#, twenty_one.join(",")),
            Err(120),
        );
        check("{}", Err(120));
        check("[]", Err(120));
        check("not json", Err(120));
    }

    #[test]
    fn page_size_defaults_to_30() {
        let query = parse(&format!("{{{WEEK}}}"), &OpenApiConfig::default()).unwrap();
        assert_eq!((query.page_index, query.page_size), (1, 30));
    }
}
