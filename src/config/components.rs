//! Each component's own configuration, built once from the layered settings: the Qimen
//! client's [`SourceConfig`], the open platform's [`OpenApiConfig`] and the MySQL sink's
//! [`MysqlConfig`]. The one place the settings are copied into them; a missing credential is
//! named here, before any run starts.

use super::Config;
use crate::sink::mysql::{MysqlConfig, TableNames};
use crate::source::SourceConfig;
use crate::source::openapi::OpenApiConfig;
use crate::source::openapi::token::token_file_beside;

impl Config {
    /// The Qimen client's configuration, or a message naming every credential missing.
    pub fn qimen_source(&self) -> anyhow::Result<SourceConfig> {
        let (api_url, app_key, app_secret, customer_id) = self.require_source()?;
        let q = &self.qimen;
        Ok(SourceConfig {
            target_app_key: q.target_app_key.clone(),
            sign_method: q.sign_method,
            page_size: q.page_size,
            per_second: q.per_second,
            per_minute: q.per_minute,
            request_timeout: q.request_timeout,
            max_attempts: q.max_attempts,
            max_ban_wait: q.max_ban_wait,
            max_body_bytes: q.max_body_bytes,
            ..SourceConfig::new(api_url, app_key, app_secret, customer_id)
        })
    }

    /// The open-platform client's configuration (a renewed token pair is kept beside the
    /// staging file), or a message naming every credential missing.
    pub fn openapi_source(&self) -> anyhow::Result<OpenApiConfig> {
        let (url, app_key, app_secret, access_token) = self.require_openapi()?;
        // The rate limits, timeouts and body cap are shared with the Qimen route.
        let q = &self.qimen;
        Ok(OpenApiConfig {
            refresh_token: self.openapi.refresh_token.clone(),
            token_file: Some(token_file_beside(&self.staging)),
            page_size: self.openapi.page_size,
            per_second: q.per_second,
            per_minute: q.per_minute,
            request_timeout: q.request_timeout,
            max_attempts: q.max_attempts,
            max_body_bytes: q.max_body_bytes,
            ..OpenApiConfig::new(url, app_key, app_secret, access_token)
        })
    }

    /// The MySQL sink's configuration: URL, table names (a child table's from the mapping behind
    /// the prefix, unless set), partitioning.
    pub fn mysql_sink(&self) -> anyhow::Result<MysqlConfig> {
        let settings = &self.mysql;
        let mut tables = TableNames::with_prefix(&settings.table_prefix);
        if let Some(orders) = &settings.orders_table {
            tables.orders = orders.clone();
        }
        // The settings of the default child tables, by the mapping's names for them.
        for (child, table) in [
            ("items", &settings.items_table),
            ("pays", &settings.pays_table),
        ] {
            if let Some(table) = table {
                tables.children.insert(child.to_owned(), table.clone());
            }
        }
        Ok(MysqlConfig {
            tables,
            partition_by_month: settings.partition_by_month,
            load_data: settings.load_data(),
            ..MysqlConfig::new(self.require_mysql()?)
        })
    }
}
