//! `verify`: reconciles staging with MySQL, by content. Every current version staging has
//! pushed must be in MySQL with the same stored version (`jst_ts`), the fingerprint of that
//! version (`jst_sha256`, the SHA-256 of its staged JSON), every mapped column as the transform
//! makes it from that version, and as many rows in each child table (items, payments…) as the
//! order has; nothing may
//! be in MySQL that staging does not know or that the mapping filters out. A row without a
//! fingerprint (written before fingerprints, or cleared by a migration that re-added or widened
//! a column) is drift until the next push writes it again. Versions still waiting in the outbox
//! are "not yet pushed", not drift. Exits 1 on drift, naming the first ids of each kind.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::args::{GlobalArgs, VerifyArgs};
use super::run::load_config;
use crate::pipeline::run::{mapping, mysql_config};
use crate::sink::mysql::{MysqlSink, StoredOrder};
use crate::staging::StagingStore;
use crate::transform::{Cell, Mapping, Transformed, VersionKey, transform};

/// What staging says MySQL should hold for one order.
struct Expected {
    ts: Option<i64>,
    /// The SHA-256 of the staged JSON of the current version.
    sha256: String,
    fields: Vec<Option<String>>,
    /// Rows per child table, in the mapping's order.
    children: Vec<u64>,
}

/// What staging knows, sorted by what it means for MySQL.
#[derive(Default)]
struct StagingView {
    expected: BTreeMap<i64, Expected>,
    pending: BTreeSet<i64>,
    filtered: BTreeSet<i64>,
    quarantined: BTreeSet<i64>,
}

/// Differences by kind, each a list of order ids (all of them; the report shows the first).
#[derive(Default, serde::Serialize)]
struct Drift {
    missing_in_mysql: Vec<i64>,
    unknown_to_staging: Vec<i64>,
    filtered_but_present: Vec<i64>,
    version_differs: Vec<i64>,
    /// Rows without a fingerprint: to be written again by the next push.
    no_fingerprint: Vec<i64>,
    /// Rows written from another version than staging's current one.
    fingerprint_differs: Vec<i64>,
    fields_differ: Vec<(i64, String)>,
    /// Per child table (in the mapping's order), the orders whose row count differs.
    children_differ: Vec<Vec<i64>>,
}

impl Drift {
    fn total(&self) -> usize {
        self.missing_in_mysql.len()
            + self.unknown_to_staging.len()
            + self.filtered_but_present.len()
            + self.version_differs.len()
            + self.no_fingerprint.len()
            + self.fingerprint_differs.len()
            + self.fields_differ.len()
            + self.children_differ.iter().map(Vec::len).sum::<usize>()
    }
}

pub(super) async fn verify(global: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if args.integrity {
        return super::verify_staging::verify_staging(global, &args);
    }
    let config = load_config(global)?;
    let mapping = mapping(&config)?;
    // Every mapped column but the id (the row's key).
    let columns: Vec<&str> = mapping
        .order
        .column_names()
        .filter(|c| *c != crate::transform::mapping::ORDER_ID_COLUMN)
        .collect();
    let view = {
        let store = StagingStore::open_read_only(&config.staging)?;
        read_staging(&store, &mapping, &columns)?
    };
    let sink = MysqlSink::connect(&mysql_config(&config)?, mapping.clone()).await?;
    let stored = sink.snapshot(&columns).await;
    sink.disconnect().await;
    let stored = stored.context("cannot read MySQL (has a push created the tables yet?)")?;
    let drift = compare(&view, &stored, &columns, mapping.children.len());

    let settled = |id: &i64| !view.pending.contains(id);
    let mysql_orders = stored
        .iter()
        .filter(|(id, s)| s.has_row && settled(id))
        .count();
    // Per child table: (name, rows staging expects, rows MySQL holds).
    let child_counts: Vec<(&str, u64, u64)> = (mapping.children.iter().enumerate())
        .map(|(i, child)| {
            let expected = view.expected.values().map(|e| e.children[i]).sum();
            let held = stored
                .iter()
                .filter(|(id, _)| settled(id))
                .map(|(_, s)| s.children.get(i).copied().unwrap_or(0))
                .sum();
            (child.name.as_str(), expected, held)
        })
        .collect();
    let limit = args.limit;
    if args.json {
        let first = |ids: &Vec<i64>| ids.iter().take(limit).copied().collect::<Vec<_>>();
        let mut report = json!({
            "in_sync": drift.total() == 0,
            "counts": {
                "orders": {"staging": view.expected.len(), "mysql": mysql_orders},
            },
            "not_yet_pushed": view.pending.len(),
            "filtered": view.filtered.len(),
            "quarantined": view.quarantined.len(),
            "drift": {
                "missing_in_mysql": {"count": drift.missing_in_mysql.len(), "first": first(&drift.missing_in_mysql)},
                "unknown_to_staging": {"count": drift.unknown_to_staging.len(), "first": first(&drift.unknown_to_staging)},
                "filtered_but_present": {"count": drift.filtered_but_present.len(), "first": first(&drift.filtered_but_present)},
                "version_differs": {"count": drift.version_differs.len(), "first": first(&drift.version_differs)},
                "no_fingerprint": {"count": drift.no_fingerprint.len(), "first": first(&drift.no_fingerprint)},
                "fingerprint_differs": {"count": drift.fingerprint_differs.len(), "first": first(&drift.fingerprint_differs)},
                "fields_differ": {"count": drift.fields_differ.len(), "first": drift.fields_differ.iter().take(limit).map(|(id, what)| json!({"id": id, "column": what})).collect::<Vec<_>>()},
            },
        });
        for ((name, expected, held), differ) in child_counts.iter().zip(&drift.children_differ) {
            report["counts"][name] = json!({"staging": expected, "mysql": held});
            report["drift"][format!("{name}_differ")] =
                json!({"count": differ.len(), "first": first(differ)});
        }
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "orders   staging {} / MySQL {mysql_orders}",
            view.expected.len()
        );
        for (name, expected, held) in &child_counts {
            println!("{name:<8} staging {expected} / MySQL {held}");
        }
        println!(
            "not yet pushed {} (pending in the outbox: run `jst-sync push`), filtered {}, quarantined {}",
            view.pending.len(),
            view.filtered.len(),
            view.quarantined.len()
        );
        let show = |label: &str, ids: Vec<String>| {
            if !ids.is_empty() {
                let first: Vec<String> = ids.iter().take(limit).cloned().collect();
                let more = if ids.len() > limit { ", …" } else { "" };
                println!("DRIFT {label}: {} ({}{more})", ids.len(), first.join(", "));
            }
        };
        let text = |ids: &Vec<i64>| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        show(
            "in staging, missing in MySQL",
            text(&drift.missing_in_mysql),
        );
        show(
            "in MySQL, unknown to staging",
            text(&drift.unknown_to_staging),
        );
        show(
            "in MySQL although the mapping filters them",
            text(&drift.filtered_but_present),
        );
        show("jst_ts differs", text(&drift.version_differs));
        show(
            "no fingerprint (to be written again: run `jst-sync push`)",
            text(&drift.no_fingerprint),
        );
        show(
            "written from another version than staging's current one",
            text(&drift.fingerprint_differs),
        );
        show(
            "columns differ",
            drift
                .fields_differ
                .iter()
                .map(|(id, c)| format!("{id} {c}"))
                .collect(),
        );
        for (child, differ) in mapping.children.iter().zip(&drift.children_differ) {
            let label = match child.name.as_str() {
                "items" => "item row count differs".to_owned(),
                "pays" => "payment row count differs".to_owned(),
                name => format!("{name} row count differs"),
            };
            show(&label, text(differ));
        }
        if drift.total() == 0 {
            println!("in sync: MySQL holds exactly what staging has pushed");
        } else {
            println!(
                "{} differences; `jst-sync audit order <id>` shows an order's history, `jst-sync replay` rewrites MySQL from staging",
                drift.total()
            );
        }
    }
    Ok(if drift.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_staging(
    store: &StagingStore,
    mapping: &Mapping,
    columns: &[&str],
) -> anyhow::Result<StagingView> {
    let positions: Vec<usize> = columns
        .iter()
        .filter_map(|c| mapping.order.position(c))
        .collect();
    let mut view = StagingView::default();
    store.for_each_current(|record| {
        let Ok(id) = record.o_id.parse::<i64>() else {
            return;
        };
        match record.outbox_state.as_deref() {
            Some("pending") => {
                view.pending.insert(id);
                return;
            }
            Some("quarantined") => {
                view.quarantined.insert(id);
                return;
            }
            _ => {}
        }
        let version = VersionKey {
            ts: record.ts,
            staging_version: 0,
        };
        let outcome = serde_json::from_str::<Value>(&record.canonical_json)
            .ok()
            .and_then(|order| transform(&order, mapping, version).ok());
        match outcome {
            Some(Transformed::Rows(rows)) => {
                let fields = positions
                    .iter()
                    .map(|p| cell_text(&rows.order[*p]))
                    .collect();
                view.expected.insert(
                    id,
                    Expected {
                        ts: record.ts,
                        sha256: crate::diff::sha256_hex(&record.canonical_json),
                        fields,
                        children: rows.children.iter().map(|r| r.len() as u64).collect(),
                    },
                );
            }
            Some(Transformed::Skipped { .. }) => {
                view.filtered.insert(id);
            }
            // Pushed with another mapping and failing with this one: the next replay would
            // quarantine it.
            None => {
                view.quarantined.insert(id);
            }
        }
    })?;
    Ok(view)
}

fn compare(
    view: &StagingView,
    stored: &BTreeMap<i64, StoredOrder>,
    columns: &[&str],
    children: usize,
) -> Drift {
    let mut drift = Drift {
        children_differ: vec![Vec::new(); children],
        ..Drift::default()
    };
    for (id, want) in &view.expected {
        let Some(have) = stored.get(id).filter(|s| s.has_row) else {
            drift.missing_in_mysql.push(*id);
            continue;
        };
        if have.ts != want.ts {
            drift.version_differs.push(*id);
        }
        match &have.sha256 {
            None => drift.no_fingerprint.push(*id),
            Some(sha) if *sha != want.sha256 => drift.fingerprint_differs.push(*id),
            Some(_) => {}
        }
        for ((column, want), have) in columns.iter().zip(&want.fields).zip(&have.fields) {
            if !same_text(want, have) {
                drift
                    .fields_differ
                    .push((*id, format!("{column}: staging {want:?}, MySQL {have:?}")));
            }
        }
        for (i, differ) in drift.children_differ.iter_mut().enumerate() {
            if have.children.get(i).copied().unwrap_or(0) != want.children[i] {
                differ.push(*id);
            }
        }
    }
    for id in stored.keys() {
        if view.expected.contains_key(id)
            || view.pending.contains(id)
            || view.quarantined.contains(id)
        {
            continue;
        }
        if view.filtered.contains(id) {
            drift.filtered_but_present.push(*id);
        } else {
            drift.unknown_to_staging.push(*id);
        }
    }
    drift
}

/// A cell as MySQL renders its column as text.
fn cell_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Text(text) | Cell::Decimal(text) => Some(text.clone()),
        Cell::Int(value) => Some(value.to_string()),
        Cell::DateTime(time) => Some(time.format("%Y-%m-%d %H:%M:%S").to_string()),
        Cell::Bool(value) => Some(if *value { "1" } else { "0" }.to_owned()),
    }
}

/// Equal as text, or as numbers (MySQL pads decimals to their scale).
fn same_text(want: &Option<String>, have: &Option<String>) -> bool {
    match (want, have) {
        (Some(a), Some(b)) if a != b => {
            matches!((Decimal::from_str(a), Decimal::from_str(b)), (Ok(x), Ok(y)) if x == y)
        }
        (a, b) => a == b,
    }
}
