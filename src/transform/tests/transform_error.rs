//! What an error says about the order and value it could not transform.

use super::*;
// This module's own name hides the glob-imported one.
use crate::transform::transform_error;

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
