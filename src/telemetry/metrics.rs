//! Prometheus metrics of the runs of one merchant in this process, kept in
//! `prometheus-client` families and rendered in the Prometheus text format (0.0.4): written
//! atomically to the metrics file (temporary file, then rename, so node_exporter's textfile
//! collector never reads half a file) and, under `run --listen`, served on `/metrics` from the
//! process's families, where each series carries a `merchant` label (one family per metric
//! for all merchants: a metric's `# TYPE` line appears once, as scrapers require).
//!
//! Counters (`_total`) add up over the runs of the process (`run --every` keeps counting; a
//! new process starts at zero, which Prometheus reads as a counter reset). Gauges describe the
//! last run; histograms (run and push durations) keep every run's.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::summary::RunSummary;

/// A metric's labels, in the order they are written.
type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, FloatGauge>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// The `Content-Type` of [`Metrics::render`] and of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every metric of jst-sync, as families of labelled series. Cheap to clone: clones share
/// the values.
#[derive(Clone, Debug)]
pub struct Families {
    runs: Counters,
    api_calls: Counters,
    api_retries: Counters,
    api_throttled: Counters,
    api_errors: Counters,
    body_repairs: Counters,
    incomplete_windows: Counters,
    orders: Counters,
    rows_pushed: Counters,
    push_batches: Counters,
    push_skipped: Counters,
    run_duration: Histograms,
    push_latency: Histograms,
    last_run_success: Family<Labels, Gauge>,
    last_run_timestamp: Gauges,
    last_run_duration: Gauges,
    push_duration: Gauges,
    freshness_max: Gauges,
    freshness_mean: Gauges,
    first_rows: Gauges,
    freshness_orders: Counters,
    outbox_pending: Gauges,
    quarantine_open: Gauges,
    watermark_lag: Gauges,
}

fn duration_buckets() -> Histogram {
    // 0.1 s to about 1.8 h.
    Histogram::new([
        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 6400.0,
    ])
}

impl Default for Families {
    fn default() -> Self {
        Self {
            runs: Family::default(),
            api_calls: Family::default(),
            api_retries: Family::default(),
            api_throttled: Family::default(),
            api_errors: Family::default(),
            body_repairs: Family::default(),
            incomplete_windows: Family::default(),
            orders: Family::default(),
            rows_pushed: Family::default(),
            push_batches: Family::default(),
            push_skipped: Family::default(),
            run_duration: Family::new_with_constructor(duration_buckets as fn() -> Histogram),
            push_latency: Family::new_with_constructor(duration_buckets as fn() -> Histogram),
            last_run_success: Family::default(),
            last_run_timestamp: Family::default(),
            last_run_duration: Family::default(),
            push_duration: Family::default(),
            freshness_max: Family::default(),
            freshness_mean: Family::default(),
            first_rows: Family::default(),
            freshness_orders: Family::default(),
            outbox_pending: Family::default(),
            quarantine_open: Family::default(),
            watermark_lag: Family::default(),
        }
    }
}

impl Families {
    /// A registry holding these families.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        self.register(&mut registry);
        registry
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "jst_sync_runs",
            "Runs by command and outcome",
            self.runs.clone(),
        );
        r.register(
            "jst_sync_api_calls",
            "HTTP requests sent to the Qimen gateway",
            self.api_calls.clone(),
        );
        r.register(
            "jst_sync_api_retries",
            "API attempts that retried a failed one",
            self.api_retries.clone(),
        );
        r.register(
            "jst_sync_api_throttled",
            "Throttle answers (codes 7, 199, 200)",
            self.api_throttled.clone(),
        );
        r.register(
            "jst_sync_api_errors",
            "Failed API attempts by gateway code or kind (http_503, transport, timeout, malformed)",
            self.api_errors.clone(),
        );
        r.register(
            "jst_sync_body_repairs",
            "Characters repaired in response bodies before parsing (bodies are staged as received)",
            self.body_repairs.clone(),
        );
        r.register(
            "jst_sync_incomplete_windows",
            "Windows that could not be proven complete (the run failed; the watermark stayed before them)",
            self.incomplete_windows.clone(),
        );
        r.register(
            "jst_sync_orders",
            "Orders pulled, by what the diff found",
            self.orders.clone(),
        );
        r.register(
            "jst_sync_rows_pushed",
            "Rows written to MySQL, by table",
            self.rows_pushed.clone(),
        );
        r.register(
            "jst_sync_push_batches",
            "Outbox batches pushed (one MySQL transaction each)",
            self.push_batches.clone(),
        );
        r.register(
            "jst_sync_push_skipped_orders",
            "Orders the push did not write, by reason",
            self.push_skipped.clone(),
        );
        r.register(
            "jst_sync_run_duration_seconds",
            "How long each run took, by command",
            self.run_duration.clone(),
        );
        r.register(
            "jst_sync_push_latency_seconds",
            "How long each run's push took, from connecting to MySQL to its last commit",
            self.push_latency.clone(),
        );
        r.register(
            "jst_sync_freshness_max_seconds",
            "The last run's longest wait from a page's receipt to its rows' commit in MySQL",
            self.freshness_max.clone(),
        );
        r.register(
            "jst_sync_freshness_mean_seconds",
            "The last run's mean wait from a page's receipt to its rows' commit in MySQL",
            self.freshness_mean.clone(),
        );
        r.register(
            "jst_sync_first_rows_seconds",
            "Seconds from the start of the last run to its first commit of rows",
            self.first_rows.clone(),
        );
        r.register(
            "jst_sync_freshness_orders",
            "Orders whose wait from page receipt to commit was measured",
            self.freshness_orders.clone(),
        );
        r.register(
            "jst_sync_last_run_success",
            "1 if the last run of the command succeeded, else 0",
            self.last_run_success.clone(),
        );
        r.register(
            "jst_sync_last_run_timestamp_seconds",
            "When the last run finished (Unix time)",
            self.last_run_timestamp.clone(),
        );
        r.register(
            "jst_sync_last_run_duration_seconds",
            "How long the last run took",
            self.last_run_duration.clone(),
        );
        r.register(
            "jst_sync_push_duration_seconds",
            "How long the last run's push took",
            self.push_duration.clone(),
        );
        r.register(
            "jst_sync_outbox_pending",
            "Versions staged but not yet pushed after the last run",
            self.outbox_pending.clone(),
        );
        r.register(
            "jst_sync_quarantine_open",
            "Orders in quarantine not yet resolved after the last run",
            self.quarantine_open.clone(),
        );
        r.register(
            "jst_sync_watermark_lag_seconds",
            "How far each watermark is behind now (window: its time; ts: since it last moved)",
            self.watermark_lag.clone(),
        );
    }

    /// Adds one run to the series labelled `base`.
    fn record(&self, base: &Labels, summary: &RunSummary, finished_at: f64) {
        let with = |extra: &[(&'static str, &str)]| -> Labels {
            base.iter()
                .cloned()
                .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
                .collect()
        };
        let outcome = if summary.succeeded {
            "succeeded"
        } else {
            "failed"
        };
        let command = summary.command.as_str();
        self.runs
            .get_or_create(&with(&[("command", command), ("outcome", outcome)]))
            .inc();
        self.api_calls.get_or_create(base).inc_by(summary.api_calls);
        self.api_retries
            .get_or_create(base)
            .inc_by(summary.api_retries);
        self.api_throttled
            .get_or_create(base)
            .inc_by(summary.api_throttled);
        for (code, count) in &summary.api_errors_by_code {
            self.api_errors
                .get_or_create(&with(&[("code", code)]))
                .inc_by(*count);
        }
        let by = |family: &Counters, label: &'static str, counts: &[(&str, u64)]| {
            for (value, count) in counts {
                family
                    .get_or_create(&with(&[(label, value)]))
                    .inc_by(*count);
            }
        };
        if let Some(pull) = &summary.pull {
            let r = &pull.body_repairs;
            by(
                &self.body_repairs,
                "kind",
                &[
                    ("control_char", r.control_chars),
                    ("raw_whitespace", r.raw_whitespace),
                    ("lone_surrogate", r.lone_surrogates),
                ],
            );
            self.incomplete_windows.get_or_create(base).inc_by(
                pull.incomplete_windows
                    .iter()
                    .filter(|w| !w.settling)
                    .count() as u64,
            );
            let o = &pull.orders;
            by(
                &self.orders,
                "outcome",
                &[
                    ("changed", o.changed),
                    ("new", o.new),
                    ("quarantined", o.quarantined),
                    ("stale", o.stale),
                    ("unchanged", o.unchanged),
                ],
            );
        }
        if let Some(push) = summary.push.as_ref().filter(|_| !summary.dry_run) {
            by(
                &self.rows_pushed,
                "table",
                &[
                    ("items", push.item_rows),
                    ("orders", push.orders_pushed),
                    ("pays", push.pay_rows),
                ],
            );
            by(
                &self.push_skipped,
                "reason",
                &[
                    ("filtered", push.filtered),
                    ("quarantined", push.quarantined),
                    ("stale", push.stale_skipped),
                ],
            );
            self.push_batches.get_or_create(base).inc_by(push.batches);
            self.push_latency
                .get_or_create(base)
                .observe(push.duration_secs);
            self.push_duration
                .get_or_create(base)
                .set(push.duration_secs);
            let fresh = &push.freshness;
            if let (Some(max), Some(mean)) = (fresh.max_secs, fresh.mean_secs) {
                self.freshness_max.get_or_create(base).set(max);
                self.freshness_mean.get_or_create(base).set(mean);
            }
            if let Some(first) = fresh.first_commit_secs {
                self.first_rows.get_or_create(base).set(first);
            }
            self.freshness_orders
                .get_or_create(base)
                .inc_by(fresh.orders_measured);
            if push.pending_left >= 0 {
                self.outbox_pending
                    .get_or_create(base)
                    .set(push.pending_left as f64);
            }
        }
        self.run_duration
            .get_or_create(&with(&[("command", command)]))
            .observe(summary.duration_secs);
        self.last_run_success
            .get_or_create(&with(&[("command", command)]))
            .set(i64::from(summary.succeeded));
        self.last_run_timestamp.get_or_create(base).set(finished_at);
        self.last_run_duration
            .get_or_create(base)
            .set(summary.duration_secs);
        for watermark in &summary.watermarks {
            if let Some(lag) = watermark.lag_secs {
                self.watermark_lag
                    .get_or_create(&with(&[
                        ("source", &watermark.source),
                        ("strategy", &watermark.strategy),
                    ]))
                    .set(lag);
            }
        }
    }

    fn record_staging_sizes(&self, base: &Labels, outbox_pending: i64, quarantine_open: i64) {
        self.outbox_pending
            .get_or_create(base)
            .set(outbox_pending as f64);
        self.quarantine_open
            .get_or_create(base)
            .set(quarantine_open as f64);
    }
}

/// The metrics of one merchant's runs: its own unlabelled families (the metrics file) and,
/// under `run --listen`, the process's families under its `merchant` label.
#[derive(Clone, Debug)]
pub struct Metrics {
    own: Families,
    own_registry: Arc<Registry>,
    process: Option<(Families, Labels)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let own = Families::default();
        Self {
            own_registry: Arc::new(own.registry()),
            own,
            process: None,
        }
    }

    /// Also records into the process's `families`, labelled `merchant="<merchant>"`.
    pub fn also_into(mut self, families: &Families, merchant: &str) -> Self {
        self.process = Some((families.clone(), vec![("merchant", merchant.to_owned())]));
        self
    }

    /// Adds one run.
    pub fn record(&mut self, summary: &RunSummary) {
        let finished_at = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        self.own.record(&Vec::new(), summary, finished_at);
        if let Some((families, base)) = &self.process {
            families.record(base, summary, finished_at);
        }
    }

    /// The sizes read from staging after a run: versions waiting in the outbox and orders
    /// waiting in quarantine.
    pub fn record_staging_sizes(&self, outbox_pending: i64, quarantine_open: i64) {
        self.own
            .record_staging_sizes(&Vec::new(), outbox_pending, quarantine_open);
        if let Some((families, base)) = &self.process {
            families.record_staging_sizes(base, outbox_pending, quarantine_open);
        }
    }

    /// This merchant's metrics in the Prometheus text exposition format, unlabelled.
    pub fn render(&self) -> String {
        render(&self.own_registry)
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

/// A registry in the Prometheus text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_text::encode(&mut out, registry).expect("writing to a String cannot fail");
    out
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

    #[test]
    fn the_process_registry_labels_each_merchants_metrics_with_its_name() {
        let summary = RunSummary {
            command: "sync".into(),
            succeeded: true,
            api_calls: 3,
            ..RunSummary::default()
        };
        let families = Families::default();
        let mut first = Metrics::new().also_into(&families, "shop1");
        let mut second = Metrics::new().also_into(&families, "shop2");
        first.record(&summary);
        second.record(&RunSummary::default());
        let text = render(&families.registry());
        for line in [
            "jst_sync_api_calls_total{merchant=\"shop1\"} 3",
            "jst_sync_api_calls_total{merchant=\"shop2\"} 0",
            "jst_sync_runs_total{merchant=\"shop2\",command=\"\",outcome=\"failed\"} 1",
            "jst_sync_runs_total{merchant=\"shop1\",command=\"sync\",outcome=\"succeeded\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        // One family per metric, for all merchants.
        assert_eq!(
            text.matches("# TYPE jst_sync_api_calls_total counter")
                .count(),
            1,
            "{text}"
        );
        // The merchant's own file stays unlabelled.
        assert!(
            first
                .render()
                .lines()
                .any(|l| l == "jst_sync_api_calls_total 3")
        );
    }
}
