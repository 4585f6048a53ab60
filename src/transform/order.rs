//! Transforms one order's JSON into its rows, following a [`Mapping`]. Pure: no I/O.
//!
//! Decisions:
//! - `o_id` (string or number) must be a positive integer: it is the order table's `BIGINT`
//!   primary key. `OrderRows::o_id` holds it as an [`OrderId`].
//! - Child rows without their key (items without `oi_id`, payments without `pay_id`) are
//!   errors (required key columns), as are two items with the same `oi_id` (or payments with
//!   the same `pay_id`) in one order: the child table's primary key would collide and silently
//!   keeping one would lose data.
//! - A missing or `null` child array (`items`, `pays`) means no rows; anything but an array is
//!   an error.
//! - Value conversion rules are in [`super::convert`].

use std::collections::HashSet;

use serde_json::Value;

use super::cell::Cell;
use super::column_spec::ColumnSpec;
use super::convert::to_cell;
use super::mapping::{Mapping, TableMapping};
use super::source_path::json_type;
use super::transform_error::TransformError;
use super::{OrderRows, VersionKey};
use crate::order_id::OrderId;

/// What the transform made of an order.
#[derive(Clone, Debug, PartialEq)]
pub enum Transformed {
    Rows(OrderRows),
    /// A filter matched: the order must not be (or stay) in MySQL.
    Skipped {
        o_id: OrderId,
        reason: String,
    },
}

/// Applies the mapping's filter, then [`transform_order`].
pub fn transform(
    order: &Value,
    mapping: &Mapping,
    version: VersionKey,
) -> Result<Transformed, TransformError> {
    let o_id = order_id(order)?;
    if let Some(reason) = mapping.filter.skip_reason(order) {
        return Ok(Transformed::Skipped { o_id, reason });
    }
    transform_order(order, mapping, version).map(Transformed::Rows)
}

/// Turns one order into its order row and the rows of each child table.
pub fn transform_order(
    order: &Value,
    mapping: &Mapping,
    version: VersionKey,
) -> Result<OrderRows, TransformError> {
    let o_id = order_id(order)?;
    let o_id_text = o_id.to_string();
    let context = Context {
        o_id: &o_id_text,
        order,
    };
    let order_row = context.row(&mapping.order, order, None)?;
    let children = mapping
        .children
        .iter()
        .map(|child| context.child_rows(&child.mapping))
        .collect::<Result<_, _>>()?;
    let modified = order
        .get("modified")
        .and_then(Value::as_str)
        .and_then(|text| crate::beijing_time::parse(text.trim()));
    Ok(OrderRows {
        o_id,
        version,
        modified,
        sha256: None,
        order: order_row,
        children,
    })
}

/// The order's `o_id` as a positive integer.
pub fn order_id(order: &Value) -> Result<OrderId, TransformError> {
    let value = match order {
        Value::Object(map) => map.get("o_id").unwrap_or(&Value::Null),
        other => {
            return Err(TransformError::new(
                None,
                "",
                other,
                format!("expected an order object, found {}", json_type(other)),
            ));
        }
    };
    match OrderId::from_json(value) {
        Some(id) => Ok(id),
        None => Err(TransformError::new(
            None,
            "o_id",
            value,
            "must be a positive integer (string or number)",
        )),
    }
}

struct Context<'a> {
    o_id: &'a str,
    order: &'a Value,
}

impl Context<'_> {
    fn child_rows(&self, table: &TableMapping) -> Result<Vec<Vec<Cell>>, TransformError> {
        let array_name = table.rows_from.as_deref().unwrap_or_default();
        let elements = match self.order.get(array_name) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(elements)) => elements,
            Some(other) => {
                return Err(self.error(
                    array_name,
                    other,
                    format!("expected an array, found {}", json_type(other)),
                ));
            }
        };
        let key_positions: Vec<usize> =
            table.key.iter().filter_map(|k| table.position(k)).collect();
        let mut keys = HashSet::new();
        let mut rows = Vec::with_capacity(elements.len());
        for (index, element) in elements.iter().enumerate() {
            let at = format!("{array_name}[{index}]");
            if !element.is_object() {
                return Err(self.error(
                    &at,
                    element,
                    format!("expected an object, found {}", json_type(element)),
                ));
            }
            let row = self.row(table, element, Some(&at))?;
            let key: Vec<Cell> = key_positions.iter().map(|&p| row[p].clone()).collect();
            if !keys.insert(key) {
                return Err(self.error(
                    &at,
                    element,
                    format!("duplicate key ({}) within the order", table.key.join(", ")),
                ));
            }
            rows.push(row);
        }
        Ok(rows)
    }

    fn row(
        &self,
        table: &TableMapping,
        row: &Value,
        at: Option<&str>,
    ) -> Result<Vec<Cell>, TransformError> {
        table
            .columns
            .iter()
            .map(|column| self.cell(column, row, at))
            .collect()
    }

    fn cell(
        &self,
        column: &ColumnSpec,
        row: &Value,
        at: Option<&str>,
    ) -> Result<Cell, TransformError> {
        let field = match at {
            Some(at) if !column.source.as_str().starts_with("$.") => {
                format!("{at}.{}", column.source)
            }
            _ => column.source.to_string(),
        };
        let raw = column
            .source
            .resolve(self.order, row)
            .map_err(|why| self.error(&field, &Value::Null, why))?;
        let cleaned = column
            .clean
            .iter()
            .fold(raw.clone(), |value, rule| rule.apply(value));
        let cell = to_cell(&cleaned, column.kind).map_err(|why| {
            self.error(
                &field,
                &cleaned,
                format!("{why} (column `{}`)", column.name),
            )
        })?;
        let empty = matches!(&cell, Cell::Null) || matches!(&cell, Cell::Text(t) if t.is_empty());
        if column.required && empty {
            return Err(self.error(
                &field,
                &cleaned,
                format!("required by column `{}` but missing or empty", column.name),
            ));
        }
        Ok(cell)
    }

    fn error(&self, field: &str, value: &Value, reason: impl Into<String>) -> TransformError {
        TransformError::new(Some(self.o_id), field, value, reason)
    }
}
