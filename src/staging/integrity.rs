//! Is the staging file still what jst-sync wrote? SQLite's `integrity_check`, then every stored
//! page body and every order version decompressed and re-hashed against the SHA-256 stored
//! with it — for `jst-sync verify --integrity`. Also hashing the pages stored before hashes were kept (the
//! 0004 migration).

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{StagingError, StagingStore};

/// The most findings of SQLite's integrity check that are kept.
const SQLITE_FINDINGS: usize = 100;

/// What `verify --integrity` found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IntegrityReport {
    /// SQLite's own findings (`integrity_check`), or why it could not read the file; empty
    /// when the file is sound.
    pub sqlite: Vec<String>,
    pub pages_checked: u64,
    /// Pages of a file not yet migrated to page hashes (opened read-only): their bodies
    /// cannot be checked until a run migrates the file.
    pub pages_without_hashes: u64,
    pub versions_checked: u64,
    /// Stored pages whose body is unreadable or no longer matches its SHA-256.
    pub damaged_pages: Vec<DamagedPage>,
    /// Order versions whose canonical JSON is unreadable or no longer matches its SHA-256.
    pub damaged_versions: Vec<DamagedVersion>,
}

/// A stored page that is not what was received.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DamagedPage {
    pub id: i64,
    /// `None` where even the page's row could not be read.
    pub run_id: Option<i64>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub page_index: Option<i64>,
    pub problem: String,
}

/// An order version that is not what was staged.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DamagedVersion {
    pub id: i64,
    pub o_id: Option<String>,
    pub first_run_id: Option<i64>,
    pub first_page_id: Option<i64>,
    pub problem: String,
}

impl IntegrityReport {
    /// Nothing damaged.
    pub fn is_sound(&self) -> bool {
        self.sqlite.is_empty() && self.damaged_pages.is_empty() && self.damaged_versions.is_empty()
    }

    /// The runs that stored a damaged page or first staged a damaged version, ascending.
    pub fn damaged_runs(&self) -> Vec<i64> {
        let mut runs: Vec<i64> = self
            .damaged_pages
            .iter()
            .filter_map(|p| p.run_id)
            .chain(self.damaged_versions.iter().filter_map(|v| v.first_run_id))
            .collect();
        runs.sort_unstable();
        runs.dedup();
        runs
    }
}

impl StagingStore {
    /// Checks the whole file: SQLite's structure, then every page body and order version
    /// against its stored SHA-256. Reading errors are findings, not failures: a damaged file
    /// is reported as far as it can be read.
    pub fn check_integrity(&self) -> IntegrityReport {
        let conn = self.connection();
        let mut report = IntegrityReport {
            sqlite: sqlite_findings(conn),
            ..IntegrityReport::default()
        };
        let hashed = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('pages') WHERE name = 'body_sha256'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .is_ok_and(|n| n == 1);
        let (page_ids, error) = ids(conn, "SELECT id FROM pages ORDER BY id");
        if let Some(error) = error {
            report
                .sqlite
                .push(format!("cannot list every stored page: {error}"));
        }
        if hashed {
            check_pages(conn, &page_ids, &mut report);
        } else {
            report.pages_without_hashes = page_ids.len() as u64;
        }
        let (version_ids, error) = ids(conn, "SELECT id FROM order_versions ORDER BY id");
        if let Some(error) = error {
            report
                .sqlite
                .push(format!("cannot list every order version: {error}"));
        }
        check_versions(conn, &version_ids, &mut report);
        report
    }
}

fn sqlite_findings(conn: &Connection) -> Vec<String> {
    let findings = conn
        .prepare(&format!("PRAGMA integrity_check({SQLITE_FINDINGS})"))
        .and_then(|mut statement| {
            statement
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
    match findings {
        Ok(rows) => super::store::check_findings(&rows),
        Err(error) => vec![format!("SQLite cannot check the file: {error}")],
    }
}

/// The ids a query lists, up to the error that stopped it, if one did.
fn ids(conn: &Connection, sql: &str) -> (Vec<i64>, Option<rusqlite::Error>) {
    let mut ids = Vec::new();
    let mut statement = match conn.prepare(sql) {
        Ok(statement) => statement,
        Err(error) => return (ids, Some(error)),
    };
    let mut rows = match statement.query([]) {
        Ok(rows) => rows,
        Err(error) => return (ids, Some(error)),
    };
    loop {
        match rows
            .next()
            .and_then(|row| row.map(|r| r.get(0)).transpose())
        {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => return (ids, None),
            Err(error) => return (ids, Some(error)),
        }
    }
}

fn check_pages(conn: &Connection, ids: &[i64], report: &mut IntegrityReport) {
    for &id in ids {
        report.pages_checked += 1;
        // The row's small columns first: they name the page even when its body is unreadable.
        let meta = conn
            .query_row(
                "SELECT run_id, window_start, window_end, page_index FROM pages WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional();
        let (run_id, window_start, window_end, page_index) = match meta {
            Ok(Some(meta)) => meta,
            Ok(None) => continue,
            Err(error) => {
                report.damaged_pages.push(DamagedPage {
                    id,
                    run_id: None,
                    window_start: None,
                    window_end: None,
                    page_index: None,
                    problem: format!("row unreadable: {error}"),
                });
                continue;
            }
        };
        let problem = conn
            .query_row(
                "SELECT body, body_sha256 FROM pages WHERE id = ?1",
                [id],
                |r| {
                    let stored: Option<String> = r.get(1)?;
                    Ok(
                        match super::compression::stored_bytes(r.get_ref(0)?, None) {
                            Ok(body) => mismatch(Some(&body), stored),
                            Err(error) => Some(format!("content cannot be read back: {error}")),
                        },
                    )
                },
            )
            .unwrap_or_else(|error| Some(format!("body unreadable: {error}")));
        if let Some(problem) = problem {
            report.damaged_pages.push(DamagedPage {
                id,
                run_id,
                window_start,
                window_end,
                page_index,
                problem,
            });
        }
    }
}

fn check_versions(conn: &Connection, ids: &[i64], report: &mut IntegrityReport) {
    let mut codec = match super::compression::JsonCodec::load(conn) {
        Ok(codec) => codec,
        Err(error) => {
            report
                .sqlite
                .push(format!("cannot read the zstd dictionary: {error}"));
            return;
        }
    };
    for &id in ids {
        report.versions_checked += 1;
        let meta = conn
            .query_row(
                "SELECT o_id, first_run_id, first_page_id FROM order_versions WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional();
        let (o_id, first_run_id, first_page_id) = match meta {
            Ok(Some(meta)) => meta,
            Ok(None) => continue,
            Err(error) => {
                report.damaged_versions.push(DamagedVersion {
                    id,
                    o_id: None,
                    first_run_id: None,
                    first_page_id: None,
                    problem: format!("row unreadable: {error}"),
                });
                continue;
            }
        };
        let problem = conn
            .query_row(
                "SELECT canonical_json, sha256 FROM order_versions WHERE id = ?1",
                [id],
                |r| {
                    let stored: Option<String> = r.get(1)?;
                    Ok(match codec.bytes(r.get_ref(0)?) {
                        Ok(json) => version_mismatch(Some(&json), stored),
                        Err(error) => Some(format!("content cannot be read back: {error}")),
                    })
                },
            )
            .unwrap_or_else(|error| Some(format!("canonical JSON unreadable: {error}")));
        if let Some(problem) = problem {
            report.damaged_versions.push(DamagedVersion {
                id,
                o_id,
                first_run_id,
                first_page_id,
                problem,
            });
        }
    }
}

/// Why a version's canonical JSON does not match its `stored` hash, if it does not. The hash is
/// taken over the typed canonical form (`crate::diff::version_sha256`); versions staged before
/// that hash their canonical JSON as stored, and still match that way.
fn version_mismatch(content: Option<&[u8]>, stored: Option<String>) -> Option<String> {
    let typed = content
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(crate::diff::version_sha256);
    if typed.is_some() && typed == stored {
        return None;
    }
    mismatch(content, stored)
}

/// Why `content` does not match the `stored` hash, if it does not.
fn mismatch(content: Option<&[u8]>, stored: Option<String>) -> Option<String> {
    let Some(stored) = stored else {
        return Some("no SHA-256 stored".to_owned());
    };
    let actual = hex::encode(Sha256::digest(content.unwrap_or_default()));
    (actual != stored)
        .then(|| format!("content does not match its SHA-256 (stored {stored}, now {actual})"))
}

/// Hashes the body of every page stored without a hash; returns how many.
pub(super) fn hash_unhashed_pages(conn: &Connection) -> Result<u64, StagingError> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM pages WHERE body_sha256 IS NULL ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut read = conn.prepare("SELECT body FROM pages WHERE id = ?1")?;
    let mut write = conn.prepare("UPDATE pages SET body_sha256 = ?2 WHERE id = ?1")?;
    for id in &ids {
        let sha256 = read.query_row([id], |r| {
            let body = super::compression::stored_bytes(r.get_ref(0)?, None)?;
            Ok(hex::encode(Sha256::digest(body)))
        })?;
        write.execute(params![id, sha256])?;
    }
    Ok(ids.len() as u64)
}
