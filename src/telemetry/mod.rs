//! Telemetry of runs: Prometheus metrics written as a text file after each run, and alerts
//! POSTed to a webhook when a run fails or a watermark lags. Metrics are counted per run and
//! per batch, never per row.

pub mod alert;
pub mod metrics;
pub use crate::pipeline::watermark_lag::{WatermarkLag, watermark_lag};
pub use alert::{AlertEvent, send_alert};
pub use metrics::Metrics;
