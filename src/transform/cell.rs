//! A cleaned value on its way to a MySQL column.

use chrono::NaiveDateTime;

/// One column value after cleaning; the sink binds it as a statement parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    /// An exact decimal in canonical text form (`"227.00"`, `"-3.5"`), never a float.
    Decimal(String),
    /// Beijing wall-clock time as sent.
    DateTime(NaiveDateTime),
    Bool(bool),
}
