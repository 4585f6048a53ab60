//! `status` and `quarantine`: what the staging store says about past runs, without touching
//! the API or MySQL. Both open staging read-only, so they work while a sync or `run --every`
//! holds its lock.

use std::process::ExitCode;

use serde_json::Value;

use super::args::{GlobalArgs, QuarantineArgs, StatusArgs};
use super::run::load_config;
use crate::staging::StagingStore;

pub(super) fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let store = StagingStore::open_read_only(&config.staging)?;
    let counts = store.counts()?;
    let watermarks = store.watermarks()?;
    let runs = store.recent_runs(args.runs)?;
    if args.json {
        let report = serde_json::json!({
            "staging": config.staging,
            "counts": counts,
            "watermarks": watermarks.iter().map(|(source, strategy, value, at)| serde_json::json!({
                "source": source, "strategy": strategy, "value": value, "updated_at": at
            })).collect::<Vec<_>>(),
            "runs": runs,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "staging     {} ({} bytes)",
        config.staging.display(),
        counts.file_bytes
    );
    println!(
        "stored      {} pages, {} order versions, {} orders",
        counts.pages, counts.order_versions, counts.current_orders
    );
    println!("outbox      {} pending", counts.outbox_pending);
    println!("quarantine  {} open", counts.quarantine_open);
    for (source, strategy, value, at) in &watermarks {
        println!("watermark   {source} {strategy}: {value} (moved {at})");
    }
    for run in &runs {
        println!(
            "run {:>5}   {} {} {} → {}{}",
            run.id,
            run.command,
            run.status,
            run.started_at,
            run.finished_at.as_deref().unwrap_or("-"),
            run.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        if let Some(summary) = &run.summary {
            println!("            {}", run_facts(summary));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn quarantine(global: &GlobalArgs, args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let store = StagingStore::open_read_only(&config.staging)?;
    let entries = store.quarantine_entries(args.all, args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no quarantined orders");
    }
    for entry in entries {
        println!(
            "#{} o_id {} ({} stage, run {}){}: {}",
            entry.id,
            entry.o_id.as_deref().unwrap_or("?"),
            entry.stage,
            entry
                .run_id
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            entry
                .resolved_at
                .as_deref()
                .map(|r| format!(", resolved {r}"))
                .unwrap_or_default(),
            entry.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of what a run did, from its stored summary: duration, API calls, diff, push.
fn run_facts(summary: &Value) -> String {
    let number = |path: &[&str]| -> u64 {
        path.iter()
            .try_fold(summary, |value, key| value.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let mut facts = vec![format!(
        "{:.1} s",
        summary
            .get("duration_secs")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    )];
    if summary.get("pull").is_some_and(|p| !p.is_null()) {
        facts.push(format!(
            "API calls {}, orders new {}, changed {}, unchanged {}",
            number(&["api_calls"]),
            number(&["pull", "orders", "new"]),
            number(&["pull", "orders", "changed"]),
            number(&["pull", "orders", "unchanged"])
        ));
    }
    if let Some(requeued) = summary.get("requeued").and_then(Value::as_u64) {
        facts.push(format!("re-enqueued {requeued}"));
    }
    if summary.get("push").is_some_and(|p| !p.is_null()) {
        let verb = if summary.get("dry_run").and_then(Value::as_bool) == Some(true) {
            "would push"
        } else {
            "pushed"
        };
        facts.push(format!(
            "{verb} {} orders, pending {}",
            number(&["push", "orders_pushed"]),
            summary
                .pointer("/push/pending_left")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ));
        let set_aside = number(&["push", "rejected_by_mysql"]);
        if set_aside > 0 {
            facts.push(format!(
                "set aside {set_aside} orders MySQL refused (see `jst-sync quarantine`)"
            ));
        }
    }
    facts.join("; ")
}
