//! The open platform's own check of a request's `sign`, written from
//! `jushuitan-openapi-protocol.md` and not shared with jst-sync's client.
//!
//! Every field except `sign` — empty values included, as the document says "every field" —
//! sorted by key in byte order, joined as `key1value1key2value2…` with raw UTF-8 values;
//! `sign` = lower-case hex MD5(app_secret + that string).

use md5::{Digest, Md5};

use crate::secret::Secret;

/// The `sign` of `fields` (any order; `sign` itself is left out).
pub fn sign<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    app_secret: &Secret,
) -> String {
    let mut pairs: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(key, _)| *key != "sign")
        .collect();
    pairs.sort_unstable();
    let mut md5 = Md5::new();
    md5.update(app_secret.expose().as_bytes());
    for (key, value) in pairs {
        md5.update(key.as_bytes());
        md5.update(value.as_bytes());
    }
    hex::encode(md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_documents_vector_holds() {
        let fields = [
            ("timestamp", "100"),
            ("app_key", "app"),
            ("charset", "utf-8"),
        ];
        assert_eq!(
            sign(fields, &Secret::new("secret")),
            "706427ca94e342781ac36d501151cb10"
        );
    }

    #[test]
    fn the_sign_field_is_left_out_and_empty_values_are_signed() {
        let secret = Secret::new("secret");
        let base = [
            ("timestamp", "100"),
            ("app_key", "app"),
            ("charset", "utf-8"),
        ];
        let with_sign = [
            ("timestamp", "100"),
            ("sign", "whatever"),
            ("app_key", "app"),
            ("charset", "utf-8"),
        ];
        assert_eq!(sign(with_sign, &secret), sign(base, &secret));
        let with_empty = [
            ("timestamp", "100"),
            ("app_key", "app"),
            ("charset", "utf-8"),
            ("biz", ""),
        ];
        assert_ne!(sign(with_empty, &secret), sign(base, &secret));
    }
}
