//! The shop's orders as the open platform writes them: the same values as the Qimen route, with
//! the open platform's types (`jushuitan-openapi-protocol.md`, "Response").
//!
//! `o_id`, `shop_id`, `co_id`, `ts`, `items[].oi_id` and `items[].qty` become integers and
//! `pay_amount`, `paid_amount`, `free_amount`, `items[].price`, `items[].amount` and
//! `items[].base_price` become numbers, each written exactly as its decimal text (`"227.00"`
//! becomes `227.00`, `"1.5"` stays the number `1.5`); `freight` and `wms_co_id` become strings
//! (a number's text as written); every `pays[]` also carries the order's `o_id` and a
//! `pay_type` (its `payment`). Everything else is served as the Qimen fake serves it.
//!
//! The conversion never changes a value, only its JSON type, so that a client that normalises
//! types reads the same order from both routes. A value that cannot take the target type is
//! served as it is: an empty discount stays `""` (as the real platform writes empty discount
//! fields), a poisoned amount such as `"abc"` or `" 1.00"` stays that string, `null` stays
//! `null`, an object or array stays as it is. A missing field stays missing.

use serde_json::{Map, Number, Value};

/// Top-level fields written as JSON numbers.
const ORDER_NUMBER_FIELDS: [&str; 7] = [
    "o_id",
    "shop_id",
    "co_id",
    "ts",
    "pay_amount",
    "paid_amount",
    "free_amount",
];
/// Top-level fields written as strings.
const ORDER_STRING_FIELDS: [&str; 2] = ["freight", "wms_co_id"];
/// `items[]` fields written as JSON numbers.
const ITEM_NUMBER_FIELDS: [&str; 5] = ["oi_id", "qty", "price", "amount", "base_price"];

/// One shop order (as the Qimen fake serves it) in the open platform's types.
pub(crate) fn to_open_platform(order: Value) -> Value {
    let Value::Object(mut order) = order else {
        return order;
    };
    ORDER_NUMBER_FIELDS
        .iter()
        .for_each(|name| as_number(&mut order, name));
    ORDER_STRING_FIELDS
        .iter()
        .for_each(|name| as_string(&mut order, name));
    if let Some(Value::Array(items)) = order.get_mut("items") {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            ITEM_NUMBER_FIELDS
                .iter()
                .for_each(|name| as_number(item, name));
        }
    }
    let o_id = order.get("o_id").cloned();
    if let Some(Value::Array(pays)) = order.get_mut("pays") {
        for pay in pays.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(o_id) = &o_id {
                pay.entry("o_id").or_insert_with(|| o_id.clone());
            }
            let pay_type = match pay.get("payment") {
                Some(Value::String(payment)) => payment.clone(),
                _ => String::new(),
            };
            pay.entry("pay_type").or_insert(Value::String(pay_type));
        }
    }
    Value::Object(order)
}

/// A string holding a JSON number becomes that number, written as the string was.
fn as_number(object: &mut Map<String, Value>, name: &str) {
    if let Some(value) = object.get_mut(name)
        && let Value::String(text) = value
        && let Ok(number) = text.parse::<Number>()
    {
        *value = Value::Number(number);
    }
}

/// A number becomes its text as written.
fn as_string(object: &mut Map<String, Value>, name: &str) {
    if let Some(value) = object.get_mut(name)
        && let Value::Number(number) = value
    {
        *value = Value::String(number.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn number(text: &str) -> Value {
        Value::Number(text.parse().unwrap())
    }

    #[test]
    fn ids_and_amounts_change_type_and_keep_their_values() {
        let qimen = json!({
            "o_id": "20000001", "shop_id": 10012345, "co_id": 10969016, "ts": 5000000001u64,
            "pay_amount": "227.00", "paid_amount": "0.00", "free_amount": "",
            "freight": number("6.00"), "wms_co_id": 11205377, "so_id": "3168479786331150357",
            "items": [{"oi_id": 12345678, "qty": "1.5", "price": "99.00", "amount": "148.50",
                       "base_price": "99.00", "outer_oi_id": "1234567890123", "is_gift": "false"}],
            "pays": [{"pay_id": "1", "amount": "227.00", "payment": "支付宝"}],
        });
        let open = to_open_platform(qimen);
        let text = serde_json::to_string(&open).unwrap();
        for expected in [
            r#""o_id":20000001"#,
            r#""pay_amount":227.00"#,
            r#""paid_amount":0.00"#,
            r#""free_amount":"""#,
            r#""freight":"6.00""#,
            r#""wms_co_id":"11205377""#,
            r#""so_id":"3168479786331150357""#,
            r#""qty":1.5"#,
            r#""amount":148.50"#,
            r#""outer_oi_id":"1234567890123""#,
            r#""is_gift":"false""#,
            r#""ts":5000000001"#,
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert_eq!(open["pays"][0]["o_id"], json!(20000001));
        assert_eq!(open["pays"][0]["pay_type"], "支付宝");
        assert_eq!(open["pays"][0]["amount"], "227.00", "pays keep their types");
    }

    #[test]
    fn values_that_cannot_take_the_type_are_served_as_they_are() {
        let qimen = json!({
            "o_id": "x1", "pay_amount": " 1.00", "paid_amount": null, "free_amount": "abc",
            "freight": "6.00", "items": [{"qty": "", "price": {"a": 1}}], "pays": [{}],
        });
        let open = to_open_platform(qimen.clone());
        assert_eq!(open["o_id"], "x1");
        assert_eq!(open["pay_amount"], " 1.00");
        assert_eq!(open["paid_amount"], Value::Null);
        assert_eq!(open["free_amount"], "abc");
        assert_eq!(open["freight"], "6.00");
        assert_eq!(open["items"], qimen["items"]);
        assert_eq!(open["pays"][0], json!({"o_id": "x1", "pay_type": ""}));
        assert!(
            open.get("shop_id").is_none(),
            "a missing field stays missing"
        );
    }
}
