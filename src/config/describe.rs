//! The resolved configuration as a list of settings, each with its value as text (secrets
//! masked) and the layer it came from: what `jst-sync config` prints.

use std::fmt;
use std::time::Duration;

use super::Config;
use crate::secret::{Secret, mask_url_password, mask_url_path};

/// Where a value came from, lowest layer first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "layer", content = "name", rename_all = "lowercase")]
pub enum Origin {
    Default,
    /// The TOML file (`--config`, `JST_CONFIG`).
    File,
    /// The environment variable named.
    Environment(String),
    /// The command-line flag named.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File => f.write_str("file"),
            Origin::Environment(name) => write!(f, "environment ({name})"),
            Origin::Flag(flag) => write!(f, "flag ({flag})"),
        }
    }
}

/// One resolved setting.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Setting {
    /// The dotted key as the file writes it (`qimen.page_size`).
    pub key: String,
    /// The value as text; a secret is `***` (a URL keeps its host), an unset value `-`.
    pub value: String,
    pub origin: Origin,
}

/// How a value is shown.
enum Shown {
    Plain(String),
    Unset,
}

fn plain(value: impl fmt::Display) -> Shown {
    Shown::Plain(value.to_string())
}

fn optional<T: fmt::Display>(value: Option<T>) -> Shown {
    value.map_or(Shown::Unset, plain)
}

fn quoted(value: &str) -> Shown {
    plain(format!("{value:?}"))
}

fn optional_quoted(value: Option<&str>) -> Shown {
    value.map_or(Shown::Unset, quoted)
}

fn secret(value: Option<&Secret>) -> Shown {
    optional(value.map(|_| "***"))
}

fn duration(value: Duration) -> Shown {
    plain(format!("\"{}\"", duration_text(value)))
}

/// `90d`, `1h30m`, `250ms`: as the settings are written (humantime would say `2months 29days…`).
fn duration_text(value: Duration) -> String {
    if value.is_zero() {
        return "0s".to_owned();
    }
    let mut millis = value.as_millis();
    let mut text = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if millis >= size {
            text.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    text
}

fn bytes(value: u64) -> Shown {
    let units = [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")];
    for (size, unit) in units {
        if value >= size && value.is_multiple_of(size) {
            return plain(format!("\"{}{unit}\"", value / size));
        }
    }
    plain(value)
}

impl Config {
    /// Every setting with its value and where it came from (the `[mapping]` and the
    /// `[[merchant]]` blocks summarised, secrets masked).
    pub fn settings(&self) -> Vec<Setting> {
        let q = &self.qimen;
        let o = &self.openapi;
        let m = &self.mysql;
        let y = &self.sync;
        let a = &self.alerts;
        let sources: Vec<&str> = self.sources.iter().map(|s| s.as_str()).collect();
        // (key, the variable that sets it, the value)
        let rows: Vec<(&str, Option<&str>, Shown)> = vec![
            (
                "staging",
                Some("JST_STAGING"),
                quoted(&self.staging.display().to_string()),
            ),
            ("sources", Some("JST_SOURCE"), plain(format!("{sources:?}"))),
            (
                "metrics_file",
                Some("JST_METRICS_FILE"),
                optional_quoted(self.metrics_file.as_ref().and_then(|p| p.to_str())),
            ),
            (
                "qimen.api_url",
                Some("JST_API_URL"),
                optional_quoted(q.api_url.as_deref()),
            ),
            (
                "qimen.app_key",
                Some("JST_APP_KEY"),
                optional_quoted(q.app_key.as_deref()),
            ),
            (
                "qimen.app_secret",
                Some("JST_APP_SECRET"),
                secret(q.app_secret.as_ref()),
            ),
            (
                "qimen.target_app_key",
                Some("JST_TARGET_APP_KEY"),
                quoted(&q.target_app_key),
            ),
            (
                "qimen.customer_id",
                Some("JST_CUSTOMER_ID"),
                optional_quoted(q.customer_id.as_deref()),
            ),
            (
                "qimen.sign_method",
                Some("JST_SIGN_METHOD"),
                quoted(q.sign_method.as_param()),
            ),
            ("qimen.page_size", Some("JST_PAGE_SIZE"), plain(q.page_size)),
            (
                "qimen.per_second",
                Some("JST_PER_SECOND"),
                plain(q.per_second),
            ),
            (
                "qimen.per_minute",
                Some("JST_PER_MINUTE"),
                plain(q.per_minute),
            ),
            (
                "qimen.request_timeout",
                Some("JST_REQUEST_TIMEOUT"),
                duration(q.request_timeout),
            ),
            (
                "qimen.max_attempts",
                Some("JST_MAX_ATTEMPTS"),
                plain(q.max_attempts),
            ),
            (
                "qimen.max_ban_wait",
                Some("JST_MAX_BAN_WAIT"),
                duration(q.max_ban_wait),
            ),
            (
                "qimen.archive_after",
                Some("JST_ARCHIVE_AFTER"),
                duration(q.archive_after),
            ),
            (
                "qimen.max_body",
                Some("JST_MAX_BODY"),
                bytes(q.max_body_bytes),
            ),
            (
                "openapi.url",
                Some("JST_OPENAPI_URL"),
                optional_quoted(o.url.as_deref()),
            ),
            (
                "openapi.app_key",
                Some("JST_OPENAPI_APP_KEY"),
                optional_quoted(o.app_key.as_deref()),
            ),
            (
                "openapi.app_secret",
                Some("JST_OPENAPI_APP_SECRET"),
                secret(o.app_secret.as_ref()),
            ),
            (
                "openapi.access_token",
                Some("JST_OPENAPI_ACCESS_TOKEN"),
                secret(o.access_token.as_ref()),
            ),
            (
                "openapi.refresh_token",
                Some("JST_OPENAPI_REFRESH_TOKEN"),
                secret(o.refresh_token.as_ref()),
            ),
            (
                "openapi.page_size",
                Some("JST_OPENAPI_PAGE_SIZE"),
                plain(o.page_size),
            ),
            (
                "mysql.url",
                Some("JST_MYSQL_URL"),
                optional_quoted(
                    self.mysql_url
                        .as_ref()
                        .map(|url| mask_url_password(url.expose()))
                        .as_deref(),
                ),
            ),
            (
                "mysql.table_prefix",
                Some("JST_MYSQL_TABLE_PREFIX"),
                quoted(&m.table_prefix),
            ),
            (
                "mysql.orders_table",
                Some("JST_MYSQL_ORDERS_TABLE"),
                optional_quoted(m.orders_table.as_deref()),
            ),
            (
                "mysql.items_table",
                Some("JST_MYSQL_ITEMS_TABLE"),
                optional_quoted(m.items_table.as_deref()),
            ),
            (
                "mysql.pays_table",
                Some("JST_MYSQL_PAYS_TABLE"),
                optional_quoted(m.pays_table.as_deref()),
            ),
            (
                "mysql.partition_by_month",
                Some("JST_MYSQL_PARTITION_BY_MONTH"),
                plain(m.partition_by_month),
            ),
            (
                "sync.strategy",
                Some("JST_STRATEGY"),
                quoted(y.strategy.as_str()),
            ),
            ("sync.overlap", Some("JST_OVERLAP"), duration(y.overlap)),
            (
                "sync.safety_lag",
                Some("JST_SAFETY_LAG"),
                duration(y.safety_lag),
            ),
            (
                "sync.initial_backfill",
                Some("JST_INITIAL_BACKFILL"),
                duration(y.initial_backfill),
            ),
            (
                "sync.window_concurrency",
                Some("JST_WINDOW_CONCURRENCY"),
                plain(y.window_concurrency),
            ),
            (
                "sync.batch_orders",
                Some("JST_BATCH_ORDERS"),
                plain(y.batch_orders),
            ),
            (
                "alerts.webhook_url",
                Some("JST_ALERT_WEBHOOK_URL"),
                optional_quoted(
                    a.webhook_url
                        .as_ref()
                        .map(|url| mask_url_path(url.expose()))
                        .as_deref(),
                ),
            ),
            (
                "alerts.format",
                Some("JST_ALERT_FORMAT"),
                quoted(&format!("{:?}", a.format).to_ascii_lowercase()),
            ),
            (
                "alerts.secret",
                Some("JST_ALERT_SECRET"),
                secret(a.secret.as_ref()),
            ),
            (
                "alerts.max_watermark_lag",
                Some("JST_MAX_WATERMARK_LAG"),
                a.max_watermark_lag.map_or(Shown::Unset, duration),
            ),
            (
                "mapping",
                None,
                plain(match &self.mapping {
                    None => "built-in".to_owned(),
                    Some(table) => {
                        format!("built-in with the file's changes ({} keys)", table.len())
                    }
                }),
            ),
        ];
        let mut settings: Vec<Setting> = rows
            .into_iter()
            .map(|(key, variable, shown)| Setting {
                key: key.to_owned(),
                value: match shown {
                    Shown::Plain(text) => text,
                    Shown::Unset => "-".to_owned(),
                },
                origin: self.origin_of(key, variable),
            })
            .collect();
        settings.extend(self.merchant_settings());
        settings
    }

    /// The layer that set `key`: a flag, else the environment, else the file, else the default.
    fn origin_of(&self, key: &str, variable: Option<&str>) -> Origin {
        let p = &self.provenance;
        if let Some(flag) = p.flags.get(key) {
            return Origin::Flag(flag.clone());
        }
        if let Some(variable) = variable {
            let from_file = format!("{variable}_FILE");
            for name in [variable, from_file.as_str()] {
                if p.env_vars.contains(name) {
                    return Origin::Environment(name.to_owned());
                }
            }
        }
        if p.file_keys.contains(key) {
            Origin::File
        } else {
            Origin::Default
        }
    }

    /// What each `[[merchant]]` block sets (all from the file), secrets masked.
    fn merchant_settings(&self) -> Vec<Setting> {
        let mut settings = Vec::new();
        for merchant in &self.merchants {
            let mut row = |field: &str, value: Option<String>| {
                if let Some(value) = value {
                    settings.push(Setting {
                        key: format!("merchant.{}.{field}", merchant.name),
                        value,
                        origin: Origin::File,
                    });
                }
            };
            let text = |v: &Option<String>| v.as_ref().map(|v| format!("{v:?}"));
            let masked = |v: &Option<Secret>| v.as_ref().map(|_| "***".to_owned());
            row(
                "customer_id",
                (!merchant.customer_id.is_empty()).then(|| format!("{:?}", merchant.customer_id)),
            );
            row(
                "sources",
                merchant.sources.as_ref().map(|s| format!("{s:?}")),
            );
            row("api_url", text(&merchant.api_url));
            row("app_key", text(&merchant.app_key));
            row("app_secret", masked(&merchant.app_secret));
            row("target_app_key", text(&merchant.target_app_key));
            row(
                "sign_method",
                merchant.sign_method.map(|s| format!("{:?}", s.as_param())),
            );
            row("openapi_app_key", text(&merchant.openapi_app_key));
            row("openapi_app_secret", masked(&merchant.openapi_app_secret));
            row(
                "openapi_access_token",
                masked(&merchant.openapi_access_token),
            );
            row(
                "openapi_refresh_token",
                masked(&merchant.openapi_refresh_token),
            );
            row(
                "staging",
                merchant
                    .staging
                    .as_ref()
                    .map(|p| format!("{:?}", p.display().to_string())),
            );
            row("table_prefix", text(&merchant.table_prefix));
            row("orders_table", text(&merchant.orders_table));
            row("items_table", text(&merchant.items_table));
            row("pays_table", text(&merchant.pays_table));
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_as_they_are_written() {
        let cases = [
            (0, "0s"),
            (90 * 86_400_000, "90d"),
            (5_400_000, "1h30m"),
            (250, "250ms"),
            (61_500, "1m1s500ms"),
        ];
        for (millis, text) in cases {
            assert_eq!(duration_text(Duration::from_millis(millis)), text);
        }
    }
}
