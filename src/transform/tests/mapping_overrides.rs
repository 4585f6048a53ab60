//! The config's `[mapping]` overrides: changed and added columns, the filter, and what is refused.

use super::*;

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
