//! Bodies as real gateways send them: raw control characters and lone UTF-16 surrogate escapes
//! that a strict JSON parser refuses, repaired before parsing and counted.
//!
//! Jushuitan's own sample client removes `[\x00-\x08\x0b\x0c\x0e-\x1f]` from every answer
//! before parsing it: free-text fields (`buyer_message`, `remark`) carry them raw. We do the
//! same, and also escape a raw tab, line feed or carriage return inside a string (JSON allows
//! them only between tokens) and replace a `\uD800`–`\uDFFF` escape that is not half of a pair
//! with `\uFFFD`. The staged page keeps the body exactly as received; only the parse sees the
//! repaired text.

use std::borrow::Cow;

/// What [`repair`] changed in one body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BodyRepairs {
    /// Raw control characters removed (`[\x00-\x08\x0b\x0c\x0e-\x1f]`), anywhere in the body.
    pub control_chars: u64,
    /// Raw tabs, line feeds and carriage returns inside strings, escaped (kept as content).
    pub raw_whitespace: u64,
    /// `\uXXXX` escapes of a lone surrogate, replaced by U+FFFD.
    pub lone_surrogates: u64,
}

impl BodyRepairs {
    pub fn is_empty(&self) -> bool {
        *self == BodyRepairs::default()
    }

    pub fn add(&mut self, other: &BodyRepairs) {
        self.control_chars += other.control_chars;
        self.raw_whitespace += other.raw_whitespace;
        self.lone_surrogates += other.lone_surrogates;
    }
}

/// `body` with what a strict parser refuses repaired; borrowed when there was nothing to do.
pub fn repair(body: &str) -> (Cow<'_, str>, BodyRepairs) {
    if !needs_repair(body) {
        return (Cow::Borrowed(body), BodyRepairs::default());
    }
    let mut repairs = BodyRepairs::default();
    let mut out = String::with_capacity(body.len());
    let mut in_string = false;
    let mut chars = body.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\u{00}'..='\u{08}' | '\u{0b}' | '\u{0c}' | '\u{0e}'..='\u{1f}' => {
                repairs.control_chars += 1;
            }
            '\t' | '\n' | '\r' if in_string => {
                repairs.raw_whitespace += 1;
                out.push_str(match c {
                    '\t' => "\\t",
                    '\n' => "\\n",
                    _ => "\\r",
                });
            }
            '"' => {
                in_string = !in_string;
                out.push('"');
            }
            '\\' if in_string => {
                let Some(&(_, next)) = chars.peek() else {
                    out.push('\\');
                    continue;
                };
                if next != 'u' {
                    chars.next();
                    out.push('\\');
                    out.push(next);
                    continue;
                }
                // `\uXXXX`: keep it unless it is a lone surrogate.
                let escape = body.get(at..at + 6);
                let unit = escape.and_then(|e| u16::from_str_radix(&e[2..], 16).ok());
                let Some(unit) = unit else {
                    out.push('\\'); // malformed escape: left for the parser to report
                    continue;
                };
                let take = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, n| {
                    for _ in 0..n {
                        chars.next();
                    }
                };
                match unit {
                    0xD800..=0xDBFF => {
                        let low = body
                            .get(at + 6..at + 12)
                            .filter(|e| e.starts_with("\\u"))
                            .and_then(|e| u16::from_str_radix(&e[2..], 16).ok())
                            .filter(|low| (0xDC00..=0xDFFF).contains(low));
                        if low.is_some() {
                            out.push_str(&body[at..at + 12]);
                            take(&mut chars, 11);
                        } else {
                            repairs.lone_surrogates += 1;
                            out.push_str("\\uFFFD");
                            take(&mut chars, 5);
                        }
                    }
                    0xDC00..=0xDFFF => {
                        repairs.lone_surrogates += 1;
                        out.push_str("\\uFFFD");
                        take(&mut chars, 5);
                    }
                    _ => {
                        out.push_str(&body[at..at + 6]);
                        take(&mut chars, 5);
                    }
                }
            }
            other => out.push(other),
        }
    }
    if repairs.is_empty() {
        (Cow::Borrowed(body), repairs)
    } else {
        (Cow::Owned(out), repairs)
    }
}

/// A cheap pre-check: a control character anywhere, or an escape that may be a surrogate.
fn needs_repair(body: &str) -> bool {
    let bytes = body.as_bytes();
    bytes.iter().any(|&b| b < 0x20 && b != b' ')
        || bytes
            .windows(3)
            .any(|w| w[0] == b'\\' && (w[1] == b'u' || w[1] == b'U') && matches!(w[2], b'd' | b'D'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: &str, repairs: BodyRepairs) {
        let (repaired, found) = repair(body);
        assert_eq!(repaired, expected, "{body:?}");
        assert_eq!(found, repairs, "{body:?}");
        if !expected.is_empty() {
            serde_json::from_str::<serde_json::Value>(&repaired)
                .unwrap_or_else(|e| panic!("{repaired:?} does not parse: {e}"));
        }
    }

    fn counts(control_chars: u64, raw_whitespace: u64, lone_surrogates: u64) -> BodyRepairs {
        BodyRepairs {
            control_chars,
            raw_whitespace,
            lone_surrogates,
        }
    }

    #[test]
    fn a_tidy_body_is_left_alone() {
        let body = "{\n  \"a\": \"b\\u00e9\\ud83d\\ude00\\\\ud800\"\n}";
        let (repaired, repairs) = repair(body);
        assert!(matches!(repaired, Cow::Borrowed(_)));
        assert!(repairs.is_empty());
    }

    #[test]
    fn raw_control_characters_are_removed_and_counted() {
        check(
            "{\"remark\":\"a\u{0b}b\u{1f}\",\u{01}\"x\":1}",
            "{\"remark\":\"ab\",\"x\":1}",
            counts(3, 0, 0),
        );
    }

    #[test]
    fn raw_tabs_and_newlines_inside_strings_are_escaped_not_lost() {
        check(
            "{\"remark\":\"line1\nline2\ttab\r\"}\n",
            "{\"remark\":\"line1\\nline2\\ttab\\r\"}\n",
            counts(0, 3, 0),
        );
    }

    #[test]
    fn a_lone_surrogate_escape_becomes_a_replacement_character() {
        check(
            r#"{"a":"x\ud800y","b":"\udc00","c":"\ud83d\ude00","d":"\ud800\u0041"}"#,
            r#"{"a":"x\uFFFDy","b":"\uFFFD","c":"\ud83d\ude00","d":"\uFFFD\u0041"}"#,
            counts(0, 0, 3),
        );
    }

    #[test]
    fn an_escaped_backslash_before_u_is_not_an_escape() {
        check(
            "{\"a\":\"\\\\ud800\u{07}\"}",
            "{\"a\":\"\\\\ud800\"}",
            counts(1, 0, 0),
        );
    }

    #[test]
    fn an_escaped_quote_does_not_end_the_string() {
        check(
            "{\"a\":\"say \\\"hi\\\"\n\"}",
            "{\"a\":\"say \\\"hi\\\"\\n\"}",
            counts(0, 1, 0),
        );
    }
}
