//! An order's id (`o_id`): a positive integer, the order table's `BIGINT` primary key, read
//! from the JSON once and carried typed from there to MySQL.

use std::fmt;

use serde_json::Value;

/// An order's `o_id`: a positive `i64`, shown as its decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(i64);

impl OrderId {
    /// `id` when it is positive.
    pub fn new(id: i64) -> Option<Self> {
        (id > 0).then_some(Self(id))
    }

    /// An `o_id` as the gateways send it: a JSON integer, or a string of one (spaces around it
    /// trimmed); `None` for anything else, zero or a negative number.
    pub fn from_json(value: &Value) -> Option<Self> {
        let parsed = match value {
            Value::Number(n) => n.as_str().parse::<i64>().ok(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed.and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Compares with the decimal text (`rows.o_id == "7"`).
impl PartialEq<&str> for OrderId {
    fn eq(&self, other: &&str) -> bool {
        // The decimal of a positive number has no sign and no leading zero.
        !other.starts_with(['+', '0']) && other.parse::<i64>() == Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_order_id_is_a_positive_integer_from_a_number_or_a_string() {
        let id = |value: Value| OrderId::from_json(&value).map(OrderId::get);
        assert_eq!(id(json!(38852)), Some(38852));
        assert_eq!(id(json!("38852")), Some(38852));
        assert_eq!(id(json!(" 007 ")), Some(7));
        for bad in [
            json!("0"),
            json!(-3),
            json!("12a"),
            json!(1.5),
            json!(""),
            json!(null),
            json!(true),
            json!("9223372036854775808"),
        ] {
            assert_eq!(OrderId::from_json(&bad), None, "{bad}");
        }
    }

    #[test]
    fn an_order_id_shows_as_its_decimal() {
        let id = OrderId::new(38852).unwrap();
        assert_eq!(id.to_string(), "38852");
        assert_eq!(id, "38852");
        assert_ne!(id, "038852");
        assert_ne!(id, "+38852");
        assert_eq!(OrderId::new(0), None);
    }
}
