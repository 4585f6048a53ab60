//! The staging file on disk: the path of its write-ahead log and the bytes the two take.

use std::path::{Path, PathBuf};

/// The write-ahead log beside a staging file.
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The file's size on disk: database and write-ahead log.
pub(super) fn file_bytes(path: &Path) -> u64 {
    [path.to_owned(), wal_path(path)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}
