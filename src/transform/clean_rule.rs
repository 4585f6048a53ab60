//! Cleaning rules a mapping may apply to a raw value before it is typed.
//!
//! The default mapping applies none: text lands verbatim. Rules act on JSON strings (other
//! values pass through), except [`CleanRule::DefaultIfEmpty`], which also replaces `null` and a
//! missing value.

use serde_json::Value;

use crate::beijing_time;

/// One cleaning step. In TOML: `clean = ["trim", "strip_html", { default_if_empty = "-" }]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanRule {
    /// Removes leading and trailing whitespace (including the ideographic space U+3000).
    Trim,
    /// Removes `<…>` tags and decodes the common entities (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
    /// `&#39;`, `&nbsp;`).
    StripHtml,
    /// Removes control characters (including NUL) except tab, line feed and carriage return.
    RemoveControlChars,
    /// Accepts more date forms (`2024/05/01 12:00`, `20240501123456`, a bare date, a
    /// fraction of a second) and rewrites them as `yyyy-MM-dd HH:mm:ss`; a value that is still
    /// not a date (including `0000-00-00`) becomes empty, so it lands as `NULL` rather than
    /// quarantining the order. Opt-in: without it an unparsable date is an error.
    NormaliseDate,
    /// Replaces `null`, a missing value or an empty string with the given text.
    DefaultIfEmpty(String),
}

impl CleanRule {
    /// Applies the rule to a raw JSON value.
    pub fn apply(&self, value: Value) -> Value {
        match (self, value) {
            (Self::DefaultIfEmpty(default), Value::Null) => Value::String(default.clone()),
            (Self::DefaultIfEmpty(default), Value::String(s)) if s.is_empty() => {
                Value::String(default.clone())
            }
            (rule, Value::String(s)) => Value::String(rule.apply_to_text(s)),
            (_, other) => other,
        }
    }

    fn apply_to_text(&self, text: String) -> String {
        match self {
            Self::Trim => text.trim().to_owned(),
            Self::StripHtml => strip_html(&text),
            Self::RemoveControlChars => text
                .chars()
                .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
                .collect(),
            Self::NormaliseDate => normalise_date(&text),
            Self::DefaultIfEmpty(_) => text,
        }
    }
}

fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn normalise_date(text: &str) -> String {
    let text = text.trim().replace('/', "-");
    let parsed = beijing_time::parse(&text)
        .or_else(|| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M").ok())
        .or_else(|| chrono::NaiveDateTime::parse_from_str(&text, "%Y%m%d%H%M%S").ok());
    parsed.map(beijing_time::format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rule: CleanRule, input: Value, expected: Value) {
        assert_eq!(rule.apply(input.clone()), expected, "{rule:?} on {input}");
    }

    #[test]
    fn each_rule_does_what_it_says() {
        check(CleanRule::Trim, json!(" \u{3000}a b\n"), json!("a b"));
        check(CleanRule::Trim, json!(5), json!(5));
        check(
            CleanRule::StripHtml,
            json!("<p>a &amp; <b>b</b></p>"),
            json!("a & b"),
        );
        check(
            CleanRule::RemoveControlChars,
            json!("a\0b\u{7}c\td\ne"),
            json!("abc\td\ne"),
        );
        check(
            CleanRule::NormaliseDate,
            json!("2024/05/01 12:00"),
            json!("2024-05-01 12:00:00"),
        );
        check(
            CleanRule::NormaliseDate,
            json!("20240501123456"),
            json!("2024-05-01 12:34:56"),
        );
        check(
            CleanRule::NormaliseDate,
            json!("0000-00-00 00:00:00"),
            json!(""),
        );
        check(CleanRule::NormaliseDate, json!("2024-13-45"), json!(""));
        check(
            CleanRule::DefaultIfEmpty("-".into()),
            Value::Null,
            json!("-"),
        );
        check(CleanRule::DefaultIfEmpty("-".into()), json!(""), json!("-"));
        check(
            CleanRule::DefaultIfEmpty("-".into()),
            json!("x"),
            json!("x"),
        );
    }

    #[test]
    fn rules_deserialise_from_toml_words() {
        #[derive(serde::Deserialize)]
        struct Rules {
            clean: Vec<CleanRule>,
        }
        let rules: Rules =
            toml::from_str(r#"clean = ["trim", "strip_html", { default_if_empty = "n/a" }]"#)
                .unwrap();
        assert_eq!(
            rules.clean,
            [
                CleanRule::Trim,
                CleanRule::StripHtml,
                CleanRule::DefaultIfEmpty("n/a".into())
            ]
        );
    }
}
