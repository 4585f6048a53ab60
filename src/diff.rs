//! Diff: the canonical form and SHA-256 of an order, and whether a pulled order is new,
//! changed, unchanged or stale compared with its current version.
//!
//! The canonical form is compact JSON with object keys sorted by byte order at every level, so
//! the order of keys in a response never counts as a change. It is what staging keeps of each
//! version, numbers with the exact text the gateway sent.
//!
//! The hash is taken over the *typed* canonical form, in which one order reads the same from
//! either route: the Qimen route sends most numbers as strings (`"38852"`, `"227.00"`), the
//! open platform as numbers (`38852`, `227`), and its payments also carry `o_id` and
//! `pay_type`. So every number, and every string that is a plain decimal number, is written as
//! its canonical decimal text (`227`, `1.5`; a string with leading zeros such as `"007"` is
//! text and stays as it is), booleans as `"true"`/`"false"`, and the payment fields only one
//! route sends are left out. Reading an order from both routes on every run therefore makes
//! no new version, and the newer of two that differ still wins by `ts`/`modified`.

pub mod field_changes;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical JSON text of `value`: sorted keys, no insignificant white space.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(2048);
    write_canonical(value, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes `value` straight into `out`, without a temporary string per value (this runs for
/// every order of every page, and allocation was most of its cost).
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            // serde_json's map is a BTreeMap (already in byte order) unless some crate turns on
            // `preserve_order`: sort only then.
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                write_entries(map.iter(), out);
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_entries(entries.into_iter(), out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        // Strings escaped as serde_json escapes them; numbers keep their text
        // (`arbitrary_precision`); `true`, `false`, `null`.
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec cannot fail"),
    }
}

fn write_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    for (i, (key, item)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).expect("writing to a Vec cannot fail");
        out.push(b':');
        write_canonical(item, out);
    }
}

/// Fields that only one route sends, per array they appear in: left out of the typed form.
const ROUTE_ONLY_FIELDS: &[(&str, &str)] = &[("pays", "o_id"), ("pays", "pay_type")];

/// The typed canonical form of `value` (see the module documentation), the text its hash is
/// taken over.
pub fn typed_canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(2048);
    write_typed(value, None, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The hash of a version from its stored canonical JSON (the hash staging keys it by).
pub fn version_sha256(canonical: &str) -> Option<String> {
    let value: Value = serde_json::from_str(canonical).ok()?;
    Some(sha256_hex(&typed_canonical_json(&value)))
}

fn write_typed(value: &Value, array_key: Option<&str>, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(key, _)| {
                    !array_key
                        .is_some_and(|array| ROUTE_ONLY_FIELDS.contains(&(array, key.as_str())))
                })
                .collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("writing to a Vec cannot fail");
                out.push(b':');
                let inner_key = item.is_array().then_some(key.as_str());
                write_typed(item, inner_key, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_typed(item, array_key, out);
            }
            out.push(b']');
        }
        Value::Number(number) => {
            let text = number.to_string();
            write_string(canonical_decimal(&text).as_deref().unwrap_or(&text), out);
        }
        Value::String(text) => match canonical_decimal(text) {
            Some(decimal) => write_string(&decimal, out),
            None => write_string(text, out),
        },
        Value::Bool(flag) => write_string(if *flag { "true" } else { "false" }, out),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

/// `text` as a canonical decimal when it is a plain decimal number (`-12`, `227.00`, `1.50`,
/// `1e3` from a number): no leading `+`, no leading zeros, no trailing fractional zeros, `0`
/// for zero. `None` for anything else (`007`, `1,000`, `12abc`, ``).
fn canonical_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (digits, ""),
    };
    let plain = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !plain(whole) || !plain(fraction) || digits.ends_with('.') {
        // Exponents come only from JSON numbers: let the decimal crate read them.
        if text.contains(['e', 'E']) && !text.is_empty() {
            return text
                .parse::<rust_decimal::Decimal>()
                .ok()
                .or_else(|| rust_decimal::Decimal::from_scientific(text).ok())
                .map(|d| d.normalize().to_string());
        }
        return None;
    }
    if whole.len() > 1 && whole.starts_with('0') {
        return None; // "007" is text (a code), not a number
    }
    let fraction = fraction.trim_end_matches('0');
    let is_zero = whole.bytes().all(|b| b == b'0') && fraction.is_empty();
    let mut out = String::with_capacity(text.len());
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

/// Lower-case hex SHA-256 of `canonical`.
pub fn sha256_hex(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// An order's identity and version as pulled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub o_id: String,
    pub sha256: String,
    /// The `ts` row version, when the order carries one.
    pub ts: Option<i64>,
    /// The order's `modified` time as sent, when it carries one.
    pub modified: Option<String>,
}

/// What the staging store holds as an order's current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentVersion {
    pub sha256: String,
    pub ts: Option<i64>,
    pub modified: Option<String>,
}

/// The verdict on one pulled order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Never seen before: a new version and an outbox entry.
    New,
    /// Seen, with another hash and a `ts` not older: a new version and an outbox entry.
    Changed,
    /// Same hash as the current version: no work.
    Unchanged,
    /// Another hash but an older `ts` than the current version (a stale read, e.g. from a
    /// lagging replica): kept in the raw page for audit, never made current.
    Stale,
}

/// Compares a pulled order with its current version.
pub fn classify(current: Option<&CurrentVersion>, pulled: &Fingerprint) -> Change {
    let Some(current) = current else {
        return Change::New;
    };
    if current.sha256 == pulled.sha256 {
        return Change::Unchanged;
    }
    // The gateway's row version decides; without it on both sides, `modified` does.
    let older = match (current.ts, pulled.ts) {
        (Some(current_ts), Some(pulled_ts)) => pulled_ts < current_ts,
        _ => match (
            current
                .modified
                .as_deref()
                .and_then(crate::beijing_time::parse),
            pulled
                .modified
                .as_deref()
                .and_then(crate::beijing_time::parse),
        ) {
            (Some(current_modified), Some(pulled_modified)) => pulled_modified < current_modified,
            _ => false,
        },
    };
    if older {
        Change::Stale
    } else {
        Change::Changed
    }
}

/// The order id of a pulled order: `o_id` as a string or an integer, trimmed and non-empty.
pub fn order_id(order: &Value) -> Option<String> {
    match order.get("o_id")? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The `ts` row version of a pulled order, from an integer or a numeric string.
pub fn order_ts(order: &Value) -> Option<i64> {
    match order.get("ts")? {
        Value::Number(number) => number.as_i64().or_else(|| number.to_string().parse().ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Fingerprints a pulled order; `None` when it has no usable `o_id`.
pub fn fingerprint(order: &Value) -> Option<(Fingerprint, String)> {
    let o_id = order_id(order)?;
    let canonical = canonical_json(order);
    let sha256 = sha256_hex(&typed_canonical_json(order));
    Some((
        Fingerprint {
            o_id,
            sha256,
            ts: order_ts(order),
            modified: order
                .get("modified")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        canonical,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn key_order_does_not_change_the_canonical_form_or_hash() {
        let a = parse(r#"{"o_id":"1","items":[{"b":1,"a":"x"}],"modified":"2024-05-01 00:00:00"}"#);
        let b = parse(r#"{"modified":"2024-05-01 00:00:00","items":[{"a":"x","b":1}],"o_id":"1"}"#);
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"items":[{"a":"x","b":1}],"modified":"2024-05-01 00:00:00","o_id":"1"}"#
        );
    }

    #[test]
    fn numbers_keep_their_text_and_strings_their_escapes_are_normalised() {
        let value = parse(r#"{"amount":227.00,"name":"\u4e2d\"q\"","big":12345678901234567890}"#);
        assert_eq!(
            canonical_json(&value),
            r#"{"amount":227.00,"big":12345678901234567890,"name":"中\"q\""}"#
        );
    }

    #[test]
    fn array_order_counts() {
        let a = canonical_json(&json!({"items": [1, 2]}));
        let b = canonical_json(&json!({"items": [2, 1]}));
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_of_empty_object_is_the_known_digest() {
        assert_eq!(
            sha256_hex("{}"),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    fn current(hash: &str, ts: Option<i64>) -> CurrentVersion {
        CurrentVersion {
            sha256: hash.into(),
            ts,
            modified: Some("2024-05-01 10:00:00".into()),
        }
    }

    fn pulled(hash: &str, ts: Option<i64>) -> Fingerprint {
        Fingerprint {
            o_id: "1".into(),
            sha256: hash.into(),
            ts,
            modified: Some("2024-05-01 10:00:00".into()),
        }
    }

    fn modified_at(mut pulled: Fingerprint, modified: &str) -> Fingerprint {
        pulled.modified = Some(modified.into());
        pulled
    }

    #[test]
    fn classification_table() {
        let cases = [
            (None, pulled("a", Some(1)), Change::New),
            (
                Some(current("a", Some(1))),
                pulled("a", Some(1)),
                Change::Unchanged,
            ),
            (
                Some(current("a", Some(1))),
                pulled("b", Some(2)),
                Change::Changed,
            ),
            (
                Some(current("a", Some(5))),
                pulled("b", Some(4)),
                Change::Stale,
            ),
            (Some(current("a", None)), pulled("b", None), Change::Changed),
            (
                Some(current("a", Some(5))),
                pulled("b", Some(5)),
                Change::Changed,
            ),
            // Without ts on both sides, an earlier `modified` is a stale read.
            (
                Some(current("a", None)),
                modified_at(pulled("b", None), "2024-05-01 09:59:59"),
                Change::Stale,
            ),
            (
                Some(current("a", None)),
                modified_at(pulled("b", Some(9)), "2024-05-01 10:00:01"),
                Change::Changed,
            ),
            // With ts on both sides, ts decides even against `modified`.
            (
                Some(current("a", Some(5))),
                modified_at(pulled("b", Some(6)), "2024-05-01 09:00:00"),
                Change::Changed,
            ),
        ];
        for (current, pulled, expected) in cases {
            assert_eq!(
                classify(current.as_ref(), &pulled),
                expected,
                "{current:?} {pulled:?}"
            );
        }
    }

    #[test]
    fn order_id_accepts_strings_and_integers_only() {
        assert_eq!(
            order_id(&json!({"o_id": "38852"})).as_deref(),
            Some("38852")
        );
        assert_eq!(order_id(&json!({"o_id": 38852})).as_deref(), Some("38852"));
        assert_eq!(order_id(&json!({"o_id": ""})), None);
        assert_eq!(order_id(&json!({"o_id": null})), None);
        assert_eq!(order_id(&json!({"so_id": "1"})), None);
    }

    #[test]
    fn ts_accepts_numbers_and_numeric_strings() {
        assert_eq!(order_ts(&json!({"ts": 42})), Some(42));
        assert_eq!(order_ts(&json!({"ts": "42"})), Some(42));
        assert_eq!(order_ts(&json!({"ts": "x"})), None);
    }

    #[test]
    fn one_order_hashes_the_same_from_either_route() {
        let qimen = json!({"o_id": "38852", "pay_amount": "227.00", "ts": "5000000001",
            "is_cod": "false", "so_id": "007", "items": [{"oi_id": "1", "qty": "2", "price": "113.50"}],
            "pays": [{"pay_id": "9", "amount": "227.00"}]});
        let openapi = json!({"o_id": 38852, "pay_amount": 227, "ts": 5000000001u64,
            "is_cod": false, "so_id": "007", "items": [{"oi_id": 1, "qty": 2, "price": 113.5}],
            "pays": [{"pay_id": 9, "amount": 227.0, "o_id": 38852, "pay_type": "支付宝"}]});
        let (a, _) = fingerprint(&qimen).unwrap();
        let (b, _) = fingerprint(&openapi).unwrap();
        assert_eq!(a.sha256, b.sha256);
        let changed = json!({"o_id": 38852, "pay_amount": 228, "ts": 5000000001u64,
            "is_cod": false, "so_id": "007", "items": [{"oi_id": 1, "qty": 2, "price": 113.5}],
            "pays": [{"pay_id": 9, "amount": 227.0}]});
        assert_ne!(fingerprint(&changed).unwrap().0.sha256, a.sha256);
    }

    #[test]
    fn decimals_are_written_canonically_and_codes_with_leading_zeros_stay_text() {
        for (text, expected) in [
            ("227.00", Some("227")),
            ("1.50", Some("1.5")),
            ("-0.0", Some("0")),
            ("0.25", Some("0.25")),
            ("-12", Some("-12")),
            ("007", None),
            ("1,000", None),
            ("12abc", None),
            ("", None),
            ("1.", None),
            (".5", None),
        ] {
            assert_eq!(canonical_decimal(text).as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn a_stored_versions_hash_can_be_recomputed_from_its_canonical_json() {
        let order = json!({"o_id": "1", "amount": "2.50"});
        let (print, canonical) = fingerprint(&order).unwrap();
        assert_eq!(version_sha256(&canonical), Some(print.sha256));
    }
}
