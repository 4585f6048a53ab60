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
//! [[mapping.items.columns]]
//! name = "price"
//! kind = { type = "decimal", precision = 20, scale = 6 }
//! ```
//!
//! New columns are appended after the default ones; `jst-sync migrate` adds them to MySQL.

use super::clean_rule::CleanRule;
use super::column_spec::{ColumnKind, ColumnSpec};
use super::filter::Filter;
use super::mapping::{Mapping, MappingError, TableMapping};
use super::source_path::SourcePath;

/// Changes to the default mapping, as read from the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingOverrides {
    #[serde(default)]
    pub order: TableOverrides,
    #[serde(default)]
    pub items: TableOverrides,
    #[serde(default)]
    pub pays: TableOverrides,
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
        apply_table(&self.order, &mut mapping.order)?;
        apply_table(&self.items, &mut mapping.items)?;
        apply_table(&self.pays, &mut mapping.pays)?;
        if let Some(filter) = &self.filter {
            mapping.filter = filter.clone();
        }
        Ok(())
    }
}

fn apply_table(overrides: &TableOverrides, table: &mut TableMapping) -> Result<(), MappingError> {
    for change in &overrides.columns {
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
