//! The HTTP endpoints of `run --listen`: `/metrics` (Prometheus text), `/healthz` (200 while
//! every merchant's last run succeeded and its watermarks are within `max_watermark_lag`, else
//! 503 with the reasons as JSON) and `/`, the status page. Everything is served from memory;
//! nothing is fetched from outside the process.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::run_history::{HISTORY_SPAN, MerchantHistory, RunPoint};
use crate::staging::StagingStore;

/// What the endpoints serve: the process's metrics and each merchant's recent runs.
#[derive(Debug)]
pub struct Service {
    registry: Registry,
    merchants: Mutex<Vec<MerchantHistory>>,
    max_watermark_lag: Option<Duration>,
}

impl Service {
    /// `registry` holds every merchant's metrics (see `Metrics::also_into`).
    pub fn new(
        registry: Registry,
        merchants: Vec<MerchantHistory>,
        max_watermark_lag: Option<Duration>,
    ) -> Arc<Self> {
        Arc::new(Self {
            registry,
            merchants: Mutex::new(merchants),
            max_watermark_lag,
        })
    }

    /// Changes what is known about `merchant`.
    pub fn update(&self, merchant: &str, change: impl FnOnce(&mut MerchantHistory)) {
        let mut merchants = self.lock();
        match merchants.iter_mut().find(|m| m.name == merchant) {
            Some(history) => change(history),
            None => {
                let mut history = MerchantHistory::new(merchant);
                change(&mut history);
                merchants.push(history);
            }
        }
    }

    /// A copy of every merchant's history, in configuration order.
    pub fn merchants(&self) -> Vec<MerchantHistory> {
        self.lock().clone()
    }

    /// Whether every merchant is healthy, and the `/healthz` body.
    pub fn health(&self) -> (bool, serde_json::Value) {
        let now = Utc::now();
        let merchants = self.lock();
        let mut reasons = Vec::new();
        let report: Vec<_> = merchants
            .iter()
            .map(|m| {
                let reason = m.unhealthy(self.max_watermark_lag, now);
                if let Some(reason) = &reason {
                    reasons.push(format!("merchant {}: {reason}", m.name));
                }
                json!({
                    "merchant": m.name,
                    "healthy": reason.is_none(),
                    "reason": reason,
                    "last_run": m.last_run(),
                    "watermarks": m.lags_now(now).into_iter().map(|(w, lag)| json!({
                        "source": w.source, "strategy": w.strategy, "value": w.value, "lag_secs": lag,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let healthy = reasons.is_empty();
        let body = json!({
            "status": if healthy { "ok" } else { "unhealthy" },
            "reasons": reasons,
            "max_watermark_lag_secs": self.max_watermark_lag.map(|d| d.as_secs_f64()),
            "merchants": report,
        });
        (healthy, body)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<MerchantHistory>> {
        // Every update replaces whole fields: a panicked holder leaves consistent data.
        self.merchants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves the endpoints on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(healthz))
        .route("/", axum::routing::get(status_page))
        .with_state(service);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { crate::pipeline::stopped(&mut stop).await })
        .await
}

type Shared = axum::extract::State<Arc<Service>>;

async fn metrics(axum::extract::State(service): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        super::metrics::render(&service.registry),
    )
        .into_response()
}

async fn healthz(axum::extract::State(service): Shared) -> Response {
    let (healthy, body) = service.health();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body:#}\n"),
    )
        .into_response()
}

async fn status_page(axum::extract::State(service): Shared) -> Response {
    let page =
        super::status_page::render(&service.merchants(), service.max_watermark_lag, Utc::now());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// A merchant's history as its staging file tells it: the runs of the last day, the
/// watermarks, the outbox and quarantine sizes. A missing file is an empty history.
pub fn history_from_staging(name: &str, staging: &Path) -> MerchantHistory {
    let mut history = MerchantHistory::new(name);
    if !staging.exists() {
        return history;
    }
    let mut read = || -> Result<(), crate::staging::StagingError> {
        let store = StagingStore::open_read_only(staging)?;
        let oldest = Utc::now() - HISTORY_SPAN;
        let mut runs: Vec<RunPoint> = store
            .recent_runs(3000)?
            .iter()
            .filter_map(RunPoint::of_record)
            .filter(|r| r.finished_at >= oldest)
            .collect();
        runs.reverse();
        for run in runs {
            history.push(run);
        }
        let now = Utc::now();
        history.watermarks = store
            .watermarks()?
            .into_iter()
            .map(|(source, strategy, value, updated_at)| {
                crate::pipeline::watermark_lag::WatermarkLag {
                    lag_secs: crate::pipeline::watermark_lag::watermark_lag(
                        &strategy,
                        &value,
                        &updated_at,
                        now,
                    ),
                    source,
                    strategy,
                    value,
                }
            })
            .collect();
        history.watermarks_read_at = Some(now);
        let backlog = store.backlog()?;
        history.outbox_pending = Some(backlog.outbox_pending);
        history.quarantine_open = Some(backlog.quarantine_open);
        Ok(())
    };
    if let Err(error) = read() {
        tracing::warn!(merchant = name, error = %crate::error_text::chain_of(&error), "Past runs not read from staging.");
    }
    history
}
