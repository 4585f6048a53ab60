//! Each component's own configuration, as the run builds it: the Qimen client's
//! [`SourceConfig`] (the `[qimen]` section itself), the open platform's [`OpenApiConfig`] and
//! the MySQL sink's [`MysqlConfig`]. A missing credential is named here, before any run starts.

use super::Config;
use crate::sink::mysql::MysqlConfig;
use crate::source::SourceConfig;
use crate::source::openapi::OpenApiConfig;
use crate::source::openapi::token::token_file_beside;

impl Config {
    /// The Qimen client's configuration, or a message naming every credential missing.
    pub fn qimen_source(&self) -> anyhow::Result<SourceConfig> {
        self.require_source()?;
        Ok(self.qimen.clone())
    }

    /// The open-platform client's configuration (a renewed token pair is kept beside the
    /// staging file), or a message naming every credential missing.
    pub fn openapi_source(&self) -> anyhow::Result<OpenApiConfig> {
        self.require_openapi()?;
        Ok(self.openapi_config())
    }

    /// The open-platform client's configuration from the settings, the credentials empty where
    /// unset (checked by [`Config::validate`] whether a pull needs the route or not).
    pub(super) fn openapi_config(&self) -> OpenApiConfig {
        let o = &self.openapi;
        let credential = |value: &Option<crate::secret::Secret>| value.clone().unwrap_or_default();
        // The rate limits, timeouts and body cap are shared with the Qimen route.
        let q = &self.qimen;
        OpenApiConfig {
            refresh_token: o.refresh_token.clone(),
            token_file: Some(token_file_beside(&self.staging)),
            page_size: o.page_size,
            per_second: q.per_second,
            per_minute: q.per_minute,
            request_timeout: q.request_timeout,
            max_attempts: q.max_attempts,
            max_body_bytes: q.max_body_bytes,
            ..OpenApiConfig::new(
                o.url.clone().unwrap_or_default(),
                o.app_key.clone().unwrap_or_default(),
                credential(&o.app_secret),
                credential(&o.access_token),
            )
        }
    }

    /// The MySQL sink's configuration (`[mysql]`) with its URL, or a message saying how to set
    /// the URL.
    pub fn mysql_sink(&self) -> anyhow::Result<MysqlConfig> {
        Ok(MysqlConfig {
            url: self.require_mysql()?,
            ..self.mysql.clone()
        })
    }
}
