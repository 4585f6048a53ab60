//! The `[mapping]` section of the config: changes to the default mapping.
//!
//! ```toml
//! [mapping.filter]
//! skip_status = ["Cancelled"]
//!
//! [[mapping.order.columns]]          # an existing column: only the given fields change
//! name = "remark"
//! clean = ["trim", "remove_control_chars"]
//!
//! [[mapping.order.columns]]          # a new column: source and kind are required
//! name = "receiver_address"
//! source = "receiver_address"
//! kind = { type = "long_text" }
//!
//! [[mapping.items.columns]]           # `items` and `pays` are the default child tables
//! name = "price"
//! kind = { type = "decimal", precision = 20, scale = 6 }
//!
//! [mapping.children.gifts]             # a new child table: one row per element of an array
//! table = "order_gifts"                # before the table prefix; default `order_<name>`
//! rows_from = "items"
//! key = ["o_id", "oi_id"]
//!
//! [[mapping.children.gifts.columns]]
//! name = "o_id"
//! source = "$.o_id"
//! kind = { type = "big_int" }
//! required = true
//! ```
//!
//! New columns are appended after the default ones; `jst-sync migrate` adds them to MySQL.
//! New child tables come after the default ones, by name; `jst-sync migrate` creates them.

use std::collections::BTreeMap;

use super::clean_rule::CleanRule;
use super::column_spec::{ColumnKind, ColumnSpec};
use super::filter::Filter;
use super::mapping::{ChildTable, Mapping, MappingError, TableMapping};
use super::source_path::SourcePath;

/// Changes to the default mapping, as read from the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingOverrides {
    #[serde(default)]
    pub order: TableOverrides,
    /// `[mapping.items]`: the same as `[mapping.children.items]`.
    #[serde(default)]
    pub items: TableOverrides,
    /// `[mapping.pays]`: the same as `[mapping.children.pays]`.
    #[serde(default)]
    pub pays: TableOverrides,
    /// Child tables by name: changes to an existing one, or a new one.
    #[serde(default)]
    pub children: BTreeMap<String, ChildOverrides>,
    /// Replaces the default filter (which skips nothing).
    #[serde(default)]
    pub filter: Option<Filter>,
}

/// Changes to one table's columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableOverrides {
    #[serde(default)]
    pub columns: Vec<ColumnOverride>,
}

/// Changes to a child table, or a new one (which needs `rows_from`, `key` and its columns).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildOverrides {
    /// The MySQL table's name before the table prefix; a new one's default is `order_<name>`.
    #[serde(default)]
    pub table: Option<String>,
    /// The array of the order whose elements are the rows.
    #[serde(default)]
    pub rows_from: Option<String>,
    /// The primary key's columns, `o_id` first.
    #[serde(default)]
    pub key: Option<Vec<String>>,
    #[serde(default)]
    pub columns: Vec<ColumnOverride>,
}

/// A changed or added column; fields left out keep their default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    pub name: String,
    #[serde(default)]
    pub source: Option<SourcePath>,
    #[serde(default)]
    pub kind: Option<ColumnKind>,
    #[serde(default)]
    pub clean: Option<Vec<CleanRule>>,
    #[serde(default)]
    pub required: Option<bool>,
}

impl MappingOverrides {
    pub(super) fn apply_to(&self, mapping: &mut Mapping) -> Result<(), MappingError> {
        apply_columns(&self.order.columns, &mut mapping.order)?;
        let shorthands = [("items", &self.items), ("pays", &self.pays)];
        for (name, overrides) in shorthands {
            if let Some(child) = mapping.children.iter_mut().find(|c| c.name == name) {
                apply_columns(&overrides.columns, &mut child.mapping)?;
            }
        }
        for (name, overrides) in &self.children {
            let position = match mapping.child_position(name) {
                Some(position) => position,
                None => {
                    let (Some(rows_from), Some(key)) = (&overrides.rows_from, &overrides.key)
                    else {
                        return Err(MappingError(format!(
                            "new child table `{name}` needs `rows_from` and `key`"
                        )));
                    };
                    let table = TableMapping {
                        rows_from: Some(rows_from.clone()),
                        key: key.clone(),
                        columns: Vec::new(),
                    };
                    mapping
                        .children
                        .push(ChildTable::new(name, &format!("order_{name}"), table));
                    mapping.children.len() - 1
                }
            };
            let child = &mut mapping.children[position];
            if let Some(table) = &overrides.table {
                child.table = table.clone();
            }
            if let Some(rows_from) = &overrides.rows_from {
                child.mapping.rows_from = Some(rows_from.clone());
            }
            if let Some(key) = &overrides.key {
                child.mapping.key = key.clone();
            }
            apply_columns(&overrides.columns, &mut child.mapping)?;
        }
        if let Some(filter) = &self.filter {
            mapping.filter = filter.clone();
        }
        Ok(())
    }
}

fn apply_columns(changes: &[ColumnOverride], table: &mut TableMapping) -> Result<(), MappingError> {
    for change in changes {
        match table.columns.iter_mut().find(|c| c.name == change.name) {
            Some(column) => {
                if let Some(source) = &change.source {
                    column.source = source.clone();
                }
                if let Some(kind) = change.kind {
                    column.kind = kind;
                }
                if let Some(clean) = &change.clean {
                    column.clean = clean.clone();
                }
                if let Some(required) = change.required {
                    column.required = required;
                }
            }
            None => {
                let (Some(source), Some(kind)) = (&change.source, change.kind) else {
                    return Err(MappingError(format!(
                        "new column `{}` needs both `source` and `kind`",
                        change.name
                    )));
                };
                table.columns.push(ColumnSpec {
                    name: change.name.clone(),
                    source: source.clone(),
                    kind,
                    clean: change.clean.clone().unwrap_or_default(),
                    required: change.required.unwrap_or(false),
                });
            }
        }
    }
    Ok(())
}

impl Mapping {
    /// The default mapping with a config's changes applied, validated.
    pub fn with_overrides(overrides: &MappingOverrides) -> Result<Self, MappingError> {
        let mut mapping = Self::default();
        overrides.apply_to(&mut mapping)?;
        mapping.validate()?;
        Ok(mapping)
    }
}
