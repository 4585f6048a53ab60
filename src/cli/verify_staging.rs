//! `verify --integrity`: is the staging file still what jst-sync wrote? SQLite's integrity
//! check, then every stored page body and order version re-hashed against its SHA-256; damaged
//! pages are named with their window, page index and run. Read-only, so it works while a run
//! holds the lock; no API or MySQL calls. Exits 1 on damage.

use std::process::ExitCode;

use serde_json::json;

use super::args::{GlobalArgs, VerifyArgs};
use super::run::load_config;
use crate::staging::{IntegrityReport, StagingError, StagingStore};

/// What to do about damage, said once at the end of the report.
const REMEDY: &str = "restore the staging file from a backup, or move it aside and pull again with --since (MySQL keeps what was pushed; `jst-sync replay` from the new file rewrites it)";

pub(super) fn verify_staging(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let path = &config.staging;
    let report = match StagingStore::open_read_only(path) {
        Ok(store) => store.check_integrity(),
        // SQLite cannot even read it: that is the finding.
        Err(StagingError::Damaged { problem, .. }) => IntegrityReport {
            sqlite: vec![problem],
            ..IntegrityReport::default()
        },
        Err(error) => return Err(error.into()),
    };
    let limit = args.limit;
    if args.json {
        let value = json!({
            "staging": path,
            "sound": report.is_sound(),
            "damaged_runs": report.damaged_runs(),
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_text(path, &report, limit);
    }
    Ok(if report.is_sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_text(path: &std::path::Path, report: &IntegrityReport, limit: usize) {
    println!("staging  {}", path.display());
    if report.sqlite.is_empty() {
        println!("sqlite   integrity_check ok");
    } else {
        println!("sqlite   {} findings:", report.sqlite.len());
        for finding in report.sqlite.iter().take(limit) {
            println!("  {finding}");
        }
    }
    println!(
        "pages    {} checked, {} damaged",
        report.pages_checked,
        report.damaged_pages.len()
    );
    if report.pages_without_hashes > 0 {
        println!(
            "  {} pages stored before page hashes were kept: not checked (the next sync, pull or push hashes them)",
            report.pages_without_hashes
        );
    }
    for page in report.damaged_pages.iter().take(limit) {
        let window = match (&page.window_start, &page.window_end) {
            (Some(start), Some(end)) => format!("window {start} .. {end}, "),
            _ => String::new(),
        };
        println!(
            "  page {} ({window}page_index {}) of run {}: {}",
            page.id,
            page.page_index.map_or("?".to_owned(), |i| i.to_string()),
            page.run_id.map_or("?".to_owned(), |r| r.to_string()),
            page.problem
        );
    }
    println!(
        "versions {} checked, {} damaged",
        report.versions_checked,
        report.damaged_versions.len()
    );
    for version in report.damaged_versions.iter().take(limit) {
        println!(
            "  version {} of order {} (first staged by run {}, page {}): {}",
            version.id,
            version.o_id.as_deref().unwrap_or("?"),
            version
                .first_run_id
                .map_or("?".to_owned(), |r| r.to_string()),
            version
                .first_page_id
                .map_or("?".to_owned(), |p| p.to_string()),
            version.problem
        );
    }
    if report.is_sound() {
        println!("sound: SQLite finds no damage and every page and version matches its SHA-256");
    } else {
        let runs = report.damaged_runs();
        let runs = if runs.is_empty() {
            String::new()
        } else {
            format!(
                " (runs {})",
                runs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        println!("DAMAGED{runs}: {REMEDY}");
    }
}
