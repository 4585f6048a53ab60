//! Field-by-field changes between two versions of an order, as JSON paths
//! (`items[0].qty: "1" → "2"`), for `audit order`.

use std::fmt;

use serde_json::Value;

/// One leaf that differs: its path and the value before and after (`None` = absent).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |value: &Option<Value>| {
            value
                .as_ref()
                .map_or_else(|| "(absent)".to_owned(), Value::to_string)
        };
        write!(
            f,
            "{}: {} → {}",
            self.path,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// Every leaf that differs between `before` and `after`, in path order. Objects are compared
/// key by key and arrays element by element (by position); anything else is a leaf.
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut changes);
    changes
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            keys.sort();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for index in 0..a.len().max(b.len()) {
                walk(format!("{path}[{index}]"), a.get(index), b.get(index), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path,
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(before: Value, after: Value, expected: &[&str]) {
        let shown: Vec<String> = field_changes(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, expected, "{before} → {after}");
    }

    #[test]
    fn changes_are_named_by_json_path() {
        check(json!({"a": "1"}), json!({"a": "1"}), &[]);
        check(json!({"a": "1"}), json!({"a": "2"}), &[r#"a: "1" → "2""#]);
        check(
            json!({"items": [{"qty": "1", "sku": "x"}]}),
            json!({"items": [{"qty": "2", "sku": "x"}]}),
            &[r#"items[0].qty: "1" → "2""#],
        );
        check(
            json!({"a": 1}),
            json!({"a": 1, "b": null}),
            &["b: (absent) → null"],
        );
        check(
            json!({"p": [1, 2]}),
            json!({"p": [1]}),
            &["p[1]: 2 → (absent)"],
        );
        check(
            json!({"o": {"x": 1}}),
            json!({"o": "flat"}),
            &[r#"o: {"x":1} → "flat""#],
        );
    }
}
