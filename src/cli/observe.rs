//! After each run: update the Prometheus metrics file and send alerts (a failed run, a
//! watermark lagging beyond `max_watermark_lag`). Neither ever fails the run: problems are
//! logged as warnings.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::{AlertSettings, Config};
use crate::pipeline::summary::RunSummary;
use crate::telemetry::{AlertEvent, Metrics, send_alert};

/// Metrics and alert state over the runs of one process.
pub struct Observer {
    metrics: Metrics,
    metrics_file: Option<PathBuf>,
    alerts: AlertSettings,
    /// Watermarks (source, strategy) already reported as lagging: in a loop, an alert is sent
    /// when a watermark starts lagging, not after every run while it lags.
    lagging: BTreeSet<(String, String)>,
}

impl Observer {
    pub fn new(config: &Config) -> Self {
        Self {
            metrics: Metrics::default(),
            metrics_file: config.metrics_file.clone(),
            alerts: config.alerts.clone(),
            lagging: BTreeSet::new(),
        }
    }

    /// Records a finished run: metrics, then alerts.
    pub async fn after_run(&mut self, summary: &RunSummary) {
        self.metrics.record(summary);
        self.write_metrics();
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
