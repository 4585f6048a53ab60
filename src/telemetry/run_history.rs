//! What `run --listen` knows about each merchant's recent runs: the last day of runs (seeded
//! from staging's `runs` table at start, then kept in memory), its watermarks and the outbox
//! and quarantine sizes. The status page and `/healthz` read it.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::pipeline::summary::RunSummary;
use crate::pipeline::watermark_lag::WatermarkLag;
use crate::staging::RunRecord;

/// How far back the history reaches.
pub const HISTORY_SPAN: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Runs kept at most per merchant (a day of `--every 30s`).
const MAX_RUNS: usize = 3000;

/// One finished run, as the status page shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunPoint {
    pub run_id: i64,
    pub command: String,
    pub finished_at: DateTime<Utc>,
    pub succeeded: bool,
    pub duration_secs: f64,
    pub api_calls: u64,
    pub api_errors: u64,
    pub orders_seen: u64,
    pub orders_new: u64,
    pub orders_changed: u64,
    pub orders_pushed: u64,
    /// The largest watermark lag after the run.
    pub max_lag_secs: Option<f64>,
    pub error: Option<String>,
}

impl RunPoint {
    /// A run that just finished.
    pub fn of_summary(summary: &RunSummary, finished_at: DateTime<Utc>) -> Self {
        let orders = summary.pull.as_ref().map(|p| &p.orders);
        RunPoint {
            run_id: summary.run_id,
            command: summary.command.clone(),
            finished_at,
            succeeded: summary.succeeded,
            duration_secs: summary.duration_secs,
            api_calls: summary.api_calls,
            api_errors: summary.api_errors_by_code.values().sum(),
            orders_seen: orders.map_or(0, |o| o.orders),
            orders_new: orders.map_or(0, |o| o.new),
            orders_changed: orders.map_or(0, |o| o.changed),
            orders_pushed: summary
                .push
                .as_ref()
                .filter(|_| !summary.dry_run)
                .map_or(0, |p| p.orders_pushed),
            max_lag_secs: max_lag(summary.watermarks.iter().filter_map(|w| w.lag_secs)),
            error: summary.error.clone(),
        }
    }

    /// A run recorded in staging (its stored summary), or `None` for one still running.
    pub fn of_record(record: &RunRecord) -> Option<Self> {
        let finished_at = DateTime::parse_from_rfc3339(record.finished_at.as_deref()?)
            .ok()?
            .with_timezone(&Utc);
        let empty = Value::Null;
        let summary = record.summary.as_ref().unwrap_or(&empty);
        let number = |path: &[&str]| {
            path.iter()
                .try_fold(summary, |v, key| v.get(key))
                .and_then(Value::as_f64)
        };
        let count = |path: &[&str]| number(path).map_or(0, |n| n.max(0.0) as u64);
        let api_errors = summary
            .get("api_errors_by_code")
            .and_then(Value::as_object)
            .map_or(0, |codes| codes.values().filter_map(Value::as_u64).sum());
        let lags = summary
            .get("watermarks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("lag_secs").and_then(Value::as_f64));
        Some(RunPoint {
            run_id: record.id,
            command: record.command.clone(),
            finished_at,
            succeeded: record.status == "succeeded",
            duration_secs: number(&["duration_secs"]).unwrap_or(0.0),
            api_calls: count(&["api_calls"]),
            api_errors,
            orders_seen: count(&["pull", "orders", "orders"]),
            orders_new: count(&["pull", "orders", "new"]),
            orders_changed: count(&["pull", "orders", "changed"]),
            orders_pushed: count(&["push", "orders_pushed"]),
            max_lag_secs: max_lag(lags),
            error: record.error.clone(),
        })
    }
}

fn max_lag(lags: impl Iterator<Item = f64>) -> Option<f64> {
    lags.fold(None, |max, lag| Some(max.map_or(lag, |m: f64| m.max(lag))))
}

/// One merchant's recent runs and state.
#[derive(Clone, Debug, Default)]
pub struct MerchantHistory {
    pub name: String,
    /// Finished runs of the last day, oldest first.
    pub runs: VecDeque<RunPoint>,
    /// The watermarks after the last run, and when they were read.
    pub watermarks: Vec<WatermarkLag>,
    pub watermarks_read_at: Option<DateTime<Utc>>,
    pub outbox_pending: Option<i64>,
    pub quarantine_open: Option<i64>,
    /// When the run in progress started.
    pub running_since: Option<DateTime<Utc>>,
    /// Why the last run could not start, until a run finishes.
    pub not_started: Option<String>,
}

/// Why a merchant is not healthy, or `None` when it is.
pub type Unhealthy = Option<String>;

impl MerchantHistory {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a finished run and forgets those older than a day.
    pub fn push(&mut self, run: RunPoint) {
        self.not_started = None;
        self.runs.push_back(run);
        let oldest = Utc::now() - HISTORY_SPAN;
        while self.runs.len() > MAX_RUNS
            || self.runs.len() > 1 && self.runs.front().is_some_and(|r| r.finished_at < oldest)
        {
            self.runs.pop_front();
        }
    }

    pub fn last_run(&self) -> Option<&RunPoint> {
        self.runs.back()
    }

    /// Each watermark's lag now: its lag when read, plus the time since.
    pub fn lags_now(&self, now: DateTime<Utc>) -> Vec<(&WatermarkLag, Option<f64>)> {
        let since = self.watermarks_read_at.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        self.watermarks
            .iter()
            .map(|w| (w, w.lag_secs.map(|lag| lag + since)))
            .collect()
    }

    /// Healthy while the last run succeeded and every watermark is within `max_lag`.
    pub fn unhealthy(&self, max_lag: Option<Duration>, now: DateTime<Utc>) -> Unhealthy {
        if let Some(error) = &self.not_started {
            return Some(format!("the last run could not start: {error}"));
        }
        let Some(last) = self.last_run() else {
            return Some("no run has finished yet".to_owned());
        };
        if !last.succeeded {
            return Some(format!(
                "run {} failed: {}",
                last.run_id,
                last.error.as_deref().unwrap_or("unknown error")
            ));
        }
        let max = max_lag?;
        self.lags_now(now).into_iter().find_map(|(w, lag)| {
            let lag = lag?;
            (lag > max.as_secs_f64()).then(|| {
                format!(
                    "watermark {} {} ({}) is {} behind, more than max_watermark_lag {}",
                    w.source,
                    w.strategy,
                    w.value,
                    humantime::format_duration(Duration::from_secs(lag as u64)),
                    humantime::format_duration(max)
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, succeeded: bool, finished_at: DateTime<Utc>) -> RunPoint {
        RunPoint {
            run_id: id,
            command: "sync".into(),
            finished_at,
            succeeded,
            duration_secs: 1.0,
            api_calls: 2,
            api_errors: 0,
            orders_seen: 0,
            orders_new: 0,
            orders_changed: 0,
            orders_pushed: 0,
            max_lag_secs: None,
            error: (!succeeded).then(|| "gateway down".to_owned()),
        }
    }

    #[test]
    fn a_merchant_is_healthy_while_its_last_run_succeeded_and_its_lag_is_under_the_limit() {
        let now = Utc::now();
        let mut history = MerchantHistory::new("shop1");
        assert_eq!(
            history.unhealthy(None, now).as_deref(),
            Some("no run has finished yet")
        );
        history.push(run(1, true, now));
        history.watermarks = vec![WatermarkLag {
            source: "10969016".into(),
            strategy: "window".into(),
            value: "2024-05-01 00:00:00".into(),
            lag_secs: Some(50.0),
        }];
        history.watermarks_read_at = Some(now);
        assert_eq!(history.unhealthy(Some(Duration::from_secs(60)), now), None);
        // The lag grows while no run moves the watermark.
        let later = now + chrono::TimeDelta::seconds(20);
        let reason = history
            .unhealthy(Some(Duration::from_secs(60)), later)
            .unwrap();
        assert!(reason.contains("10969016 window"), "{reason}");
        history.push(run(2, false, later));
        let reason = history.unhealthy(None, later).unwrap();
        assert!(reason.contains("run 2 failed: gateway down"), "{reason}");
    }

    #[test]
    fn runs_older_than_a_day_are_forgotten() {
        let now = Utc::now();
        let mut history = MerchantHistory::new("shop1");
        history.push(run(1, true, now - chrono::TimeDelta::hours(30)));
        history.push(run(2, true, now - chrono::TimeDelta::hours(2)));
        history.push(run(3, true, now));
        let ids: Vec<i64> = history.runs.iter().map(|r| r.run_id).collect();
        assert_eq!(ids, vec![2, 3]);
    }
}
