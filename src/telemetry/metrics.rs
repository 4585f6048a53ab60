//! Prometheus metrics of the runs of one process, rendered in the text exposition format and
//! written atomically (temporary file, then rename) so a collector such as node_exporter's
//! textfile collector never reads half a file.
//!
//! Counters (`_total`) add up over the runs of the process (`run --every` keeps counting; a
//! new process starts at zero, which Prometheus reads as a counter reset). Gauges describe the
//! last run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::pipeline::summary::RunSummary;

/// The metrics of this process's runs.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    runs: BTreeMap<(String, &'static str), u64>,
    api_calls: u64,
    api_retries: u64,
    api_throttled: u64,
    api_errors: BTreeMap<String, u64>,
    body_repairs: BTreeMap<&'static str, u64>,
    incomplete_windows: u64,
    orders: BTreeMap<&'static str, u64>,
    rows_pushed: BTreeMap<&'static str, u64>,
    push_batches: u64,
    push_skipped: BTreeMap<&'static str, u64>,
    last: Option<LastRun>,
}

#[derive(Clone, Debug)]
struct LastRun {
    command: String,
    succeeded: bool,
    finished_at: f64,
    duration_secs: f64,
    push_duration_secs: Option<f64>,
    outbox_pending: Option<i64>,
    watermark_lags: Vec<(String, String, f64)>,
}

impl Metrics {
    /// Adds one run.
    pub fn record(&mut self, summary: &RunSummary) {
        let outcome = if summary.succeeded {
            "succeeded"
        } else {
            "failed"
        };
        *self
            .runs
            .entry((summary.command.clone(), outcome))
            .or_default() += 1;
        self.api_calls += summary.api_calls;
        self.api_retries += summary.api_retries;
        self.api_throttled += summary.api_throttled;
        for (code, count) in &summary.api_errors_by_code {
            *self.api_errors.entry(code.clone()).or_default() += count;
        }
        if let Some(pull) = &summary.pull {
            let r = &pull.body_repairs;
            for (kind, count) in [
                ("control_char", r.control_chars),
                ("raw_whitespace", r.raw_whitespace),
                ("lone_surrogate", r.lone_surrogates),
            ] {
                *self.body_repairs.entry(kind).or_default() += count;
            }
            self.incomplete_windows += pull
                .incomplete_windows
                .iter()
                .filter(|w| !w.settling)
                .count() as u64;
            let o = &pull.orders;
            for (outcome, count) in [
                ("new", o.new),
                ("changed", o.changed),
                ("unchanged", o.unchanged),
                ("stale", o.stale),
                ("quarantined", o.quarantined),
            ] {
                *self.orders.entry(outcome).or_default() += count;
            }
        }
        let mut push_duration_secs = None;
        let mut outbox_pending = None;
        if let Some(push) = summary.push.as_ref().filter(|_| !summary.dry_run) {
            for (table, count) in [
                ("orders", push.orders_pushed),
                ("items", push.item_rows),
                ("pays", push.pay_rows),
            ] {
                *self.rows_pushed.entry(table).or_default() += count;
            }
            for (reason, count) in [
                ("stale", push.stale_skipped),
                ("quarantined", push.quarantined),
                ("filtered", push.filtered),
            ] {
                *self.push_skipped.entry(reason).or_default() += count;
            }
            self.push_batches += push.batches;
            push_duration_secs = Some(push.duration_secs);
            outbox_pending = Some(push.pending_left).filter(|p| *p >= 0);
        }
        self.last = Some(LastRun {
            command: summary.command.clone(),
            succeeded: summary.succeeded,
            finished_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            duration_secs: summary.duration_secs,
            push_duration_secs,
            outbox_pending,
            watermark_lags: summary
                .watermarks
                .iter()
                .filter_map(|w| Some((w.source.clone(), w.strategy.clone(), w.lag_secs?)))
                .collect(),
        });
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |value: u64| vec![(String::new(), value.to_string())];
        let labelled = |label: &str, map: &BTreeMap<&'static str, u64>| {
            map.iter()
                .map(|(k, v)| (format!("{{{label}=\"{k}\"}}"), v.to_string()))
                .collect::<Vec<_>>()
        };
        family(
            "jst_sync_runs_total",
            "counter",
            "Runs by command and outcome.",
            self.runs
                .iter()
                .map(|((command, outcome), v)| {
                    (
                        format!("{{command=\"{}\",outcome=\"{outcome}\"}}", escape(command)),
                        v.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "jst_sync_api_calls_total",
            "counter",
            "HTTP requests sent to the Qimen gateway.",
            plain(self.api_calls),
        );
        family(
            "jst_sync_api_retries_total",
            "counter",
            "API attempts that retried a failed one.",
            plain(self.api_retries),
        );
        family(
            "jst_sync_api_throttled_total",
            "counter",
            "Throttle answers (codes 7, 199, 200).",
            plain(self.api_throttled),
        );
        family(
            "jst_sync_api_errors_total",
            "counter",
            "Failed API attempts by gateway code or kind (http_503, transport, timeout, malformed).",
            self.api_errors
                .iter()
                .map(|(k, v)| (format!("{{code=\"{}\"}}", escape(k)), v.to_string()))
                .collect(),
        );
        family(
            "jst_sync_body_repairs_total",
            "counter",
            "Characters repaired in response bodies before parsing (bodies are staged as received).",
            labelled("kind", &self.body_repairs),
        );
        family(
            "jst_sync_incomplete_windows_total",
            "counter",
            "Windows that could not be proven complete (the run failed; the watermark stayed before them).",
            plain(self.incomplete_windows),
        );
        family(
            "jst_sync_orders_total",
            "counter",
            "Orders pulled, by what the diff found.",
            labelled("outcome", &self.orders),
        );
        family(
            "jst_sync_rows_pushed_total",
            "counter",
            "Rows written to MySQL, by table.",
            labelled("table", &self.rows_pushed),
        );
        family(
            "jst_sync_push_batches_total",
            "counter",
            "Outbox batches pushed (one MySQL transaction each).",
            plain(self.push_batches),
        );
        family(
            "jst_sync_push_skipped_orders_total",
            "counter",
            "Orders the push did not write, by reason.",
            labelled("reason", &self.push_skipped),
        );
        let Some(last) = &self.last else { return out };
        let gauge = |value: f64| vec![(String::new(), format_float(value))];
        family(
            "jst_sync_last_run_success",
            "gauge",
            "1 if the last run succeeded, else 0.",
            vec![(
                format!("{{command=\"{}\"}}", escape(&last.command)),
                u8::from(last.succeeded).to_string(),
            )],
        );
        family(
            "jst_sync_last_run_timestamp_seconds",
            "gauge",
            "When the last run finished (Unix time).",
            gauge(last.finished_at),
        );
        family(
            "jst_sync_last_run_duration_seconds",
            "gauge",
            "How long the last run took.",
            gauge(last.duration_secs),
        );
        if let Some(secs) = last.push_duration_secs {
            family(
                "jst_sync_push_duration_seconds",
                "gauge",
                "How long the last run's push took.",
                gauge(secs),
            );
        }
        if let Some(pending) = last.outbox_pending {
            family(
                "jst_sync_outbox_pending",
                "gauge",
                "Versions staged but not yet pushed after the last run.",
                gauge(pending as f64),
            );
        }
        family(
            "jst_sync_watermark_lag_seconds",
            "gauge",
            "How far each watermark is behind now (window: its time; ts: since it last moved).",
            last.watermark_lags
                .iter()
                .map(|(source, strategy, lag)| {
                    (
                        format!(
                            "{{source=\"{}\",strategy=\"{}\"}}",
                            escape(source),
                            escape(strategy)
                        ),
                        format_float(*lag),
                    )
                })
                .collect(),
        );
        out
    }

    /// Writes [`render`](Self::render) to `path` atomically.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(self.render().as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::pull::PullReport;

    #[test]
    fn counters_add_up_over_runs_and_render_as_prometheus_text() {
        let mut summary = RunSummary {
            command: "sync".into(),
            succeeded: true,
            api_calls: 4,
            ..RunSummary::default()
        };
        summary.api_errors_by_code.insert("25".into(), 1);
        let mut pull = PullReport::default();
        pull.orders.new = 3;
        summary.pull = Some(pull);
        let mut metrics = Metrics::default();
        metrics.record(&summary);
        metrics.record(&summary);
        let text = metrics.render();
        for line in [
            "# TYPE jst_sync_api_calls_total counter",
            "jst_sync_api_calls_total 8",
            "jst_sync_api_errors_total{code=\"25\"} 2",
            "jst_sync_orders_total{outcome=\"new\"} 6",
            "jst_sync_runs_total{command=\"sync\",outcome=\"succeeded\"} 2",
            "jst_sync_last_run_success{command=\"sync\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}
