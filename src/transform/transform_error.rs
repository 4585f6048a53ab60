//! Why one order could not be transformed; the caller quarantines it and carries on.

use serde_json::Value;

/// An order that cannot become rows: which order, which field, what value, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order {}: field `{field}` = {value}: {reason}", .o_id.as_deref().unwrap_or("(unknown o_id)"))]
pub struct TransformError {
    /// The order's `o_id` when it was readable.
    pub o_id: Option<String>,
    /// The source path, with the element for child rows (`items[2].qty`).
    pub field: String,
    /// The offending value as JSON, shortened to [`VALUE_PREVIEW_CHARS`] characters.
    pub value: String,
    pub reason: String,
}

/// How much of an offending value an error quotes.
pub const VALUE_PREVIEW_CHARS: usize = 60;

impl TransformError {
    pub fn new(
        o_id: Option<&str>,
        field: impl Into<String>,
        value: &Value,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            o_id: o_id.map(str::to_owned),
            field: field.into(),
            value: preview(value),
            reason: reason.into(),
        }
    }
}

/// The value as JSON text (control characters escaped), cut to a preview.
fn preview(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= VALUE_PREVIEW_CHARS {
        text
    } else {
        let mut short: String = text.chars().take(VALUE_PREVIEW_CHARS).collect();
        short.push('…');
        short
    }
}
