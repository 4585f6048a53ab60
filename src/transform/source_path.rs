//! Where a column's value comes from in the order JSON: a small path form.
//!
//! A path is dot-separated field names, each optionally followed by an array selector:
//! - `so_id` — a field of the row's JSON object (the order for the order table, the item or
//!   payment for the child tables);
//! - `$.o_id` — a field of the order itself, also from a child table's row;
//! - `pays[main].amount` — `[main]` picks the element whose `is_order_pay` is true, else the
//!   first element;
//! - `pays[0].amount` — an element by position.
//!
//! A path that leads nowhere (a missing field, an empty array) yields JSON `null`.

use std::fmt;

use serde_json::Value;

/// A parsed source path; see the module documentation for the form.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SourcePath {
    text: String,
    from_order: bool,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    field: String,
    selector: Option<Selector>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Selector {
    /// The element with `is_order_pay` true, else the first.
    Main,
    At(usize),
}

impl SourcePath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (from_order, rest) = match text.strip_prefix("$.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if rest.is_empty() {
            return Err(format!("source path `{text}` is empty"));
        }
        let segments = rest
            .split('.')
            .map(|part| parse_segment(part).map_err(|why| format!("source path `{text}`: {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            from_order,
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A path naming one top-level field, e.g. `o_id`; `None` for longer paths.
    pub fn single_field(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [
                Segment {
                    field,
                    selector: None,
                },
            ] => Some(field),
            _ => None,
        }
    }

    /// Follows the path from `row` (or from `order` for `$.` paths); `Value::Null` when it
    /// leads nowhere. A field asked of a non-object, or an element of a non-array, is an error
    /// naming what was found instead.
    pub fn resolve<'a>(&self, order: &'a Value, row: &'a Value) -> Result<&'a Value, String> {
        static NULL: Value = Value::Null;
        let mut here = if self.from_order { order } else { row };
        for segment in &self.segments {
            here = match here {
                Value::Null => return Ok(&NULL),
                Value::Object(map) => map.get(&segment.field).unwrap_or(&NULL),
                other => {
                    return Err(format!(
                        "expected an object holding `{}`, found {}",
                        segment.field,
                        json_type(other)
                    ));
                }
            };
            if let Some(selector) = segment.selector {
                here = match here {
                    Value::Null => return Ok(&NULL),
                    Value::Array(elements) => match selector {
                        Selector::At(index) => elements.get(index).unwrap_or(&NULL),
                        Selector::Main => main_element(elements).unwrap_or(&NULL),
                    },
                    other => {
                        return Err(format!(
                            "expected an array at `{}`, found {}",
                            segment.field,
                            json_type(other)
                        ));
                    }
                };
            }
        }
        Ok(here)
    }
}

impl TryFrom<String> for SourcePath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for SourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_segment(part: &str) -> Result<Segment, String> {
    let (field, selector) = match part.split_once('[') {
        None => (part, None),
        Some((field, rest)) => {
            let inner = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("`{part}` has an unclosed `[`"))?;
            let selector = match inner {
                "main" => Selector::Main,
                index => Selector::At(
                    index
                        .parse()
                        .map_err(|_| format!("`[{index}]` is neither `[main]` nor an index"))?,
                ),
            };
            (field, Some(selector))
        }
    };
    let valid = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{field}` is not a field name (letters, digits, `_`)"
        ));
    }
    Ok(Segment {
        field: field.to_owned(),
        selector,
    })
}

/// The main payment rule: the element whose `is_order_pay` is true, else the first.
pub fn main_element(elements: &[Value]) -> Option<&Value> {
    elements
        .iter()
        .find(|element| element.get("is_order_pay").is_some_and(is_truthy))
        .or_else(|| elements.first())
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_str() == "1",
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1"),
        _ => false,
    }
}

/// A short name for a JSON value's type, for error messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(path: &str, order: Value, expected: Value) {
        let path = SourcePath::parse(path).unwrap();
        assert_eq!(
            path.resolve(&order, &order).unwrap(),
            &expected,
            "path {path}"
        );
    }

    #[test]
    fn resolves_fields_selectors_and_missing_values() {
        check("so_id", json!({"so_id": "A1"}), json!("A1"));
        check("a.b", json!({"a": {"b": 2}}), json!(2));
        check("missing", json!({}), Value::Null);
        check(
            "pays[0].amount",
            json!({"pays": [{"amount": "1"}]}),
            json!("1"),
        );
        check(
            "pays[1].amount",
            json!({"pays": [{"amount": "1"}]}),
            Value::Null,
        );
        check("pays[main].amount", json!({"pays": []}), Value::Null);
        check("pays[main].amount", json!({}), Value::Null);
        check(
            "pays[main].pay_id",
            json!({"pays": [{"pay_id": "p1", "is_order_pay": "false"},
                            {"pay_id": "p2", "is_order_pay": "true"}]}),
            json!("p2"),
        );
        check(
            "pays[main].pay_id",
            json!({"pays": [{"pay_id": "p1", "is_order_pay": false},
                            {"pay_id": "p2", "is_order_pay": 0}]}),
            json!("p1"),
        );
    }

    #[test]
    fn order_paths_start_at_the_order_from_a_child_row() {
        let path = SourcePath::parse("$.o_id").unwrap();
        let order = json!({"o_id": "7", "items": [{"oi_id": 1}]});
        assert_eq!(
            path.resolve(&order, &order["items"][0]).unwrap(),
            &json!("7")
        );
    }

    #[test]
    fn rejects_malformed_paths_and_wrong_shapes() {
        for bad in ["", "$.", "a..b", "a[", "a[x]", "a b", "pays[main"] {
            assert!(SourcePath::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let path = SourcePath::parse("pays[main].amount").unwrap();
        let order = json!({"pays": {"amount": 1}});
        assert!(
            path.resolve(&order, &order)
                .unwrap_err()
                .contains("an object")
        );
    }
}
