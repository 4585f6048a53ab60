//! Cleaning rules applied to a raw value before it is typed.

use super::*;

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
