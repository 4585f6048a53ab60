//! Child tables: one row per array element, keyed by the order, default and added ones.

use super::*;

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
