//! The staging side of a pull: the events the fetchers hand it (fingerprinted pages, window
//! ends) and the one thread that writes them to SQLite in order, moves the watermark over the
//! contiguous prefix of windows whose pages are all committed, and keeps the pull's report.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use tokio::sync::mpsc;

use super::SharedStaging;
use super::freshness::Arrivals;
use super::plan::PlannedWindow;
use crate::beijing_time;
use crate::config::Strategy;
use crate::source::{BodyRepairs, WindowReport};
use crate::staging::PageOutcome;
use crate::staging::{FingerprintedPage, StagingError};

/// What a pull did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PullReport {
    pub windows_planned: usize,
    pub windows_done: usize,
    pub pages: u64,
    pub orders: PageOutcome,
    pub drift_events: u64,
    pub rereads: u64,
    pub subwindows: u64,
    pub watermark: Option<String>,
    /// Field paths the API sent for the first time (see `jst-sync schema`).
    pub new_fields: u64,
    /// Known field paths that arrived with another JSON type.
    pub field_type_changes: u64,
    /// Windows read a second time from the archive (`archive=true`).
    pub archive_windows: usize,
    /// Pages read past the count because the last counted page came back full.
    pub extra_pages: u64,
    /// What had to be repaired in bodies before they would parse (bodies are staged as
    /// received).
    pub body_repairs: BodyRepairs,
    /// Windows that could not be proven complete, with why: the watermark stays before them and
    /// the run fails (a settling tail window only warns: the next run reads it again).
    pub incomplete_windows: Vec<IncompleteWindow>,
}

impl PullReport {
    /// Adds another route's pull to this one (a run that reads two routes).
    pub fn absorb(&mut self, other: PullReport) {
        self.windows_planned += other.windows_planned;
        self.windows_done += other.windows_done;
        self.pages += other.pages;
        self.orders.add(&other.orders);
        self.drift_events += other.drift_events;
        self.rereads += other.rereads;
        self.subwindows += other.subwindows;
        self.watermark = other.watermark.or(self.watermark.take());
        self.new_fields += other.new_fields;
        self.field_type_changes += other.field_type_changes;
        self.archive_windows += other.archive_windows;
        self.extra_pages += other.extra_pages;
        self.body_repairs.add(&other.body_repairs);
        self.incomplete_windows.extend(other.incomplete_windows);
    }
}

/// A window whose read could not be proven complete.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IncompleteWindow {
    pub window: String,
    pub reason: String,
    /// The settling tail window: read again by the next run, not a failure.
    pub settling: bool,
}

/// What the fetchers hand to staging, in order: pages, their orders already fingerprinted,
/// and window ends.
pub(super) enum StageEvent {
    Page(FingerprintedPage),
    /// The planned window at this position was read.
    WindowDone(usize, WindowReport),
    CursorDone(i64),
}

#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_stager(
    staging: SharedStaging,
    run_id: i64,
    source_key: String,
    strategy: Strategy,
    planned: Vec<PlannedWindow>,
    watermark_cap: Option<NaiveDateTime>,
    arrivals: Arrivals,
    mut events: mpsc::Receiver<StageEvent>,
) -> tokio::task::JoinHandle<(PullReport, Result<(), StagingError>)> {
    // A progress bar on a terminal (see `cli::logging`); nothing elsewhere.
    let progress = tracing::info_span!("pull", indicatif.pb_show = tracing::field::Empty);
    tokio::task::spawn_blocking(move || {
        use tracing_indicatif::span_ext::IndicatifSpanExt;
        let _entered = progress.enter();
        progress.pb_set_style(
            &indicatif::ProgressStyle::with_template(
                "{spinner} pull {bar:30} {pos}/{len} windows {msg} [{elapsed}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        progress.pb_set_length(planned.len() as u64);
        let mut report = PullReport {
            windows_planned: planned.len(),
            archive_windows: planned.iter().filter(|w| w.archive).count(),
            ..PullReport::default()
        };
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut prefix = 0usize;
        let result = (|| -> Result<(), StagingError> {
            while let Some(event) = events.blocking_recv() {
                let mut store = staging.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    StageEvent::Page(page) => {
                        let outbox_before = store.last_outbox_id()?;
                        let outcome = store.stage_fingerprinted(run_id, &page)?;
                        if outcome.new + outcome.changed > 0 {
                            arrivals.record(
                                outbox_before,
                                store.last_outbox_id()?,
                                page.page().received_at,
                            );
                        }
                        let max_ts = page.max_ts();
                        let page = page.page();
                        if strategy == Strategy::Ts
                            && page.window.is_none()
                            && let Some(max_ts) = max_ts
                        {
                            store.record_cursor_mark(
                                &source_key,
                                max_ts,
                                page.received_at,
                                run_id,
                            )?;
                        }
                        report.pages += 1;
                        report.orders.add(&outcome);
                        progress.pb_set_message(&format!(
                            "{} pages, {} orders ({} new, {} changed)",
                            report.pages,
                            report.orders.orders,
                            report.orders.new,
                            report.orders.changed
                        ));
                        let news = store.take_field_news();
                        report.new_fields += news.new_fields;
                        report.field_type_changes += news.type_changes;
                        tracing::debug!(
                            window = ?page.window.map(|w| w.to_string()),
                            page = page.page_index,
                            orders = outcome.orders,
                            new = outcome.new,
                            changed = outcome.changed,
                            "Page staged."
                        );
                    }
                    StageEvent::WindowDone(index, window_report) => {
                        // The source logged the window; count it and move the watermark.
                        report.windows_done += 1;
                        progress.pb_inc(1);
                        report.drift_events += window_report.drift_events;
                        report.rereads += window_report.rereads;
                        report.subwindows += window_report.subwindows;
                        report.extra_pages += window_report.extra_pages;
                        let planned_window = planned[index];
                        // A window that cannot be proven complete may have missed orders: its
                        // pages are staged, but the watermark stays before it so the next run
                        // reads it again.
                        if let Some(reason) = &window_report.incomplete {
                            tracing::warn!(window = %planned_window, reason, "Window incomplete; the watermark stays before it.");
                            report.incomplete_windows.push(IncompleteWindow {
                                window: planned_window.to_string(),
                                reason: reason.clone(),
                                settling: planned_window.settling,
                            });
                        } else {
                            done.insert(index);
                        }
                        let before = prefix;
                        while done.contains(&prefix) {
                            prefix += 1;
                        }
                        if prefix > before {
                            let Some(cap) = watermark_cap else { continue };
                            let end = beijing_time::format(planned[prefix - 1].window.end.min(cap));
                            let stored = store.watermark(&source_key, strategy.as_str())?;
                            // The watermark never moves back (a backfill of old windows).
                            if stored.as_deref().is_none_or(|s| s < end.as_str()) {
                                store.set_watermark(
                                    &source_key,
                                    strategy.as_str(),
                                    &end,
                                    run_id,
                                )?;
                                report.watermark = Some(end);
                            }
                        }
                    }
                    StageEvent::CursorDone(cursor) => {
                        let stored = store.watermark(&source_key, strategy.as_str())?;
                        let stored: Option<i64> = stored.and_then(|s| s.parse().ok());
                        if stored.is_none_or(|s| s < cursor) {
                            store.set_watermark(
                                &source_key,
                                strategy.as_str(),
                                &cursor.to_string(),
                                run_id,
                            )?;
                            report.watermark = Some(cursor.to_string());
                        }
                    }
                }
            }
            Ok(())
        })();
        (report, result)
    })
}
