//! The `JST_*` environment variables, layered over the file. A secret may be read from a file
//! instead: `JST_APP_SECRET_FILE=/run/credentials/jst-sync/app_secret` (systemd's
//! `LoadCredential`, a Docker or Kubernetes secret), with a trailing newline trimmed.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Config, parse_duration, permissions};
use crate::secret::Secret;

impl Config {
    pub(super) fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let used = RefCell::new(BTreeSet::new());
        let warnings = RefCell::new(Vec::new());
        let get = |name: &str| {
            let value = env(name).filter(|v| !v.is_empty());
            if value.is_some() {
                used.borrow_mut().insert(name.to_owned());
            }
            value
        };
        // `NAME` or `NAME_FILE` (not both): the secret itself, or read from the file.
        let secret = |name: &str| -> anyhow::Result<Option<Secret>> {
            let file_variable = format!("{name}_FILE");
            match (get(name), get(&file_variable)) {
                (Some(_), Some(_)) => {
                    bail!("both {name} and {file_variable} are set: keep one")
                }
                (Some(value), None) => Ok(Some(Secret::new(value))),
                (None, Some(path)) => {
                    let path = Path::new(&path);
                    let value = read_secret_file(path).with_context(|| {
                        format!("{file_variable}: cannot read {}", path.display())
                    })?;
                    if value.is_empty() {
                        bail!("{file_variable}: {} is empty", path.display());
                    }
                    warnings
                        .borrow_mut()
                        .extend(permissions::secret_file(path, &file_variable));
                    Ok(Some(value))
                }
                (None, None) => Ok(None),
            }
        };
        let s = &mut self.qimen;
        if let Some(v) = get("JST_API_URL") {
            s.api_url = Some(v);
        }
        if let Some(v) = get("JST_APP_KEY") {
            s.app_key = Some(v);
        }
        if let Some(v) = secret("JST_APP_SECRET")? {
            s.app_secret = Some(v);
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
        if let Some(v) = secret("JST_OPENAPI_APP_SECRET")? {
            o.app_secret = Some(v);
        }
        if let Some(v) = secret("JST_OPENAPI_ACCESS_TOKEN")? {
            o.access_token = Some(v);
        }
        if let Some(v) = secret("JST_OPENAPI_REFRESH_TOKEN")? {
            o.refresh_token = Some(v);
        }
        if let Some(v) = get("JST_OPENAPI_PAGE_SIZE") {
            o.page_size = v
                .parse()
                .context("JST_OPENAPI_PAGE_SIZE must be a whole number")?;
        }
        if let Some(v) = secret("JST_MYSQL_URL")? {
            self.mysql_url = Some(v);
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
            self.mysql.load_data = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => bail!("JST_MYSQL_LOAD_DATA must be true or false, not {v:?}"),
            };
        }
        if let Some(v) = get("JST_STAGING") {
            self.staging = PathBuf::from(v);
        }
        if let Some(v) = get("JST_KEEP_PAGES") {
            self.keep_pages = parse_duration(&v).context("JST_KEEP_PAGES")?;
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
        if let Some(v) = secret("JST_ALERT_WEBHOOK_URL")? {
            self.alerts.webhook_url = Some(v);
        }
        if let Some(v) = secret("JST_ALERT_SECRET")? {
            self.alerts.secret = Some(v);
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
        if let Some(v) = get("JST_MERCHANT_CONCURRENCY") {
            self.run.merchant_concurrency = v
                .parse()
                .context("JST_MERCHANT_CONCURRENCY must be a whole number")?;
        }
        if let Some(v) = get("JST_LISTEN") {
            self.run.listen = Some(super::parse_listen(&v).context("JST_LISTEN")?);
        }
        if let Some(v) = get("JST_METRICS_FILE") {
            self.metrics_file = Some(PathBuf::from(v));
        }
        self.provenance.env_vars.extend(used.into_inner());
        self.warnings.extend(warnings.into_inner());
        Ok(())
    }
}

/// A secret kept in a file: its text without the trailing newline editors and `echo` add.
fn read_secret_file(path: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(Secret::new(trimmed))
}
