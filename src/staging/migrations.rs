//! Numbered SQLite migrations from `sql/sqlite/`, applied in order and recorded in
//! `schema_migrations`.

use rusqlite::Connection;

use super::StagingError;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "staging",
        include_str!("../../sql/sqlite/0001_staging.sql"),
    ),
    (
        2,
        "field_catalog",
        include_str!("../../sql/sqlite/0002_field_catalog.sql"),
    ),
    (
        3,
        "current_modified",
        include_str!("../../sql/sqlite/0003_current_modified.sql"),
    ),
    (
        4,
        "page_body_sha256",
        include_str!("../../sql/sqlite/0004_page_body_sha256.sql"),
    ),
    (
        5,
        "gateway_state",
        include_str!("../../sql/sqlite/0005_gateway_state.sql"),
    ),
    (
        6,
        "compact_staging",
        include_str!("../../sql/sqlite/0006_compact_staging.sql"),
    ),
];

/// The part of a migration SQL cannot do, run after its SQL in the same transaction.
fn after_sql(version: i64, tx: &rusqlite::Transaction<'_>) -> Result<(), StagingError> {
    if version == 4 {
        let hashed = super::integrity::hash_unhashed_pages(tx)?;
        if hashed > 0 {
            tracing::info!(pages = hashed, "Stored page bodies hashed.");
        }
    }
    if version == 6 {
        let compacted = super::prune::compress_stored(tx)?;
        if compacted.pages + compacted.versions > 0 {
            tracing::info!(
                pages = compacted.pages,
                versions = compacted.versions,
                "Stored page bodies and canonical JSON compressed."
            );
        }
    }
    Ok(())
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies every migration not yet recorded, each in its own transaction.
pub fn apply(conn: &mut Connection, path: &std::path::Path) -> Result<(), StagingError> {
    apply_up_to(conn, path, latest_version())?;
    super::prune::ensure_incremental_vacuum(conn, path)?;
    Ok(())
}

/// Applies every migration up to `last` not yet recorded (`apply` with the newest; older
/// values make files as earlier builds left them, for tests of the migrations).
pub fn apply_up_to(
    conn: &mut Connection,
    path: &std::path::Path,
    last: i64,
) -> Result<(), StagingError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    let applied: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if applied > latest_version() {
        return Err(StagingError::TooNew {
            path: path.to_owned(),
            found: applied,
            known: latest_version(),
        });
    }
    // Every known migration not recorded yet, in order (not only those above the newest
    // recorded one: two branches of development may have added neighbouring versions).
    let recorded: std::collections::BTreeSet<i64> = {
        let mut statement = conn.prepare("SELECT version FROM schema_migrations")?;
        let versions = statement.query_map([], |r| r.get(0))?;
        versions.collect::<Result<_, _>>()?
    };
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|m| !recorded.contains(&m.0) && m.0 <= last)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        after_sql(*version, &tx)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, chrono::Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
        tracing::debug!(version, name, "Staging migration applied.");
    }
    Ok(())
}
