//! Telemetry of runs: Prometheus metrics (a text file after each run, and `/metrics` under
//! `run --listen`), `/healthz` and a status page, and alerts POSTed to a webhook when a run
//! fails or a watermark lags. Metrics are counted per run and per batch, never per row.

pub mod alert;
pub mod metrics;
pub mod run_history;
pub mod server;
pub mod status_page;
pub use crate::pipeline::watermark_lag::{WatermarkLag, watermark_lag};
pub use alert::{AlertEvent, send_alert};
pub use metrics::Metrics;
