//! How a raw value becomes a cell of its column's kind: ids, money, times, integers, booleans,
//! text and decimal quantities.

use super::*;

#[test]
fn o_id_is_a_positive_integer_from_string_or_number() {
    check(json!({"o_id": "38852"}), &[("id", Cell::Int(38852))]);
    check(json!({"o_id": 38852}), &[("id", Cell::Int(38852))]);
    let rows = transform_order(&json!({"o_id": " 007 "}), &Mapping::default(), VERSION).unwrap();
    assert_eq!(rows.o_id, "7");
    check_error(json!({"o_id": "0"}), &["o_id", "positive integer"]);
    check_error(json!({"o_id": "-3"}), &["o_id"]);
    check_error(json!({"o_id": "12a"}), &["o_id", "\"12a\""]);
    check_error(json!({"o_id": 1.5}), &["o_id"]);
    check_error(json!({"so_id": "x"}), &["o_id", "null"]);
    check_error(json!([1]), &["order object"]);
}

#[test]
fn money_is_an_exact_decimal_from_string_or_number() {
    check(
        order(
            json!({"pay_amount": "227.00", "freight": 227, "paid_amount": 227.5, "free_amount": ""}),
        ),
        &[
            ("pay_amount", dec("227.00")),
            ("freight", dec("227")),
            ("paid_amount", dec("227.5")),
            ("free_amount", Cell::Null),
        ],
    );
    check(
        order(json!({"pay_amount": null, "freight": " 1.5 ", "paid_amount": "-0.01"})),
        &[
            ("pay_amount", Cell::Null),
            ("freight", dec("1.5")),
            ("paid_amount", dec("-0.01")),
        ],
    );
    // Trailing zeros beyond the column's scale (6) are dropped exactly; real digits are not.
    check(
        order(json!({"pay_amount": "1.23000000"})),
        &[("pay_amount", dec("1.230000"))],
    );
    check(
        order(json!({"pay_amount": "1.23456"})),
        &[("pay_amount", dec("1.23456"))],
    );
    check_error(
        order(json!({"pay_amount": "1.2345678"})),
        &["pay_amount", "rounded"],
    );
    check_error(
        order(json!({"pay_amount": "abc"})),
        &["order 1", "pay_amount", "\"abc\"", "not a decimal"],
    );
    check_error(
        order(json!({"pay_amount": "123456789012345.0"})),
        &["too large"],
    );
    check_error(
        order(json!({"pay_amount": {"v": 1}})),
        &["pay_amount", "expected a number, found an object"],
    );
}

#[test]
fn times_are_beijing_wall_clock_and_zero_dates_mean_none() {
    check(
        order(json!({"order_date": "2024-05-01 12:34:56", "modified": "", "send_date": null})),
        &[
            ("order_date", dt("2024-05-01 12:34:56")),
            ("modified", Cell::Null),
            ("send_date", Cell::Null),
        ],
    );
    check(
        order(json!({"plan_delivery_date": "0000-00-00 00:00:00", "pay_date": "0000-00-00"})),
        &[("plan_delivery_date", Cell::Null), ("pay_date", Cell::Null)],
    );
    check_error(
        order(json!({"order_date": "2024-13-45"})),
        &["order_date", "2024-13-45"],
    );
    check_error(order(json!({"order_date": "yesterday"})), &["order_date"]);
    check_error(
        order(json!({"order_date": 1714540800})),
        &["order_date", "found a number"],
    );
}

#[test]
fn integers_and_booleans_accept_strings_and_numbers() {
    check(
        order(json!({"shop_id": "10001", "co_id": 42, "wms_co_id": " 7 "})),
        &[
            ("shop_id", Cell::Int(10001)),
            ("co_id", Cell::Int(42)),
            ("wms_co_id", Cell::Int(7)),
        ],
    );
    check(
        order(json!({"shop_id": "3.00", "co_id": ""})),
        &[("shop_id", Cell::Int(3)), ("co_id", Cell::Null)],
    );
    check_error(
        order(json!({"shop_id": "3.5"})),
        &["shop_id", "whole number"],
    );
    check_error(
        order(json!({"shop_id": "99999999999999999999"})),
        &["shop_id", "range"],
    );
    for (input, expected) in [
        (json!(true), Cell::Bool(true)),
        (json!("true"), Cell::Bool(true)),
        (json!("TRUE"), Cell::Bool(true)),
        (json!(1), Cell::Bool(true)),
        (json!("1"), Cell::Bool(true)),
        (json!(false), Cell::Bool(false)),
        (json!("false"), Cell::Bool(false)),
        (json!(0), Cell::Bool(false)),
        (json!("0"), Cell::Bool(false)),
        (json!(""), Cell::Null),
        (Value::Null, Cell::Null),
    ] {
        check(order(json!({"is_cod": input})), &[("is_cod", expected)]);
    }
    check_error(
        order(json!({"is_cod": "maybe"})),
        &["is_cod", "not a boolean"],
    );
}

#[test]
fn text_is_kept_verbatim() {
    let nasty = "'; DROP TABLE x; --\" \\ \\\\ 😀𠀀 \u{0}\u{1}\u{7f}\r\n\t end ";
    let remark = "备注".repeat(1500);
    check(
        order(json!({"remark": remark, "buyer_message": nasty, "so_id": 3168479786331150357u64})),
        &[
            ("remark", text(&remark)),
            ("buyer_message", text(nasty)),
            ("so_id", text("3168479786331150357")),
        ],
    );
    check(order(json!({"shop_name": ""})), &[("shop_name", text(""))]);
}

#[test]
fn text_longer_than_its_column_is_an_error_not_truncated() {
    check(
        order(json!({"status": "é".repeat(64)})),
        &[("status", text(&"é".repeat(64)))],
    );
    check_error(
        order(json!({"status": "é".repeat(65)})),
        &["status", "65 characters", "VARCHAR(64)"],
    );
    check_error(
        order(json!({"shop_name": {"a": 1}})),
        &["shop_name", "expected text, found an object"],
    );
    check_error(order(json!({"shop_name": ["a"]})), &["found an array"]);
}

#[test]
fn a_decimal_qty_lands_exactly_and_a_whole_one_stays_an_integer() {
    let input = json!({"o_id": 9, "items": [
        {"oi_id": 1, "qty": "1.5"}, {"oi_id": 2, "qty": 2}, {"oi_id": 3, "qty": "3.000"},
        {"oi_id": 4, "qty": "0.1234567"},
    ]});
    let mapping = Mapping::default();
    let qty = mapping.children[ITEMS].mapping.position("qty").unwrap();
    let error = transform_order(&input, &mapping, VERSION).unwrap_err();
    assert!(error.to_string().contains("items[3].qty"), "{error}");
    let mut fine = input.clone();
    fine["items"].as_array_mut().unwrap().pop();
    let rows = transform_order(&fine, &mapping, VERSION).unwrap();
    let cells: Vec<Cell> = rows.children[ITEMS]
        .iter()
        .map(|row| row[qty].clone())
        .collect();
    assert_eq!(cells, [dec("1.5"), Cell::Int(2), dec("3.000")]);
}
