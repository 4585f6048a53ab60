//! What the gateway told us that outlives a run: a ban too long to wait out, and the `ts`
//! cursor's history (which value it reached when).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::timestamp::now;
use super::{StagingError, StagingStore};

/// A ban the gateway named (code 7) that was too long to wait out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayBan {
    pub until: DateTime<Utc>,
    pub message: String,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl StagingStore {
    /// Records that the gateway bans `app_key` until `until`.
    pub fn set_ban(
        &self,
        app_key: &str,
        ban: &GatewayBan,
        run_id: i64,
    ) -> Result<(), StagingError> {
        self.conn.execute(
            "INSERT INTO gateway_bans (app_key, until_utc, message, run_id, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (app_key) DO UPDATE SET until_utc = excluded.until_utc,
                 message = excluded.message, run_id = excluded.run_id,
                 recorded_at = excluded.recorded_at",
            params![app_key, rfc3339(ban.until), ban.message, run_id, now()],
        )?;
        Ok(())
    }

    /// The ban on `app_key` still in force at `at`, if any (an ended one is forgotten).
    pub fn ban_in_force(
        &self,
        app_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<GatewayBan>, StagingError> {
        let stored: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT until_utc, message FROM gateway_bans WHERE app_key = ?1",
                params![app_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((until, message)) = stored else {
            return Ok(None);
        };
        match parse_utc(&until) {
            Some(until) if until > at => Ok(Some(GatewayBan { until, message })),
            _ => {
                self.conn.execute(
                    "DELETE FROM gateway_bans WHERE app_key = ?1",
                    params![app_key],
                )?;
                Ok(None)
            }
        }
    }

    /// Records that the `ts` cursor of `source` reached `ts` at `reached_at`.
    pub fn record_cursor_mark(
        &self,
        source: &str,
        ts: i64,
        reached_at: DateTime<Utc>,
        run_id: i64,
    ) -> Result<(), StagingError> {
        // A value reached again keeps the time it was first reached.
        self.conn
            .prepare_cached(
                "INSERT INTO cursor_marks (source, ts, reached_at, run_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, ts) DO NOTHING",
            )?
            .execute(params![source, ts, rfc3339(reached_at), run_id])?;
        Ok(())
    }

    /// Where the next `ts` scan of `source` starts: the largest value the cursor reached at
    /// or before `reached_by`; `None` when no mark is that old (the caller starts from the
    /// oldest start it knows). Marks below the chosen one are dropped: no scan needs them.
    pub fn cursor_start(
        &self,
        source: &str,
        reached_by: DateTime<Utc>,
    ) -> Result<Option<i64>, StagingError> {
        let start: Option<i64> = self.conn.query_row(
            "SELECT MAX(ts) FROM cursor_marks WHERE source = ?1 AND reached_at <= ?2",
            params![source, rfc3339(reached_by)],
            |r| r.get(0),
        )?;
        if let Some(start) = start {
            self.conn.execute(
                "DELETE FROM cursor_marks WHERE source = ?1 AND ts < ?2",
                params![source, start],
            )?;
        }
        Ok(start)
    }

    /// The smallest value the cursor of `source` is known to have reached.
    pub fn oldest_cursor_mark(&self, source: &str) -> Result<Option<i64>, StagingError> {
        Ok(self.conn.query_row(
            "SELECT MIN(ts) FROM cursor_marks WHERE source = ?1",
            params![source],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, StagingStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StagingStore::open(&dir.path().join("s.sqlite")).unwrap();
        (dir, store)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_ban_is_in_force_until_it_ends_then_forgotten() {
        let (_dir, store) = store();
        let ban = GatewayBan {
            until: at(100),
            message: "App Call Limited".into(),
        };
        store.set_ban("app", &ban, 1).unwrap();
        assert_eq!(store.ban_in_force("app", at(50)).unwrap(), Some(ban));
        assert_eq!(store.ban_in_force("other", at(50)).unwrap(), None);
        assert_eq!(store.ban_in_force("app", at(100)).unwrap(), None);
        assert_eq!(store.ban_in_force("app", at(0)).unwrap(), None, "forgotten");
    }

    #[test]
    fn the_next_scan_starts_from_the_largest_value_reached_long_enough_ago() {
        let (_dir, store) = store();
        store.record_cursor_mark("m", 10, at(0), 1).unwrap();
        store.record_cursor_mark("m", 20, at(60), 1).unwrap();
        store.record_cursor_mark("m", 30, at(600), 2).unwrap();
        store.record_cursor_mark("m", 20, at(700), 2).unwrap(); // reached again: keeps at(60)
        assert_eq!(store.cursor_start("m", at(59)).unwrap(), Some(10));
        assert_eq!(store.cursor_start("m", at(300)).unwrap(), Some(20));
        assert_eq!(
            store.oldest_cursor_mark("m").unwrap(),
            Some(20),
            "10 dropped"
        );
        assert_eq!(store.cursor_start("m", at(-1)).unwrap(), None);
        assert_eq!(store.cursor_start("other", at(999)).unwrap(), None);
    }
}
