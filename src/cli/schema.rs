//! `schema`: drift between what the API sends and what the mapping uses, from the field
//! catalog kept while staging — fields the mapping does not use (with the run that first saw
//! them and an example), mapped fields absent from the latest staged versions, and fields whose
//! JSON type changed. No API or MySQL calls.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use serde::Serialize;

use super::args::{GlobalArgs, SchemaArgs};
use super::run::load_config;
use crate::pipeline::run::mapping;
use crate::staging::StagingStore;
use crate::staging::field_catalog::{self, FieldRecord};
use crate::transform::{Mapping, TableMapping};

/// Fields jst-sync itself reads, whether or not a column maps them (and the arrays child
/// tables are made from, see [`report`]).
const USED_BY_JST_SYNC: [&str; 4] = ["o_id", "ts", "modified", "pays[].is_order_pay"];

/// What `schema` reports.
#[derive(Debug, Default, Serialize)]
pub struct SchemaReport {
    /// The latest run that staged a version (and so observed fields).
    pub latest_run: Option<i64>,
    /// The run the catalog starts with (its fields are the baseline).
    pub baseline_run: Option<i64>,
    /// Fields the API sends that no mapping column uses, newest first.
    pub unmapped: Vec<UnmappedField>,
    /// Fields the mapping uses that the latest run's versions did not carry.
    pub missing: Vec<MissingField>,
    /// Fields seen with more than one JSON type (nulls aside).
    pub type_changes: Vec<TypeChange>,
    /// The whole catalog.
    pub fields: Vec<FieldRecord>,
}

#[derive(Debug, Serialize)]
pub struct UnmappedField {
    pub path: String,
    pub json_types: Vec<String>,
    pub first_run_id: i64,
    pub last_run_id: i64,
    /// First seen after the baseline run: the API started sending it.
    pub new: bool,
    pub example: String,
    pub example_o_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MissingField {
    pub path: String,
    /// The mapping columns reading it (`table.column`).
    pub columns: Vec<String>,
    /// The last run whose versions carried it; `None`: never seen.
    pub last_run_id: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TypeChange {
    pub path: String,
    /// Each type with its runs and example, oldest first.
    pub types: Vec<FieldRecord>,
}

pub(super) fn schema(global: &GlobalArgs, args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let mapping = mapping(&config)?;
    let store = StagingStore::open_existing(&config.staging)?;
    if args.rescan {
        let versions = field_catalog::rebuild(store.connection())?;
        eprintln!("Field catalog rebuilt from {versions} staged versions.");
    }
    let report = report(field_catalog::records(store.connection())?, &mapping);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, args.all));
    }
    Ok(ExitCode::SUCCESS)
}

/// Classifies the catalog against the mapping.
pub fn report(fields: Vec<FieldRecord>, mapping: &Mapping) -> SchemaReport {
    let latest_run = fields.iter().map(|f| f.last_run_id).max();
    let baseline_run = fields.iter().map(|f| f.first_run_id).min();
    let used = used_paths(mapping);
    let child_arrays: BTreeSet<&str> = (mapping.children.iter())
        .filter_map(|child| child.mapping.rows_from.as_deref())
        .collect();
    let mut by_path: BTreeMap<&str, Vec<&FieldRecord>> = BTreeMap::new();
    for field in &fields {
        by_path.entry(&field.path).or_default().push(field);
    }
    let mut unmapped = Vec::new();
    let mut type_changes = Vec::new();
    for (path, records) in &by_path {
        if !used.contains_key(*path)
            && !USED_BY_JST_SYNC.contains(path)
            && !child_arrays.contains(path)
        {
            let first = records
                .iter()
                .min_by_key(|r| r.first_run_id)
                .expect("a path has records");
            unmapped.push(UnmappedField {
                path: path.to_string(),
                json_types: records.iter().map(|r| r.json_type.clone()).collect(),
                first_run_id: first.first_run_id,
                last_run_id: records
                    .iter()
                    .map(|r| r.last_run_id)
                    .max()
                    .unwrap_or_default(),
                new: Some(first.first_run_id) > baseline_run,
                example: first.example.clone(),
                example_o_id: first.example_o_id.clone(),
            });
        }
        let mut typed: Vec<FieldRecord> = records
            .iter()
            .filter(|r| r.json_type != "null")
            .map(|r| (*r).clone())
            .collect();
        if typed.len() > 1 {
            typed.sort_by_key(|r| (r.first_run_id, r.last_run_id));
            type_changes.push(TypeChange {
                path: path.to_string(),
                types: typed,
            });
        }
    }
    unmapped.sort_by(|a, b| {
        b.first_run_id
            .cmp(&a.first_run_id)
            .then(a.path.cmp(&b.path))
    });
    let missing = used
        .into_iter()
        .filter_map(|(path, columns)| {
            let last = by_path
                .get(path.as_str())
                .and_then(|r| r.iter().map(|r| r.last_run_id).max());
            (last < latest_run || last.is_none()).then_some(MissingField {
                path,
                columns,
                last_run_id: last,
            })
        })
        .filter(|_| latest_run.is_some())
        .collect();
    SchemaReport {
        latest_run,
        baseline_run,
        unmapped,
        missing,
        type_changes,
        fields,
    }
}

/// The payload paths the mapping reads, with the columns reading each.
fn used_paths(mapping: &Mapping) -> BTreeMap<String, Vec<String>> {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let children = (mapping.children.iter()).map(|child| (child.name.as_str(), &child.mapping));
    for (table, columns) in std::iter::once(("order", &mapping.order)).chain(children) {
        for column in &columns.columns {
            let path = payload_path(columns, column.source.as_str());
            used.entry(path)
                .or_default()
                .push(format!("{table}.{}", column.name));
        }
    }
    used
}

/// The catalog path a source path reads: `remark`, `items[].sku_id`, `pays[].amount`.
/// `pays[main].amount` reads `pays[].amount`; `$.o_id` in a child table reads the order's
/// `o_id`; a nested `a.b` reads the order-level field `a`.
fn payload_path(table: &TableMapping, source: &str) -> String {
    let (row_array, rest) = match source.strip_prefix("$.") {
        Some(rest) => (None, rest),
        None => (table.rows_from.as_deref(), source),
    };
    let mut segments = rest.split('.');
    let first = segments.next().unwrap_or_default();
    let path = match first.split_once('[') {
        Some((array, _)) => match segments.next() {
            Some(next) => format!("{array}[].{}", next.split('[').next().unwrap_or(next)),
            None => array.to_owned(),
        },
        None => first.to_owned(),
    };
    match row_array {
        Some(array) => format!("{array}[].{path}"),
        None => path,
    }
}

fn text(report: &SchemaReport, all: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Some(latest) = report.latest_run else {
        return "The field catalog is empty: pull first (or `schema --rescan` for a staging file \
                made before the catalog existed).\n"
            .to_owned();
    };
    let paths: BTreeSet<&str> = report.fields.iter().map(|f| f.path.as_str()).collect();
    let _ = writeln!(
        out,
        "{} field paths observed, runs {} to {latest}.",
        paths.len(),
        report.baseline_run.unwrap_or(latest)
    );
    let shown: Vec<&UnmappedField> = report.unmapped.iter().filter(|f| all || f.new).collect();
    let hidden = report.unmapped.len() - shown.len();
    let _ = writeln!(
        out,
        "\nNot in the mapping ({}; the raw payloads keep them):",
        report.unmapped.len()
    );
    for field in &shown {
        let _ = writeln!(
            out,
            "  {:<28} {:<14} first seen run {}{}, e.g. {}",
            field.path,
            field.json_types.join("|"),
            field.first_run_id,
            if field.new { " (new)" } else { "" },
            field.example
        );
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  … and {hidden} sent since the first run (--all lists them)"
        );
    }
    let _ = writeln!(
        out,
        "\nMapped but absent from the latest versions ({}):",
        report.missing.len()
    );
    for field in &report.missing {
        let last = match field.last_run_id {
            Some(run) => format!("last seen run {run}"),
            None => "never seen".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<28} {last}; used by {}",
            field.path,
            field.columns.join(", ")
        );
    }
    let _ = writeln!(out, "\nJSON type changed ({}):", report.type_changes.len());
    for change in &report.type_changes {
        let types: Vec<String> = change
            .types
            .iter()
            .map(|t| {
                format!(
                    "{} (runs {}–{}, e.g. {})",
                    t.json_type, t.first_run_id, t.last_run_id, t.example
                )
            })
            .collect();
        let _ = writeln!(out, "  {:<28} {}", change.path, types.join(" → "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(path: &str, json_type: &str, first: i64, last: i64) -> FieldRecord {
        FieldRecord {
            path: path.into(),
            json_type: json_type.into(),
            first_run_id: first,
            last_run_id: last,
            first_seen_at: String::new(),
            last_seen_at: String::new(),
            example: "\"x\"".into(),
            example_o_id: Some("1".into()),
        }
    }

    #[test]
    fn source_paths_name_the_payload_fields_they_read() {
        let mapping = Mapping::default();
        assert_eq!(payload_path(&mapping.order, "remark"), "remark");
        assert_eq!(
            payload_path(&mapping.order, "pays[main].amount"),
            "pays[].amount"
        );
        assert_eq!(payload_path(&mapping.order, "a.b"), "a");
        let (items, pays) = (&mapping.children[0].mapping, &mapping.children[1].mapping);
        assert_eq!(payload_path(items, "sku_id"), "items[].sku_id");
        assert_eq!(payload_path(items, "$.o_id"), "o_id");
        assert_eq!(payload_path(pays, "pay_id"), "pays[].pay_id");
    }

    #[test]
    fn unmapped_missing_and_retyped_fields_are_told_apart() {
        let fields = vec![
            field("o_id", "string", 1, 3),
            field("remark", "string", 1, 3),
            field("created", "string", 1, 3),
            field("gift_note", "string", 3, 3),
            field("buyer_message", "string", 1, 2),
            field("freight", "number", 1, 2),
            field("freight", "string", 3, 3),
            field("question_desc", "null", 1, 3),
            field("question_desc", "string", 2, 3),
        ];
        let report = report(fields, &Mapping::default());
        let unmapped: Vec<(&str, bool)> = report
            .unmapped
            .iter()
            .map(|f| (f.path.as_str(), f.new))
            .collect();
        assert_eq!(unmapped, [("gift_note", true), ("created", false)]);
        let missing: Vec<&str> = report.missing.iter().map(|f| f.path.as_str()).collect();
        assert!(
            missing.contains(&"buyer_message") && missing.contains(&"items[].sku_id"),
            "{missing:?}"
        );
        assert!(!missing.contains(&"remark") && !missing.contains(&"freight"));
        let retyped: Vec<&str> = report
            .type_changes
            .iter()
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(retyped, ["freight"], "null next to a type is not a change");
    }
}
