//! `audit order <o_id>` and `audit raw <page_id>`: what staging knows about one order or one
//! API page (with the later reads of the same orders that were not stored again). Opens
//! staging read-only, so it works while a sync or `run --every` holds the lock.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::args::{AuditArgs, AuditCommand, GlobalArgs};
use super::run::load_config;
use crate::diff::field_changes::field_changes;
use crate::staging::{StagingStore, VersionRecord};

pub(super) fn audit(global: &GlobalArgs, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let store = StagingStore::open_read_only(&config.staging)?;
    match args.what {
        AuditCommand::Order { o_id, json } => audit_order(&store, &o_id, json),
        AuditCommand::Raw { page_id, json } => audit_raw(&store, page_id, json),
    }
}

fn audit_order(store: &StagingStore, o_id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let versions = store.order_history(o_id)?;
    if versions.is_empty() {
        super::output::error(&format!("staging has no order with o_id {o_id:?}"));
        return Ok(ExitCode::FAILURE);
    }
    let changes: Vec<Vec<String>> = std::iter::once(Vec::new())
        .chain(versions.windows(2).map(|pair| {
            field_changes(&pair[0].order, &pair[1].order)
                .iter()
                .map(ToString::to_string)
                .collect()
        }))
        .collect();
    if as_json {
        let report: Vec<Value> = versions
            .iter()
            .zip(&changes)
            .map(|(version, changes)| {
                let mut value = serde_json::to_value(version).expect("version serialises");
                value["changes_from_previous"] = json!(changes);
                value
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"o_id": o_id, "versions": report}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let current = versions
        .iter()
        .find(|v| v.current)
        .map_or("-".to_owned(), |v| format!("#{}", v.id));
    println!(
        "order {o_id}: {} version(s), current {current}",
        versions.len()
    );
    for (version, changes) in versions.iter().zip(&changes) {
        print_version(version, changes);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_version(version: &VersionRecord, changes: &[String]) {
    println!();
    println!(
        "version #{}{}  sha256 {}",
        version.id,
        if version.current { " (current)" } else { "" },
        version.sha256
    );
    println!(
        "  ts {}, modified {}",
        version.ts.map_or("-".to_owned(), |t| t.to_string()),
        version.modified.as_deref().unwrap_or("-")
    );
    println!(
        "  first seen {} by run {} ({}), page {} from the {} route (see `jst-sync audit raw {}`)",
        version.first_seen_at,
        version.first_run_id,
        version.first_run_command.as_deref().unwrap_or("?"),
        version.first_page_id,
        version.route,
        version.first_page_id
    );
    for entry in &version.outbox {
        println!(
            "  outbox #{} {} (run {}, enqueued {}{})",
            entry.id,
            entry.state,
            entry.run_id.map_or("-".to_owned(), |r| r.to_string()),
            entry.enqueued_at,
            entry
                .done_at
                .as_deref()
                .map(|d| format!(", done {d}"))
                .unwrap_or_default()
        );
    }
    if let Some(last) = version.seen_again.last() {
        println!(
            "  seen again {} time(s) without being stored again, last {} by run {}",
            version.seen_again.len(),
            last.received_at,
            last.run_id
        );
    }
    if !changes.is_empty() {
        println!("  changes from the previous version:");
        for change in changes {
            println!("    {change}");
        }
    }
}

fn audit_raw(store: &StagingStore, page_id: i64, as_json: bool) -> anyhow::Result<ExitCode> {
    let Some(page) = store.page(page_id)? else {
        super::output::error(&format!("staging has no page {page_id}"));
        return Ok(ExitCode::FAILURE);
    };
    if as_json {
        let mut value = serde_json::to_value(&page)?;
        value["params"] = page
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        value["body"] =
            serde_json::from_str(&page.body).unwrap_or(Value::String(page.body.clone()));
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "page {} of run {}: HTTP {}, received {}, {} orders",
        page.id, page.run_id, page.http_status, page.received_at, page.order_count
    );
    if let (Some(start), Some(end)) = (&page.window_start, &page.window_end) {
        println!("window {start} .. {end}, page_index {}", page.page_index);
    }
    println!("parameters (sign is never stored):");
    for (key, value) in &page.params {
        println!("  {key} = {value}");
    }
    for seen in &page.seen_again {
        println!(
            "seen again {} by run {} (same orders; not stored again, body sha256 {})",
            seen.received_at, seen.run_id, seen.body_sha256
        );
    }
    println!("body:");
    println!("{}", page.body);
    Ok(ExitCode::SUCCESS)
}
