//! Specifications of the transform, as data: an order in, the expected cells (or error) out —
//! the default mapping (`mapping`), value conversion (`convert`), cleaning rules
//! (`clean_rule`), error messages (`transform_error`), array selectors (`source_path`), child
//! tables (`child_tables`), the config's overrides and filter (`mapping_overrides`) and version
//! order (`version`). This file holds the shared fixtures.

mod child_tables;
mod clean_rule;
mod convert;
mod mapping;
mod mapping_overrides;
mod source_path;
mod transform_error;
mod version;

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
