//! Staging a page: the raw page, then each order's diff against its current version; new and
//! changed orders get a version row, become current and get an outbox entry. One transaction per
//! page.

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::compression::{self, OrderKey, PageFrames};
use super::field_catalog::FieldNews;
use super::fingerprinted_page::fingerprint_orders;
use super::timestamp::now;
use super::{FingerprintedPage, StagingError, StagingStore};
use crate::diff::{self, Change, CurrentVersion, Fingerprint};
use crate::source::FetchedPage;

/// What staging one page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageOutcome {
    pub orders: u64,
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub quarantined: u64,
}

impl PageOutcome {
    pub fn add(&mut self, other: &PageOutcome) {
        self.orders += other.orders;
        self.new += other.new;
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.stale += other.stale;
        self.quarantined += other.quarantined;
    }
}

impl StagingStore {
    /// Stages one page atomically: the raw page, then each order's diff against its current
    /// version; new and changed orders get a version row and an outbox entry.
    pub fn stage_page(
        &mut self,
        run_id: i64,
        page: &FetchedPage,
    ) -> Result<PageOutcome, StagingError> {
        let body_sha256 = diff::sha256_hex(&page.body);
        let kept: Vec<Option<&serde_json::Value>> = page.orders.iter().map(Some).collect();
        self.stage_orders(
            run_id,
            page,
            &body_sha256,
            &fingerprint_orders(&page.orders),
            &kept,
            None,
        )
    }

    /// [`stage_page`](Self::stage_page) for a page whose orders were fingerprinted already
    /// (possibly on another thread): only the diff and the SQLite writes run here.
    pub fn stage_fingerprinted(
        &mut self,
        run_id: i64,
        page: &FingerprintedPage,
    ) -> Result<PageOutcome, StagingError> {
        self.stage_orders(
            run_id,
            page.page(),
            page.body_sha256(),
            page.prints(),
            &page.kept_orders(),
            page.frames(),
        )
    }

    fn stage_orders(
        &mut self,
        run_id: i64,
        page: &FetchedPage,
        body_sha256: &str,
        prints: &[Option<(Fingerprint, String)>],
        kept: &[Option<&serde_json::Value>],
        frames: Option<&PageFrames>,
    ) -> Result<PageOutcome, StagingError> {
        let staged =
            self.stage_orders_in_one_transaction(run_id, page, body_sha256, prints, kept, frames);
        if staged.is_err() {
            // A dictionary made in the transaction that failed is not in the file.
            *self.codec.get_mut() = None;
            self.compressor.use_dictionary(None);
        }
        staged
    }

    fn stage_orders_in_one_transaction(
        &mut self,
        run_id: i64,
        page: &FetchedPage,
        body_sha256: &str,
        prints: &[Option<(Fingerprint, String)>],
        kept: &[Option<&serde_json::Value>],
        frames: Option<&PageFrames>,
    ) -> Result<PageOutcome, StagingError> {
        let tx = self.conn.transaction()?;
        let received_at = page
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let window_start = page.window.map(|w| crate::beijing_time::format(w.start));
        let window_end = page.window.map(|w| crate::beijing_time::format(w.end));
        // The current versions of the page's orders, in one query.
        let (mut currents, version_ids) = current_versions(&tx, prints)?;
        // A page is known by the orders it carries (its envelope's request_id differs on
        // every call): the same orders as a stored page, or only versions staged already,
        // make it a sighting, not a stored copy.
        let key = compression::orders_key(prints.iter().enumerate().map(|(index, print)| {
            match print {
                Some((fingerprint, _)) => OrderKey::Version {
                    o_id: &fingerprint.o_id,
                    sha256: &fingerprint.sha256,
                },
                None => OrderKey::Unprintable(
                    kept.get(index)
                        .copied()
                        .flatten()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
            }
        }));
        let same: Option<i64> = tx
            .prepare_cached("SELECT id FROM pages WHERE orders_sha256 = ?1 ORDER BY id LIMIT 1")?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        let all_known = !prints.is_empty()
            && prints.iter().all(|print| {
                print.as_ref().is_some_and(|(fingerprint, _)| {
                    diff::classify(currents.get(&fingerprint.o_id), fingerprint)
                        == Change::Unchanged
                })
            });
        if same.is_some() || all_known {
            let carried: Option<Vec<u8>> = same.is_none().then(|| {
                let ids: Vec<i64> = prints
                    .iter()
                    .flatten()
                    .filter_map(|(fingerprint, _)| version_ids.get(&fingerprint.o_id).copied())
                    .collect();
                compression::pack_ids(&ids)
            });
            tx.prepare_cached(
                "INSERT INTO page_sightings (run_id, page_id, window_start, window_end, page_index,
                                             received_at, order_count, body_sha256, version_ids)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                run_id,
                same,
                window_start,
                window_end,
                page.page_index,
                received_at,
                prints.len() as i64,
                body_sha256,
                carried,
            ])?;
        }
        // A page of known orders stores nothing compressed; any other stores a body or
        // canonical JSON, and frames made ahead are wanted again.
        self.compressor.stored_compressed(!all_known);
        if same.is_none() && all_known {
            tx.commit()?;
            return Ok(PageOutcome {
                orders: prints.len() as u64,
                unchanged: prints.len() as u64,
                ..PageOutcome::default()
            });
        }
        let codec = compression::codec_of(self.codec.get_mut(), &tx)?;
        if !codec.has_dictionary() {
            codec.create_dictionary(&tx, prints.iter().flatten().map(|(_, c)| c.as_str()))?;
        }
        // Frames compressed ahead of the writer are the bytes the codec would make, when they
        // were made with its dictionary; the compressor learns it for the next pages.
        self.compressor.use_dictionary(codec.dictionary());
        let ready = frames.and_then(|frames| frames.canonical_with(codec.dictionary()));
        let page_id = match same {
            Some(page_id) => page_id,
            None => {
                let params_json = serde_json::to_string(
                    &page
                        .request_params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                )
                .expect("parameters serialise");
                tx.prepare_cached(
                    "INSERT INTO pages (run_id, window_start, window_end, page_index, params_json,
                                        http_status, body, received_at, order_count, body_sha256,
                                        orders_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    run_id,
                    window_start,
                    window_end,
                    page.page_index,
                    params_json,
                    page.http_status,
                    match frames {
                        Some(frames) => Cow::Borrowed(frames.body.as_slice()),
                        None => Cow::Owned(compression::compress_body(&page.body)),
                    },
                    received_at,
                    prints.len() as i64,
                    body_sha256,
                    key,
                ])?;
                tx.last_insert_rowid()
            }
        };
        let mut outcome = PageOutcome::default();
        let seen_at = now();
        for (index, print) in prints.iter().enumerate() {
            outcome.orders += 1;
            let order = kept.get(index).copied().flatten();
            let Some((fingerprint, canonical)) = print.as_ref() else {
                let order = order.cloned().unwrap_or(serde_json::Value::Null);
                let reason = if order.is_object() {
                    "order has no usable o_id"
                } else {
                    "order is not a JSON object"
                };
                tx.prepare_cached(
                    "INSERT INTO quarantine (o_id, page_id, run_id, stage, reason, raw_json, quarantined_at)
                     VALUES (NULL, ?1, ?2, 'staging', ?3, ?4, ?5)",
                )?
                .execute(params![page_id, run_id, reason, order.to_string(), seen_at])?;
                outcome.quarantined += 1;
                continue;
            };
            let current = currents.get(&fingerprint.o_id);
            let change = diff::classify(current, fingerprint);
            match change {
                Change::Unchanged => {
                    outcome.unchanged += 1;
                    continue;
                }
                Change::Stale => {
                    outcome.stale += 1;
                    continue;
                }
                Change::New => outcome.new += 1,
                Change::Changed => outcome.changed += 1,
            }
            // The field catalog reads the parsed order: kept, or parsed back from its canonical
            // JSON (only new and changed orders get here).
            let parsed;
            let order = match order {
                Some(order) => order,
                None => {
                    parsed = serde_json::from_str::<serde_json::Value>(canonical)
                        .unwrap_or(serde_json::Value::Null);
                    &parsed
                }
            };
            self.fields
                .observe(&tx, run_id, order, &fingerprint.o_id, &seen_at)?;
            let frame = match ready.and_then(|ready| ready.get(index)) {
                Some(frame) if !frame.is_empty() => Cow::Borrowed(frame.as_slice()),
                _ => Cow::Owned(
                    compression::codec_of(self.codec.get_mut(), &tx)?.compress(canonical),
                ),
            };
            let modified = fingerprint.modified.as_deref();
            // A new version returns its id at once; a version seen before (an order changed
            // back to an earlier content) is looked up.
            let inserted: Option<i64> = tx
                .prepare_cached(
                    "INSERT INTO order_versions
                         (o_id, sha256, ts, modified, canonical_json, first_page_id, first_run_id, first_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (o_id, sha256) DO NOTHING RETURNING id",
                )?
                .query_row(
                    params![
                        fingerprint.o_id,
                        fingerprint.sha256,
                        fingerprint.ts,
                        modified,
                        frame,
                        page_id,
                        run_id,
                        seen_at
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            let version_id: i64 = match inserted {
                Some(id) => id,
                None => tx
                    .prepare_cached(
                        "SELECT id FROM order_versions WHERE o_id = ?1 AND sha256 = ?2",
                    )?
                    .query_row(params![fingerprint.o_id, fingerprint.sha256], |row| {
                        row.get(0)
                    })?,
            };
            tx.prepare_cached(
                "INSERT INTO current_orders (o_id, version_id, sha256, ts, last_seen_at, last_page_id, modified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (o_id) DO UPDATE SET version_id = excluded.version_id,
                     sha256 = excluded.sha256, ts = excluded.ts,
                     last_seen_at = excluded.last_seen_at, last_page_id = excluded.last_page_id,
                     modified = excluded.modified",
            )?
            .execute(params![
                fingerprint.o_id,
                version_id,
                fingerprint.sha256,
                fingerprint.ts,
                seen_at,
                page_id,
                fingerprint.modified
            ])?;
            // An order twice on one page diffs its second copy against the first.
            currents.insert(
                fingerprint.o_id.clone(),
                CurrentVersion {
                    sha256: fingerprint.sha256.clone(),
                    ts: fingerprint.ts,
                    modified: fingerprint.modified.clone(),
                },
            );
            if change == Change::Changed {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'superseded', done_at = ?2
                     WHERE o_id = ?1 AND state = 'pending'",
                )?
                .execute(params![fingerprint.o_id, seen_at])?;
            }
            tx.prepare_cached(
                "INSERT INTO outbox (version_id, o_id, enqueued_at, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![version_id, fingerprint.o_id, seen_at, run_id])?;
        }
        // The page explains kept rows (versions it first carried, quarantined records): it
        // stays whatever the retention.
        if outcome.new + outcome.changed + outcome.quarantined > 0 {
            tx.prepare_cached("UPDATE pages SET pinned = 1 WHERE id = ?1 AND pinned IS NULL")?
                .execute([page_id])?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// New fields and type changes the field catalog saw since the last call.
    pub fn take_field_news(&mut self) -> FieldNews {
        self.fields.take_news()
    }
}

/// The current version id of each order, by `o_id`.
type VersionIds = HashMap<String, i64>;

/// The current versions of the fingerprinted orders of `page`, by `o_id`, read in one query.
fn current_versions(
    conn: &Connection,
    prints: &[Option<(Fingerprint, String)>],
) -> Result<(HashMap<String, CurrentVersion>, VersionIds), StagingError> {
    let ids: Vec<&str> = prints
        .iter()
        .flatten()
        .map(|(f, _)| f.o_id.as_str())
        .collect();
    let mut currents = HashMap::with_capacity(ids.len());
    let mut version_ids = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok((currents, version_ids));
    }
    // At most SQLite's 32,766 parameters per statement; a page holds far fewer orders.
    for chunk in ids.chunks(10_000) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let mut statement = conn.prepare_cached(&format!(
            "SELECT o_id, sha256, ts, modified, version_id FROM current_orders WHERE o_id IN ({placeholders})"
        ))?;
        let rows = statement.query_map(rusqlite::params_from_iter(chunk), |row| {
            Ok((
                row.get::<_, String>(0)?,
                CurrentVersion {
                    sha256: row.get(1)?,
                    ts: row.get(2)?,
                    modified: row.get(3)?,
                },
                row.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (o_id, current, version_id) = row?;
            version_ids.insert(o_id.clone(), version_id);
            currents.insert(o_id, current);
        }
    }
    Ok((currents, version_ids))
}
