//! The TOML file's shape (every field optional) and how it is layered over the defaults.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use super::{AlertFormat, Config, MerchantSettings, Strategy, parse_duration};
use crate::secret::Secret;

/// The TOML file's shape: every field optional, layered over the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    /// `staging = "path"`, or a `[staging]` table (`path`, `keep_pages`).
    staging: Option<FileStaging>,
    /// The routes read: `["qimen"]` (default), `["openapi"]` or both.
    sources: Option<Vec<String>>,
    /// `[qimen]`: the Qimen client's configuration as it is, its defaults for what is left out.
    qimen: Option<crate::source::SourceConfig>,
    openapi: Option<FileOpenApi>,
    mysql: Option<FileMysql>,
    sync: Option<FileSync>,
    run: Option<FileRun>,
    mapping: Option<toml::Table>,
    alerts: Option<FileAlerts>,
    metrics_file: Option<PathBuf>,
    merchant: Option<Vec<MerchantSettings>>,
}

/// `staging = "path"` or `[staging] path = "…", keep_pages = "90d"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum FileStaging {
    Path(PathBuf),
    Table {
        path: Option<PathBuf>,
        keep_pages: Option<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAlerts {
    webhook_url: Option<Secret>,
    format: Option<AlertFormat>,
    secret: Option<Secret>,
    max_watermark_lag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileOpenApi {
    url: Option<String>,
    app_key: Option<String>,
    app_secret: Option<Secret>,
    access_token: Option<Secret>,
    refresh_token: Option<Secret>,
    page_size: Option<u32>,
}

/// `[mysql]`: its `url`, a secret kept beside the other layers' (`JST_MYSQL_URL`, `_FILE`),
/// and the rest, the MySQL sink's configuration as it is.
#[derive(Debug)]
pub(super) struct FileMysql {
    url: Option<Secret>,
    sink: crate::sink::mysql::MysqlConfig,
}

impl<'de> Deserialize<'de> for FileMysql {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut section = toml::Table::deserialize(deserializer)?;
        let url = section
            .remove("url")
            .map(|url| url.try_into::<Secret>())
            .transpose()
            .map_err(D::Error::custom)?;
        let sink = toml::Value::Table(section)
            .try_into()
            .map_err(D::Error::custom)?;
        Ok(FileMysql { url, sink })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRun {
    merchant_concurrency: Option<usize>,
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSync {
    strategy: Option<Strategy>,
    overlap: Option<String>,
    safety_lag: Option<String>,
    initial_backfill: Option<String>,
    window_concurrency: Option<usize>,
    batch_orders: Option<usize>,
}

impl Config {
    pub(super) fn apply_file(&mut self, file: FileConfig) -> anyhow::Result<()> {
        match file.staging {
            Some(FileStaging::Path(path)) => self.staging = path,
            Some(FileStaging::Table { path, keep_pages }) => {
                if let Some(path) = path {
                    self.staging = path;
                }
                if let Some(keep) = keep_pages {
                    self.keep_pages = parse_duration(&keep).context("staging.keep_pages")?;
                }
            }
            None => {}
        }
        if let Some(merchants) = file.merchant {
            self.merchants = merchants;
        }
        if let Some(qimen) = file.qimen {
            self.qimen = qimen;
        }
        if let Some(o) = file.openapi {
            let s = &mut self.openapi;
            s.url = o.url.or(s.url.take());
            s.app_key = o.app_key.or(s.app_key.take());
            s.app_secret = o.app_secret.or(s.app_secret.take());
            s.access_token = o.access_token.or(s.access_token.take());
            s.refresh_token = o.refresh_token.or(s.refresh_token.take());
            if let Some(v) = o.page_size {
                s.page_size = v;
            }
        }
        if let Some(sources) = file.sources {
            self.sources = super::SourceKind::parse_list(&sources.join(",")).context("sources")?;
        }
        if let Some(mysql) = file.mysql {
            self.mysql_url = mysql.url.or(self.mysql_url.take());
            self.mysql = mysql.sink;
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
        if let Some(r) = file.run {
            if let Some(v) = r.merchant_concurrency {
                self.run.merchant_concurrency = v;
            }
            if let Some(v) = r.listen {
                self.run.listen = Some(super::parse_listen(&v).context("run.listen")?);
            }
        }
        if file.mapping.is_some() {
            self.mapping = file.mapping;
        }
        if let Some(a) = file.alerts {
            self.alerts.webhook_url = a.webhook_url.or(self.alerts.webhook_url.take());
            self.alerts.secret = a.secret.or(self.alerts.secret.take());
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
}

/// The dotted keys a file sets (`qimen.page_size`); `mapping` and each `merchant` block count
/// as one key, as they are layered whole.
pub(super) fn keys_set(table: &toml::Table) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (name, value) in table {
        match (name.as_str(), value) {
            ("mapping" | "merchant", _) => {
                keys.insert(name.clone());
            }
            (_, toml::Value::Table(section)) => {
                keys.extend(section.keys().map(|key| format!("{name}.{key}")));
            }
            _ => {
                keys.insert(name.clone());
            }
        }
    }
    keys
}
