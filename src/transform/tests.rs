//! The transform's behaviour as data: an order in, the expected cells (or error) out.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::*;

const VERSION: VersionKey = VersionKey {
    ts: Some(100),
    staging_version: 1,
};

/// Where the default mapping's child tables `items` and `pays` are in its list.
const ITEMS: usize = 0;
const PAYS: usize = 1;

fn dt(text: &str) -> Cell {
    Cell::DateTime(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap())
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn dec(s: &str) -> Cell {
    Cell::Decimal(s.to_owned())
}

/// An order with `o_id` 1 and the given fields.
fn order(fields: Value) -> Value {
    let mut order = json!({"o_id": "1"});
    order
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    order
}

/// Transforms `input` with the default mapping and compares the named order-table cells.
fn check(input: Value, expected: &[(&str, Cell)]) {
    check_with(&Mapping::default(), input, expected);
}

fn check_with(mapping: &Mapping, input: Value, expected: &[(&str, Cell)]) {
    let rows = transform_order(&input, mapping, VERSION)
        .unwrap_or_else(|e| panic!("{input} should transform: {e}"));
    for (column, cell) in expected {
        let at = mapping
            .order
            .position(column)
            .unwrap_or_else(|| panic!("no column {column}"));
        assert_eq!(&rows.order[at], cell, "column {column} of {input}");
    }
}

/// Expects an error whose message contains every one of `fragments`.
fn check_error(input: Value, fragments: &[&str]) {
    let error = transform_order(&input, &Mapping::default(), VERSION)
        .expect_err(&format!("{input} should be rejected"));
    let message = error.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "{message:?} should contain {fragment:?}"
        );
    }
}

#[test]
fn default_order_table_is_the_users_order_list_query() {
    let mapping = Mapping::default();
    let names: Vec<&str> = mapping.order.column_names().collect();
    assert_eq!(
        names.join(","),
        "id,order_date,shop_status,question_type,shop_id,question_desc,so_id,status,\
         receiver_state,receiver_city,receiver_district,send_date,plan_delivery_date,\
         creator_name,buyer_tax_no,invoice_type,pay_amount,freight,buyer_message,remark,\
         invoice_title,is_cod,type,paid_amount,pay_date,modified,order_from,l_id,shop_name,\
         wms_co_id,logistics_company,free_amount,co_id,pays_status,pays_outer_pay_id,\
         pays_pay_date,pays_amount,pays_payment,pays_buyer_account,pays_is_order_pay,pays_pay_id"
    );
    Mapping::default().validate().unwrap();
}

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
fn normalise_date_rule_turns_bad_dates_into_null() {
    let overrides: MappingOverrides = toml::from_str(
        r#"
        [[order.columns]]
        name = "order_date"
        clean = ["normalise_date"]
        "#,
    )
    .unwrap();
    let mapping = Mapping::with_overrides(&overrides).unwrap();
    check_with(
        &mapping,
        order(json!({"order_date": "2024/05/01 12:00"})),
        &[("order_date", dt("2024-05-01 12:00:00"))],
    );
    check_with(
        &mapping,
        order(json!({"order_date": "2024-13-45"})),
        &[("order_date", Cell::Null)],
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
fn errors_shorten_long_values() {
    let error = transform_order(
        &order(json!({"pay_amount": "x".repeat(500)})),
        &Mapping::default(),
        VERSION,
    )
    .unwrap_err();
    assert_eq!(error.o_id.as_deref(), Some("1"));
    assert_eq!(error.field, "pay_amount");
    assert!(error.value.chars().count() <= transform_error::VALUE_PREVIEW_CHARS + 1);
}

#[test]
fn main_payment_is_the_order_pay_else_the_first() {
    let pays = json!([
        {"pay_id": "p1", "amount": "1.00", "is_order_pay": "false", "status": "Cancelled"},
        {"pay_id": "p2", "amount": "2.00", "is_order_pay": "true", "status": "Confirmed",
         "pay_date": "2024-05-01 10:00:00", "payment": "支付宝", "buyer_account": "b@x",
         "outer_pay_id": "T2"},
    ]);
    check(
        order(json!({"pays": pays})),
        &[
            ("pays_pay_id", text("p2")),
            ("pays_amount", dec("2.00")),
            ("pays_status", text("Confirmed")),
            ("pays_is_order_pay", Cell::Bool(true)),
            ("pays_pay_date", dt("2024-05-01 10:00:00")),
            ("pays_payment", text("支付宝")),
            ("pays_buyer_account", text("b@x")),
            ("pays_outer_pay_id", text("T2")),
        ],
    );
    let no_main =
        json!([{"pay_id": "p1", "is_order_pay": false}, {"pay_id": "p2", "is_order_pay": false}]);
    check(
        order(json!({"pays": no_main})),
        &[
            ("pays_pay_id", text("p1")),
            ("pays_is_order_pay", Cell::Bool(false)),
        ],
    );
    check(
        order(json!({"pays": []})),
        &[("pays_pay_id", Cell::Null), ("pays_amount", Cell::Null)],
    );
}

#[test]
fn items_and_pays_become_child_rows_keyed_by_order() {
    let input = json!({
        "o_id": 9,
        "items": [
            {"oi_id": "11", "sku_id": "SKU-1", "qty": "2", "price": "10.50", "is_gift": "false", "name": "T恤"},
            {"oi_id": 12, "sku_id": "SKU-2", "qty": 1, "amount": 0, "is_gift": "true"},
        ],
        "pays": [{"pay_id": "P1", "amount": "21.00", "is_order_pay": true}],
    });
    let mapping = Mapping::default();
    let rows = transform_order(&input, &mapping, VERSION).unwrap();
    assert_eq!(rows.children[ITEMS].len(), 2);
    let item = |row: usize, column: &str| {
        rows.children[ITEMS][row][mapping.children[ITEMS].mapping.position(column).unwrap()].clone()
    };
    assert_eq!(item(0, "o_id"), Cell::Int(9));
    assert_eq!(item(0, "oi_id"), Cell::Int(11));
    assert_eq!(item(0, "qty"), Cell::Int(2));
    assert_eq!(item(0, "price"), dec("10.50"));
    assert_eq!(item(0, "is_gift"), Cell::Bool(false));
    assert_eq!(item(0, "name"), text("T恤"));
    assert_eq!(item(1, "oi_id"), Cell::Int(12));
    assert_eq!(item(1, "is_gift"), Cell::Bool(true));
    assert_eq!(
        rows.children[PAYS],
        vec![{
            let mut row = vec![Cell::Null; mapping.children[PAYS].mapping.columns.len()];
            row[0] = Cell::Int(9);
            row[1] = text("P1");
            row[mapping.children[PAYS].mapping.position("amount").unwrap()] = dec("21.00");
            row[mapping.children[PAYS]
                .mapping
                .position("is_order_pay")
                .unwrap()] = Cell::Bool(true);
            row
        }]
    );
}

#[test]
fn child_rows_need_their_key_and_it_must_be_unique() {
    check_error(
        order(json!({"items": [{"sku_id": "A"}]})),
        &["items[0].oi_id", "required"],
    );
    check_error(
        order(json!({"pays": [{"amount": "1"}]})),
        &["pays[0].pay_id", "required"],
    );
    check_error(
        order(json!({"pays": [{"pay_id": ""}]})),
        &["pays[0].pay_id", "required"],
    );
    check_error(
        order(json!({"items": [{"oi_id": 1}, {"oi_id": "1"}]})),
        &["items[1]", "duplicate key (o_id, oi_id)"],
    );
    check_error(
        order(json!({"items": {"oi_id": 1}})),
        &["items", "expected an array"],
    );
    check_error(
        order(json!({"items": ["x"]})),
        &["items[0]", "expected an object"],
    );
    let rows =
        transform_order(&order(json!({"items": null})), &Mapping::default(), VERSION).unwrap();
    assert!(rows.children[ITEMS].is_empty() && rows.children[PAYS].is_empty());
}

#[test]
fn overrides_change_and_add_columns_and_filter_orders() {
    let overrides: MappingOverrides = toml::from_str(
        r#"
        [filter]
        skip_status = ["Cancelled"]

        [[order.columns]]
        name = "remark"
        clean = ["trim", "remove_control_chars", { default_if_empty = "-" }]

        [[order.columns]]
        name = "receiver_address"
        source = "receiver_address"
        kind = { type = "long_text" }

        [[items.columns]]
        name = "price"
        kind = { type = "decimal", precision = 20, scale = 6 }
        "#,
    )
    .unwrap();
    let mapping = Mapping::with_overrides(&overrides).unwrap();
    assert_eq!(
        mapping.order.columns.last().unwrap().name,
        "receiver_address"
    );
    check_with(
        &mapping,
        order(json!({"remark": " a\u{0}b ", "receiver_address": "x路1号"})),
        &[("remark", text("ab")), ("receiver_address", text("x路1号"))],
    );
    check_with(&mapping, order(json!({})), &[("remark", text("-"))]);
    let rows = transform_order(
        &order(json!({"items": [{"oi_id": 1, "price": "1.234567"}]})),
        &mapping,
        VERSION,
    )
    .unwrap();
    assert_eq!(
        rows.children[ITEMS][0][mapping.children[ITEMS].mapping.position("price").unwrap()],
        dec("1.234567")
    );

    let cancelled = order(json!({"status": "Cancelled"}));
    assert_eq!(
        transform(&cancelled, &mapping, VERSION).unwrap(),
        Transformed::Skipped {
            o_id: crate::order_id::OrderId::new(1).unwrap(),
            reason: "status `Cancelled` is filtered out".into()
        }
    );
    assert!(matches!(
        transform(&order(json!({"status": "Sent"})), &mapping, VERSION),
        Ok(Transformed::Rows(_))
    ));
}

#[test]
fn overrides_that_break_the_mapping_are_refused() {
    for (toml_text, fragment) in [
        (
            "[[order.columns]]\nname = \"new_col\"",
            "needs both `source` and `kind`",
        ),
        (
            "[[order.columns]]\nname = \"id\"\nsource = \"so_id\"",
            "`id` from `o_id`",
        ),
        (
            "[[items.columns]]\nname = \"oi_id\"\nrequired = false",
            "must be required",
        ),
        (
            "[[order.columns]]\nname = \"jst_ts\"\nsource = \"ts\"\nkind = { type = \"big_int\" }",
            "reserved",
        ),
        (
            "[[order.columns]]\nname = \"bad name\"\nsource = \"x\"\nkind = { type = \"bool\" }",
            "not a column name",
        ),
    ] {
        let overrides: MappingOverrides = toml::from_str(toml_text).unwrap();
        let error = Mapping::with_overrides(&overrides).unwrap_err();
        assert!(
            error.to_string().contains(fragment),
            "{error} should contain {fragment}"
        );
    }
    assert!(
        toml::from_str::<MappingOverrides>("[[order.columns]]\nname = \"a\"\nsource = \"a[\"")
            .is_err()
    );
    assert!(toml::from_str::<MappingOverrides>("[order]\nunknown = 1").is_err());
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

#[test]
fn without_ts_modified_decides_then_content_never_staging_ids() {
    use crate::transform::VersionStamp;
    let at = |text: &str| crate::beijing_time::parse(text);
    let stamp = |modified: Option<&str>, sha: Option<&str>, staging_version| VersionStamp {
        ts: None,
        modified: modified.and_then(at),
        sha256: sha.map(str::to_owned),
        staging_version,
    };
    let (early, late) = (Some("2024-05-01 10:00:00"), Some("2024-05-01 11:00:00"));
    // A staging restored from an older copy has smaller ids: they never decide.
    assert!(!stamp(late, Some("b"), 3).is_older_than(&stamp(early, Some("a"), 900)));
    assert!(stamp(early, Some("a"), 900).is_older_than(&stamp(late, Some("b"), 3)));
    // The same content is never older, whatever the ids (rewriting it is idempotent).
    assert!(!stamp(late, Some("a"), 3).is_older_than(&stamp(late, Some("a"), 900)));
    assert!(!stamp(None, Some("a"), 3).is_older_than(&stamp(None, Some("a"), 900)));
    // Only between versions with the same `modified` and other content do the ids decide.
    assert!(stamp(late, Some("b"), 3).is_older_than(&stamp(late, Some("a"), 900)));
    assert!(stamp(None, None, 3).is_older_than(&stamp(None, None, 900)));
    // `ts` on both sides decides before anything else.
    let with_ts = |ts, modified: Option<&str>| VersionStamp {
        ts: Some(ts),
        ..stamp(modified, Some("x"), 1)
    };
    assert!(with_ts(1, late).is_older_than(&with_ts(2, early)));
}

#[test]
fn version_order_compares_ts_first_then_staging_version() {
    let v = |ts, staging_version| VersionKey {
        ts,
        staging_version,
    };
    assert!(v(Some(1), 9).is_older_than(&v(Some(2), 1)));
    assert!(!v(Some(2), 1).is_older_than(&v(Some(1), 9)));
    assert!(
        !v(Some(2), 1).is_older_than(&v(Some(2), 3)),
        "an equal ts is the same row version"
    );
    assert!(v(None, 1).is_older_than(&v(None, 3)));
    assert!(v(None, 1).is_older_than(&v(Some(2), 3)));
    assert!(!v(Some(5), 3).is_older_than(&v(None, 3)));
    assert!(!v(Some(5), 3).is_older_than(&v(Some(5), 3)));
}

#[test]
fn a_child_table_added_in_the_mapping_gets_a_row_per_element_after_the_default_ones() {
    let overrides: MappingOverrides = toml::from_str(
        r#"
        [children.item_skus]
        rows_from = "items"
        key = ["o_id", "oi_id"]
        columns = [
            { name = "o_id", source = "$.o_id", kind = { type = "big_int" }, required = true },
            { name = "oi_id", source = "oi_id", kind = { type = "big_int" }, required = true },
            { name = "sku_id", source = "sku_id", kind = { type = "text", max_chars = 255 } },
        ]

        [[children.pays.columns]]
        name = "payment"
        clean = ["trim"]
        "#,
    )
    .unwrap();
    let mapping = Mapping::with_overrides(&overrides).unwrap();
    let names: Vec<(&str, &str)> = (mapping.children.iter())
        .map(|c| (c.name.as_str(), c.table.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("items", "order_items"),
            ("pays", "order_pays"),
            ("item_skus", "order_item_skus")
        ]
    );
    let rows = transform_order(
        &order(json!({
            "items": [{"oi_id": "11", "sku_id": "A", "qty": "1"}, {"oi_id": 12, "sku_id": "B"}],
            "pays": [{"pay_id": "P1", "payment": " 支付宝 "}],
        })),
        &mapping,
        VERSION,
    )
    .unwrap();
    assert_eq!(rows.children.len(), 3);
    assert_eq!(
        rows.rows_of(&mapping, "item_skus"),
        [
            vec![Cell::Int(1), Cell::Int(11), text("A")],
            vec![Cell::Int(1), Cell::Int(12), text("B")]
        ]
    );
    assert_eq!(rows.rows_of(&mapping, "items").len(), 2);
    let payment = mapping.children[PAYS].mapping.position("payment").unwrap();
    assert_eq!(rows.children[PAYS][0][payment], text("支付宝"));
    let error = transform_order(
        &order(json!({"items": [{"sku_id": "A"}]})),
        &mapping,
        VERSION,
    )
    .unwrap_err();
    assert!(error.to_string().contains("items[0].oi_id"), "{error}");
}

#[test]
fn a_new_child_table_needs_its_array_a_key_from_o_id_and_a_name_of_its_own() {
    for (toml_text, fragment) in [
        (
            "[children.gifts]\nkey = [\"o_id\"]",
            "new child table `gifts` needs `rows_from` and `key`",
        ),
        (
            "[children.gifts]\nrows_from = \"items\"\nkey = [\"oi_id\"]",
            "key starting with `o_id`",
        ),
        (
            "[children.gifts]\nrows_from = \"items\"\nkey = [\"o_id\"]",
            "needs a required BIGINT column `o_id` from `$.o_id`",
        ),
        (
            "[children.gifts]\ntable = \"order gifts\"\nrows_from = \"items\"\nkey = [\"o_id\"]",
            "names are letters, digits and `_`",
        ),
        (
            "[children.order]\nrows_from = \"items\"\nkey = [\"o_id\"]",
            "may not be named `order`",
        ),
    ] {
        let overrides: MappingOverrides = toml::from_str(toml_text).unwrap();
        let error = Mapping::with_overrides(&overrides).unwrap_err();
        assert!(
            error.to_string().contains(fragment),
            "{error} should contain {fragment}"
        );
    }
    assert!(toml::from_str::<MappingOverrides>("[children.gifts]\nrows = \"items\"").is_err());
}
