//! Alerts: one POST to a webhook when a run fails or a watermark lags beyond the configured
//! limit, as a DingTalk robot, a WeCom robot or generic JSON expects it. A failing webhook is
//! logged and never fails the run. The webhook URL is a secret (robot URLs carry a token): it is
//! never logged.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{AlertFormat, AlertSettings};

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertEvent {
    /// A run failed (`run_id` is `None` when it could not even start, e.g. staging locked).
    RunFailed {
        run_id: Option<i64>,
        command: String,
        error: String,
    },
    /// A watermark is further behind now than `max_lag_secs`.
    WatermarkLag {
        source: String,
        strategy: String,
        watermark: String,
        lag_secs: f64,
        max_lag_secs: f64,
    },
}

impl AlertEvent {
    /// The generic JSON body.
    pub fn to_json(&self) -> Value {
        match self {
            AlertEvent::RunFailed {
                run_id,
                command,
                error,
            } => {
                json!({"event": "run_failed", "run_id": run_id, "command": command, "error": error})
            }
            AlertEvent::WatermarkLag {
                source,
                strategy,
                watermark,
                lag_secs,
                max_lag_secs,
            } => json!({
                "event": "watermark_lag", "source": source, "strategy": strategy, "watermark": watermark,
                "lag_secs": lag_secs, "max_lag_secs": max_lag_secs
            }),
        }
    }

    /// One human sentence, for the robots' text messages.
    pub fn text(&self) -> String {
        match self {
            AlertEvent::RunFailed {
                run_id,
                command,
                error,
            } => {
                let run = run_id.map(|id| format!(" run {id}")).unwrap_or_default();
                format!("jst-sync {command}{run} failed: {error}")
            }
            AlertEvent::WatermarkLag {
                source,
                strategy,
                watermark,
                lag_secs,
                max_lag_secs,
            } => format!(
                "jst-sync watermark of {source} ({strategy}) is {watermark}, {:.0} s behind now (limit {:.0} s)",
                lag_secs, max_lag_secs
            ),
        }
    }

    /// The body `format` expects.
    pub fn body(&self, format: AlertFormat) -> Value {
        match format {
            AlertFormat::Dingtalk | AlertFormat::Wecom => {
                json!({"msgtype": "text", "text": {"content": self.text()}})
            }
            AlertFormat::Json => self.to_json(),
        }
    }
}

/// Why an alert was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot reach the alert webhook: {0}")]
    Transport(String),
    #[error("the alert webhook answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

/// POSTs `event` to the configured webhook; does nothing without one.
pub async fn send_alert(settings: &AlertSettings, event: &AlertEvent) -> Result<(), AlertError> {
    let Some(url) = &settings.webhook_url else {
        return Ok(());
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AlertError::Transport(e.without_url().to_string()))?;
    let response = client
        .post(url.expose())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(event.body(settings.format).to_string())
        .send()
        .await
        .map_err(|e| AlertError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    // The robots answer HTTP 200 with {"errcode": non-zero} when they refuse a message.
    let errcode = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("errcode")?.as_i64());
    if !status.is_success() || errcode.is_some_and(|code| code != 0) {
        return Err(AlertError::Refused {
            status: status.as_u16(),
            body: text.chars().take(200).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_get_text_messages_and_json_receivers_get_the_event() {
        let event = AlertEvent::RunFailed {
            run_id: Some(7),
            command: "sync".into(),
            error: "code 25".into(),
        };
        let text =
            json!({"msgtype": "text", "text": {"content": "jst-sync sync run 7 failed: code 25"}});
        assert_eq!(event.body(AlertFormat::Dingtalk), text);
        assert_eq!(event.body(AlertFormat::Wecom), text);
        assert_eq!(
            event.body(AlertFormat::Json),
            json!({"event": "run_failed", "run_id": 7, "command": "sync", "error": "code 25"})
        );
    }
}
