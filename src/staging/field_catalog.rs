//! The field catalog: which field paths the API sends (order level, `items[]`, `pays[]`), with
//! their JSON type, first and last run, and one example — kept while staging so that
//! `jst-sync schema` can report drift between the API and the mapping.
//!
//! Staging must stay fast, so [`FieldObserver`] keeps the (path, type) pairs already recorded
//! in the current run in memory and touches SQLite only for a pair the run has not seen yet:
//! a few dozen statements per run, and per order one hash lookup per field. Only new and changed
//! versions are observed (an unchanged order's fields were observed when its version was
//! staged). Examples of personal fields (receiver, phone, address…, judged by the field's
//! name) are masked; logs name the field and order, never a value.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::StagingError;

/// The most characters an example keeps.
pub const EXAMPLE_CHARS: usize = 80;

/// The arrays of an order whose elements are rows of their own (`items[]`, `pays[]`).
const CHILD_ARRAYS: [&str; 2] = ["items", "pays"];

/// What observing changed in the catalog since last asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldNews {
    /// Paths never seen before (not counted in the very first run: that is the baseline).
    pub new_fields: u64,
    /// Known paths that arrived with another non-null JSON type.
    pub type_changes: u64,
}

/// One row of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldRecord {
    pub path: String,
    pub json_type: String,
    pub first_run_id: i64,
    pub last_run_id: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub example: String,
    pub example_o_id: Option<String>,
}

/// Records the fields of staged orders; see the module documentation.
#[derive(Debug, Default)]
pub struct FieldObserver {
    run_id: Option<i64>,
    /// The catalog was empty when the run started: record without counting anything as new.
    baseline: bool,
    /// Per scope (order, items, pays): field name → bit set of JSON types seen in this run.
    seen: [HashMap<String, u8>; 3],
    news: FieldNews,
    /// Rebuilding from staged versions: nothing counts as news.
    rebuilding: bool,
}

impl FieldObserver {
    /// Observes one staged order's fields, inside the staging transaction `conn`.
    pub fn observe(
        &mut self,
        conn: &Connection,
        run_id: i64,
        order: &Value,
        o_id: &str,
        seen_at: &str,
    ) -> Result<(), StagingError> {
        if self.run_id != Some(run_id) {
            self.start_run(conn, run_id)?;
        }
        let Value::Object(fields) = order else {
            return Ok(());
        };
        for (key, value) in fields {
            self.field(conn, 0, key, value, o_id, seen_at)?;
            let Some(scope) = CHILD_ARRAYS.iter().position(|a| a == key) else {
                continue;
            };
            for element in value.as_array().into_iter().flatten() {
                for (key, value) in element.as_object().into_iter().flatten() {
                    self.field(conn, scope + 1, key, value, o_id, seen_at)?;
                }
            }
        }
        Ok(())
    }

    /// What changed in the catalog since the last call, reset.
    pub fn take_news(&mut self) -> FieldNews {
        std::mem::take(&mut self.news)
    }

    fn start_run(&mut self, conn: &Connection, run_id: i64) -> Result<(), StagingError> {
        let known: bool =
            conn.query_row("SELECT EXISTS (SELECT 1 FROM field_catalog)", [], |r| {
                r.get(0)
            })?;
        let rebuilding = self.rebuilding;
        *self = Self {
            run_id: Some(run_id),
            baseline: !known || rebuilding,
            rebuilding,
            ..Self::default()
        };
        Ok(())
    }

    fn field(
        &mut self,
        conn: &Connection,
        scope: usize,
        key: &str,
        value: &Value,
        o_id: &str,
        seen_at: &str,
    ) -> Result<(), StagingError> {
        let bit = 1u8 << type_index(value);
        match self.seen[scope].get_mut(key) {
            Some(mask) if *mask & bit != 0 => return Ok(()),
            Some(mask) => *mask |= bit,
            None => {
                self.seen[scope].insert(key.to_owned(), bit);
            }
        }
        let path = match scope {
            0 => key.to_owned(),
            _ => format!("{}[].{key}", CHILD_ARRAYS[scope - 1]),
        };
        self.record(conn, &path, value, o_id, seen_at)
    }

    fn record(
        &mut self,
        conn: &Connection,
        path: &str,
        value: &Value,
        o_id: &str,
        seen_at: &str,
    ) -> Result<(), StagingError> {
        let run_id = self.run_id.unwrap_or_default();
        let json_type = TYPE_NAMES[type_index(value)];
        let updated = conn
            .prepare_cached(
                "UPDATE field_catalog SET last_run_id = ?3, last_seen_at = ?4
                 WHERE path = ?1 AND json_type = ?2",
            )?
            .execute(params![path, json_type, run_id, seen_at])?;
        if updated > 0 {
            return Ok(());
        }
        let other_type: Option<String> = conn
            .prepare_cached(
                "SELECT json_type FROM field_catalog WHERE path = ?1
                 ORDER BY json_type = 'null', last_run_id DESC LIMIT 1",
            )?
            .query_row([path], |r| r.get(0))
            .optional()?;
        let example = example(path, value);
        conn.prepare_cached(
            "INSERT INTO field_catalog (path, json_type, first_run_id, last_run_id, first_seen_at,
                                        last_seen_at, example, example_o_id)
             VALUES (?1, ?2, ?3, ?3, ?4, ?4, ?5, ?6)",
        )?
        .execute(params![path, json_type, run_id, seen_at, example, o_id])?;
        if self.baseline {
            return Ok(());
        }
        match other_type.as_deref() {
            None => {
                self.news.new_fields += 1;
                tracing::warn!(
                    field = path,
                    json_type,
                    o_id,
                    "New field in the API payload: the raw payload keeps it; `jst-sync schema` lists it."
                );
            }
            Some(previous) if previous != "null" && json_type != "null" => {
                self.news.type_changes += 1;
                tracing::warn!(
                    field = path,
                    from = previous,
                    to = json_type,
                    o_id,
                    "Field type changed in the API payload: `jst-sync schema` lists it."
                );
            }
            Some(_) => {}
        }
        Ok(())
    }
}

const TYPE_NAMES: [&str; 6] = ["null", "boolean", "number", "string", "array", "object"];

fn type_index(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Whether a field holds personal data (receiver, buyer contact, phone, address…), going by
/// its name.
pub fn is_personal(path: &str) -> bool {
    let field = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    field.starts_with("receiver_")
        || [
            "mobile",
            "phone",
            "email",
            "address",
            "id_card",
            "buyer_account",
            "buyer_nick",
        ]
        .iter()
        .any(|word| field.contains(word))
        || field == "tel"
}

/// The example kept for `value` of `path`: its JSON text, at most [`EXAMPLE_CHARS`]
/// characters, masked for personal fields (first character kept).
pub fn example(path: &str, value: &Value) -> String {
    if is_personal(path) {
        return match value {
            Value::String(text) => match text.chars().next() {
                Some(first) => format!("\"{first}***\""),
                None => "\"\"".to_owned(),
            },
            Value::Null => "null".to_owned(),
            _ => "***".to_owned(),
        };
    }
    let text = match value {
        Value::Array(items) => format!("[… {} elements]", items.len()),
        Value::Object(fields) => format!("{{… {} fields}}", fields.len()),
        other => other.to_string(),
    };
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The whole catalog, by path then first run.
pub fn records(conn: &Connection) -> Result<Vec<FieldRecord>, StagingError> {
    let mut statement = conn.prepare(
        "SELECT path, json_type, first_run_id, last_run_id, first_seen_at, last_seen_at, example,
                example_o_id
         FROM field_catalog ORDER BY path, first_run_id, json_type",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(FieldRecord {
            path: row.get(0)?,
            json_type: row.get(1)?,
            first_run_id: row.get(2)?,
            last_run_id: row.get(3)?,
            first_seen_at: row.get(4)?,
            last_seen_at: row.get(5)?,
            example: row.get(6)?,
            example_o_id: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rebuilds the catalog from every staged version (for a staging file made before the catalog
/// existed); returns how many versions were read.
pub fn rebuild(conn: &Connection) -> Result<u64, StagingError> {
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM field_catalog", [])?;
    let mut observer = FieldObserver {
        rebuilding: true,
        ..FieldObserver::default()
    };
    let mut count = 0;
    {
        let mut statement = tx.prepare(
            "SELECT o_id, first_run_id, first_seen_at, canonical_json FROM order_versions ORDER BY id",
        )?;
        let mut codec = super::compression::JsonCodec::load(&tx)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let (o_id, run_id, seen_at): (String, i64, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            let Ok(json) = codec.text(row.get_ref(3)?) else {
                continue;
            };
            if let Ok(order) = serde_json::from_str::<Value>(&json) {
                observer.observe(&tx, run_id, &order, &o_id, &seen_at)?;
                count += 1;
            }
        }
    }
    tx.commit()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY); INSERT INTO runs VALUES (1), (2);",
        )
        .unwrap();
        conn.execute_batch(include_str!("../../sql/sqlite/0002_field_catalog.sql"))
            .unwrap();
        conn
    }

    fn paths(conn: &Connection) -> Vec<(String, String, i64, i64)> {
        records(conn)
            .unwrap()
            .into_iter()
            .map(|r| (r.path, r.json_type, r.first_run_id, r.last_run_id))
            .collect()
    }

    #[test]
    fn order_item_and_payment_fields_are_recorded_once_per_type_and_run() {
        let conn = catalog();
        let mut observer = FieldObserver::default();
        let order = json!({"o_id": "1", "freight": 5, "items": [{"sku_id": "A"}, {"sku_id": "B", "qty": 1}],
                           "pays": [{"amount": "1.00"}]});
        observer.observe(&conn, 1, &order, "1", "t1").unwrap();
        observer.observe(&conn, 1, &order, "1", "t1").unwrap();
        assert_eq!(
            observer.take_news(),
            FieldNews::default(),
            "the first run is the baseline"
        );
        let later = json!({"o_id": "2", "freight": "5.00", "gift": true, "items": [], "pays": [{"amount": "2.00"}]});
        observer.observe(&conn, 2, &later, "2", "t2").unwrap();
        assert_eq!(
            observer.take_news(),
            FieldNews {
                new_fields: 1,
                type_changes: 1
            }
        );
        assert_eq!(
            paths(&conn),
            [
                ("freight", "number", 1, 1),
                ("freight", "string", 2, 2),
                ("gift", "boolean", 2, 2),
                ("items", "array", 1, 2),
                ("items[].qty", "number", 1, 1),
                ("items[].sku_id", "string", 1, 1),
                ("o_id", "string", 1, 2),
                ("pays", "array", 1, 2),
                ("pays[].amount", "string", 1, 2),
            ]
            .map(|(p, t, f, l)| (p.to_owned(), t.to_owned(), f, l))
        );
    }

    #[test]
    fn examples_are_short_and_personal_data_is_masked() {
        assert_eq!(
            example("receiver_mobile", &json!("13800138000")),
            "\"1***\""
        );
        assert_eq!(example("receiver_name", &json!("张三")), "\"张***\"");
        assert_eq!(example("pays[].buyer_account", &json!("a@b.c")), "\"a***\"");
        assert_eq!(
            example("remark", &json!("x".repeat(100))).chars().count(),
            EXAMPLE_CHARS + 1
        );
        assert_eq!(example("freight", &json!(5)), "5");
        assert_eq!(example("items", &json!([1, 2])), "[… 2 elements]");
        assert!(!is_personal("items[].name") && !is_personal("shop_name"));
    }
}
