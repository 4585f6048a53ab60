//! The `JST_*` environment variables, layered over the file.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::{Config, parse_duration};
use crate::secret::Secret;

impl Config {
    pub(super) fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        let s = &mut self.qimen;
        if let Some(v) = get("JST_API_URL") {
            s.api_url = Some(v);
        }
        if let Some(v) = get("JST_APP_KEY") {
            s.app_key = Some(v);
        }
        if let Some(v) = get("JST_APP_SECRET") {
            s.app_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_TARGET_APP_KEY") {
            s.target_app_key = v;
        }
        if let Some(v) = get("JST_CUSTOMER_ID") {
            s.customer_id = Some(v);
        }
        if let Some(v) = get("JST_SIGN_METHOD") {
            s.sign_method = v
                .parse()
                .map_err(anyhow::Error::msg)
                .context("JST_SIGN_METHOD")?;
        }
        if let Some(v) = get("JST_PAGE_SIZE") {
            s.page_size = v.parse().context("JST_PAGE_SIZE must be a whole number")?;
        }
        if let Some(v) = get("JST_PER_SECOND") {
            s.per_second = v.parse().context("JST_PER_SECOND must be a whole number")?;
        }
        if let Some(v) = get("JST_PER_MINUTE") {
            s.per_minute = v.parse().context("JST_PER_MINUTE must be a whole number")?;
        }
        if let Some(v) = get("JST_MAX_ATTEMPTS") {
            s.max_attempts = v
                .parse()
                .context("JST_MAX_ATTEMPTS must be a whole number")?;
        }
        if let Some(v) = get("JST_REQUEST_TIMEOUT") {
            s.request_timeout = parse_duration(&v).context("JST_REQUEST_TIMEOUT")?;
        }
        if let Some(v) = get("JST_MAX_BAN_WAIT") {
            s.max_ban_wait = parse_duration(&v).context("JST_MAX_BAN_WAIT")?;
        }
        if let Some(v) = get("JST_ARCHIVE_AFTER") {
            s.archive_after = parse_duration(&v).context("JST_ARCHIVE_AFTER")?;
        }
        if let Some(v) = get("JST_MAX_BODY") {
            s.max_body_bytes = super::parse_bytes(&v).context("JST_MAX_BODY")?;
        }
        if let Some(v) = get("JST_SOURCE") {
            self.sources = super::SourceKind::parse_list(&v).context("JST_SOURCE")?;
        }
        let o = &mut self.openapi;
        if let Some(v) = get("JST_OPENAPI_URL") {
            o.url = Some(v);
        }
        if let Some(v) = get("JST_OPENAPI_APP_KEY") {
            o.app_key = Some(v);
        }
        if let Some(v) = get("JST_OPENAPI_APP_SECRET") {
            o.app_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_OPENAPI_ACCESS_TOKEN") {
            o.access_token = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_OPENAPI_REFRESH_TOKEN") {
            o.refresh_token = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_OPENAPI_PAGE_SIZE") {
            o.page_size = v
                .parse()
                .context("JST_OPENAPI_PAGE_SIZE must be a whole number")?;
        }
        if let Some(v) = get("JST_MYSQL_URL") {
            self.mysql_url = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_MYSQL_TABLE_PREFIX") {
            self.mysql.table_prefix = v;
        }
        if let Some(v) = get("JST_MYSQL_ORDERS_TABLE") {
            self.mysql.orders_table = Some(v);
        }
        if let Some(v) = get("JST_MYSQL_ITEMS_TABLE") {
            self.mysql.items_table = Some(v);
        }
        if let Some(v) = get("JST_MYSQL_PAYS_TABLE") {
            self.mysql.pays_table = Some(v);
        }
        if let Some(v) = get("JST_MYSQL_PARTITION_BY_MONTH") {
            self.mysql.partition_by_month = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => bail!("JST_MYSQL_PARTITION_BY_MONTH must be true or false, not {v:?}"),
            };
        }
        if let Some(v) = get("JST_MYSQL_LOAD_DATA") {
            self.mysql.load_data = Some(match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => bail!("JST_MYSQL_LOAD_DATA must be true or false, not {v:?}"),
            });
        }
        if let Some(v) = get("JST_STAGING") {
            self.staging = PathBuf::from(v);
        }
        if let Some(v) = get("JST_STRATEGY") {
            self.sync.strategy = v
                .parse()
                .map_err(anyhow::Error::msg)
                .context("JST_STRATEGY")?;
        }
        if let Some(v) = get("JST_OVERLAP") {
            self.sync.overlap = parse_duration(&v).context("JST_OVERLAP")?;
        }
        if let Some(v) = get("JST_SAFETY_LAG") {
            self.sync.safety_lag = parse_duration(&v).context("JST_SAFETY_LAG")?;
        }
        if let Some(v) = get("JST_INITIAL_BACKFILL") {
            self.sync.initial_backfill = parse_duration(&v).context("JST_INITIAL_BACKFILL")?;
        }
        if let Some(v) = get("JST_BATCH_ORDERS") {
            self.sync.batch_orders = v
                .parse()
                .context("JST_BATCH_ORDERS must be a whole number")?;
        }
        if let Some(v) = get("JST_WINDOW_CONCURRENCY") {
            self.sync.window_concurrency = v
                .parse()
                .context("JST_WINDOW_CONCURRENCY must be a whole number")?;
        }
        if let Some(v) = get("JST_ALERT_WEBHOOK_URL") {
            self.alerts.webhook_url = Some(Secret::new(v));
        }
        if let Some(v) = get("JST_ALERT_FORMAT") {
            self.alerts.format = v
                .parse()
                .map_err(anyhow::Error::msg)
                .context("JST_ALERT_FORMAT")?;
        }
        if let Some(v) = get("JST_MAX_WATERMARK_LAG") {
            self.alerts.max_watermark_lag =
                Some(parse_duration(&v).context("JST_MAX_WATERMARK_LAG")?);
        }
        if let Some(v) = get("JST_METRICS_FILE") {
            self.metrics_file = Some(PathBuf::from(v));
        }
        Ok(())
    }
}
