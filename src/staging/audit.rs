//! Reading staging for operators: the history of one order, one stored page, the current
//! versions for `verify`, and re-enqueuing current versions for `replay`. Also opening the store
//! read-only, without its lock, so `status` and `audit` work while a daemon runs.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use super::StagingError;
use super::migrations;
use super::store::{StagingStore, now};

/// One entry of the outbox, as `audit` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutboxRecord {
    pub id: i64,
    pub state: String,
    pub run_id: Option<i64>,
    pub enqueued_at: String,
    pub done_at: Option<String>,
}

/// One stored version of an order, with where it came from and its outbox entries.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionRecord {
    pub id: i64,
    pub sha256: String,
    pub ts: Option<i64>,
    pub modified: Option<String>,
    pub first_run_id: i64,
    pub first_run_command: Option<String>,
    pub first_page_id: i64,
    /// The route the page that first carried this version came from: `qimen` or `openapi`.
    pub route: String,
    pub first_seen_at: String,
    pub current: bool,
    pub outbox: Vec<OutboxRecord>,
    /// The order as staged (canonical JSON).
    pub order: Value,
    /// Later reads of this version that were not stored again (re-read pages), oldest first:
    /// those of its first page read again with the same orders, and those of pages carrying
    /// only versions staged already. Pruned after the retention (`[staging] keep_pages`).
    pub seen_again: Vec<Sighting>,
}

/// A page read again and not stored again: with the same orders as a stored page, or
/// carrying only versions staged already. Its body is not kept; its SHA-256 is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sighting {
    pub id: i64,
    pub run_id: i64,
    pub received_at: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub page_index: i64,
    pub order_count: i64,
    pub body_sha256: String,
    /// The stored page with the same orders; `None`: no page has these orders, but each
    /// of its versions is stored (with the page that first carried it).
    pub same_orders_as_page: Option<i64>,
}

/// A stored API page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PageRecord {
    pub id: i64,
    pub run_id: i64,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub page_index: i64,
    /// Every request parameter except `sign` (which is never stored).
    pub params: Vec<(String, String)>,
    pub http_status: i64,
    pub received_at: String,
    pub order_count: i64,
    pub body: String,
    /// The same orders read again later and not stored again (the body shown is this first
    /// copy's), oldest first.
    pub seen_again: Vec<Sighting>,
}

/// Which current versions `replay` re-enqueues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequeueFilter {
    /// Every current version.
    All,
    /// Current versions whose `modified` is at or after this Beijing time
    /// (`YYYY-MM-DD HH:MM:SS`).
    ModifiedSince(String),
    /// The current version of one order.
    Order(String),
}

/// The current version of one order and the state of its newest outbox entry, for `verify`.
#[derive(Clone, Debug)]
pub struct CurrentRecord {
    pub o_id: String,
    pub ts: Option<i64>,
    pub canonical_json: String,
    /// `pending`, `pushed`, `quarantined`, `filtered` (or `superseded`).
    pub outbox_state: Option<String>,
}

impl StagingStore {
    /// Opens an existing staging file for reading only: no lock (a running `sync` or
    /// `run --every` keeps it), no migrations, no writes. For `status`, `quarantine` and `audit`.
    pub fn open_read_only(path: &Path) -> Result<Self, StagingError> {
        if !path.exists() {
            return Err(StagingError::Missing {
                path: path.to_owned(),
            });
        }
        let damaged = |error| super::error::in_file(path, error);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(damaged)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(damaged)?;
        let applied: i64 = match conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        ) {
            Ok(applied) => applied,
            Err(error) => match damaged(error) {
                damage @ StagingError::Damaged { .. } => return Err(damage),
                // No migration table: a file no jst-sync has migrated yet.
                _ => 0,
            },
        };
        if applied > migrations::latest_version() {
            return Err(StagingError::TooNew {
                path: path.to_owned(),
                found: applied,
                known: migrations::latest_version(),
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            _lock: None,
            fields: super::field_catalog::FieldObserver::default(),
            codec: Default::default(),
            compressor: Default::default(),
        })
    }

    /// Every version of `o_id`, oldest first, each with its outbox entries; empty when staging
    /// has never seen the order.
    pub fn order_history(&self, o_id: &str) -> Result<Vec<VersionRecord>, StagingError> {
        let conn = self.connection();
        let current: Option<i64> = conn
            .query_row(
                "SELECT version_id FROM current_orders WHERE o_id = ?1",
                [o_id],
                |r| r.get(0),
            )
            .optional()?;
        let mut statement = conn.prepare(
            "SELECT v.id, v.sha256, v.ts, v.modified, v.first_run_id, r.command, v.first_page_id,
                    v.first_seen_at, v.canonical_json, p.params_json
             FROM order_versions v LEFT JOIN runs r ON r.id = v.first_run_id
                  LEFT JOIN pages p ON p.id = v.first_page_id
             WHERE v.o_id = ?1 ORDER BY v.id",
        )?;
        let mut versions = Vec::new();
        let mut rows = statement.query([o_id])?;
        while let Some(row) = rows.next()? {
            let json = self.canonical_at(row, 8)?;
            versions.push({
                let id: i64 = row.get(0)?;
                VersionRecord {
                    id,
                    sha256: row.get(1)?,
                    ts: row.get(2)?,
                    modified: row.get(3)?,
                    first_run_id: row.get(4)?,
                    first_run_command: row.get(5)?,
                    first_page_id: row.get(6)?,
                    route: route_of(row.get::<_, Option<String>>(9)?.as_deref()).to_owned(),
                    first_seen_at: row.get(7)?,
                    current: current == Some(id),
                    outbox: Vec::new(),
                    order: serde_json::from_str(&json).unwrap_or(Value::String(json)),
                    seen_again: Vec::new(),
                }
            });
        }
        drop(rows);
        let mut outbox = conn
            .prepare("SELECT id, state, run_id, enqueued_at, done_at FROM outbox WHERE version_id = ?1 ORDER BY id")?;
        for version in &mut versions {
            version.outbox = outbox
                .query_map([version.id], |row| {
                    Ok(OutboxRecord {
                        id: row.get(0)?,
                        state: row.get(1)?,
                        run_id: row.get(2)?,
                        enqueued_at: row.get(3)?,
                        done_at: row.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
        }
        if self.has_sightings() {
            for version in &mut versions {
                version.seen_again = self.sightings_of_version(version)?;
            }
        }
        Ok(versions)
    }

    /// The sightings of stored page `page_id`, oldest first.
    fn sightings_of_page(&self, page_id: i64) -> Result<Vec<Sighting>, StagingError> {
        self.sightings("page_id = ?1", params![page_id], |_| true)
    }

    /// The sightings that carried `version`: of its first page, and those without a stored
    /// page that list it.
    fn sightings_of_version(&self, version: &VersionRecord) -> Result<Vec<Sighting>, StagingError> {
        let id = version.id;
        self.sightings(
            "(page_id = ?1 OR (page_id IS NULL AND received_at >= ?2))",
            params![version.first_page_id, version.first_seen_at],
            |ids| ids.is_none_or(|ids| ids.contains(&id)),
        )
    }

    fn sightings(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
        carries: impl Fn(Option<&[i64]>) -> bool,
    ) -> Result<Vec<Sighting>, StagingError> {
        let mut statement = self.connection().prepare(&format!(
            "SELECT id, run_id, received_at, window_start, window_end, page_index, order_count,
                    body_sha256, page_id, version_ids
             FROM page_sightings WHERE {condition} ORDER BY id"
        ))?;
        let mut rows = statement.query(values)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let same: Option<i64> = row.get(8)?;
            let listed = match same {
                Some(_) => None,
                None => Some(
                    row.get_ref(9)?
                        .as_blob_or_null()
                        .map_err(rusqlite::Error::from)?
                        .and_then(super::compression::unpack_ids)
                        .unwrap_or_default(),
                ),
            };
            if !carries(listed.as_deref()) {
                continue;
            }
            found.push(Sighting {
                id: row.get(0)?,
                run_id: row.get(1)?,
                received_at: row.get(2)?,
                window_start: row.get(3)?,
                window_end: row.get(4)?,
                page_index: row.get(5)?,
                order_count: row.get(6)?,
                body_sha256: row.get(7)?,
                same_orders_as_page: same,
            });
        }
        Ok(found)
    }

    /// Whether the file has the sightings table (a file opened read-only before migration
    /// 0006 has not).
    fn has_sightings(&self) -> bool {
        self.connection()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'page_sightings'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .is_ok_and(|n| n == 1)
    }

    /// The stored page `page_id`, if there is one, with its later sightings.
    pub fn page(&self, page_id: i64) -> Result<Option<PageRecord>, StagingError> {
        let mut page = self.stored_page(page_id)?;
        if let Some(page) = page.as_mut()
            && self.has_sightings()
        {
            page.seen_again = self.sightings_of_page(page.id)?;
        }
        Ok(page)
    }

    fn stored_page(&self, page_id: i64) -> Result<Option<PageRecord>, StagingError> {
        Ok(self
            .connection()
            .query_row(
                "SELECT id, run_id, window_start, window_end, page_index, params_json, http_status,
                        received_at, order_count, body
                 FROM pages WHERE id = ?1",
                [page_id],
                |row| {
                    let params: String = row.get(5)?;
                    Ok(PageRecord {
                        id: row.get(0)?,
                        run_id: row.get(1)?,
                        window_start: row.get(2)?,
                        window_end: row.get(3)?,
                        page_index: row.get(4)?,
                        params: serde_json::from_str(&params).unwrap_or_default(),
                        http_status: row.get(6)?,
                        received_at: row.get(7)?,
                        order_count: row.get(8)?,
                        body: super::compression::stored_body(row.get_ref(9)?)?,
                        seen_again: Vec::new(),
                    })
                },
            )
            .optional()?)
    }

    /// Enqueues the current version of every order `filter` selects again, under `run_id`, in
    /// one transaction; their pending entries are superseded. Returns how many were enqueued.
    /// The new entries have larger outbox ids and the same `ts`, so the sink's version guard
    /// lets them overwrite what MySQL holds.
    pub fn requeue_current(
        &mut self,
        filter: &RequeueFilter,
        run_id: i64,
    ) -> Result<usize, StagingError> {
        let (condition, value) = match filter {
            RequeueFilter::All => ("?1 IS NULL", None),
            RequeueFilter::ModifiedSince(since) => ("v.modified >= ?1", Some(since.clone())),
            RequeueFilter::Order(o_id) => ("c.o_id = ?1", Some(o_id.clone())),
        };
        let selected = format!(
            "SELECT c.o_id, c.version_id FROM current_orders c
             JOIN order_versions v ON v.id = c.version_id WHERE {condition}"
        );
        let at = now();
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!(
                "UPDATE outbox SET state = 'superseded', done_at = ?2
                 WHERE state = 'pending' AND o_id IN (SELECT o_id FROM ({selected}))"
            ),
            params![value, at],
        )?;
        let enqueued = tx.execute(
            &format!(
                "INSERT INTO outbox (version_id, o_id, enqueued_at, run_id)
                 SELECT version_id, o_id, ?2, ?3 FROM ({selected}) ORDER BY o_id"
            ),
            params![value, at, run_id],
        )?;
        tx.commit()?;
        Ok(enqueued)
    }

    /// Calls `each` with every current version and the state of its newest outbox entry.
    pub fn for_each_current(
        &self,
        mut each: impl FnMut(CurrentRecord),
    ) -> Result<(), StagingError> {
        let mut statement = self.connection().prepare(
            "SELECT c.o_id, v.ts, v.canonical_json,
                    (SELECT o.state FROM outbox o WHERE o.o_id = c.o_id ORDER BY o.id DESC LIMIT 1)
             FROM current_orders c JOIN order_versions v ON v.id = c.version_id",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            each(CurrentRecord {
                o_id: row.get(0)?,
                ts: row.get(1)?,
                canonical_json: self.canonical_at(row, 2)?,
                outbox_state: row.get(3)?,
            });
        }
        Ok(())
    }
}

/// The route a page's request parameters show: the open platform sends `biz`, the Qimen router
/// `method`.
pub fn route_of(params_json: Option<&str>) -> &'static str {
    match params_json {
        Some(params) if params.contains("[\"biz\",") => "openapi",
        Some(_) => "qimen",
        None => "unknown",
    }
}
