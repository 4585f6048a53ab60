//! Whether a live MySQL column can take what the mapping now says about it.
//!
//! The mapping may change a column's kind in the config (`[mapping]` overrides). A change that
//! keeps every stored value as it is — a longer `VARCHAR`, `VARCHAR` to `MEDIUMTEXT`, a
//! `DECIMAL` with at least as many integer digits and decimals, a wider integer — is applied
//! with `ALTER TABLE … MODIFY COLUMN`. Anything else (narrower, or another kind of value) could
//! truncate or alter stored data, so it is refused with an explanation, never applied.

use crate::transform::ColumnKind;

/// The MySQL column type a mapped column of `kind` is stored as.
pub(crate) fn sql_type(kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Text { max_chars } => format!("VARCHAR({max_chars})"),
        ColumnKind::LongText => "MEDIUMTEXT".to_owned(),
        ColumnKind::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
        ColumnKind::DateTime => "DATETIME".to_owned(),
        ColumnKind::BigInt => "BIGINT".to_owned(),
        ColumnKind::Quantity => {
            let (precision, scale) = ColumnKind::QUANTITY_DECIMAL;
            format!("DECIMAL({precision},{scale})")
        }
        ColumnKind::Bool => "TINYINT(1)".to_owned(),
    }
}

/// What to do about one mapped column that exists in MySQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeChange {
    /// The live column already is what the mapping says.
    Same,
    /// The mapping's type holds every value of the live one: `MODIFY COLUMN` to it.
    Widen,
    /// Not safe: the reason, in words.
    Refuse(String),
}

/// A live column type as `information_schema.COLUMNS.COLUMN_TYPE` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    Varchar(u32),
    /// `TINYTEXT`, `TEXT`, `MEDIUMTEXT`, `LONGTEXT` by their byte limits.
    Blob(u64),
    Decimal(u32, u32),
    /// Integer types by their byte size (`TINYINT(1)` is [`Live::Bool`]).
    Int(u32),
    Bool,
    DateTime,
    Other,
}

const MEDIUMTEXT_BYTES: u64 = 16_777_215;

fn parse(column_type: &str) -> Live {
    let lower = column_type.trim().to_ascii_lowercase();
    let base = lower.split(' ').next().unwrap_or_default();
    let (name, args) = match base.split_once('(') {
        Some((name, rest)) => (name, rest.trim_end_matches(')')),
        None => (base, ""),
    };
    let numbers: Vec<u32> = args
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match (name, numbers.as_slice()) {
        ("varchar", [n]) => Live::Varchar(*n),
        ("tinytext", _) => Live::Blob(255),
        ("text", _) => Live::Blob(65_535),
        ("mediumtext", _) => Live::Blob(MEDIUMTEXT_BYTES),
        ("longtext", _) => Live::Blob(4_294_967_295),
        ("decimal", [p]) => Live::Decimal(*p, 0),
        ("decimal", [p, s]) => Live::Decimal(*p, *s),
        ("tinyint", [1]) => Live::Bool,
        ("tinyint", _) => Live::Int(1),
        ("smallint", _) => Live::Int(2),
        ("mediumint", _) => Live::Int(3),
        ("int", _) => Live::Int(4),
        ("bigint", _) => Live::Int(8),
        ("datetime", _) => Live::DateTime,
        _ => Live::Other,
    }
}

/// Compares the live `column_type` of `column` with the mapping's `wanted` kind.
pub fn compare(column: &str, column_type: &str, wanted: ColumnKind) -> TypeChange {
    let live = parse(column_type);
    // A quantity is stored as a decimal like any other.
    let wanted = match wanted {
        ColumnKind::Quantity => {
            let (precision, scale) = ColumnKind::QUANTITY_DECIMAL;
            ColumnKind::Decimal { precision, scale }
        }
        other => other,
    };
    let wanted_sql = sql_type(wanted);
    let narrower = || {
        TypeChange::Refuse(format!(
            "column `{column}` is {column_type} in MySQL but the mapping now says {wanted_sql}, \
             which is narrower: changing it could truncate stored values. Keep the column's type \
             in the mapping, or change the column yourself after checking its data"
        ))
    };
    let other_kind = || {
        TypeChange::Refuse(format!(
            "column `{column}` is {column_type} in MySQL but the mapping now says {wanted_sql}, \
             another kind of value: converting stored values in place could fail or change them. \
             Map the field to a new column (another name) instead"
        ))
    };
    let order = |live: u64, wanted: u64| match live.cmp(&wanted) {
        std::cmp::Ordering::Equal => TypeChange::Same,
        std::cmp::Ordering::Less => TypeChange::Widen,
        std::cmp::Ordering::Greater => narrower(),
    };
    match (wanted, live) {
        (ColumnKind::Text { max_chars }, Live::Varchar(n)) => {
            order(u64::from(n), u64::from(max_chars))
        }
        (ColumnKind::Text { .. }, Live::Blob(_)) => narrower(),
        (ColumnKind::LongText, Live::Varchar(_)) => TypeChange::Widen,
        (ColumnKind::LongText, Live::Blob(bytes)) => order(bytes, MEDIUMTEXT_BYTES),
        (ColumnKind::Decimal { precision, scale }, Live::Decimal(p, s)) => {
            let (digits, live_digits) = (precision.saturating_sub(scale), p.saturating_sub(s));
            if (precision, scale) == (p, s) {
                TypeChange::Same
            } else if digits >= live_digits && scale >= s {
                TypeChange::Widen
            } else {
                narrower()
            }
        }
        (ColumnKind::BigInt, Live::Int(bytes)) => order(u64::from(bytes), 8),
        (ColumnKind::Bool, Live::Bool) | (ColumnKind::DateTime, Live::DateTime) => TypeChange::Same,
        _ => other_kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(live: &str, wanted: ColumnKind, expected: &str) {
        let verdict = match compare("c", live, wanted) {
            TypeChange::Same => "same".to_owned(),
            TypeChange::Widen => "widen".to_owned(),
            TypeChange::Refuse(why) if why.contains("narrower") => "narrower".to_owned(),
            TypeChange::Refuse(why) if why.contains("another kind") => "other kind".to_owned(),
            TypeChange::Refuse(why) => why,
        };
        assert_eq!(verdict, expected, "{live} → {wanted:?}");
    }

    #[test]
    fn only_changes_that_keep_every_stored_value_are_applied() {
        let text = |max_chars| ColumnKind::Text { max_chars };
        let decimal = |precision, scale| ColumnKind::Decimal { precision, scale };
        check("varchar(64)", text(64), "same");
        check("varchar(64)", text(255), "widen");
        check("varchar(255)", text(64), "narrower");
        check("varchar(255)", ColumnKind::LongText, "widen");
        check("mediumtext", ColumnKind::LongText, "same");
        check("text", ColumnKind::LongText, "widen");
        check("longtext", ColumnKind::LongText, "narrower");
        check("mediumtext", text(255), "narrower");
        check("decimal(20,6)", ColumnKind::MONEY, "same");
        check("decimal(18,4)", ColumnKind::MONEY, "widen");
        check("decimal(20,6)", ColumnKind::Quantity, "same");
        check("bigint(20)", ColumnKind::Quantity, "other kind");
        check("decimal(18,4)", decimal(20, 6), "widen");
        check("decimal(18,4)", decimal(18, 6), "narrower");
        check("decimal(18,4)", decimal(18, 2), "narrower");
        check("bigint(20)", ColumnKind::BigInt, "same");
        check("int(11)", ColumnKind::BigInt, "widen");
        check("tinyint(1)", ColumnKind::Bool, "same");
        check("datetime", ColumnKind::DateTime, "same");
        check("varchar(64)", ColumnKind::BigInt, "other kind");
        check("bigint(20)", text(64), "other kind");
        check("datetime", text(64), "other kind");
        check("tinyint(1)", ColumnKind::BigInt, "other kind");
    }
}
