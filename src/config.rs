//! Configuration, layered: built-in defaults, then a TOML file (`--config`), then `JST_*`
//! environment variables, then command-line flags. Validated once, before any work starts.
//!
//! The environment variables alone are enough to run: `JST_API_URL`, `JST_APP_KEY`,
//! `JST_APP_SECRET`, `JST_TARGET_APP_KEY`, `JST_CUSTOMER_ID`, `JST_SIGN_METHOD`,
//! `JST_MYSQL_URL`, `JST_STAGING`. Operations: `JST_METRICS_FILE`, `JST_ALERT_WEBHOOK_URL`,
//! `JST_ALERT_FORMAT`, `JST_MAX_WATERMARK_LAG`. MySQL table names and partitioning:
//! `JST_MYSQL_TABLE_PREFIX`, `JST_MYSQL_ORDERS_TABLE`, `JST_MYSQL_ITEMS_TABLE`,
//! `JST_MYSQL_PAYS_TABLE`, `JST_MYSQL_PARTITION_BY_MONTH`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::secret::Secret;
use crate::source::SignMethod;

/// How incremental pulls find what changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Time windows over `modified` (at most 7 days each), with an overlap behind the
    /// watermark and a safety lag before now.
    #[default]
    Window,
    /// The `ts` row-version cursor Jushuitan recommends.
    Ts,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Window => "window",
            Strategy::Ts => "ts",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "window" => Ok(Strategy::Window),
            "ts" => Ok(Strategy::Ts),
            other => Err(format!("unknown strategy {other:?}: expected window or ts")),
        }
    }
}

/// The Qimen gateway and the merchant's credentials.
#[derive(Clone, Debug)]
pub struct QimenSettings {
    pub api_url: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<Secret>,
    pub target_app_key: String,
    pub customer_id: Option<String>,
    pub sign_method: SignMethod,
    pub page_size: u32,
    pub per_second: u32,
    pub per_minute: u32,
    pub request_timeout: Duration,
    pub max_attempts: u32,
}

/// How runs are shaped.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub strategy: Strategy,
    /// How far behind the watermark each incremental run re-reads (late changes).
    pub overlap: Duration,
    /// How far behind now the watermark stays (changes still settling are re-read next run).
    pub safety_lag: Duration,
    /// How far back the first run reads when there is no watermark and no `--since`
    /// (0 = refuse and ask for `--since`).
    pub initial_backfill: Duration,
    /// Windows fetched at once; the rate limit is shared.
    pub window_concurrency: usize,
    /// Orders per MySQL transaction.
    pub batch_orders: usize,
}

/// Where alerts go and when they fire.
#[derive(Clone, Debug, Default)]
pub struct AlertSettings {
    /// The webhook to POST to; `None` disables alerts. Secret: robot URLs carry a token.
    pub webhook_url: Option<Secret>,
    pub format: AlertFormat,
    /// Alert when a watermark is further behind now than this.
    pub max_watermark_lag: Option<Duration>,
}

/// The body an alert webhook expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// DingTalk group robot: `{"msgtype":"text","text":{"content":…}}`.
    Dingtalk,
    /// WeCom (企业微信) group robot: the same `msgtype`/`text` shape.
    Wecom,
    /// `{"event":…,"run_id":…,"error":…}` for any other receiver.
    #[default]
    Json,
}

impl std::str::FromStr for AlertFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dingtalk" => Ok(AlertFormat::Dingtalk),
            "wecom" => Ok(AlertFormat::Wecom),
            "json" => Ok(AlertFormat::Json),
            other => Err(format!(
                "unknown alert format {other:?}: expected dingtalk, wecom or json"
            )),
        }
    }
}

/// How the MySQL tables are named and laid out (`[mysql]` besides `url`).
#[derive(Clone, Debug, Default)]
pub struct MysqlSettings {
    /// Put before each default table name (`shop1_` → `shop1_order_list_query`), for several
    /// merchants in one database.
    pub table_prefix: String,
    /// Explicit names; each wins over the prefix for its table.
    pub orders_table: Option<String>,
    pub items_table: Option<String>,
    pub pays_table: Option<String>,
    /// Monthly partitions of the order table (decided when the table is created).
    pub partition_by_month: bool,
}

/// The whole, layered configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub qimen: QimenSettings,
    pub mysql_url: Option<Secret>,
    pub mysql: MysqlSettings,
    pub staging: PathBuf,
    pub sync: SyncSettings,
    /// The `[mapping]` table of the TOML file, handed to the transform as is.
    pub mapping: Option<toml::Table>,
    pub alerts: AlertSettings,
    /// Prometheus text file written after each run (atomically).
    pub metrics_file: Option<PathBuf>,
    /// `[[merchant]]` blocks: several merchants synced independently by one command.
    pub merchants: Vec<MerchantSettings>,
}

/// One `[[merchant]]` block: what differs from the shared settings for one merchant. Each
/// merchant has its own staging file (so its own watermarks, outbox and lock) and may have its
/// own credentials and MySQL table names.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSettings {
    /// A short name for logs and summaries; also names the default staging file.
    pub name: String,
    pub customer_id: String,
    pub app_key: Option<String>,
    pub app_secret: Option<Secret>,
    pub api_url: Option<String>,
    pub target_app_key: Option<String>,
    pub sign_method: Option<SignMethod>,
    /// Default: the shared staging path with `-<name>` before its extension.
    pub staging: Option<PathBuf>,
    pub table_prefix: Option<String>,
    pub orders_table: Option<String>,
    pub items_table: Option<String>,
    pub pays_table: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            qimen: QimenSettings {
                api_url: None,
                app_key: None,
                app_secret: None,
                target_app_key: "23060081".into(),
                customer_id: None,
                sign_method: SignMethod::Md5,
                page_size: 25,
                per_second: 5,
                per_minute: 100,
                request_timeout: Duration::from_secs(30),
                max_attempts: 8,
            },
            mysql_url: None,
            mysql: MysqlSettings::default(),
            staging: PathBuf::from("jst-sync.sqlite"),
            sync: SyncSettings {
                strategy: Strategy::Window,
                overlap: Duration::from_secs(10 * 60),
                safety_lag: Duration::from_secs(60),
                initial_backfill: Duration::from_secs(90 * 86400),
                window_concurrency: 2,
                batch_orders: 500,
            },
            mapping: None,
            alerts: AlertSettings::default(),
            metrics_file: None,
            merchants: Vec::new(),
        }
    }
}

/// The TOML file's shape: every field optional, layered over the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    staging: Option<PathBuf>,
    qimen: Option<FileQimen>,
    mysql: Option<FileMysql>,
    sync: Option<FileSync>,
    mapping: Option<toml::Table>,
    alerts: Option<FileAlerts>,
    metrics_file: Option<PathBuf>,
    merchant: Option<Vec<MerchantSettings>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAlerts {
    webhook_url: Option<Secret>,
    format: Option<AlertFormat>,
    max_watermark_lag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQimen {
    api_url: Option<String>,
    app_key: Option<String>,
    app_secret: Option<Secret>,
    target_app_key: Option<String>,
    customer_id: Option<String>,
    sign_method: Option<SignMethod>,
    page_size: Option<u32>,
    per_second: Option<u32>,
    per_minute: Option<u32>,
    request_timeout: Option<String>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMysql {
    url: Option<Secret>,
    table_prefix: Option<String>,
    orders_table: Option<String>,
    items_table: Option<String>,
    pays_table: Option<String>,
    partition_by_month: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSync {
    strategy: Option<Strategy>,
    overlap: Option<String>,
    safety_lag: Option<String>,
    initial_backfill: Option<String>,
    window_concurrency: Option<usize>,
    batch_orders: Option<usize>,
}

impl Config {
    /// Defaults, then `file` (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        Self::load_with_env(file, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], reading variables through `env` (tests pass a map).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let parsed: FileConfig = toml::from_str(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?;
            config.apply_file(parsed)?;
        }
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> anyhow::Result<()> {
        if let Some(staging) = file.staging {
            self.staging = staging;
        }
        if let Some(merchants) = file.merchant {
            self.merchants = merchants;
        }
        if let Some(q) = file.qimen {
            let s = &mut self.qimen;
            s.api_url = q.api_url.or(s.api_url.take());
            s.app_key = q.app_key.or(s.app_key.take());
            s.app_secret = q.app_secret.or(s.app_secret.take());
            s.customer_id = q.customer_id.or(s.customer_id.take());
            if let Some(v) = q.target_app_key {
                s.target_app_key = v;
            }
            if let Some(v) = q.sign_method {
                s.sign_method = v;
            }
            if let Some(v) = q.page_size {
                s.page_size = v;
            }
            if let Some(v) = q.per_second {
                s.per_second = v;
            }
            if let Some(v) = q.per_minute {
                s.per_minute = v;
            }
            if let Some(v) = q.request_timeout {
                s.request_timeout = parse_duration(&v).context("qimen.request_timeout")?;
            }
            if let Some(v) = q.max_attempts {
                s.max_attempts = v;
            }
        }
        if let Some(m) = file.mysql {
            self.mysql_url = m.url.or(self.mysql_url.take());
            let t = &mut self.mysql;
            if let Some(v) = m.table_prefix {
                t.table_prefix = v;
            }
            t.orders_table = m.orders_table.or(t.orders_table.take());
            t.items_table = m.items_table.or(t.items_table.take());
            t.pays_table = m.pays_table.or(t.pays_table.take());
            if let Some(v) = m.partition_by_month {
                t.partition_by_month = v;
            }
        }
        if let Some(y) = file.sync {
            if let Some(v) = y.strategy {
                self.sync.strategy = v;
            }
            if let Some(v) = y.overlap {
                self.sync.overlap = parse_duration(&v).context("sync.overlap")?;
            }
            if let Some(v) = y.safety_lag {
                self.sync.safety_lag = parse_duration(&v).context("sync.safety_lag")?;
            }
            if let Some(v) = y.initial_backfill {
                self.sync.initial_backfill = parse_duration(&v).context("sync.initial_backfill")?;
            }
            if let Some(v) = y.window_concurrency {
                self.sync.window_concurrency = v;
            }
            if let Some(v) = y.batch_orders {
                self.sync.batch_orders = v;
            }
        }
        if file.mapping.is_some() {
            self.mapping = file.mapping;
        }
        if let Some(a) = file.alerts {
            self.alerts.webhook_url = a.webhook_url.or(self.alerts.webhook_url.take());
            if let Some(v) = a.format {
                self.alerts.format = v;
            }
            if let Some(v) = a.max_watermark_lag {
                self.alerts.max_watermark_lag =
                    Some(parse_duration(&v).context("alerts.max_watermark_lag")?);
            }
        }
        if file.metrics_file.is_some() {
            self.metrics_file = file.metrics_file;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
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

    fn validate(&self) -> anyhow::Result<()> {
        let q = &self.qimen;
        if q.page_size == 0 || q.page_size > 100 {
            bail!("page_size must be between 1 and 100 (the gateway documents 25)");
        }
        if q.per_second == 0 || q.per_minute == 0 {
            bail!("per_second and per_minute must be positive");
        }
        if q.max_attempts == 0 {
            bail!("max_attempts must be at least 1");
        }
        if self.sync.window_concurrency == 0 {
            bail!("window_concurrency must be at least 1");
        }
        if self.sync.batch_orders == 0 {
            bail!("batch_orders must be at least 1");
        }
        Ok(())
    }

    /// One configuration per merchant: the `[[merchant]]` blocks layered over the shared
    /// settings, or this configuration alone (named `default`) when there are none.
    pub fn per_merchant(&self) -> anyhow::Result<Vec<(String, Config)>> {
        if self.merchants.is_empty() {
            return Ok(vec![("default".to_owned(), self.clone())]);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut configs = Vec::new();
        for merchant in &self.merchants {
            if merchant.name.is_empty()
                || !merchant
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "[[merchant]] name {:?} must be non-empty letters, digits, - or _",
                    merchant.name
                );
            }
            if !seen.insert(merchant.name.clone()) {
                bail!("[[merchant]] name {:?} is used twice", merchant.name);
            }
            let mut config = self.clone();
            config.merchants.clear();
            let q = &mut config.qimen;
            q.customer_id = Some(merchant.customer_id.clone());
            q.app_key = merchant.app_key.clone().or(q.app_key.take());
            q.app_secret = merchant.app_secret.clone().or(q.app_secret.take());
            q.api_url = merchant.api_url.clone().or(q.api_url.take());
            if let Some(v) = &merchant.target_app_key {
                q.target_app_key = v.clone();
            }
            if let Some(v) = merchant.sign_method {
                q.sign_method = v;
            }
            config.staging = merchant
                .staging
                .clone()
                .unwrap_or_else(|| suffixed(&self.staging, &merchant.name));
            let m = &mut config.mysql;
            if let Some(v) = &merchant.table_prefix {
                m.table_prefix = v.clone();
            }
            m.orders_table = merchant.orders_table.clone().or(m.orders_table.take());
            m.items_table = merchant.items_table.clone().or(m.items_table.take());
            m.pays_table = merchant.pays_table.clone().or(m.pays_table.take());
            config.metrics_file = self
                .metrics_file
                .as_ref()
                .map(|p| suffixed(p, &merchant.name));
            configs.push((merchant.name.clone(), config));
        }
        Ok(configs)
    }

    /// The settings a pull needs, or a message naming every one that is missing.
    pub fn require_source(&self) -> anyhow::Result<(String, String, Secret, String)> {
        let q = &self.qimen;
        let mut missing = Vec::new();
        if q.api_url.is_none() {
            missing.push("JST_API_URL (qimen.api_url)");
        }
        if q.app_key.is_none() {
            missing.push("JST_APP_KEY (qimen.app_key)");
        }
        if q.app_secret.is_none() {
            missing.push("JST_APP_SECRET (qimen.app_secret)");
        }
        if q.customer_id.is_none() {
            missing.push("JST_CUSTOMER_ID (qimen.customer_id)");
        }
        if !missing.is_empty() {
            bail!("missing configuration: {}", missing.join(", "));
        }
        Ok((
            q.api_url.clone().unwrap_or_default(),
            q.app_key.clone().unwrap_or_default(),
            q.app_secret.clone().unwrap_or_default(),
            q.customer_id.clone().unwrap_or_default(),
        ))
    }

    /// The MySQL URL, or a message saying how to set it.
    pub fn require_mysql(&self) -> anyhow::Result<Secret> {
        self.mysql_url.clone().context(
            "missing configuration: JST_MYSQL_URL (mysql.url), e.g. mysql://user:pass@host:3306/db",
        )
    }
}

/// `path` with `-<name>` before its extension: `jst-sync.sqlite` → `jst-sync-shop1.sqlite`.
fn suffixed(path: &Path, name: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = match path.extension() {
        Some(ext) => format!("{stem}-{name}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{name}"),
    };
    path.with_file_name(file)
}

/// Parses `90s`, `10m`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .with_context(|| format!("invalid duration {text:?}: expected e.g. 30s, 10m, 2h"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => return Ok(Duration::from_millis(value)),
        "m" | "min" => value * 60,
        "h" => value * 3600,
        "d" => value * 86400,
        other => bail!("invalid duration unit {other:?} in {text:?}: use s, m, h or d"),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jst-sync.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(file.map(|_| path.as_path()), |name| env.get(name).cloned())
    }

    #[test]
    fn environment_variables_alone_are_enough() {
        let config = load(
            None,
            &[
                ("JST_API_URL", "http://127.0.0.1:1/router/qm"),
                ("JST_APP_KEY", "k"),
                ("JST_APP_SECRET", "s3cret"),
                ("JST_CUSTOMER_ID", "c"),
                ("JST_SIGN_METHOD", "hmac-sha256"),
                ("JST_MYSQL_URL", "mysql://root:pw@127.0.0.1:3306/test"),
                ("JST_STAGING", "/tmp/x.sqlite"),
            ],
        )
        .unwrap();
        assert!(config.require_source().is_ok());
        assert!(config.require_mysql().is_ok());
        assert_eq!(config.qimen.sign_method, SignMethod::HmacSha256);
        assert_eq!(config.qimen.target_app_key, "23060081");
        assert_eq!(config.staging, PathBuf::from("/tmp/x.sqlite"));
    }

    #[test]
    fn table_names_and_partitioning_come_from_the_file_or_the_environment() {
        let file = "[mysql]\ntable_prefix = \"shop1_\"\npays_table = \"payments\"\npartition_by_month = true\n";
        let config = load(Some(file), &[]).unwrap();
        assert_eq!(config.mysql.table_prefix, "shop1_");
        assert_eq!(config.mysql.pays_table.as_deref(), Some("payments"));
        assert!(config.mysql.partition_by_month);
        let config = load(
            Some(file),
            &[
                ("JST_MYSQL_TABLE_PREFIX", "shop2_"),
                ("JST_MYSQL_PARTITION_BY_MONTH", "false"),
            ],
        )
        .unwrap();
        assert_eq!(config.mysql.table_prefix, "shop2_");
        assert!(!config.mysql.partition_by_month);
        assert!(load(None, &[("JST_MYSQL_PARTITION_BY_MONTH", "maybe")]).is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "staging = \"a.sqlite\"\n[qimen]\napp_key = \"from-file\"\npage_size = 20\n[sync]\noverlap = \"15m\"\n";
        let config = load(Some(file), &[("JST_APP_KEY", "from-env")]).unwrap();
        assert_eq!(config.qimen.app_key.as_deref(), Some("from-env"));
        assert_eq!(config.qimen.page_size, 20);
        assert_eq!(config.sync.overlap, Duration::from_secs(900));
        assert_eq!(config.staging, PathBuf::from("a.sqlite"));
    }

    #[test]
    fn missing_credentials_are_all_named() {
        let error = load(None, &[("JST_APP_KEY", "k")])
            .unwrap()
            .require_source()
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("JST_API_URL")
                && message.contains("JST_APP_SECRET")
                && message.contains("JST_CUSTOMER_ID")
        );
        assert!(!message.contains("JST_APP_KEY"), "{message}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(load(Some("[qimen]\napp_kee = \"typo\"\n"), &[]).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = load(
            None,
            &[
                ("JST_APP_SECRET", "s3cret"),
                ("JST_MYSQL_URL", "mysql://u:pw9@h/db"),
            ],
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw9"),
            "{shown}"
        );
    }

    #[test]
    fn merchant_blocks_give_each_merchant_its_credentials_staging_and_tables() {
        let file = "staging = \"data/jst.sqlite\"\n[qimen]\napp_key = \"shared\"\napp_secret = \"s\"\napi_url = \"http://gw/router/qm\"\n\
                    [[merchant]]\nname = \"a\"\ncustomer_id = \"1\"\ntable_prefix = \"a_\"\n\
                    [[merchant]]\nname = \"b\"\ncustomer_id = \"2\"\napp_key = \"own\"\nstaging = \"b.sqlite\"\n";
        let merchants = load(Some(file), &[]).unwrap().per_merchant().unwrap();
        let names: Vec<&str> = merchants.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let (a, b) = (&merchants[0].1, &merchants[1].1);
        assert_eq!(
            (a.qimen.customer_id.as_deref(), a.qimen.app_key.as_deref()),
            (Some("1"), Some("shared"))
        );
        assert_eq!(a.staging, PathBuf::from("data/jst-a.sqlite"));
        assert_eq!(a.mysql.table_prefix, "a_");
        assert_eq!(
            (b.qimen.customer_id.as_deref(), b.qimen.app_key.as_deref()),
            (Some("2"), Some("own"))
        );
        assert_eq!(b.staging, PathBuf::from("b.sqlite"));
    }

    #[test]
    fn without_merchant_blocks_there_is_one_default_merchant() {
        let merchants = load(None, &[]).unwrap().per_merchant().unwrap();
        assert_eq!(merchants.len(), 1);
        assert_eq!(merchants[0].0, "default");
    }

    #[test]
    fn durations_parse_with_units() {
        let cases = [
            ("30s", 30),
            ("10m", 600),
            ("2h", 7200),
            ("1d", 86400),
            ("45", 45),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_secs(seconds),
                "{text}"
            );
        }
        assert!(parse_duration("ten minutes").is_err());
    }
}
