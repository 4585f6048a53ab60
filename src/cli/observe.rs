//! After each run: update the Prometheus metrics (the metrics file, and `/metrics` under
//! `run --listen`), the status page's history, and send alerts (a failed run, a watermark
//! lagging beyond `max_watermark_lag`). None of it ever fails the run: problems are logged as
//! warnings.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{AlertSettings, Config};
use crate::pipeline::summary::RunSummary;
use crate::telemetry::run_history::RunPoint;
use crate::telemetry::server::Service;
use crate::telemetry::{AlertEvent, Metrics, send_alert};

/// Metrics and alert state over the runs of one process, for one merchant.
pub struct Observer {
    metrics: Metrics,
    metrics_file: Option<PathBuf>,
    alerts: AlertSettings,
    /// Watermarks (source, strategy) already reported as lagging: in a loop, an alert is sent
    /// when a watermark starts lagging, not after every run while it lags.
    lagging: BTreeSet<(String, String)>,
    /// The endpoints of `run --listen`, and the merchant's name there.
    service: Option<(Arc<Service>, String)>,
}

impl Observer {
    pub fn new(config: &Config) -> Self {
        Self::with_metrics(config, Metrics::default())
    }

    /// An observer recording into `metrics` (registered in the process registry beforehand).
    pub fn with_metrics(config: &Config, metrics: Metrics) -> Self {
        Self {
            metrics,
            metrics_file: config.metrics_file.clone(),
            alerts: config.alerts.clone(),
            lagging: BTreeSet::new(),
            service: None,
        }
    }

    /// Also tells `service` (the status page and `/healthz`) about `merchant`'s runs.
    pub fn serving(mut self, service: Arc<Service>, merchant: &str) -> Self {
        self.service = Some((service, merchant.to_owned()));
        self
    }

    /// A run starts (the status page shows it running).
    pub fn run_started(&self) {
        if let Some((service, merchant)) = &self.service {
            let now = chrono::Utc::now();
            service.update(merchant, |m| m.running_since = Some(now));
        }
    }

    /// Records a finished run: metrics, the status page's history, then alerts.
    pub async fn after_run(&mut self, summary: &RunSummary) {
        self.metrics.record(summary);
        // Read by the run itself: opening staging here would leave its WAL file behind.
        if let Some(sizes) = summary.staging_sizes {
            self.metrics
                .record_staging_sizes(sizes.outbox_pending, sizes.quarantine_open);
        }
        self.write_metrics();
        if let Some((service, merchant)) = &self.service {
            let now = chrono::Utc::now();
            service.update(merchant, |m| {
                m.running_since = None;
                m.push(RunPoint::of_summary(summary, now));
                if !summary.watermarks.is_empty() {
                    m.watermarks = summary.watermarks.clone();
                    m.watermarks_read_at = Some(now);
                }
                if let Some(sizes) = summary.staging_sizes {
                    m.outbox_pending = Some(sizes.outbox_pending);
                    m.quarantine_open = Some(sizes.quarantine_open);
                }
            });
        }
        if !summary.succeeded {
            let error = summary
                .error
                .clone()
                .unwrap_or_else(|| "unknown error".to_owned());
            self.alert(AlertEvent::RunFailed {
                run_id: Some(summary.run_id),
                command: summary.command.clone(),
                error,
            })
            .await;
        }
        let Some(max) = self.alerts.max_watermark_lag else {
            return;
        };
        let max_lag_secs = max.as_secs_f64();
        for watermark in &summary.watermarks {
            let key = (watermark.source.clone(), watermark.strategy.clone());
            match watermark.lag_secs {
                Some(lag_secs) if lag_secs > max_lag_secs => {
                    if self.lagging.insert(key) {
                        self.alert(AlertEvent::WatermarkLag {
                            source: watermark.source.clone(),
                            strategy: watermark.strategy.clone(),
                            watermark: watermark.value.clone(),
                            lag_secs,
                            max_lag_secs,
                        })
                        .await;
                    }
                }
                _ => {
                    self.lagging.remove(&key);
                }
            }
        }
    }

    /// Reports a run that could not start (bad configuration, staging locked).
    pub async fn run_not_started(&mut self, command: &str, error: &anyhow::Error) {
        let summary = RunSummary {
            command: command.to_owned(),
            error: Some(super::error_text::chain(error)),
            ..RunSummary::default()
        };
        self.metrics.record(&summary);
        self.write_metrics();
        if let Some((service, merchant)) = &self.service {
            let text = super::error_text::chain(error);
            service.update(merchant, |m| {
                m.running_since = None;
                m.not_started = Some(text);
            });
        }
        self.alert(AlertEvent::RunFailed {
            run_id: None,
            command: command.to_owned(),
            error: super::error_text::chain(error),
        })
        .await;
    }

    fn write_metrics(&self) {
        let Some(path) = &self.metrics_file else {
            return;
        };
        if let Err(error) = self.metrics.write_to(path) {
            tracing::warn!(path = %path.display(), %error, "Metrics file not written.");
        }
    }

    async fn alert(&self, event: AlertEvent) {
        if self.alerts.webhook_url.is_none() {
            return;
        }
        match send_alert(&self.alerts, &event).await {
            Ok(()) => tracing::info!(event = %event.text(), "Alert sent."),
            Err(error) => tracing::warn!(%error, "Alert not delivered."),
        }
    }
}
