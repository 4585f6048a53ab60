//! Compares what MySQL holds with the gateway's truth, column by column, independently of the
//! product's transform code: the expected value of each column is read straight from the
//! order's JSON by the rules of the user's table.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use mysql_async::prelude::Queryable;
use rust_decimal::Decimal;
use serde_json::Value;

use super::TestDb;

/// The user's `order_list_query` columns in order.
pub const ORDER_COLUMNS: &[&str] = &[
    "id",
    "order_date",
    "shop_status",
    "question_type",
    "shop_id",
    "question_desc",
    "so_id",
    "status",
    "receiver_state",
    "receiver_city",
    "receiver_district",
    "send_date",
    "plan_delivery_date",
    "creator_name",
    "buyer_tax_no",
    "invoice_type",
    "pay_amount",
    "freight",
    "buyer_message",
    "remark",
    "invoice_title",
    "is_cod",
    "type",
    "paid_amount",
    "pay_date",
    "modified",
    "order_from",
    "l_id",
    "shop_name",
    "wms_co_id",
    "logistics_company",
    "free_amount",
    "co_id",
    "pays_status",
    "pays_outer_pay_id",
    "pays_pay_date",
    "pays_amount",
    "pays_payment",
    "pays_buyer_account",
    "pays_is_order_pay",
    "pays_pay_id",
];

const MONEY: &[&str] = &[
    "pay_amount",
    "paid_amount",
    "free_amount",
    "freight",
    "pays_amount",
];
const DATES: &[&str] = &[
    "order_date",
    "send_date",
    "plan_delivery_date",
    "pay_date",
    "modified",
    "pays_pay_date",
];
const BOOLS: &[&str] = &["is_cod", "pays_is_order_pay"];
const INTS: &[&str] = &["id", "shop_id", "wms_co_id", "co_id"];

/// The payment the `pays_*` columns come from: `is_order_pay` true, else the first.
fn main_pay(order: &Value) -> Option<&Value> {
    let pays = order.get("pays")?.as_array()?;
    pays.iter()
        .find(|p| is_true(p.get("is_order_pay")))
        .or_else(|| pays.first())
}

fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "y" | "yes"
        ),
        Some(Value::Number(n)) => n.to_string() != "0",
        _ => false,
    }
}

fn source(order: &Value, column: &str) -> Option<Value> {
    if column == "id" {
        return order.get("o_id").cloned();
    }
    if let Some(field) = column.strip_prefix("pays_") {
        return main_pay(order)?.get(field).cloned();
    }
    order.get(column).cloned()
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The expected MySQL text of `column` for `order` (`None` = NULL).
pub fn expected(order: &Value, column: &str) -> Option<String> {
    let value = source(order, column)?;
    if value.is_null() {
        return None;
    }
    let text = text_of(&value);
    let typed = MONEY.contains(&column)
        || DATES.contains(&column)
        || BOOLS.contains(&column)
        || INTS.contains(&column);
    if typed && text.trim().is_empty() {
        return None;
    }
    if BOOLS.contains(&column) {
        return Some(if is_true(Some(&value)) { "1" } else { "0" }.to_owned());
    }
    Some(text)
}

fn same(column: &str, expected: &Option<String>, actual: &Option<String>) -> bool {
    match (expected, actual) {
        (None, None) => true,
        (Some(e), Some(a)) if MONEY.contains(&column) => {
            matches!((Decimal::from_str(e.trim()), Decimal::from_str(a)), (Ok(x), Ok(y)) if x == y)
        }
        (Some(e), Some(a)) => e == a,
        _ => false,
    }
}

/// Every difference between MySQL and `truth` (orders, items and pays), as readable lines.
pub async fn differences(db: &TestDb, truth: &[Value]) -> Vec<String> {
    let mut conn = db.conn().await;
    let select = ORDER_COLUMNS
        .iter()
        .map(|c| format!("CAST(`{c}` AS CHAR)"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<mysql_async::Row> = conn
        .query(format!("SELECT {select} FROM order_list_query"))
        .await
        .unwrap();
    let mut actual: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for row in rows {
        let cells: Vec<Option<String>> = (0..ORDER_COLUMNS.len())
            .map(|i| row.get::<Option<String>, _>(i).flatten())
            .collect();
        actual.insert(cells[0].clone().unwrap_or_default(), cells);
    }
    let mut problems = Vec::new();
    let mut expected_ids = BTreeSet::new();
    for order in truth {
        let o_id = text_of(order.get("o_id").expect("truth has o_id"));
        expected_ids.insert(o_id.clone());
        let Some(cells) = actual.get(&o_id) else {
            problems.push(format!("order {o_id} missing from MySQL"));
            continue;
        };
        for (i, column) in ORDER_COLUMNS.iter().enumerate() {
            let want = expected(order, column);
            if !same(column, &want, &cells[i]) {
                problems.push(format!(
                    "order {o_id} column {column}: expected {want:?}, MySQL has {:?}",
                    cells[i]
                ));
            }
        }
    }
    for o_id in actual.keys().filter(|id| !expected_ids.contains(*id)) {
        problems.push(format!("order {o_id} in MySQL but not at the gateway"));
    }

    let items: Vec<(String, String, Option<String>, Option<String>)> = conn
        .query("SELECT CAST(o_id AS CHAR), CAST(oi_id AS CHAR), CAST(qty AS CHAR), CAST(price AS CHAR) FROM order_items")
        .await
        .unwrap();
    let mut actual_items: BTreeMap<(String, String), (Option<String>, Option<String>)> =
        BTreeMap::new();
    for (o_id, oi_id, qty, price) in items {
        actual_items.insert((o_id, oi_id), (qty, price));
    }
    let mut expected_items = 0usize;
    for order in truth {
        let o_id = text_of(&order["o_id"]);
        for item in order
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            expected_items += 1;
            let key = (o_id.clone(), text_of(&item["oi_id"]));
            match actual_items.get(&key) {
                None => problems.push(format!("item {key:?} missing from MySQL")),
                Some((qty, price)) => {
                    let want_price = item.get("price").map(text_of).filter(|p| !p.is_empty());
                    if !same("pay_amount", &want_price, price) {
                        problems.push(format!(
                            "item {key:?} price: expected {want_price:?}, MySQL has {price:?}"
                        ));
                    }
                    // `qty` is a DECIMAL (the field table types it so): equal as numbers.
                    let want_qty = item.get("qty").map(text_of);
                    if !same("pay_amount", &want_qty, qty) {
                        problems.push(format!(
                            "item {key:?} qty: expected {want_qty:?}, MySQL has {qty:?}"
                        ));
                    }
                }
            }
        }
    }
    if actual_items.len() != expected_items {
        problems.push(format!(
            "order_items has {} rows, the gateway {expected_items}",
            actual_items.len()
        ));
    }

    let pays: Vec<(String, String, Option<String>)> = conn
        .query("SELECT CAST(o_id AS CHAR), pay_id, CAST(amount AS CHAR) FROM order_pays")
        .await
        .unwrap();
    let actual_pays: BTreeMap<(String, String), Option<String>> =
        pays.into_iter().map(|(o, p, a)| ((o, p), a)).collect();
    let mut expected_pays = 0usize;
    for order in truth {
        let o_id = text_of(&order["o_id"]);
        for pay in order
            .get("pays")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            expected_pays += 1;
            let key = (o_id.clone(), text_of(&pay["pay_id"]));
            let want = pay.get("amount").map(text_of).filter(|a| !a.is_empty());
            match actual_pays.get(&key) {
                None => problems.push(format!("pay {key:?} missing from MySQL")),
                Some(amount) if !same("pays_amount", &want, amount) => problems.push(format!(
                    "pay {key:?} amount: expected {want:?}, MySQL has {amount:?}"
                )),
                Some(_) => {}
            }
        }
    }
    if actual_pays.len() != expected_pays {
        problems.push(format!(
            "order_pays has {} rows, the gateway {expected_pays}",
            actual_pays.len()
        ));
    }
    problems
}

/// Asserts MySQL equals `truth`, showing the first differences.
pub async fn assert_exact(db: &TestDb, truth: &[Value]) {
    let problems = differences(db, truth).await;
    assert!(
        problems.is_empty(),
        "MySQL differs from the gateway in {} ways, first ones:\n{}",
        problems.len(),
        problems
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
