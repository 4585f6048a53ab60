//! A string that must never be shown: app secrets and database passwords.
//!
//! `Debug` and `Display` print `***`; the value is only reachable through [`Secret::expose`],
//! so every place that uses the secret is easy to find and review.

use std::fmt;

/// A secret value whose formatting is redacted.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used (signing, connecting), never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of `secret` in `text` with `***` (for messages that may quote
/// input back, e.g. a URL in a driver error).
pub fn redact(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret.expose(), "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(
            redact("password hunter2 in text", &secret),
            "password *** in text"
        );
    }
}
