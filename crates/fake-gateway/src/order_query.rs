//! The business parameters of `jushuitan.order.list.query`, parsed and validated into an
//! [`OrderQuery`], or refused with the gateway's code and message.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;

use super::config::{GatewayConfig, codes};
use super::generate::STATUSES;
use crate::beijing_time;

/// Which time `start_time`/`end_time` select on (`date_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum DateType {
    /// 0: the modified time (the default).
    #[default]
    Modified,
    /// 2: the order date.
    OrderDate,
    /// 3: the send date (orders never sent are never selected).
    SendDate,
}

/// A validated order-list request.
#[derive(Clone, Debug, Default)]
pub(crate) struct OrderQuery {
    pub page_index: u32,
    pub page_size: u32,
    /// Inclusive at both ends.
    pub window: Option<(NaiveDateTime, NaiveDateTime)>,
    pub date_type: DateType,
    pub status: Option<String>,
    pub not_status: Option<String>,
    pub shop_id: Option<i64>,
    pub wms_co_id: Option<i64>,
    pub so_ids: Option<HashSet<String>>,
    pub o_ids: Option<HashSet<u64>>,
    /// `ts >= start_ts`, sorted by `ts`.
    pub start_ts: Option<u64>,
    pub is_get_total: bool,
    pub archive: bool,
    /// Orders modified before this are in the archive (the gateway's archive horizon).
    pub archive_before: Option<NaiveDateTime>,
}

impl OrderQuery {
    /// True when some filter beyond the range of the sort index applies.
    pub(crate) fn has_row_filters(&self) -> bool {
        self.status.is_some()
            || self.not_status.is_some()
            || self.shop_id.is_some()
            || self.wms_co_id.is_some()
            || self.so_ids.is_some()
            || self.o_ids.is_some()
    }
}

/// Why a request was refused: the gateway's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: i64,
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn invalid(name: &str, rule: &str) -> Self {
        Self::new(
            codes::INVALID_ARGUMENTS,
            format!("Invalid arguments: {name} {rule}"),
        )
    }

    fn missing(message: &str) -> Self {
        Self::new(
            codes::MISSING_ARGUMENTS,
            format!("Missing required arguments: {message}"),
        )
    }
}

/// Parses the business parameters. Empty values count as absent, as in signing.
///
/// Decided where the protocol is silent: a request must select by a time window, `so_ids`,
/// `o_ids` or `start_ts` (else code 40); `date_type` 1 is refused like any unknown value;
/// boolean parameters accept only `true`/`false`.
pub(crate) fn parse(
    params: &BTreeMap<String, String>,
    config: &GatewayConfig,
) -> Result<OrderQuery, Refusal> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    };

    let page_index = match get("page_index") {
        None => 1,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&index| index >= 1)
            .ok_or_else(|| Refusal::invalid("page_index", "must be an integer from 1"))?,
    };
    let page_size_rule = format!("must be an integer from 1 to {}", config.max_page_size);
    let page_size = match get("page_size") {
        None => config.max_page_size.min(25),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&size| (1..=config.max_page_size).contains(&size))
            .ok_or_else(|| Refusal::invalid("page_size", &page_size_rule))?,
    };

    let window = match (get("start_time"), get("end_time")) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(Refusal::missing(
                "start_time and end_time must be given together",
            ));
        }
        (Some(start), Some(end)) => {
            let rule = "must be a time as yyyy-MM-dd HH:mm:ss";
            let start =
                beijing_time::parse(start).ok_or_else(|| Refusal::invalid("start_time", rule))?;
            let end = beijing_time::parse(end).ok_or_else(|| Refusal::invalid("end_time", rule))?;
            if end < start {
                return Err(Refusal::invalid(
                    "end_time",
                    "must not be before start_time",
                ));
            }
            if end - start > config.max_window {
                return Err(Refusal::new(
                    config.window_too_long_code,
                    format!(
                        "the range between start_time and end_time can not exceed {} days",
                        config.max_window.num_days()
                    ),
                ));
            }
            Some((start, end))
        }
    };

    let date_type = match get("date_type").map(str::trim) {
        None | Some("0") => DateType::Modified,
        Some("2") => DateType::OrderDate,
        Some("3") => DateType::SendDate,
        Some(_) => return Err(Refusal::invalid("date_type", "must be 0, 2 or 3")),
    };
    let status_rule = format!("must be one of {}", STATUSES.join(", "));
    let status_param = |name: &str| -> Result<Option<String>, Refusal> {
        match get(name) {
            None => Ok(None),
            Some(status) if STATUSES.contains(&status) => Ok(Some(status.to_owned())),
            Some(_) => Err(Refusal::invalid(name, &status_rule)),
        }
    };
    let integer_param = |name: &str| -> Result<Option<i64>, Refusal> {
        get(name)
            .map(|text| {
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| Refusal::invalid(name, "must be an integer"))
            })
            .transpose()
    };
    let boolean_param = |name: &str, default: bool| -> Result<bool, Refusal> {
        match get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(Refusal::invalid(name, "must be true or false")),
        }
    };
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    };

    let so_ids = get("so_ids").map(|text| list(text).into_iter().collect::<HashSet<_>>());
    let o_ids = get("o_ids")
        .map(|text| {
            list(text)
                .iter()
                .map(|id| id.parse::<u64>())
                .collect::<Result<HashSet<_>, _>>()
                .map_err(|_| Refusal::invalid("o_ids", "must be comma-separated integers"))
        })
        .transpose()?;
    let start_ts = get("start_ts")
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| Refusal::invalid("start_ts", "must be an integer"))
        })
        .transpose()?;

    if window.is_none() && so_ids.is_none() && o_ids.is_none() && start_ts.is_none() {
        return Err(Refusal::missing(
            "start_time and end_time, so_ids, o_ids or start_ts",
        ));
    }

    Ok(OrderQuery {
        page_index,
        page_size,
        window,
        date_type,
        status: status_param("status")?,
        not_status: status_param("not_status")?,
        shop_id: integer_param("shop_id")?,
        wms_co_id: integer_param("wms_co_id")?,
        so_ids,
        o_ids,
        start_ts,
        is_get_total: boolean_param("is_get_total", true)?,
        archive: boolean_param("archive", false)?,
        archive_before: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expected: Result<(), i64>) {
        let params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let outcome = parse(&params, &GatewayConfig::default())
            .map(|_| ())
            .map_err(|r| r.code);
        assert_eq!(outcome, expected, "{pairs:?}");
    }

    const WEEK: [(&str, &str); 2] = [
        ("start_time", "2024-05-01 00:00:00"),
        ("end_time", "2024-05-08 00:00:00"),
    ];

    #[test]
    fn business_parameters_are_validated_with_the_gateway_codes() {
        check(&WEEK, Ok(()));
        check(
            &[
                ("start_time", "2024-05-01 00:00:00"),
                ("end_time", "2024-05-08 00:00:01"),
            ],
            Err(41),
        );
        check(&[("start_time", "2024-05-01 00:00:00")], Err(40));
        check(
            &[
                ("start_time", "2024-05-02 00:00:00"),
                ("end_time", "2024-05-01 00:00:00"),
            ],
            Err(41),
        );
        check(&[WEEK[0], WEEK[1], ("page_size", "26")], Err(41));
        check(&[WEEK[0], WEEK[1], ("page_index", "0")], Err(41));
        check(&[WEEK[0], WEEK[1], ("date_type", "1")], Err(41));
        check(&[WEEK[0], WEEK[1], ("status", "Shipped")], Err(41));
        check(&[("start_ts", "1"), ("is_get_total", "false")], Ok(()));
        check(&[("o_ids", "12,x")], Err(41));
        check(&[], Err(40));
    }
}
