//! Planning a pull: which windows (or which `ts` cursor) to read, from the stored watermark,
//! the overlap, the safety lag and the command-line bounds ([`plan`] is pure: no I/O), and
//! what comes before it for each source: the watermark read from staging and a known ban
//! waited out.

use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDateTime;

use super::{SharedStaging, with_staging};
use crate::beijing_time;
use crate::config::{Config, Strategy};
use crate::source::Window;

/// One window to read, from the live orders or from the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedWindow {
    pub window: Window,
    /// Read with `archive=true`: orders old enough to have moved to the archive.
    pub archive: bool,
    /// The tail window within the safety lag of now: still settling, beyond the watermark
    /// whatever happens, and read again by the next run, so an incomplete read of it is
    /// a warning rather than a failure.
    pub settling: bool,
}

impl PlannedWindow {
    pub fn live(window: Window) -> Self {
        Self {
            window,
            archive: false,
            settling: false,
        }
    }
}

impl std::fmt::Display for PlannedWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.archive {
            write!(f, "{} (archive)", self.window)
        } else {
            write!(f, "{}", self.window)
        }
    }
}

/// What to pull.
#[derive(Clone, Debug)]
pub enum PullPlan {
    /// These windows, in time order (a window reaching back past the archive horizon is read
    /// twice, live then archive); the watermark moves to the end of the last window of the
    /// completed prefix, but never past `watermark_cap` (now minus the safety lag); `None`: this
    /// pull does not move the watermark.
    Windows {
        windows: Vec<PlannedWindow>,
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
    /// Orders older than this may have moved to the archive: a window starting before
    /// `now - archive_after` is read a second time with `archive=true` (zero: never).
    pub archive_after: Duration,
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
            let overlap = chrono::Duration::from_std(request.overlap)
                .map_err(|_| PlanError::TooLong("overlap"))?;
            let lag = chrono::Duration::from_std(request.safety_lag)
                .map_err(|_| PlanError::TooLong("safety_lag"))?;
            let start = match (request.since, watermark) {
                (Some(since), _) => since,
                (None, Some(value)) => beijing_time::parse(value)
                    .ok_or_else(|| PlanError::BadWatermark(value.to_owned()))?
                    .checked_sub_signed(overlap)
                    .ok_or(PlanError::TooLong("overlap"))?,
                (None, None) => {
                    let backfill = chrono::Duration::from_std(request.initial_backfill)
                        .map_err(|_| PlanError::TooLong("initial_backfill"))?;
                    if backfill.is_zero() {
                        return Err(PlanError::NoStart);
                    }
                    let start = now
                        .checked_sub_signed(backfill)
                        .ok_or(PlanError::TooLong("initial_backfill"))?;
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
            let cap = end.min(
                now.checked_sub_signed(lag)
                    .ok_or(PlanError::TooLong("safety_lag"))?,
            );
            let max = chrono::Duration::from_std(request.max_window)
                .map_err(|_| PlanError::TooLong("max_window"))?;
            let mut windows = Window::split(start, cap.max(start), max);
            let tail = (end > cap && end > start).then(|| Window::new(cap.max(start), end));
            windows.extend(tail);
            let horizon = (!request.archive_after.is_zero())
                .then(|| chrono::Duration::from_std(request.archive_after).ok())
                .flatten()
                .and_then(|after| now.checked_sub_signed(after));
            let windows: Vec<PlannedWindow> = windows
                .into_iter()
                .flat_map(|window| {
                    let archived = horizon.is_some_and(|horizon| window.start < horizon);
                    let settling = Some(window) == tail;
                    let live = PlannedWindow {
                        settling,
                        ..PlannedWindow::live(window)
                    };
                    let archive = archived.then_some(PlannedWindow {
                        archive: true,
                        ..live
                    });
                    std::iter::once(live).chain(archive)
                })
                .collect();
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
    #[error("{0} is too long to plan with: use a shorter duration")]
    TooLong(&'static str),
}

/// `--since` and `--until` of a pull, read and checked.
#[derive(Clone, Copy, Debug)]
pub(super) struct PullBounds {
    pub since: Option<chrono::NaiveDateTime>,
    pub until: Option<chrono::NaiveDateTime>,
}

/// The plan for one source: its stored watermark (or `ts` cursor) read from staging, then
/// [`plan`].
pub(super) async fn plan_pull(
    config: &Config,
    bounds: PullBounds,
    strategy: Strategy,
    archive_after: std::time::Duration,
    staging: &SharedStaging,
    source_key: &str,
) -> anyhow::Result<PullPlan> {
    let request = PlanRequest {
        strategy,
        since: bounds.since,
        until: bounds.until,
        overlap: config.sync.overlap,
        safety_lag: config.sync.safety_lag,
        max_window: std::time::Duration::from_secs(7 * 86400),
        initial_backfill: config.sync.initial_backfill,
        archive_after,
    };
    let key = source_key.to_owned();
    let overlap = config.sync.overlap;
    let watermark = with_staging(
        staging,
        move |s| -> Result<Option<String>, crate::staging::StagingError> {
            let stored = s.watermark(&key, strategy.as_str())?;
            if strategy != Strategy::Ts {
                return Ok(stored);
            }
            // The ts cursor starts from the largest value reached at least `overlap` ago, so a
            // change that became visible late, below the cursor, is read again.
            let reached_by = chrono::Utc::now()
                - chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX / 2);
            let start = match s.cursor_start(&key, reached_by)? {
                Some(start) => Some(start),
                None => s.oldest_cursor_mark(&key)?.map(|oldest| {
                    // Nothing reached long enough ago: start where the oldest known scan did.
                    stored
                        .as_deref()
                        .and_then(|w| w.parse::<i64>().ok())
                        .map_or(oldest, |w| w.min(oldest))
                        .min(oldest)
                }),
            };
            Ok(start.map(|s| s.to_string()).or(stored))
        },
    )
    .await?;
    Ok(plan(&request, watermark.as_deref(), beijing_time::now())?)
}

/// Before any call: a ban the gateway named in an earlier run is waited out when it ends
/// within `max_ban_wait`, or the pull stops at once with the time it ends.
pub(super) async fn wait_for_a_known_ban(
    config: &Config,
    staging: &SharedStaging,
    app_key: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let key = app_key.to_owned();
    let now = chrono::Utc::now();
    let Some(ban) = with_staging(staging, move |s| s.ban_in_force(&key, now)).await? else {
        return Ok(());
    };
    let until = beijing_time::from_utc(ban.until);
    let remaining = (ban.until - now).to_std().unwrap_or_default();
    if remaining > config.qimen.max_ban_wait {
        return Err(crate::source::SourceError::Banned {
            until,
            message: ban.message,
        })
        .context("not calling the gateway");
    }
    tracing::warn!(
        wait_secs = remaining.as_secs(),
        until = %until.format("%H:%M:%S"),
        "The gateway's ban from an earlier run is still in force; waiting it out before the first call."
    );
    tokio::select! {
        _ = tokio::time::sleep(remaining) => Ok(()),
        _ = crate::pipeline::stopped(&mut stop) => anyhow::bail!("interrupted while waiting out the gateway's ban"),
    }
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
            archive_after: Duration::ZERO,
        }
    }

    fn live(windows: &[Window]) -> Vec<PlannedWindow> {
        windows.iter().copied().map(PlannedWindow::live).collect()
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
        let mut expected = live(&[
            Window::new(t("2024-05-10 11:50:00"), t("2024-05-10 12:59:00")),
            Window::new(t("2024-05-10 12:59:00"), t("2024-05-10 13:00:00")),
        ]);
        expected[1].settling = true;
        assert_eq!(
            windows, expected,
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
        assert_eq!(windows.first().unwrap().window.start, t("2024-05-01"));
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
        assert_eq!(windows[0].window.start, t("2024-04-01"));
        assert_eq!(
            windows[3].window,
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

    #[test]
    fn windows_reaching_back_past_the_archive_horizon_are_read_live_and_from_the_archive() {
        let mut request = request(Some("2024-04-01"));
        request.archive_after = Duration::from_secs(30 * 86400);
        let PullPlan::Windows { windows, .. } = plan(&request, None, t("2024-05-15")).unwrap()
        else {
            panic!("window plan expected")
        };
        // The horizon is 2024-04-15: the windows starting 04-01 and 04-08 are read twice.
        let archived: Vec<_> = windows
            .iter()
            .filter(|w| w.archive)
            .map(|w| w.window)
            .collect();
        assert_eq!(
            archived,
            vec![
                Window::new(t("2024-04-01"), t("2024-04-08")),
                Window::new(t("2024-04-08"), t("2024-04-15")),
            ]
        );
        assert_eq!(
            windows.iter().filter(|w| !w.archive).count(),
            8,
            "7 windows and the tail"
        );
        assert_eq!(windows[0], PlannedWindow::live(archived[0]));
        assert_eq!(
            windows[1],
            PlannedWindow {
                archive: true,
                ..PlannedWindow::live(archived[0])
            }
        );

        request.archive_after = Duration::ZERO;
        let PullPlan::Windows { windows, .. } = plan(&request, None, t("2024-05-15")).unwrap()
        else {
            panic!("window plan expected")
        };
        assert!(windows.iter().all(|w| !w.archive), "0s means never");
    }

    #[test]
    fn durations_too_long_to_plan_with_are_an_error_not_a_panic() {
        let mut request = request(None);
        request.overlap = Duration::from_secs(u64::MAX / 2);
        assert!(matches!(
            plan(
                &request,
                Some("2024-05-10 12:00:00"),
                t("2024-05-10 13:00:00")
            ),
            Err(PlanError::TooLong("overlap"))
        ));
    }
}
