//! Which orders the mapping leaves out of MySQL (e.g. cancelled ones).

use serde_json::Value;

/// Orders matching any rule are skipped: not written, and removed from MySQL if present (when
/// their next version is pushed, or on `replay`), so MySQL holds exactly the orders the mapping
/// selects. Staging keeps them: removing the rule and replaying brings them back.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Skip orders whose `status` is one of these (e.g. `["Cancelled"]`).
    #[serde(default)]
    pub skip_status: Vec<String>,
    /// Skip orders of these shops.
    #[serde(default)]
    pub skip_shop_ids: Vec<i64>,
}

impl Filter {
    /// Why the order is skipped, or `None` when it is kept.
    pub fn skip_reason(&self, order: &Value) -> Option<String> {
        if let Some(status) = order.get("status").and_then(Value::as_str)
            && self.skip_status.iter().any(|s| s == status)
        {
            return Some(format!("status `{status}` is filtered out"));
        }
        let shop_id = match order.get("shop_id") {
            Some(Value::Number(n)) => n.as_str().parse::<i64>().ok(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if let Some(shop_id) = shop_id
            && self.skip_shop_ids.contains(&shop_id)
        {
            return Some(format!("shop {shop_id} is filtered out"));
        }
        None
    }
}
