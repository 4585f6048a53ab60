//! Several merchants in one configuration: `[[merchant]]` blocks layered over the shared
//! settings, each with its own staging file, credentials and MySQL tables.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Deserialize;

use super::Config;
use crate::secret::Secret;
use crate::source::SignMethod;

/// One `[[merchant]]` block: what differs from the shared settings for one merchant. Each
/// merchant has its own staging file (so its own watermarks, outbox and lock) and may have its
/// own credentials and MySQL table names.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSettings {
    /// A short name for logs and summaries; also names the default staging file.
    pub name: String,
    /// The Qimen routing id (not needed for an open-platform-only merchant).
    #[serde(default)]
    pub customer_id: String,
    /// The routes this merchant is read through (default: the shared `sources`); with both,
    /// each keeps its own watermarks and both feed the merchant's tables.
    pub sources: Option<Vec<String>>,
    pub openapi_app_key: Option<String>,
    pub openapi_app_secret: Option<Secret>,
    pub openapi_access_token: Option<Secret>,
    pub openapi_refresh_token: Option<Secret>,
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

impl Config {
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
            if let Some(sources) = &merchant.sources {
                config.sources = super::SourceKind::parse_list(&sources.join(","))?;
            }
            let o = &mut config.openapi;
            o.app_key = merchant.openapi_app_key.clone().or(o.app_key.take());
            o.app_secret = merchant.openapi_app_secret.clone().or(o.app_secret.take());
            o.access_token = merchant
                .openapi_access_token
                .clone()
                .or(o.access_token.take());
            o.refresh_token = merchant
                .openapi_refresh_token
                .clone()
                .or(o.refresh_token.take());
            let q = &mut config.qimen;
            q.customer_id = (!merchant.customer_id.is_empty())
                .then(|| merchant.customer_id.clone())
                .or(q.customer_id.take());
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
