//! The writer's lock on a staging file: an exclusive `flock` on the database file itself, so a
//! second path to a file in use — a symlink, `dir/../staging.sqlite`, a hard link — is refused
//! like the first one.
//!
//! `flock` and SQLite's own `fcntl` locks are independent on Linux, but closing *any*
//! descriptor of a file drops every `fcntl` lock the process holds on it. So the lock's
//! descriptor is the only one jst-sync opens on a database file beside SQLite's, it is closed
//! only after the connection (see the field order of `StagingStore`), and a second store on a
//! file this process already holds is refused from a registry, without opening the file.

use std::fs::File;
use std::path::Path;

/// Why the lock could not be taken.
#[derive(Debug)]
pub(super) enum LockError {
    /// Another process, or another store of this one, holds it.
    Held,
    Io(std::io::Error),
}

/// An exclusive lock on one staging file, released when dropped.
#[derive(Debug)]
pub(super) struct FileLock {
    _file: File,
    #[cfg(unix)]
    key: (u64, u64),
}

#[cfg(unix)]
fn held() -> &'static std::sync::Mutex<std::collections::HashSet<(u64, u64)>> {
    static HELD: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<(u64, u64)>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

impl FileLock {
    /// Locks the existing database file at `path`.
    #[cfg(unix)]
    pub(super) fn acquire(path: &Path) -> Result<Self, LockError> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).map_err(LockError::Io)?;
        let key = (metadata.dev(), metadata.ino());
        let mut held = held().lock().unwrap_or_else(|p| p.into_inner());
        if held.contains(&key) {
            return Err(LockError::Held);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .open(path)
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LockError::Held),
            Err(std::fs::TryLockError::Error(error)) => return Err(LockError::Io(error)),
        }
        held.insert(key);
        Ok(Self { _file: file, key })
    }

    /// Locks `<canonical path>.lock` beside the database file (locking the database file
    /// itself would block SQLite where locks are mandatory).
    #[cfg(not(unix))]
    pub(super) fn acquire(path: &Path) -> Result<Self, LockError> {
        let canonical = std::fs::canonicalize(path).map_err(LockError::Io)?;
        let mut name = canonical.into_os_string();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(std::path::PathBuf::from(name))
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held),
            Err(std::fs::TryLockError::Error(error)) => Err(LockError::Io(error)),
        }
    }
}

#[cfg(unix)]
impl Drop for FileLock {
    fn drop(&mut self) {
        held()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}
