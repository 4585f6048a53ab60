//! Configuration, layered: built-in defaults, then a TOML file (`--config`), then `JST_*`
//! environment variables, then command-line flags. Validated once, before any work starts.
//!
//! The environment variables alone are enough to run: `JST_API_URL`, `JST_APP_KEY`,
//! `JST_APP_SECRET`, `JST_TARGET_APP_KEY`, `JST_CUSTOMER_ID`, `JST_SIGN_METHOD`,
//! `JST_MYSQL_URL`, `JST_STAGING`. Operations: `JST_METRICS_FILE`, `JST_ALERT_WEBHOOK_URL`,
//! `JST_ALERT_FORMAT`, `JST_ALERT_SECRET`, `JST_MAX_WATERMARK_LAG`, `JST_MERCHANT_CONCURRENCY`,
//! `JST_LISTEN`. MySQL table names and partitioning:
//! `JST_MYSQL_TABLE_PREFIX`, `JST_MYSQL_ORDERS_TABLE`, `JST_MYSQL_ITEMS_TABLE`,
//! `JST_MYSQL_PAYS_TABLE`, `JST_MYSQL_PARTITION_BY_MONTH`.
//!
//! Strings in the file may use `${VAR}` and `${VAR:-default}` (see [`expand`]); every secret
//! may come from a file instead (`JST_APP_SECRET_FILE`, `JST_MYSQL_URL_FILE`, …, a trailing
//! newline trimmed). Each value remembers where it came from ([`Provenance`]), for
//! `jst-sync config`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::secret::Secret;

mod components;
mod describe;
mod env;
mod expand;
mod file;
mod merchant;
mod permissions;
#[cfg(test)]
mod tests;

pub use crate::units::{MAX_DURATION, parse_bytes, parse_duration};
pub use describe::{Origin, Setting};
use file::FileConfig;
pub use merchant::MerchantSettings;

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

/// Which route a merchant's orders are read through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `jushuitan.order.list.query` through the Qimen router (Taobao-family shops).
    #[default]
    Qimen,
    /// Jushuitan's own open platform, `/open/orders/single/query` (own mall, offline,
    /// cross-border shops).
    Openapi,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Qimen => "qimen",
            SourceKind::Openapi => "openapi",
        }
    }

    /// `qimen`, `openapi`, or both separated by commas.
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<SourceKind>> {
        let mut kinds = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let kind = match part {
                "qimen" => SourceKind::Qimen,
                "openapi" => SourceKind::Openapi,
                other => bail!(
                    "unknown source {other:?}: expected qimen, openapi or both (qimen,openapi)"
                ),
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            bail!("no source named: expected qimen, openapi or both (qimen,openapi)");
        }
        Ok(kinds)
    }
}

/// Jushuitan's own open platform and the merchant's tokens (`[openapi]`).
#[derive(Clone, Debug)]
pub struct OpenApiSettings {
    /// Base URL, e.g. `https://openapi.jushuitan.com`.
    pub url: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<Secret>,
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Up to 100 on this route (the default).
    pub page_size: u32,
}

impl Default for OpenApiSettings {
    fn default() -> Self {
        Self {
            url: None,
            app_key: None,
            app_secret: None,
            access_token: None,
            refresh_token: None,
            page_size: 100,
        }
    }
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

/// How `run` (and `run --every`) runs merchants (`[run]`).
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Merchants synced at once; each merchant keeps its own loop, so a slow one never delays
    /// the others beyond these slots.
    pub merchant_concurrency: usize,
    /// Where `run` serves `/metrics`, `/healthz` and the status page (`--listen` wins).
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            merchant_concurrency: 4,
            listen: None,
        }
    }
}

/// Where alerts go and when they fire.
#[derive(Clone, Debug, Default)]
pub struct AlertSettings {
    /// The webhook to POST to; `None` disables alerts. Secret: robot URLs carry a token.
    pub webhook_url: Option<Secret>,
    pub format: AlertFormat,
    /// The robot's signing secret (DingTalk 加签 `SEC…`, Feishu/Lark 签名校验); `None`: the
    /// messages are not signed.
    pub secret: Option<Secret>,
    /// Alert when a watermark is further behind now than this.
    pub max_watermark_lag: Option<Duration>,
}

/// The body an alert webhook expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// DingTalk group robot: `{"msgtype":"text","text":{"content":…}}`, signed in the URL
    /// (`timestamp`, `sign`) when a secret is set.
    Dingtalk,
    /// WeCom (企业微信) group robot: the same `msgtype`/`text` shape.
    Wecom,
    /// Feishu (飞书) or Lark custom bot: `{"msg_type":"text","content":{"text":…}}`, signed
    /// in the body when a secret is set (`lark` is read as this: the same bot API).
    #[serde(alias = "lark")]
    Feishu,
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
            "feishu" | "lark" => Ok(AlertFormat::Feishu),
            "json" => Ok(AlertFormat::Json),
            other => Err(format!(
                "unknown alert format {other:?}: expected dingtalk, feishu (or lark), wecom or json"
            )),
        }
    }
}

/// The whole, layered configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The routes read, in order; each keeps its own watermarks and feeds the same tables.
    pub sources: Vec<SourceKind>,
    /// `[qimen]`: the Qimen client's own configuration.
    pub qimen: crate::source::SourceConfig,
    pub openapi: OpenApiSettings,
    pub mysql_url: Option<Secret>,
    /// `[mysql]` besides `url`: the MySQL sink's own configuration (its `url` is set from
    /// `mysql_url` by [`Config::mysql_sink`]).
    pub mysql: crate::sink::mysql::MysqlConfig,
    pub staging: PathBuf,
    /// How long re-read copies of pages (sightings) are kept: `[staging] keep_pages`,
    /// `JST_KEEP_PAGES` (default 90 days); see `jst-sync prune`.
    pub keep_pages: Duration,
    pub sync: SyncSettings,
    pub run: RunSettings,
    /// The `[mapping]` table of the TOML file, handed to the transform as is.
    pub mapping: Option<toml::Table>,
    pub alerts: AlertSettings,
    /// Prometheus text file written after each run (atomically).
    pub metrics_file: Option<PathBuf>,
    /// `[[merchant]]` blocks: several merchants synced independently by one command.
    pub merchants: Vec<MerchantSettings>,
    /// Where each value came from.
    pub provenance: Provenance,
    /// Problems worth telling the operator that do not stop the program (a file holding a
    /// secret readable by others).
    pub warnings: Vec<String>,
}

/// Which layer set which value: the file's keys, the environment variables read, the flags.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The TOML file read, if any.
    pub file: Option<PathBuf>,
    /// Dotted keys the file set (`qimen.page_size`; `mapping` and `merchant` as a whole).
    pub file_keys: BTreeSet<String>,
    /// `JST_*` variables that were set and read (`JST_APP_SECRET_FILE` when read from a file).
    pub env_vars: BTreeSet<String>,
    /// Keys set by a command-line flag, with the flag.
    pub flags: BTreeMap<String, String>,
}

impl Provenance {
    /// Records that `flag` set `key` (the last layer).
    pub fn set_by_flag(&mut self, key: &str, flag: &str) {
        self.flags.insert(key.to_owned(), flag.to_owned());
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: vec![SourceKind::Qimen],
            openapi: OpenApiSettings::default(),
            qimen: crate::source::SourceConfig::default(),
            mysql_url: None,
            mysql: crate::sink::mysql::MysqlConfig::default(),
            staging: PathBuf::from("jst-sync.sqlite"),
            keep_pages: Duration::from_secs(90 * 86400),
            sync: SyncSettings {
                strategy: Strategy::Window,
                overlap: Duration::from_secs(10 * 60),
                safety_lag: Duration::from_secs(60),
                initial_backfill: Duration::from_secs(90 * 86400),
                window_concurrency: 2,
                batch_orders: 500,
            },
            run: RunSettings::default(),
            mapping: None,
            alerts: AlertSettings::default(),
            metrics_file: None,
            merchants: Vec::new(),
            provenance: Provenance::default(),
            warnings: Vec::new(),
        }
    }
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
            let raw: toml::Table = toml::from_str(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?;
            let mut expanded = toml::Value::Table(raw.clone());
            expand::expand_value(&mut expanded, "", &env)
                .with_context(|| format!("config file {}", path.display()))?;
            if let toml::Value::Table(table) = &expanded {
                config.provenance.file_keys = file::keys_set(table);
            }
            let parsed: FileConfig = expanded
                .try_into()
                .with_context(|| format!("invalid config file {}", path.display()))?;
            config.provenance.file = Some(path.to_owned());
            config.apply_file(parsed)?;
            config
                .warnings
                .extend(permissions::file_holding_secrets(path, &raw));
        }
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        // Each component's configuration checks its own settings, as it does when built in code.
        let message = |error: crate::source::SourceError| match error {
            crate::source::SourceError::Config(message) => anyhow::anyhow!(message),
            other => anyhow::Error::new(other),
        };
        self.qimen.validate().map_err(message)?;
        self.openapi_config().validate().map_err(message)?;
        if self.sync.window_concurrency == 0 {
            bail!("window_concurrency must be at least 1");
        }
        if self.run.merchant_concurrency == 0 {
            bail!("merchant_concurrency must be at least 1");
        }
        if self.sync.batch_orders == 0 {
            bail!("batch_orders must be at least 1");
        }
        if self.alerts.secret.is_some()
            && !matches!(
                self.alerts.format,
                AlertFormat::Dingtalk | AlertFormat::Feishu
            )
        {
            bail!(
                "alerts.secret (JST_ALERT_SECRET) signs DingTalk and Feishu robots only: set \
                 alerts.format to dingtalk or feishu, or leave the secret out"
            );
        }
        // Set in code as well as parsed: a duration the pull plan cannot add to a date would
        // otherwise fail in the middle of a run.
        let durations = [
            ("overlap", Some(self.sync.overlap)),
            ("safety_lag", Some(self.sync.safety_lag)),
            ("initial_backfill", Some(self.sync.initial_backfill)),
            ("max_watermark_lag", self.alerts.max_watermark_lag),
        ];
        for (name, duration) in durations {
            if duration.is_some_and(|d| d > MAX_DURATION) {
                bail!("{name} is longer than ten years: use at most 3650d");
            }
        }
        Ok(())
    }

    /// Whether the credentials a Qimen pull needs are all set, or a message naming every one
    /// that is missing.
    pub fn require_source(&self) -> anyhow::Result<()> {
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
        Ok(())
    }

    /// Whether the credentials an open-platform pull needs are all set, or a message naming
    /// every one that is missing.
    pub fn require_openapi(&self) -> anyhow::Result<()> {
        let o = &self.openapi;
        let mut missing = Vec::new();
        if o.url.is_none() {
            missing.push("JST_OPENAPI_URL (openapi.url)");
        }
        if o.app_key.is_none() {
            missing.push("JST_OPENAPI_APP_KEY (openapi.app_key)");
        }
        if o.app_secret.is_none() {
            missing.push("JST_OPENAPI_APP_SECRET (openapi.app_secret)");
        }
        if o.access_token.is_none() {
            missing.push("JST_OPENAPI_ACCESS_TOKEN (openapi.access_token)");
        }
        if !missing.is_empty() {
            bail!("missing configuration: {}", missing.join(", "));
        }
        Ok(())
    }

    /// The MySQL URL, or a message saying how to set it.
    pub fn require_mysql(&self) -> anyhow::Result<Secret> {
        self.mysql_url.clone().context(
            "missing configuration: JST_MYSQL_URL (mysql.url), e.g. mysql://user:pass@host:3306/db",
        )
    }
}

/// Parses the address `run` listens on: `127.0.0.1:9187`, `[::1]:9187`, or `localhost:9187`.
pub fn parse_listen(text: &str) -> anyhow::Result<std::net::SocketAddr> {
    let text = text.trim();
    let text = match text.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_owned(),
    };
    text.parse().with_context(|| {
        format!("invalid listen address {text:?}: use host:port, e.g. 127.0.0.1:9187")
    })
}
