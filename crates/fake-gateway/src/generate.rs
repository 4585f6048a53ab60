//! Deterministic, realistic Qimen-style orders: what a generated shop is filled with, and how an
//! order changes when it is modified.
//!
//! Shaped like the gateway's answers: `o_id` a numeric string, most money as strings
//! (`"227.00"`), some numbers as JSON numbers, empty discounts as `""`, `is_gift` a string,
//! Beijing time strings, Chinese text with the odd 4-byte emoji, and personal receiver data.

use chrono::{Duration, NaiveDateTime};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Number, Value};

/// Every status the gateway knows (`status`, `not_status`).
pub const STATUSES: [&str; 10] = [
    "WaitPay",
    "Delivering",
    "Merged",
    "Question",
    "Split",
    "WaitOuterSent",
    "WaitConfirm",
    "WaitFConfirm",
    "Sent",
    "Cancelled",
];

const SHOPS: [(i64, &str); 4] = [
    (10_012_345, "天猫旗舰店"),
    (10_012_346, "京东自营店"),
    (10_012_347, "抖音小店🎵"),
    (10_012_348, "拼多多专营店"),
];
const CO_ID: i64 = 10_969_016;
const WMS_CO_IDS: [i64; 2] = [10_969_016, 11_205_377];
const TYPES: [&str; 5] = ["普通订单", "补发订单", "换货订单", "分销Plus", "供销Plus"];
const ORDER_FROM: [&str; 4] = ["WAP,WAP", "淘宝,淘宝", "京东", "抖音"];
const PLACES: [(&str, &str, &str); 6] = [
    ("浙江省", "杭州市", "西湖区"),
    ("广东省", "深圳市", "南山区"),
    ("上海", "上海市", "浦东新区"),
    ("北京", "北京市", "朝阳区"),
    ("四川省", "成都市", "武侯区"),
    ("新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
];
const STREETS: [&str; 5] = ["文三路", "科技园南路", "张江路", "建国路", "人民南路"];
const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "欧阳", "𠮷"];
const GIVEN_NAMES: [&str; 6] = ["伟", "芳", "娜", "小明", "秀英", "子涵"];
const LOGISTICS: [(&str, &str, &str); 4] = [
    ("SF", "顺丰速运", "SF"),
    ("YTO", "圆通速递", "YT"),
    ("ZTO", "中通快递", "ZT"),
    ("JD", "京东物流", "JDV"),
];
const PRODUCTS: [(&str, &str, i64); 6] = [
    ("T001", "纯棉短袖T恤", 9_900),
    ("K002", "休闲牛仔裤", 19_900),
    ("S003", "运动跑鞋", 35_900),
    ("B004", "帆布双肩包", 12_800),
    ("C005", "保温杯 500ml", 6_900),
    ("H006", "羊毛围巾🧣", 15_800),
];
const COLOURS: [&str; 4] = ["红色", "黑色", "白色", "雾霾蓝"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];
const BUYER_MESSAGES: [&str; 5] = [
    "请尽快发货，谢谢！",
    "不要放快递柜",
    "送人的，别放价格单🎁",
    "周末送货 😀",
    "",
];
const REMARKS: [&str; 5] = [
    "客服已确认地址",
    "改发顺丰",
    "补差价 5 元 💰",
    "VIP 客户 ⭐",
    "缺货等待",
];
const PAYMENTS: [&str; 4] = ["支付宝", "微信支付", "银行转账", "花呗分期"];
const CREATORS: [&str; 3] = ["系统", "客服小美", "admin"];
const QUESTIONS: [(&str, &str); 3] = [
    ("缺货", "商品库存不足"),
    ("地址不详", "收货地址缺少门牌号"),
    ("特殊单", "买家要求开专票"),
];

/// A JSON number written exactly as `text` (serde_json keeps the text with
/// `arbitrary_precision`).
fn number(text: &str) -> Value {
    Value::Number(
        text.parse::<Number>()
            .expect("generator numbers are valid JSON numbers"),
    )
}

fn integer(value: i64) -> Value {
    Value::Number(Number::from(value))
}

fn text(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

/// Money in cents as the gateway writes it: `"227.00"`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// `yyyy-MM-dd HH:mm:ss`, written by hand: chrono's general formatter dominates generation time.
fn time(at: NaiveDateTime) -> Value {
    use chrono::{Datelike, Timelike};
    text(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    items
        .choose(rng)
        .expect("the generator's tables are not empty")
}

/// A status, weighted like a real shop: mostly sent, some in progress, a few odd ones.
fn random_status(rng: &mut impl Rng) -> &'static str {
    match rng.random_range(0..100) {
        0..55 => "Sent",
        55..65 => "WaitConfirm",
        65..73 => "Delivering",
        73..79 => "WaitPay",
        79..85 => "Cancelled",
        85..89 => "Question",
        89..92 => "WaitFConfirm",
        92..95 => "WaitOuterSent",
        95..98 => "Split",
        _ => "Merged",
    }
}

fn shop_status_for(status: &str) -> &'static str {
    match status {
        "WaitPay" => "WAIT_BUYER_PAY",
        "Sent" => "WAIT_BUYER_CONFIRM_GOODS",
        "Cancelled" => "TRADE_CLOSED",
        _ => "WAIT_SELLER_SEND_GOODS",
    }
}

/// A new order with internal id `o_id`, last modified at `modified`, row version `ts`.
pub fn new_order(
    rng: &mut impl Rng,
    o_id: u64,
    modified: NaiveDateTime,
    ts: u64,
) -> Map<String, Value> {
    let status = random_status(rng);
    let order_date = modified - Duration::seconds(rng.random_range(0..3 * 24 * 3600));
    let created = order_date + Duration::seconds(rng.random_range(0..5));
    let paid = status != "WaitPay";
    let pay_date =
        order_date + Duration::seconds(rng.random_range(5..1800)).min(modified - order_date);
    let (shop_id, shop_name) = *pick(rng, &SHOPS);
    let (state, city, district) = *pick(rng, &PLACES);

    let mut order = Map::new();
    order.insert("o_id".into(), text(o_id.to_string()));
    order.insert(
        "so_id".into(),
        text(
            rng.random_range(3_000_000_000_000_000_000u64..3_999_999_999_999_999_999)
                .to_string(),
        ),
    );
    order.insert("shop_id".into(), integer(shop_id));
    order.insert("shop_name".into(), text(shop_name));
    order.insert("co_id".into(), integer(CO_ID));
    order.insert("wms_co_id".into(), integer(*pick(rng, &WMS_CO_IDS)));
    order.insert("status".into(), text(status));
    order.insert("shop_status".into(), text(shop_status_for(status)));
    let order_type = if rng.random_bool(0.8) {
        TYPES[0]
    } else {
        *pick(rng, &TYPES)
    };
    order.insert("type".into(), text(order_type));
    order.insert("order_from".into(), text(*pick(rng, &ORDER_FROM)));
    let (question_type, question_desc) = if status == "Question" {
        *pick(rng, &QUESTIONS)
    } else {
        ("", "")
    };
    order.insert("question_type".into(), text(question_type));
    order.insert("question_desc".into(), text(question_desc));
    order.insert("order_date".into(), time(order_date));
    order.insert("created".into(), time(created));
    order.insert("modified".into(), time(modified));
    order.insert(
        "pay_date".into(),
        if paid { time(pay_date) } else { text("") },
    );
    order.insert(
        "plan_delivery_date".into(),
        time(order_date + Duration::hours(48)),
    );

    let items = random_items(rng, status);
    let goods_cents: i64 = items.iter().map(|(_, cents)| cents).sum();
    let freight_cents = *pick(rng, &[0, 0, 0, 600, 1_000]);
    let free_cents = if rng.random_bool(0.3) {
        goods_cents / 10
    } else {
        0
    };
    let pay_cents = goods_cents + freight_cents - free_cents;
    order.insert("pay_amount".into(), text(money(pay_cents)));
    order.insert(
        "paid_amount".into(),
        text(money(if paid { pay_cents } else { 0 })),
    );
    // An empty discount is sometimes "", sometimes "0.00", as Qimen does.
    let free_amount = match (free_cents, rng.random_bool(0.5)) {
        (0, true) => String::new(),
        (cents, _) => money(cents),
    };
    order.insert("free_amount".into(), text(free_amount));
    // Freight is one of the fields sent as a JSON number.
    order.insert("freight".into(), number(&money(freight_cents)));

    order.insert("receiver_state".into(), text(state));
    order.insert("receiver_city".into(), text(city));
    order.insert("receiver_district".into(), text(district));
    let building = rng.random_range(1..30);
    let room = rng.random_range(101..2_999);
    let emoji = if rng.random_bool(0.1) { " 🏠" } else { "" };
    order.insert(
        "receiver_address".into(),
        text(format!(
            "{state}{city}{district}{}{building}号{room}室{emoji}",
            pick(rng, &STREETS)
        )),
    );
    order.insert(
        "receiver_name".into(),
        text(format!(
            "{}{}",
            pick(rng, &SURNAMES),
            pick(rng, &GIVEN_NAMES)
        )),
    );
    let mobile = format!(
        "1{}{:08}",
        rng.random_range(30..90),
        rng.random_range(0..100_000_000)
    );
    order.insert("receiver_mobile".into(), text(mobile));
    order.insert("buyer_message".into(), text(*pick(rng, &BUYER_MESSAGES)));
    order.insert(
        "remark".into(),
        text(if rng.random_bool(0.3) {
            *pick(rng, &REMARKS)
        } else {
            ""
        }),
    );
    let (invoice_type, invoice_title, tax_no) = if rng.random_bool(0.2) {
        ("电子普通发票", "杭州某某科技有限公司", "91330106MA2XXXXX1X")
    } else {
        ("", "", "")
    };
    order.insert("invoice_type".into(), text(invoice_type));
    order.insert("invoice_title".into(), text(invoice_title));
    order.insert("buyer_tax_no".into(), text(tax_no));
    order.insert("creator_name".into(), text(*pick(rng, &CREATORS)));
    order.insert("is_cod".into(), Value::Bool(rng.random_bool(0.02)));
    order.insert("is_split".into(), Value::Bool(status == "Split"));
    order.insert("is_merge".into(), Value::Bool(status == "Merged"));
    order.insert("ts".into(), integer(ts as i64));
    order.insert("l_id".into(), text(""));
    order.insert("lc_id".into(), text(""));
    order.insert("logistics_company".into(), text(""));
    if status == "Sent" {
        let sent_at = pay_date
            + Duration::seconds(rng.random_range(0..=(modified - pay_date).num_seconds().max(0)));
        mark_sent(rng, &mut order, sent_at);
    } else if rng.random_bool(0.5) {
        // Unsent orders have no send date: sometimes absent, sometimes empty.
        order.insert("send_date".into(), text(""));
    }

    let item_values: Vec<Value> = items
        .into_iter()
        .map(|(item, _)| Value::Object(item))
        .collect();
    order.insert("items".into(), Value::Array(item_values));
    order.insert(
        "pays".into(),
        Value::Array(random_pays(rng, paid, pay_date, pay_cents)),
    );
    order
}

fn mark_sent(rng: &mut impl Rng, order: &mut Map<String, Value>, sent_at: NaiveDateTime) {
    let (lc_id, company, prefix) = *pick(rng, &LOGISTICS);
    order.insert("send_date".into(), time(sent_at));
    order.insert(
        "l_id".into(),
        text(format!(
            "{prefix}{}",
            rng.random_range(1_000_000_000_000u64..9_999_999_999_999)
        )),
    );
    order.insert("lc_id".into(), text(lc_id));
    order.insert("logistics_company".into(), text(company));
}

/// One to four items, each with its amount in cents.
fn random_items(rng: &mut impl Rng, status: &str) -> Vec<(Map<String, Value>, i64)> {
    let count = rng.random_range(1..=4);
    (0..count)
        .map(|_| {
            let (i_id, name, base_cents) = *pick(rng, &PRODUCTS);
            let colour = *pick(rng, &COLOURS);
            let size = *pick(rng, &SIZES);
            let is_gift = rng.random_bool(0.05);
            let price_cents = if is_gift {
                0
            } else {
                base_cents - rng.random_range(0..=base_cents / 5)
            };
            let qty = rng.random_range(1..=3);
            let sku_id = format!("{i_id}-{colour}-{size}");
            let mut item = Map::new();
            item.insert(
                "oi_id".into(),
                integer(rng.random_range(10_000_000..99_999_999)),
            );
            item.insert(
                "outer_oi_id".into(),
                text(
                    rng.random_range(1_000_000_000_000u64..9_999_999_999_999)
                        .to_string(),
                ),
            );
            item.insert("sku_id".into(), text(sku_id.clone()));
            item.insert(
                "shop_sku_id".into(),
                text(
                    rng.random_range(4_000_000_000u64..5_000_000_000)
                        .to_string(),
                ),
            );
            item.insert("i_id".into(), text(i_id));
            item.insert("name".into(), text(name));
            item.insert(
                "properties_value".into(),
                text(format!("颜色:{colour};尺码:{size}")),
            );
            item.insert("qty".into(), integer(qty));
            item.insert("price".into(), text(money(price_cents)));
            item.insert("base_price".into(), text(money(base_cents)));
            item.insert("amount".into(), text(money(price_cents * qty)));
            item.insert(
                "is_gift".into(),
                text(if is_gift { "true" } else { "false" }),
            );
            item.insert("sku_type".into(), text("normal"));
            item.insert(
                "refund_status".into(),
                text(if status == "Cancelled" {
                    "success"
                } else {
                    "none"
                }),
            );
            item.insert("item_status".into(), text(status));
            (item, price_cents * qty)
        })
        .collect()
}

/// One or two payments; usually exactly one is the order's main payment, sometimes none is.
fn random_pays(
    rng: &mut impl Rng,
    paid: bool,
    pay_date: NaiveDateTime,
    pay_cents: i64,
) -> Vec<Value> {
    let count = if rng.random_bool(0.15) { 2 } else { 1 };
    let main_payment = if rng.random_bool(0.95) {
        Some(rng.random_range(0..count))
    } else {
        None
    };
    (0..count)
        .map(|index| {
            let mut pay = Map::new();
            pay.insert(
                "pay_id".into(),
                text(rng.random_range(10_000_000u64..99_999_999).to_string()),
            );
            pay.insert(
                "outer_pay_id".into(),
                text(format!(
                    "2024{:016}",
                    rng.random_range(0..10_000_000_000_000_000u64)
                )),
            );
            pay.insert("pay_date".into(), time(pay_date));
            let cents = if count == 1 {
                pay_cents
            } else if index == 0 {
                pay_cents - pay_cents / 3
            } else {
                pay_cents / 3
            };
            pay.insert("amount".into(), text(money(cents)));
            pay.insert("payment".into(), text(*pick(rng, &PAYMENTS)));
            pay.insert(
                "buyer_account".into(),
                text(format!("tb{}***", rng.random_range(1_000..9_999))),
            );
            pay.insert(
                "is_order_pay".into(),
                Value::Bool(main_payment == Some(index)),
            );
            pay.insert(
                "status".into(),
                text(if paid { "Confirmed" } else { "WaitConfirm" }),
            );
            Value::Object(pay)
        })
        .collect()
}

/// Changes a few fields of `order` (status, remark, amounts, logistics) as a shop would, and
/// stamps it `modified = at`, `ts = ts`.
pub fn change_order(
    rng: &mut impl Rng,
    order: &mut Map<String, Value>,
    at: NaiveDateTime,
    ts: u64,
) {
    let status = order
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let next_status = match status.as_str() {
        "WaitPay" => Some("WaitConfirm"),
        "WaitConfirm" | "WaitFConfirm" | "Question" => Some("Delivering"),
        "Delivering" | "WaitOuterSent" => Some("Sent"),
        _ => None,
    };
    match next_status {
        Some(next) if rng.random_bool(0.6) => {
            order.insert("status".into(), text(next));
            order.insert("shop_status".into(), text(shop_status_for(next)));
            if next == "Sent" {
                mark_sent(rng, order, at);
            }
            if status == "WaitPay" {
                order.insert("pay_date".into(), time(at));
                if let Some(pay_amount) = order.get("pay_amount").cloned() {
                    order.insert("paid_amount".into(), pay_amount);
                }
            }
        }
        _ => {
            let remark = format!("{} #{}", pick(rng, &REMARKS), rng.random_range(1..1_000));
            order.insert("remark".into(), text(remark));
        }
    }
    if rng.random_bool(0.3) {
        // A price adjustment by customer service.
        let discount = rng.random_range(100..2_000);
        order.insert("free_amount".into(), text(money(discount)));
        let pay_cents = order
            .get("pay_amount")
            .and_then(Value::as_str)
            .and_then(parse_cents)
            .unwrap_or(0);
        order.insert(
            "pay_amount".into(),
            text(money((pay_cents - discount).max(0))),
        );
    }
    order.insert("modified".into(), time(at));
    order.insert("ts".into(), integer(ts as i64));
}

fn parse_cents(money: &str) -> Option<i64> {
    let (whole, fraction) = money.split_once('.').unwrap_or((money, "0"));
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").get(..2)?.parse().ok()?;
    Some(whole * 100 + if whole < 0 { -fraction } else { fraction })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beijing_time;

    #[test]
    fn times_are_written_in_the_gateway_format() {
        let at = beijing_time::parse("2024-05-01 08:09:10").unwrap();
        assert_eq!(time(at), text(beijing_time::format(at)));
    }

    #[test]
    fn money_is_written_with_two_decimals() {
        assert_eq!(money(22_700), "227.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(parse_cents("227.5"), Some(22_750));
        assert_eq!(parse_cents("227.00"), Some(22_700));
    }
}
