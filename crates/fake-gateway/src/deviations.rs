//! The real route's untidy habits, applied to answers when [`Deviations`] asks for them: a
//! success without its order list or with the list under another key, raw control characters
//! and lone surrogate escapes in free-text values.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

use super::config::Deviations;

/// Free-text fields that carry raw control characters on the real route.
const FREE_TEXT_FIELDS: [&str; 2] = ["remark", "buyer_message"];

/// Changes a success envelope before it is written.
pub(crate) fn untidy_success(envelope: &mut Value, deviations: &Deviations, rng: &mut StdRng) {
    let Some(response) = envelope.get_mut("response") else {
        return;
    };
    let response = match response.get_mut("data") {
        Some(data) if data.is_object() => data,
        _ => response,
    };
    let Some(response) = response.as_object_mut() else {
        return;
    };
    if rng.random_bool(deviations.missing_list_probability.clamp(0.0, 1.0)) {
        response.remove("orders");
        return;
    }
    if let Some(key) = &deviations.order_list_key
        && let Some(orders) = response.remove("orders")
    {
        response.insert(key.clone(), orders);
    }
}

/// Changes a written success body: raw U+000B/U+001F at the start of free-text values, or a
/// lone surrogate escape before a remark.
pub(crate) fn untidy_text(text: String, deviations: &Deviations, rng: &mut StdRng) -> String {
    let mut text = text;
    if rng.random_bool(deviations.control_chars_probability.clamp(0.0, 1.0)) {
        for field in FREE_TEXT_FIELDS {
            text = text.replace(
                &format!("\"{field}\":\""),
                &format!("\"{field}\":\"\u{0b}\u{1f}"),
            );
        }
    }
    if rng.random_bool(deviations.lone_surrogate_probability.clamp(0.0, 1.0)) {
        text = text.replace("\"remark\":\"", "\"remark\":\"\\ud800");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn always() -> Deviations {
        Deviations {
            control_chars_probability: 1.0,
            lone_surrogate_probability: 1.0,
            ..Deviations::default()
        }
    }

    #[test]
    fn free_text_gets_raw_control_characters_and_a_lone_surrogate() {
        let mut rng = StdRng::seed_from_u64(1);
        let text = untidy_text(
            r#"{"remark":"hi","buyer_message":"x"}"#.into(),
            &always(),
            &mut rng,
        );
        assert_eq!(
            text,
            "{\"remark\":\"\\ud800\u{0b}\u{1f}hi\",\"buyer_message\":\"\u{0b}\u{1f}x\"}"
        );
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "a strict parser refuses it"
        );
    }

    #[test]
    fn the_order_list_can_go_missing_or_move() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut envelope = json!({"response": {"data_count": 1, "orders": [{"o_id": "1"}]}});
        let moved = Deviations {
            order_list_key: Some("datas".into()),
            ..Deviations::default()
        };
        untidy_success(&mut envelope, &moved, &mut rng);
        assert!(envelope["response"]["datas"].is_array());
        let missing = Deviations {
            missing_list_probability: 1.0,
            ..Deviations::default()
        };
        untidy_success(&mut envelope, &missing, &mut rng);
        assert!(envelope["response"].get("datas").is_some());
        let mut envelope = json!({"response": {"data_count": 1, "orders": []}});
        untidy_success(&mut envelope, &missing, &mut rng);
        assert!(envelope["response"].get("orders").is_none());
    }
}
