//! Alerts: one POST to a webhook when a run fails or a watermark lags beyond the configured
//! limit, as a DingTalk robot, a Feishu/Lark bot, a WeCom robot or generic JSON expects it. A
//! failing webhook is logged and never fails the run. The webhook URL is a secret (robot URLs
//! carry a token) and so is the robots' signing secret: neither is ever logged.
//!
//! Signing, as the vendors document it:
//! - DingTalk (加签): `timestamp` in milliseconds and
//!   `sign = urlencode(base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret)))`
//!   appended to the webhook URL's query.
//! - Feishu/Lark (签名校验): `timestamp` in seconds (a string) and
//!   `sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))` in the body.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::config::{AlertFormat, AlertSettings};
use crate::secret::Secret;

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

    /// The body `format` expects (unsigned).
    pub fn body(&self, format: AlertFormat) -> Value {
        match format {
            AlertFormat::Dingtalk | AlertFormat::Wecom => {
                json!({"msgtype": "text", "text": {"content": self.text()}})
            }
            AlertFormat::Feishu => json!({"msg_type": "text", "content": {"text": self.text()}}),
            AlertFormat::Json => self.to_json(),
        }
    }
}

/// DingTalk's `sign` for `timestamp_ms`, before URL encoding.
pub fn dingtalk_sign(secret: &Secret, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp_ms}\n{}", secret.expose()).as_bytes());
    base64(&mac.finalize().into_bytes())
}

/// Feishu/Lark's `sign` for `timestamp_s`.
pub fn feishu_sign(secret: &Secret, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{}", secret.expose());
    let mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    base64(&mac.finalize().into_bytes())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The URL and body to POST: signed when the settings have a secret and the format signs.
fn signed_request(settings: &AlertSettings, url: &Secret, event: &AlertEvent) -> (String, Value) {
    let mut body = event.body(settings.format);
    let mut url = url.expose().to_owned();
    if let Some(secret) = settings.secret.as_ref().filter(|s| !s.is_empty()) {
        let now = chrono::Utc::now();
        match settings.format {
            AlertFormat::Dingtalk => {
                let timestamp = now.timestamp_millis();
                let sign: String =
                    form_urlencoded::byte_serialize(dingtalk_sign(secret, timestamp).as_bytes())
                        .collect();
                let joiner = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{joiner}timestamp={timestamp}&sign={sign}");
            }
            AlertFormat::Feishu => {
                let timestamp = now.timestamp();
                body["timestamp"] = Value::String(timestamp.to_string());
                body["sign"] = Value::String(feishu_sign(secret, timestamp));
            }
            // Refused when the configuration is read: these receivers do not sign.
            AlertFormat::Wecom | AlertFormat::Json => {}
        }
    }
    (url, body)
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
    let (url, body) = signed_request(settings, url, event);
    let response = client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| AlertError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    // The robots answer HTTP 200 with {"errcode": non-zero} (DingTalk, WeCom) or
    // {"code": non-zero} (Feishu, e.g. 19021 for a bad signature) when they refuse a message.
    let answer = serde_json::from_str::<Value>(&text).ok();
    let code = |name: &str| answer.as_ref().and_then(|v| v.get(name)?.as_i64());
    let refused = match settings.format {
        AlertFormat::Dingtalk | AlertFormat::Wecom => code("errcode").is_some_and(|c| c != 0),
        AlertFormat::Feishu => code("code").is_some_and(|c| c != 0),
        AlertFormat::Json => false,
    };
    if !status.is_success() || refused {
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
        assert_eq!(
            event.body(AlertFormat::Feishu),
            json!({"msg_type": "text", "content": {"text": "jst-sync sync run 7 failed: code 25"}})
        );
    }

    #[test]
    fn base64_pads_as_the_standard_says() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (text, encoded) in cases {
            assert_eq!(base64(text.as_bytes()), encoded, "{text}");
        }
    }

    #[test]
    fn signatures_match_the_vendors_reference_code() {
        // Computed with the vendors' Python samples (hmac.new(…, hashlib.sha256), b64encode).
        let secret = Secret::new("SECtest");
        assert_eq!(
            dingtalk_sign(&secret, 1_700_000_000_000),
            "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
        );
        assert_eq!(
            feishu_sign(&secret, 1_700_000_000),
            "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="
        );
    }

    #[test]
    fn a_signed_dingtalk_url_gets_timestamp_and_sign_and_a_feishu_body_gets_both_fields() {
        let event = AlertEvent::RunFailed {
            run_id: None,
            command: "sync".into(),
            error: "e".into(),
        };
        let url = Secret::new("https://oapi.dingtalk.com/robot/send?access_token=t");
        let mut settings = AlertSettings {
            webhook_url: Some(url.clone()),
            format: AlertFormat::Dingtalk,
            secret: Some(Secret::new("SECtest")),
            max_watermark_lag: None,
        };
        let (signed, _) = signed_request(&settings, &url, &event);
        assert!(signed.contains("access_token=t&timestamp="), "{signed}");
        assert!(signed.contains("&sign="), "{signed}");
        settings.format = AlertFormat::Feishu;
        let (same, body) = signed_request(&settings, &url, &event);
        assert_eq!(same, url.expose());
        assert!(
            body["timestamp"].is_string() && body["sign"].is_string(),
            "{body}"
        );
    }
}
