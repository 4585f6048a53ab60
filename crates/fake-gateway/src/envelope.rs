//! The gateway's response bodies: the success and failure envelopes, written as JSON with
//! optionally shuffled key order, or as XML for a request without `format=json`.

use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Map, Number, Value};

use super::shop::Page;

/// How a body is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Json,
    /// What the gateway answers when `format` is absent or `xml`.
    Xml,
}

/// `{"response":{"flag":"failure","code":N,"message":…,"request_id":…}}`.
pub(crate) fn failure(code: i64, message: &str, request_id: &str) -> Value {
    let mut response = Map::new();
    response.insert("flag".into(), "failure".into());
    response.insert("code".into(), Value::Number(Number::from(code)));
    response.insert("message".into(), message.into());
    response.insert("request_id".into(), request_id.into());
    wrap(response)
}

/// TOP's own error shape: `{"error_response":{"code":N,"msg":…,"request_id":…}}`.
pub(crate) fn top_error(code: i64, message: &str, request_id: &str) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), Value::Number(Number::from(code)));
    error.insert("msg".into(), message.into());
    error.insert("request_id".into(), request_id.into());
    let mut body = Map::new();
    body.insert("error_response".into(), Value::Object(error));
    Value::Object(body)
}

/// The success envelope for a page. With `is_get_total=false` the counts are 0.
pub(crate) fn success(
    page: Page,
    page_index: u32,
    page_size: u32,
    is_get_total: bool,
    paging_under_data: bool,
    request_id: &str,
) -> Value {
    let (data_count, page_count) = if is_get_total {
        (
            page.data_count,
            page.data_count.div_ceil(u64::from(page_size)),
        )
    } else {
        (0, 0)
    };
    let mut paging = Map::new();
    paging.insert("page_size".into(), Value::Number(Number::from(page_size)));
    paging.insert("page_index".into(), Value::Number(Number::from(page_index)));
    paging.insert("data_count".into(), Value::Number(Number::from(data_count)));
    paging.insert("page_count".into(), Value::Number(Number::from(page_count)));
    paging.insert("has_next".into(), Value::Bool(page.has_next));
    paging.insert("orders".into(), Value::Array(page.orders));

    let mut response = Map::new();
    response.insert("flag".into(), "success".into());
    response.insert("code".into(), Value::Number(Number::from(0)));
    response.insert("message".into(), "".into());
    response.insert("request_id".into(), request_id.into());
    if paging_under_data {
        response.insert("data".into(), Value::Object(paging));
    } else {
        response.extend(paging);
    }
    wrap(response)
}

fn wrap(response: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("response".into(), Value::Object(response));
    Value::Object(body)
}

/// Writes `value` in `format`; with `shuffle` set, every JSON object's keys come in a random order.
pub(crate) fn render(value: &Value, format: BodyFormat, shuffle: Option<&mut impl Rng>) -> String {
    let mut out = String::new();
    match format {
        BodyFormat::Json => write_json(value, shuffle, &mut out),
        BodyFormat::Xml => {
            out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>");
            let Value::Object(body) = value else {
                unreachable!("envelopes are objects")
            };
            for (name, inner) in body {
                write_xml_element(name, inner, &mut out);
            }
        }
    }
    out
}

fn write_json<R: Rng>(value: &Value, mut shuffle: Option<&mut R>, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if let Some(rng) = shuffle.as_deref_mut() {
                entries.shuffle(rng);
            }
            out.push('{');
            for (position, (key, inner)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("a string serializes"));
                out.push(':');
                write_json(inner, shuffle.as_deref_mut(), out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, inner) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_json(inner, shuffle.as_deref_mut(), out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("a scalar serializes")),
    }
}

/// Objects become nested elements, arrays repeat the element, scalars become escaped text.
fn write_xml_element(name: &str, value: &Value, out: &mut String) {
    if let Value::Array(items) = value {
        for item in items {
            write_xml_element(name.trim_end_matches('s'), item, out);
        }
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(key, inner)| write_xml_element(key, inner, out)),
        Value::String(text) => escape_xml(text, out),
        Value::Null => {}
        scalar => out.push_str(&scalar.to_string()),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn escape_xml(text: &str, out: &mut String) {
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn shuffled_json_parses_back_to_the_same_value() {
        let value = failure(25, "Invalid signature", "r1");
        let mut rng = StdRng::seed_from_u64(1);
        let text = render(&value, BodyFormat::Json, Some(&mut rng));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn a_failure_in_xml_is_not_json() {
        let text = render(
            &failure(25, "a < b", "r1"),
            BodyFormat::Xml,
            None::<&mut StdRng>,
        );
        assert!(
            text.contains("<flag>failure</flag>") && text.contains("<code>25</code>"),
            "{text}"
        );
        assert!(text.contains("<message>a &lt; b</message>"), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }
}
