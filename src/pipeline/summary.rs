//! The run summary: printed at the end of every run and stored with the run in staging.

use std::collections::BTreeMap;
use std::fmt;

use super::watermark_lag::WatermarkLag;
use crate::pipeline::pull::PullReport;
use crate::pipeline::push::PushReport;

/// The exit code of a run that lost nothing but set orders aside: MySQL refused them for
/// their data and they wait in quarantine (`jst-sync quarantine`). 0 means nothing lost and
/// nothing set aside at push; 1 means the run failed.
pub const SET_ASIDE_EXIT_CODE: u8 = 3;

/// What one run did, start to end.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub command: String,
    pub strategy: Option<String>,
    pub succeeded: bool,
    pub duration_secs: f64,
    pub api_calls: u64,
    pub api_retries: u64,
    /// Throttle answers from the gateway.
    pub api_throttled: u64,
    /// Failed API attempts by gateway code or kind.
    pub api_errors_by_code: BTreeMap<String, u64>,
    /// Versions re-enqueued by `replay`.
    pub requeued: Option<u64>,
    pub pull: Option<PullReport>,
    pub push: Option<PushReport>,
    pub dry_run: bool,
    pub error: Option<String>,
    /// Every watermark after the run and how far it is behind now.
    pub watermarks: Vec<WatermarkLag>,
    /// The outbox and quarantine after the run (read before staging is closed, so that no
    /// reader opens the file after the run).
    pub staging_sizes: Option<StagingSizes>,
}

/// Versions waiting in the outbox and unresolved quarantine entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StagingSizes {
    pub outbox_pending: i64,
    pub quarantine_open: i64,
}

impl RunSummary {
    /// 0 when the run succeeded and MySQL refused nothing, [`SET_ASIDE_EXIT_CODE`] when it
    /// succeeded but set orders aside at push, 1 when it failed.
    pub fn exit_code(&self) -> std::process::ExitCode {
        let set_aside = self.push.as_ref().is_some_and(|p| p.rejected_by_mysql > 0);
        match (self.succeeded, set_aside) {
            (false, _) => std::process::ExitCode::FAILURE,
            (true, true) => std::process::ExitCode::from(SET_ASIDE_EXIT_CODE),
            (true, false) => std::process::ExitCode::SUCCESS,
        }
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = if self.succeeded {
            "succeeded"
        } else {
            "FAILED"
        };
        writeln!(
            f,
            "jst-sync {} (run {}): {outcome} in {:.1} s",
            self.command, self.run_id, self.duration_secs
        )?;
        if let Some(pull) = &self.pull {
            writeln!(
                f,
                "  pull     windows {}/{} ({} split), pages {}, API calls {}, retries {}, drift {} (re-reads {})",
                pull.windows_done,
                pull.windows_planned,
                pull.subwindows,
                pull.pages,
                self.api_calls,
                self.api_retries,
                pull.drift_events,
                pull.rereads
            )?;
            let o = &pull.orders;
            writeln!(
                f,
                "  orders   seen {}: new {}, changed {}, unchanged {}, stale {}, quarantined {}",
                o.orders, o.new, o.changed, o.unchanged, o.stale, o.quarantined
            )?;
            if pull.new_fields + pull.field_type_changes > 0 {
                writeln!(
                    f,
                    "  fields   new {}, type changes {}: see `jst-sync schema` (raw payloads keep them)",
                    pull.new_fields, pull.field_type_changes
                )?;
            }
            let r = &pull.body_repairs;
            if !r.is_empty() {
                writeln!(
                    f,
                    "  bodies   repaired before parsing (staged as received): control characters removed {}, raw tabs/newlines escaped {}, lone surrogates replaced {}",
                    r.control_chars, r.raw_whitespace, r.lone_surrogates
                )?;
            }
            if pull.archive_windows > 0 || pull.extra_pages > 0 {
                writeln!(
                    f,
                    "  coverage archive windows {}, pages read past an under-reported count {}",
                    pull.archive_windows, pull.extra_pages
                )?;
            }
            for window in &pull.incomplete_windows {
                let what = if window.settling {
                    "settling, read again next run"
                } else {
                    "NOT COMPLETE"
                };
                writeln!(f, "  window   {} {what}: {}", window.window, window.reason)?;
            }
            if let Some(watermark) = &pull.watermark {
                writeln!(f, "  watermark {watermark}")?;
            }
        }
        if let Some(requeued) = self.requeued {
            writeln!(
                f,
                "  replay   re-enqueued {requeued} current versions from staging (no API calls)"
            )?;
        }
        if let Some(push) = &self.push {
            let verb = if self.dry_run { "would push" } else { "pushed" };
            let others = match push.other_child_rows {
                0 => String::new(),
                rows => format!(", other child tables {rows}"),
            };
            writeln!(
                f,
                "  push     {verb} {} orders (items {}, pays {}{others}) in {} batches, {} write statements; stale skipped {}, quarantined {}, filtered {}, still pending {}",
                push.orders_pushed,
                push.item_rows,
                push.pay_rows,
                push.batches,
                push.write_statements,
                push.stale_skipped,
                push.quarantined,
                push.filtered,
                push.pending_left
            )?;
            let fresh = &push.freshness;
            if let (Some(max), Some(mean)) = (fresh.max_secs, fresh.mean_secs) {
                let mode = if push.streamed {
                    "pushed while pulling"
                } else {
                    "pushed after the pull"
                };
                writeln!(
                    f,
                    "  fresh    page received → rows committed: mean {mean:.1} s, max {max:.1} s over {} orders; first rows {:.1} s into the run ({mode})",
                    fresh.orders_measured,
                    fresh.first_commit_secs.unwrap_or_default()
                )?;
            }
            if let Some(refusal) = push
                .load_data
                .as_ref()
                .and_then(|l| l.refused_by_server.as_deref())
            {
                writeln!(
                    f,
                    "  load     the server refuses LOAD DATA LOCAL INFILE ({refusal}): new orders were upserted"
                )?;
            }
            if push.rejected_by_mysql > 0 {
                writeln!(
                    f,
                    "  set aside {} orders MySQL refused for their data (see `jst-sync quarantine`; exit code {SET_ASIDE_EXIT_CODE})",
                    push.rejected_by_mysql
                )?;
            }
            if push.requeued_after_migration > 0 {
                writeln!(
                    f,
                    "  refill   re-enqueued {} current orders: a migration re-added or widened a column",
                    push.requeued_after_migration
                )?;
            }
        }
        if let Some(dry) = self.push.as_ref().and_then(|p| p.dry_run.as_ref()) {
            if dry.compared_with_mysql {
                writeln!(
                    f,
                    "  dry run  orders: insert {}, update {}, skip stale {}, delete filtered {}; items: insert {}, replace {}; pays: insert {}, replace {}",
                    dry.orders_insert,
                    dry.orders_update,
                    dry.orders_stale,
                    dry.orders_delete,
                    dry.items_insert,
                    dry.items_replace,
                    dry.pays_insert,
                    dry.pays_replace
                )?;
            } else {
                writeln!(
                    f,
                    "  dry run  {} orders: inserts and updates not told apart ({})",
                    dry.orders_unknown,
                    dry.mysql_note.as_deref().unwrap_or("MySQL not read")
                )?;
            }
            writeln!(
                f,
                "  dry run  nothing was written to MySQL and nothing was marked pushed"
            )?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  error    {error}")?;
        }
        Ok(())
    }
}
