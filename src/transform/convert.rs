//! Converts one cleaned JSON value into a [`Cell`] of a column's kind.
//!
//! Decisions (documented in the transform module):
//! - `null`, a missing value and `""` become `NULL` for every kind except text, where `""`
//!   stays an empty string (text is verbatim).
//! - Numbers may come as JSON numbers or strings (surrounding spaces ignored); money is checked
//!   with `rust_decimal` and kept as text, never a float.
//! - A zero date (`0000-00-00`, `0000-00-00 00:00:00`) means "no date" and becomes `NULL`;
//!   any other unparsable date is an error.
//! - Text is kept verbatim; a value longer than the column is an error, never truncated.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::cell::Cell;
use super::column_spec::{ColumnKind, LONG_TEXT_MAX_BYTES};
use super::source_path::json_type;
use crate::beijing_time;

/// Converts `value` to `kind`; the error is the reason, without the value.
pub fn to_cell(value: &Value, kind: ColumnKind) -> Result<Cell, String> {
    match kind {
        ColumnKind::Text { max_chars } => to_text(value).and_then(|cell| {
            let chars = text_of(&cell).chars().count();
            if chars > max_chars as usize {
                Err(format!(
                    "{chars} characters do not fit VARCHAR({max_chars})"
                ))
            } else {
                Ok(cell)
            }
        }),
        ColumnKind::LongText => to_text(value).and_then(|cell| {
            let bytes = text_of(&cell).len();
            if bytes > LONG_TEXT_MAX_BYTES {
                Err(format!("{bytes} bytes do not fit MEDIUMTEXT"))
            } else {
                Ok(cell)
            }
        }),
        ColumnKind::Decimal { precision, scale } => match number_text(value)? {
            None => Ok(Cell::Null),
            Some(text) => to_decimal(text, precision, scale),
        },
        ColumnKind::Quantity => match number_text(value)? {
            None => Ok(Cell::Null),
            Some(text) => match text.parse::<i64>() {
                Ok(int) => Ok(Cell::Int(int)),
                Err(_) => {
                    let (precision, scale) = ColumnKind::QUANTITY_DECIMAL;
                    to_decimal(text, precision, scale).map(|cell| match cell {
                        Cell::Decimal(text) => match text.parse::<i64>() {
                            Ok(int) => Cell::Int(int),
                            Err(_) => Cell::Decimal(text),
                        },
                        other => other,
                    })
                }
            },
        },
        ColumnKind::BigInt => match number_text(value)? {
            None => Ok(Cell::Null),
            Some(text) => to_bigint(text).map(Cell::Int),
        },
        ColumnKind::DateTime => to_datetime(value),
        ColumnKind::Bool => to_bool(value),
    }
}

fn text_of(cell: &Cell) -> &str {
    match cell {
        Cell::Text(text) => text,
        _ => "",
    }
}

fn to_text(value: &Value) -> Result<Cell, String> {
    match value {
        Value::Null => Ok(Cell::Null),
        Value::String(s) => Ok(Cell::Text(s.clone())),
        // With `arbitrary_precision` the number's text is exactly what was sent.
        Value::Number(n) => Ok(Cell::Text(n.as_str().to_owned())),
        Value::Bool(b) => Ok(Cell::Text(b.to_string())),
        other => Err(format!("expected text, found {}", json_type(other))),
    }
}

/// The text of a numeric value, `None` for `null` or an empty string.
fn number_text(value: &Value) -> Result<Option<&str>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n.as_str())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim())),
        other => Err(format!("expected a number, found {}", json_type(other))),
    }
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

fn to_decimal(text: &str, precision: u32, scale: u32) -> Result<Cell, String> {
    let mut decimal = parse_decimal(text).ok_or_else(|| "not a decimal number".to_owned())?;
    if decimal.scale() > scale {
        let rounded = decimal.round_dp(scale);
        if rounded != decimal {
            return Err(format!(
                "needs more than {scale} decimal places (would be rounded)"
            ));
        }
        decimal = rounded;
        decimal.rescale(scale);
    }
    let integer_digits = decimal
        .trunc()
        .abs()
        .to_string()
        .trim_start_matches('0')
        .len() as u32;
    if integer_digits > precision - scale {
        return Err(format!("too large for DECIMAL({precision},{scale})"));
    }
    Ok(Cell::Decimal(decimal.to_string()))
}

fn to_bigint(text: &str) -> Result<i64, String> {
    if let Ok(int) = text.parse::<i64>() {
        return Ok(int);
    }
    // "3.00" or "3e2": accepted when the value is a whole number.
    let decimal = parse_decimal(text).ok_or_else(|| "not an integer".to_owned())?;
    if !decimal.fract().is_zero() {
        return Err("not a whole number".to_owned());
    }
    i64::try_from(decimal.trunc()).map_err(|_| "out of BIGINT range".to_owned())
}

fn to_datetime(value: &Value) -> Result<Cell, String> {
    match value {
        Value::Null => Ok(Cell::Null),
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() || is_zero_date(trimmed) {
                return Ok(Cell::Null);
            }
            beijing_time::parse(trimmed)
                .map(Cell::DateTime)
                .ok_or_else(|| "not a `yyyy-MM-dd HH:mm:ss` date and time".to_owned())
        }
        other => Err(format!(
            "expected a date string, found {}",
            json_type(other)
        )),
    }
}

/// `0000-00-00` or `0000-00-00 00:00:00`: how some systems say "no date".
fn is_zero_date(text: &str) -> bool {
    text.starts_with("0000-00-00")
        && text["0000-00-00".len()..]
            .chars()
            .all(|c| matches!(c, '0' | ':' | ' ' | '.' | 'T'))
}

fn to_bool(value: &Value) -> Result<Cell, String> {
    let text = match value {
        Value::Null => return Ok(Cell::Null),
        Value::Bool(b) => return Ok(Cell::Bool(*b)),
        Value::Number(n) => n.as_str().to_owned(),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        other => return Err(format!("expected a boolean, found {}", json_type(other))),
    };
    match text.as_str() {
        "" => Ok(Cell::Null),
        "true" | "1" => Ok(Cell::Bool(true)),
        "false" | "0" => Ok(Cell::Bool(false)),
        _ => Err("not a boolean (true/false/1/0)".to_owned()),
    }
}
