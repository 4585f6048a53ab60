//! A string that must never be shown: app secrets and database passwords; and the masked
//! forms of URLs that carry one, for display.
//!
//! `Debug` and `Display` print `***`; the value is only reachable through [`Secret::expose`],
//! so every place that uses the secret is easy to find and review.

use std::fmt;

/// A secret value whose formatting is redacted.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used (signing, connecting), never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The password part of `scheme://user:password@host…`, as written.
pub fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    // A password may hold an unencoded `/` or `?`: take the last `@` before the path if any,
    // else the last `@` at all.
    let at = rest[..authority_end]
        .rfind('@')
        .or_else(|| rest.rfind('@'))?;
    let (_, password) = rest[..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `url` with its password shown as `***` (`mysql://u:***@h:3306/db`), for display.
pub fn mask_url_password(url: &str) -> String {
    match url_password(url) {
        Some(password) => {
            let start = password.as_ptr() as usize - url.as_ptr() as usize;
            format!("{}***{}", &url[..start], &url[start + password.len()..])
        }
        None => url.to_owned(),
    }
}

/// `scheme://host/***`: a webhook URL without its path and query, where robots keep their
/// tokens; for display.
pub fn mask_url_path(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    // Credentials in the authority are a secret too.
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/***")
}

/// Replaces every occurrence of `secret` in `text` with `***` (for messages that may quote
/// input back, e.g. a URL in a driver error).
pub fn redact(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret.expose(), "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(
            redact("password hunter2 in text", &secret),
            "password *** in text"
        );
    }

    #[test]
    fn urls_are_shown_without_their_password_or_their_token() {
        assert_eq!(
            mask_url_password("mysql://app:p%40ss@db:3306/bi"),
            "mysql://app:***@db:3306/bi"
        );
        assert_eq!(
            mask_url_password("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            mask_url_path("https://oapi.dingtalk.com/robot/send?access_token=abc"),
            "https://oapi.dingtalk.com/***"
        );
        assert_eq!(
            mask_url_path("https://u:pw@open.feishu.cn/open-apis/bot/v2/hook/tok"),
            "https://open.feishu.cn/***"
        );
    }
}
