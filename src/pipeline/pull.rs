//! Pull: API → staging. Runs the planned windows (or the `ts` cursor) concurrently within the
//! rate limit and hands every page, as it arrives, to the stager (`super::stager`), which
//! moves the watermark only over windows whose pages are all committed.

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::freshness::Arrivals;
pub use super::plan::{PlanError, PlanRequest, PlannedWindow, PullPlan, plan};
pub use super::stager::{IncompleteWindow, PullReport};
use super::stager::{StageEvent, spawn_stager};
use super::{SharedStaging, with_staging};
use crate::config::Strategy;
use crate::source::{FetchedPage, PageFetcher, PageSink, SourceError, cursor, pager};
use crate::staging::{FingerprintedPage, PageCompressor, StagingError};

/// Why a pull stopped early. What was staged stays staged.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pulling window {window} failed")]
    Window {
        window: String,
        #[source]
        source: SourceError,
    },
    #[error("{}", incomplete_text(.0))]
    Incomplete(Vec<IncompleteWindow>),
    #[error("pulling from the ts cursor failed")]
    Cursor(#[source] SourceError),
    #[error("staging a page failed")]
    Staging(#[from] StagingError),
    #[error(
        "the ts cursor cannot move past {cursor}: the gateway keeps answering the same rows (or rows without ts); use --strategy window"
    )]
    CursorStuck { cursor: i64 },
    #[error("interrupted: pages received so far are staged")]
    Interrupted,
}

fn incomplete_text(windows: &[IncompleteWindow]) -> String {
    let listed: Vec<String> = windows
        .iter()
        .map(|w| format!("{} ({})", w.window, w.reason))
        .collect();
    format!(
        "{} window(s) could not be proven complete: {}; their pages are staged, the watermark \
         stays before them and the next run reads them again",
        windows.len(),
        listed.join("; ")
    )
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
    /// Where the stager notes when the pages behind new outbox entries arrived (freshness).
    pub arrivals: Arrivals,
}

/// Pulls `plan` into staging under `run.run_id`, keeping the watermark of (`source_key`,
/// `strategy`). Stops early on a fatal source error or `stop` turning true; everything staged
/// before that is kept.
pub async fn pull<F: PageFetcher + Clone + 'static>(
    client: &F,
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
        ref arrivals,
    } = *run;
    // Pages arrive fingerprinted (see `StageSink`): one page deep, and what waits in the queue
    // is canonical JSON, not a parsed tree several times its size.
    let (events, events_rx) = mpsc::channel::<StageEvent>(1);
    let (planned, watermark_cap): (Vec<PlannedWindow>, _) = match &plan {
        PullPlan::Windows {
            windows,
            watermark_cap,
        } => (windows.clone(), *watermark_cap),
        PullPlan::Cursor { .. } => (Vec::new(), None),
    };
    // Learns the file's dictionary from the stager as it writes.
    let compressor = with_staging(staging, |s| Ok(s.page_compressor()))
        .await
        .unwrap_or_default();
    let writer = spawn_stager(
        staging.clone(),
        run_id,
        source_key.clone(),
        strategy,
        planned,
        watermark_cap,
        arrivals.clone(),
        events_rx,
    );

    let fetch_result: Result<(), PullError> = match plan {
        PullPlan::Windows { windows, .. } => {
            let mut pending = windows.into_iter().enumerate();
            let mut running: JoinSet<Result<(), PullError>> = JoinSet::new();
            let mut outcome = Ok(());
            loop {
                while running.len() < concurrency.max(1) && outcome.is_ok() && !*stop.borrow() {
                    let Some((index, window)) = pending.next() else {
                        break;
                    };
                    running.spawn(pull_one_window(
                        client.clone(),
                        index,
                        window,
                        events.clone(),
                        compressor.clone(),
                    ));
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
            let pages = StageSink(events.clone(), compressor.clone());
            let result = tokio::select! {
                result = cursor::pull_from_ts(client, start_ts, &pages) => Some(result),
                _ = crate::pipeline::stopped(&mut stop) => None,
            };
            drop(pages);
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
    let failing: Vec<IncompleteWindow> = report
        .incomplete_windows
        .iter()
        .filter(|w| !w.settling)
        .cloned()
        .collect();
    let result = match (staged, fetch_result) {
        (Err(error), _) => Err(PullError::Staging(error)),
        (Ok(()), Ok(())) if !failing.is_empty() => Err(PullError::Incomplete(failing)),
        (Ok(()), other) => other,
    };
    let report = PullReport {
        body_repairs: client.stats().repairs,
        ..report
    };
    (report, result)
}

/// The source's pages, fingerprinted (canonical JSON and SHA-256 of each order, on a blocking
/// thread, so that fetching and the one SQLite writer run in parallel) and handed straight to
/// the stager's queue: a window's pages are in the queue before its `WindowDone`, which the same
/// queue carries, and no parsed page waits in a queue.
/// The body and canonical JSON are compressed there too, so the writer only writes.
struct StageSink(mpsc::Sender<StageEvent>, PageCompressor);

impl PageSink for StageSink {
    async fn send_page(&self, page: FetchedPage) -> Result<(), SourceError> {
        let compressor = self.1.clone();
        let page =
            tokio::task::spawn_blocking(move || FingerprintedPage::compressed(page, &compressor))
                .await
                .expect("fingerprinting does not panic");
        self.0
            .send(StageEvent::Page(page))
            .await
            .map_err(|_| SourceError::ReceiverClosed)
    }
}

/// Pulls one window, forwarding its pages; reports it done only after all its pages were
/// handed to the stager (same channel, so they are staged first). A read that cannot be proven
/// complete is tried once more before it is reported so.
async fn pull_one_window<F: PageFetcher>(
    client: F,
    index: usize,
    planned: PlannedWindow,
    events: mpsc::Sender<StageEvent>,
    compressor: PageCompressor,
) -> Result<(), PullError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let pages = StageSink(events.clone(), compressor.clone());
        let result = pager::pull_window(&client, planned.window, planned.archive, &pages).await;
        drop(pages);
        match result {
            Ok(report) if !report.is_complete() && tries < 2 && !planned.settling => {
                tracing::warn!(window = %planned, reason = report.incomplete.as_deref().unwrap_or(""), "Window incomplete; reading it again.");
            }
            Ok(report) => {
                let _ = events.send(StageEvent::WindowDone(index, report)).await;
                return Ok(());
            }
            Err(source) => {
                return Err(PullError::Window {
                    window: planned.to_string(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beijing_time;
    use crate::secret::Secret;
    use crate::source::test_gateway::{
        Reply, SECRET, Shop, ShopOrder, TestGateway, failure, success,
    };
    use crate::source::{QimenClient, SourceConfig, Window};
    use crate::staging::StagingStore;
    use std::sync::{Arc, Mutex};

    fn t(text: &str) -> chrono::NaiveDateTime {
        beijing_time::parse(text).unwrap()
    }

    fn days() -> Vec<PlannedWindow> {
        (1..=5)
            .map(|d| {
                PlannedWindow::live(Window::new(
                    t(&format!("2024-05-0{d} 00:00:00")),
                    t(&format!("2024-05-0{} 00:00:00", d + 1)),
                ))
            })
            .collect()
    }

    fn client(url: &str) -> QimenClient {
        let mut config = SourceConfig::new(url, "12345678", Secret::new(SECRET), "10969016");
        config.per_second = 10_000;
        config.per_minute = 1_000_000;
        config.rate_margin = std::time::Duration::ZERO;
        QimenClient::new(config).unwrap()
    }

    async fn pull_days(
        client: &QimenClient,
        concurrency: usize,
    ) -> (
        tempfile::TempDir,
        PullReport,
        Result<(), PullError>,
        SharedStaging,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = StagingStore::open(&dir.path().join("s.sqlite")).unwrap();
        let run_id = store.begin_run("pull", Some("window")).unwrap();
        let staging: SharedStaging = Arc::new(Mutex::new(store));
        let run = PullRun {
            run_id,
            source_key: "10969016".into(),
            strategy: Strategy::Window,
            concurrency,
            arrivals: Arrivals::default(),
        };
        let plan = PullPlan::Windows {
            windows: days(),
            watermark_cap: Some(t("2024-05-06 00:00:00")),
        };
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let (report, result) = pull(client, &staging, &run, plan, stop).await;
        (dir, report, result, staging)
    }

    #[tokio::test]
    async fn concurrent_windows_are_each_staged_and_move_the_watermark_over_all_of_them() {
        let shop = Shop {
            orders: (1..=100)
                .map(|i| ShopOrder {
                    o_id: i,
                    modified: t("2024-05-01 00:00:00")
                        + chrono::Duration::minutes(60 * (i as i64 - 1)),
                    ts: i as i64,
                })
                .collect(),
        };
        let gateway = TestGateway::start(move |call| Reply::Json(shop.answer(call))).await;
        let (_dir, report, result, staging) = pull_days(&client(&gateway.url), 3).await;
        result.unwrap();
        assert_eq!((report.windows_planned, report.windows_done), (5, 5));
        let store = staging.lock().unwrap();
        assert_eq!(store.counts().unwrap().current_orders, 100);
        assert_eq!(
            store.watermark("10969016", "window").unwrap().as_deref(),
            Some("2024-05-06 00:00:00")
        );
    }

    #[tokio::test]
    async fn after_a_fatal_window_error_no_new_window_starts_and_the_watermark_stops_before_it() {
        let gateway = TestGateway::start(|call| {
            if call.param("start_time") == "2024-05-02 00:00:00" {
                Reply::Json(failure(41, "Invalid arguments"))
            } else {
                Reply::Json(success(vec![], 0, 1, 25))
            }
        })
        .await;
        let (_dir, report, result, staging) = pull_days(&client(&gateway.url), 1).await;
        let Err(PullError::Window { window, source }) = result else {
            panic!("the window error is the pull's: {result:?}")
        };
        assert_eq!(window, days()[1].to_string());
        assert_eq!(source.gateway_code(), Some(41));
        assert_eq!(report.windows_done, 1);
        let started: Vec<String> = gateway
            .calls()
            .iter()
            .map(|c| c.param("start_time").to_owned())
            .collect();
        assert!(
            !started.iter().any(|s| s.as_str() >= "2024-05-03 00:00:00"),
            "no window starts after the failure: {started:?}"
        );
        let store = staging.lock().unwrap();
        assert_eq!(
            store.watermark("10969016", "window").unwrap().as_deref(),
            Some("2024-05-02 00:00:00")
        );
    }

    #[tokio::test]
    async fn a_window_short_of_its_count_after_a_second_read_fails_the_pull_and_keeps_the_watermark()
     {
        // Every window counts three orders and lists two, on every read.
        let gateway = TestGateway::start(|_| {
            Reply::Json(success(
                vec![
                    serde_json::json!({"o_id": "1"}),
                    serde_json::json!({"o_id": 2}),
                ],
                3,
                1,
                25,
            ))
        })
        .await;
        let (_dir, report, result, staging) = pull_days(&client(&gateway.url), 1).await;
        let Err(PullError::Incomplete(windows)) = result else {
            panic!("an incomplete window fails the pull: {result:?}")
        };
        assert_eq!(windows.len(), 5, "{windows:?}");
        assert!(windows[0].reason.contains("1 more orders"), "{windows:?}");
        assert_eq!(report.incomplete_windows.len(), 5);
        let store = staging.lock().unwrap();
        assert_eq!(store.watermark("10969016", "window").unwrap(), None);
        assert_eq!(
            store.counts().unwrap().current_orders,
            2,
            "what was read is staged"
        );
    }
}
