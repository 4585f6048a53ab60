//! The merchant's token pair: the configured one, or the pair a refresh produced, kept in a
//! token file beside the staging file (mode 0600, never in staging, never logged).
//!
//! The file remembers a digest of the configured access token it replaced: a run configured
//! with that same token uses the renewed pair; a run configured with another token (the
//! merchant authorised again) uses the new configuration and ignores the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The pair in use.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access: Secret,
    pub refresh: Option<Secret>,
}

#[derive(Serialize, Deserialize)]
struct TokenFile {
    /// SHA-256 (hex) of the configured access token this pair renews.
    renews: String,
    access_token: String,
    refresh_token: Option<String>,
    refreshed_at: String,
}

fn digest(token: &Secret) -> String {
    hex::encode(Sha256::digest(token.expose().as_bytes()))
}

/// Where the token pair of a staging file is kept: `<staging>.openapi-token.json`.
pub fn token_file_beside(staging: &Path) -> PathBuf {
    let mut name = staging.as_os_str().to_owned();
    name.push(".openapi-token.json");
    PathBuf::from(name)
}

/// The pair to start with: the renewed one from `file` if it renews `configured`, else the
/// configured one.
pub fn load(file: Option<&Path>, configured: TokenPair) -> TokenPair {
    let Some(path) = file else {
        return configured;
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return configured;
    };
    match serde_json::from_str::<TokenFile>(&text) {
        Ok(stored) if stored.renews == digest(&configured.access) => TokenPair {
            access: Secret::new(stored.access_token),
            refresh: stored.refresh_token.map(Secret::new).or(configured.refresh),
        },
        Ok(_) => configured,
        Err(_) => {
            tracing::warn!(path = %path.display(), "The token file cannot be read; using the configured token.");
            configured
        }
    }
}

/// Keeps a renewed pair (replacing the file atomically, mode 0600).
pub fn store(file: &Path, configured_access: &Secret, renewed: &TokenPair) -> std::io::Result<()> {
    let record = TokenFile {
        renews: digest(configured_access),
        access_token: renewed.access.expose().to_owned(),
        refresh_token: renewed.refresh.as_ref().map(|r| r.expose().to_owned()),
        refreshed_at: chrono::Utc::now().to_rfc3339(),
    };
    let text = serde_json::to_string(&record).expect("a token record serialises");
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    temp.write_all(text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(access: &str, refresh: &str) -> TokenPair {
        TokenPair {
            access: Secret::new(access),
            refresh: Some(Secret::new(refresh)),
        }
    }

    #[test]
    fn a_renewed_pair_is_used_while_the_configured_token_is_the_one_it_renews() {
        let dir = tempfile::tempdir().unwrap();
        let file = token_file_beside(&dir.path().join("s.sqlite"));
        store(&file, &Secret::new("old"), &pair("new", "new-refresh")).unwrap();
        let loaded = load(Some(&file), pair("old", "old-refresh"));
        assert_eq!(loaded.access.expose(), "new");
        assert_eq!(loaded.refresh.unwrap().expose(), "new-refresh");
        let reauthorised = load(Some(&file), pair("fresh", "fresh-refresh"));
        assert_eq!(reauthorised.access.expose(), "fresh");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
