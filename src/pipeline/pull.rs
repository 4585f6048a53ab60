//! Pull: API → staging. Plans the windows (or the `ts` cursor) from the stored watermark, runs
//! them concurrently within the rate limit, stages every page as it arrives, and moves the
//! watermark only over windows whose pages are all committed.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::SharedStaging;
use crate::beijing_time;
use crate::config::Strategy;
use crate::source::{FetchedPage, QimenClient, SourceError, Window, WindowReport};
use crate::staging::{FingerprintedPage, PageOutcome, StagingError};

/// What to pull.
#[derive(Clone, Debug)]
pub enum PullPlan {
    /// These windows, in time order; the watermark moves to the end of the last window of the
    /// completed prefix, but never past `watermark_cap` (now minus the safety lag); `None`: this
    /// pull does not move the watermark.
    Windows {
        windows: Vec<Window>,
        watermark_cap: Option<NaiveDateTime>,
    },
    /// Everything with `ts >= start_ts`.
    Cursor { start_ts: i64 },
}

/// Where the plan comes from: explicit bounds or the stored watermark.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub strategy: Strategy,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub overlap: Duration,
    pub safety_lag: Duration,
    pub max_window: Duration,
    /// How far back the first run reads when there is no watermark and no `since`.
    pub initial_backfill: Duration,
}

/// Decides what to pull. `watermark` is the stored value for the strategy.
pub fn plan(
    request: &PlanRequest,
    watermark: Option<&str>,
    now: NaiveDateTime,
) -> Result<PullPlan, PlanError> {
    match request.strategy {
        Strategy::Ts => {
            let start_ts = match watermark {
                Some(value) => value
                    .parse()
                    .map_err(|_| PlanError::BadWatermark(value.to_owned()))?,
                None => 1,
            };
            Ok(PullPlan::Cursor { start_ts })
        }
        Strategy::Window => {
            let overlap = chrono::Duration::from_std(request.overlap).expect("overlap fits");
            let lag = chrono::Duration::from_std(request.safety_lag).expect("safety lag fits");
            let start = match (request.since, watermark) {
                (Some(since), _) => since,
                (None, Some(value)) => {
                    beijing_time::parse(value)
                        .ok_or_else(|| PlanError::BadWatermark(value.to_owned()))?
                        - overlap
                }
                (None, None) => {
                    let backfill = chrono::Duration::from_std(request.initial_backfill)
                        .expect("backfill fits");
                    if backfill.is_zero() {
                        return Err(PlanError::NoStart);
                    }
                    let start = now - backfill;
                    tracing::warn!(
                        since = %beijing_time::format(start),
                        "No watermark and no --since: backfilling the initial period. Pass --since to choose the start."
                    );
                    start
                }
            };
            // Read everything visible now, but keep the watermark a safety lag behind now, so
            // the next run re-reads what may still be settling. The last `safety_lag` is a
            // window of its own: in the windows before it orders can only leave (a change moves
            // an order to "now"), which reverse paging is immune to whatever the gateway's sort
            // order; what the tail window misses the next run re-reads.
            let end = request.until.unwrap_or(now);
            let cap = end.min(now - lag);
            let max = chrono::Duration::from_std(request.max_window).expect("window fits");
            let mut windows = Window::split(start, cap.max(start), max);
            if end > cap && end > start {
                windows.push(Window::new(cap.max(start), end));
            }
            // A backfill that starts after the stored watermark must not move it: the gap
            // between them has not been read.
            let leaves_gap = match (request.since, watermark.and_then(beijing_time::parse)) {
                (Some(since), Some(stored)) => since > stored,
                _ => false,
            };
            if leaves_gap {
                tracing::warn!(
                    since = %beijing_time::format(start),
                    watermark = watermark.unwrap_or_default(),
                    "--since is after the stored watermark: this run does not move the watermark."
                );
            }
            Ok(PullPlan::Windows {
                windows,
                watermark_cap: (!leaves_gap).then_some(cap),
            })
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no watermark yet and no initial backfill configured: the first run needs --since \"YYYY-MM-DD HH:MM:SS\" (Beijing time)"
    )]
    NoStart,
    #[error("stored watermark {0:?} cannot be read: pass --since to start again")]
    BadWatermark(String),
}

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
}

/// Why a pull stopped early. What was staged stays staged.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pulling window {window} failed: {source}")]
    Window {
        window: String,
        #[source]
        source: SourceError,
    },
    #[error("pulling from ts cursor failed: {0}")]
    Cursor(#[source] SourceError),
    #[error("staging a page failed: {0}")]
    Staging(#[from] StagingError),
    #[error(
        "the ts cursor cannot move past {cursor}: the gateway keeps answering the same rows (or rows without ts); use --strategy window"
    )]
    CursorStuck { cursor: i64 },
    #[error("interrupted: pages received so far are staged")]
    Interrupted,
}

/// What the fetchers hand to staging, in order: pages (`P` is a [`FetchedPage`], then a
/// [`FingerprintedPage`] once the fingerprinter has hashed its orders) and window ends.
enum StageEvent<P = FetchedPage> {
    Page(P),
    WindowDone(Window, WindowReport),
    CursorDone(i64),
}

/// Who pulls: the run, whose watermark, and how many windows at once.
#[derive(Clone, Debug)]
pub struct PullRun {
    pub run_id: i64,
    /// The merchant whose watermark moves (its `customer_id`).
    pub source_key: String,
    pub strategy: Strategy,
    /// Windows pulled at once; they share the client's rate limit.
    pub concurrency: usize,
}

/// Pulls `plan` into staging under `run.run_id`, keeping the watermark of (`source_key`,
/// `strategy`). Stops early on a fatal source error or `stop` turning true; everything staged
/// before that is kept.
pub async fn pull(
    client: &QimenClient,
    staging: &SharedStaging,
    run: &PullRun,
    plan: PullPlan,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (PullReport, Result<(), PullError>) {
    let PullRun {
        run_id,
        ref source_key,
        strategy,
        concurrency,
    } = *run;
    let (events, events_rx) = mpsc::channel::<StageEvent>(64);
    let (planned, watermark_cap) = match &plan {
        PullPlan::Windows {
            windows,
            watermark_cap,
        } => (windows.clone(), *watermark_cap),
        PullPlan::Cursor { .. } => (Vec::new(), None),
    };
    let (fingerprinted, fingerprinted_rx) = mpsc::channel::<StageEvent<FingerprintedPage>>(8);
    let fingerprinter = spawn_fingerprinter(events_rx, fingerprinted);
    let writer = spawn_stager(
        staging.clone(),
        run_id,
        source_key.clone(),
        strategy,
        planned,
        watermark_cap,
        fingerprinted_rx,
    );

    let fetch_result: Result<(), PullError> = match plan {
        PullPlan::Windows { windows, .. } => {
            let mut pending = windows.into_iter();
            let mut running: JoinSet<Result<(), PullError>> = JoinSet::new();
            let mut outcome = Ok(());
            loop {
                while running.len() < concurrency.max(1) && outcome.is_ok() && !*stop.borrow() {
                    let Some(window) = pending.next() else { break };
                    running.spawn(pull_one_window(client.clone(), window, events.clone()));
                }
                if running.is_empty() {
                    break;
                }
                tokio::select! {
                    joined = running.join_next() => {
                        match joined.expect("set is not empty") {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                if outcome.is_ok() {
                                    outcome = Err(error);
                                }
                            }
                            Err(join_error) if join_error.is_cancelled() => {}
                            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
                        }
                    }
                    _ = stop.changed() => {
                        if *stop.borrow() {
                            running.abort_all();
                            if outcome.is_ok() {
                                outcome = Err(PullError::Interrupted);
                            }
                        }
                    }
                }
            }
            // Stopped before every window was started: not a success.
            if outcome.is_ok() && *stop.borrow() && pending.next().is_some() {
                outcome = Err(PullError::Interrupted);
            }
            outcome
        }
        PullPlan::Cursor { start_ts } => {
            let (pages, forwarder) = page_forwarder(&events);
            let result = tokio::select! {
                result = client.pull_from_ts(start_ts, &pages) => Some(result),
                _ = wait_for_stop(&mut stop) => None,
            };
            drop(pages);
            let _ = forwarder.await;
            match result {
                Some(Ok(report)) => {
                    let _ = events.send(StageEvent::CursorDone(report.cursor)).await;
                    if report.stuck {
                        Err(PullError::CursorStuck {
                            cursor: report.cursor,
                        })
                    } else {
                        Ok(())
                    }
                }
                Some(Err(error)) => Err(PullError::Cursor(error)),
                None => Err(PullError::Interrupted),
            }
        }
    };
    drop(events);
    let (report, staged) = writer.await.expect("stager does not panic");
    fingerprinter.await.expect("fingerprinter does not panic");
    let result = match (staged, fetch_result) {
        (Err(error), _) => Err(PullError::Staging(error)),
        (Ok(()), other) => other,
    };
    (report, result)
}

/// A page sender whose pages are forwarded, in order, to the stager's event channel. Drop the
/// sender and await the handle to know every page was handed over.
fn page_forwarder(
    events: &mpsc::Sender<StageEvent>,
) -> (mpsc::Sender<FetchedPage>, tokio::task::JoinHandle<()>) {
    let (pages, mut pages_rx) = mpsc::channel::<FetchedPage>(16);
    let events = events.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(page) = pages_rx.recv().await {
            if events.send(StageEvent::Page(page)).await.is_err() {
                break;
            }
        }
    });
    (pages, forwarder)
}

async fn wait_for_stop(stop: &mut tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Pulls one window, forwarding its pages; reports it done only after all its pages were
/// handed to the stager (same channel, so they are staged first).
async fn pull_one_window(
    client: QimenClient,
    window: Window,
    events: mpsc::Sender<StageEvent>,
) -> Result<(), PullError> {
    let (pages, forwarder) = page_forwarder(&events);
    let result = client.pull_window(window, &pages).await;
    drop(pages);
    let _ = forwarder.await;
    match result {
        Ok(report) => {
            let _ = events.send(StageEvent::WindowDone(window, report)).await;
            Ok(())
        }
        Err(source) => Err(PullError::Window {
            window: window.to_string(),
            source,
        }),
    }
}

/// Canonicalises and hashes each page's orders on its own thread, so the stager's one thread
/// only diffs and writes SQLite; events keep their order.
fn spawn_fingerprinter(
    mut events: mpsc::Receiver<StageEvent>,
    fingerprinted: mpsc::Sender<StageEvent<FingerprintedPage>>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        while let Some(event) = events.blocking_recv() {
            let event = match event {
                StageEvent::Page(page) => StageEvent::Page(FingerprintedPage::new(page)),
                StageEvent::WindowDone(window, report) => StageEvent::WindowDone(window, report),
                StageEvent::CursorDone(cursor) => StageEvent::CursorDone(cursor),
            };
            // The stager stopped (a staging error): stop too, so the fetchers see it.
            if fingerprinted.blocking_send(event).is_err() {
                break;
            }
        }
    })
}

fn spawn_stager(
    staging: SharedStaging,
    run_id: i64,
    source_key: String,
    strategy: Strategy,
    planned: Vec<Window>,
    watermark_cap: Option<NaiveDateTime>,
    mut events: mpsc::Receiver<StageEvent<FingerprintedPage>>,
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
            ..PullReport::default()
        };
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut prefix = 0usize;
        let result = (|| -> Result<(), StagingError> {
            while let Some(event) = events.blocking_recv() {
                let mut store = staging.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    StageEvent::Page(page) => {
                        let outcome = store.stage_fingerprinted(run_id, &page)?;
                        let page = page.page();
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
                    StageEvent::WindowDone(window, window_report) => {
                        // The source logged the window; count it and move the watermark.
                        report.windows_done += 1;
                        progress.pb_inc(1);
                        report.drift_events += window_report.drift_events;
                        report.rereads += window_report.rereads;
                        report.subwindows += window_report.subwindows;
                        // A window that kept changing past the re-read budget may have
                        // missed orders: its pages are staged, but the watermark stays before
                        // it so the next run reads it again.
                        if window_report.unresolved_drift {
                            tracing::warn!(window = %window, "Window did not settle; the watermark stays before it.");
                        } else if let Some(index) = planned.iter().position(|w| *w == window) {
                            done.insert(index);
                        }
                        let before = prefix;
                        while done.contains(&prefix) {
                            prefix += 1;
                        }
                        if prefix > before {
                            let Some(cap) = watermark_cap else { continue };
                            let end = beijing_time::format(planned[prefix - 1].end.min(cap));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> NaiveDateTime {
        beijing_time::parse(text).unwrap()
    }

    fn request(since: Option<&str>) -> PlanRequest {
        PlanRequest {
            strategy: Strategy::Window,
            since: since.map(t),
            until: None,
            overlap: Duration::from_secs(600),
            safety_lag: Duration::from_secs(60),
            max_window: Duration::from_secs(7 * 86400),
            initial_backfill: Duration::ZERO,
        }
    }

    #[test]
    fn the_first_run_needs_since() {
        assert!(matches!(
            plan(&request(None), None, t("2024-05-10")),
            Err(PlanError::NoStart)
        ));
    }

    #[test]
    fn an_incremental_run_rereads_the_overlap_and_keeps_the_watermark_a_safety_lag_behind_now() {
        let PullPlan::Windows {
            windows,
            watermark_cap,
        } = plan(
            &request(None),
            Some("2024-05-10 12:00:00"),
            t("2024-05-10 13:00:00"),
        )
        .unwrap()
        else {
            panic!("window plan expected")
        };
        assert_eq!(
            windows,
            vec![
                Window::new(t("2024-05-10 11:50:00"), t("2024-05-10 12:59:00")),
                Window::new(t("2024-05-10 12:59:00"), t("2024-05-10 13:00:00")),
            ],
            "the last safety lag is a window of its own"
        );
        assert_eq!(watermark_cap, Some(t("2024-05-10 12:59:00")));
    }

    #[test]
    fn without_since_or_watermark_the_first_run_backfills_the_initial_period() {
        let mut request = request(None);
        request.initial_backfill = Duration::from_secs(30 * 86400);
        let PullPlan::Windows { windows, .. } = plan(&request, None, t("2024-05-31")).unwrap()
        else {
            panic!("window plan expected")
        };
        assert_eq!(windows.first().unwrap().start, t("2024-05-01"));
        assert_eq!(
            windows.len(),
            6,
            "five weeks of windows and the safety-lag tail: {windows:?}"
        );
    }

    #[test]
    fn since_overrides_the_watermark_and_long_ranges_are_split() {
        let PullPlan::Windows { windows, .. } = plan(
            &request(Some("2024-04-01")),
            Some("2024-05-10 12:00:00"),
            t("2024-04-20 00:00:00"),
        )
        .unwrap() else {
            panic!("window plan expected")
        };
        // Three weeks less the safety lag in 7-day windows, then the one-minute tail.
        assert_eq!(windows.len(), 4);
        assert_eq!(windows[0].start, t("2024-04-01"));
        assert_eq!(
            windows[3],
            Window::new(t("2024-04-19 23:59:00"), t("2024-04-20 00:00:00"))
        );
    }

    #[test]
    fn a_backfill_starting_after_the_watermark_does_not_move_it() {
        let PullPlan::Windows { watermark_cap, .. } = plan(
            &request(Some("2024-05-20")),
            Some("2024-05-10 00:00:00"),
            t("2024-05-21"),
        )
        .unwrap() else {
            panic!("window plan expected")
        };
        assert_eq!(watermark_cap, None);
        let PullPlan::Windows { watermark_cap, .. } = plan(
            &request(Some("2024-05-01")),
            Some("2024-05-10 00:00:00"),
            t("2024-05-21"),
        )
        .unwrap() else {
            panic!("window plan expected")
        };
        assert!(watermark_cap.is_some());
    }

    #[test]
    fn the_ts_strategy_starts_at_one_then_continues_from_the_stored_cursor() {
        let mut request = request(None);
        request.strategy = Strategy::Ts;
        assert!(matches!(
            plan(&request, None, t("2024-05-10")),
            Ok(PullPlan::Cursor { start_ts: 1 })
        ));
        assert!(matches!(
            plan(&request, Some("77"), t("2024-05-10")),
            Ok(PullPlan::Cursor { start_ts: 77 })
        ));
    }
}
