//! One column of a MySQL table: its name, where its value comes from, its type and cleaning.

use super::clean_rule::CleanRule;
use super::source_path::SourcePath;

/// One column of a mapped table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The MySQL column name (letters, digits, `_`).
    pub name: String,
    /// Where the value comes from in the order JSON.
    pub source: SourcePath,
    pub kind: ColumnKind,
    /// Applied in order to the raw value before it is converted to `kind`.
    #[serde(default)]
    pub clean: Vec<CleanRule>,
    /// A missing or empty value is an error instead of `NULL`.
    #[serde(default)]
    pub required: bool,
}

impl ColumnSpec {
    /// A column without cleaning rules that may be `NULL`.
    pub fn new(name: &str, source: &str, kind: ColumnKind) -> Self {
        Self {
            name: name.to_owned(),
            source: SourcePath::parse(source).expect("built-in source paths are valid"),
            kind,
            clean: Vec::new(),
            required: false,
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// The type of a column; decides how a JSON value is converted and the MySQL column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnKind {
    /// `VARCHAR(max_chars)`; a longer value is an error, never truncated.
    Text { max_chars: u32 },
    /// `MEDIUMTEXT` (up to 16 MiB of UTF-8) for free text such as remarks.
    LongText,
    /// `DECIMAL(precision, scale)`; a value that would need rounding is an error.
    Decimal { precision: u32, scale: u32 },
    /// `DATETIME`, Beijing wall-clock time as sent.
    DateTime,
    /// `BIGINT`, from a JSON number or a string of digits.
    BigInt,
    /// A count the API types as decimal (`items[].qty`): `DECIMAL(20,6)`, so `"1.5"` lands
    /// exactly; a whole number stays an integer cell. A value that would need rounding is an
    /// error.
    Quantity,
    /// `TINYINT(1)`, from `true`/`false`, `1`/`0`, as JSON or as strings.
    Bool,
}

/// The largest value a `MEDIUMTEXT` column holds, in bytes.
pub const LONG_TEXT_MAX_BYTES: usize = 16_777_215;

impl ColumnKind {
    /// Money: `DECIMAL(20,6)`, wider than any amount the API sends (14 integer digits, 6
    /// decimals), so no valid order is refused for its precision.
    pub const MONEY: Self = Self::Decimal {
        precision: 20,
        scale: 6,
    };

    /// The `DECIMAL(precision, scale)` of [`ColumnKind::Quantity`].
    pub const QUANTITY_DECIMAL: (u32, u32) = (20, 6);
}
