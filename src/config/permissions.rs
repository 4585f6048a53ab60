//! Warnings about files that hold a secret and that other users of the machine may read.

use std::path::Path;

use super::expand::only_references;
use crate::secret::url_password;

/// The secret keys of a `[[merchant]]` block.
const MERCHANT_SECRET_KEYS: [&str; 4] = [
    "app_secret",
    "openapi_app_secret",
    "openapi_access_token",
    "openapi_refresh_token",
];

/// The secret keys of the file's sections.
const SECRET_KEYS: [(&str, &str); 7] = [
    ("qimen", "app_secret"),
    ("openapi", "app_secret"),
    ("openapi", "access_token"),
    ("openapi", "refresh_token"),
    ("mysql", "url"),
    ("alerts", "webhook_url"),
    ("alerts", "secret"),
];

/// A warning when the config file at `path` holds a secret itself (not a `${VAR}` reference)
/// and is readable by group or others.
pub(super) fn file_holding_secrets(path: &Path, raw: &toml::Table) -> Vec<String> {
    let held = secrets_held(raw);
    if held.is_empty() {
        return Vec::new();
    }
    match readable_by_others(path) {
        Some(mode) => vec![format!(
            "Config file {} holds a secret ({}) and is readable by group or others (mode {mode:o}): \
             chmod 600 it, or move the secret to the environment or a *_FILE",
            path.display(),
            held.join(", ")
        )],
        None => Vec::new(),
    }
}

/// A warning when the secret file `path` (named by `variable`) is readable by group or others.
pub(super) fn secret_file(path: &Path, variable: &str) -> Option<String> {
    let mode = readable_by_others(path)?;
    Some(format!(
        "{variable} names {}, which is readable by group or others (mode {mode:o}): chmod 600 it",
        path.display()
    ))
}

/// The dotted keys whose value the file writes out (a MySQL URL only when it has a password).
fn secrets_held(raw: &toml::Table) -> Vec<String> {
    let literal = |value: Option<&toml::Value>, is_url: bool| {
        value.and_then(toml::Value::as_str).is_some_and(|text| {
            let secret_part = if is_url {
                url_password(text)
            } else {
                Some(text)
            };
            secret_part.is_some_and(|part| !part.is_empty() && !only_references(part))
        })
    };
    let mut held = Vec::new();
    for (section, key) in SECRET_KEYS {
        let value = raw.get(section).and_then(|s| s.get(key));
        if literal(value, section == "mysql") {
            held.push(format!("{section}.{key}"));
        }
    }
    if let Some(merchants) = raw.get("merchant").and_then(toml::Value::as_array) {
        for (index, merchant) in merchants.iter().enumerate() {
            for key in MERCHANT_SECRET_KEYS {
                if literal(merchant.get(key), false) {
                    held.push(format!("merchant[{index}].{key}"));
                }
            }
        }
    }
    held
}

/// The file's mode when group or others may read it.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_secrets_written_out_in_the_file_count() {
        let raw: toml::Table = toml::from_str(
            "[qimen]\napp_secret = \"s3cret\"\napp_key = \"k\"\n\
             [mysql]\nurl = \"mysql://u@h/db\"\n\
             [openapi]\naccess_token = \"${TOKEN}\"\n\
             [[merchant]]\nname = \"a\"\napp_secret = \"x\"\n",
        )
        .unwrap();
        assert_eq!(
            secrets_held(&raw),
            ["qimen.app_secret", "merchant[0].app_secret"]
        );
        let raw: toml::Table = toml::from_str("[mysql]\nurl = \"mysql://u:${PW}@h/db\"\n").unwrap();
        assert!(secrets_held(&raw).is_empty());
        let raw: toml::Table = toml::from_str("[mysql]\nurl = \"mysql://u:pw@h/db\"\n").unwrap();
        assert_eq!(secrets_held(&raw), ["mysql.url"]);
    }
}
