//! Signing an open-platform request: every field but `sign`, sorted by key in byte order,
//! joined as `key1value1key2value2…` with raw values (`biz` exactly as sent), then lower-case
//! hex MD5 of the app secret followed by that string (the secret is prepended only).

use md5::{Digest, Md5};

use crate::secret::Secret;

/// The `sign` of `fields` (any order; a `sign` field is left out).
pub fn sign<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>, secret: &Secret) -> String {
    let mut fields: Vec<(&str, &str)> = fields.into_iter().filter(|(k, _)| *k != "sign").collect();
    fields.sort_unstable();
    let mut md5 = Md5::new();
    md5.update(secret.expose().as_bytes());
    for (key, value) in fields {
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
    fn biz_is_signed_exactly_as_sent_and_sign_itself_is_left_out() {
        let secret = Secret::new("s");
        let a = sign([("biz", r#"{"page_index":1}"#), ("sign", "x")], &secret);
        let b = sign([("biz", r#"{"page_index": 1}"#)], &secret);
        assert_ne!(a, b);
        assert_eq!(a, sign([("biz", r#"{"page_index":1}"#)], &secret));
    }
}
