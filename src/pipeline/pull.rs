//! Pull: API → staging. Runs the planned windows (or the `ts` cursor) concurrently within the
//! rate limit and hands every page, as it arrives, to the stager (`super::stager`), which
//! moves the watermark only over windows whose pages are all committed.

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::SharedStaging;
pub use super::plan::{PlanError, PlanRequest, PullPlan, plan};
use super::stager::{spawn_fingerprinter, spawn_stager};
use crate::config::Strategy;
use crate::source::{FetchedPage, QimenClient, SourceError, Window, WindowReport};
use crate::staging::{FingerprintedPage, PageOutcome, StagingError};

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
pub(super) enum StageEvent<P = FetchedPage> {
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
    let (events, events_rx) = mpsc::channel::<StageEvent>(2);
    let (planned, watermark_cap) = match &plan {
        PullPlan::Windows {
            windows,
            watermark_cap,
        } => (windows.clone(), *watermark_cap),
        PullPlan::Cursor { .. } => (Vec::new(), None),
    };
    let (fingerprinted, fingerprinted_rx) = mpsc::channel::<StageEvent<FingerprintedPage>>(1);
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
                _ = crate::pipeline::stopped(&mut stop) => None,
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
    let (pages, mut pages_rx) = mpsc::channel::<FetchedPage>(1);
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
