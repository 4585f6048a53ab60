//! Peak memory: pages of fat orders (25 orders × 60 items × 1,000-character names, about 1.6 MB
//! a page) go through pull, staging and push within a bounded resident size.

use jst_sync::gateway::FakeGateway;
use serde_json::{Value, json};

use crate::support::{Jst, TestDb, fast, fast_gateway, shop_gateway};

const ITEMS_PER_ORDER: usize = 60;
const NAME_CHARS: usize = 1000;
/// 20 full pages of 25.
const ORDERS: usize = 500;
/// The most a push may hold resident: 100 MB (issue 11).
const PUSH_LIMIT_BYTES: u64 = 100_000_000;
/// The most a pull may hold resident: 100 MB, as for the push (issue 11).
const PULL_LIMIT_BYTES: u64 = 100_000_000;

/// A product name of exactly `NAME_CHARS` characters, Chinese and Latin as shops write them.
fn long_name(order: usize, item: usize) -> String {
    format!("{order}-{item} 加厚羊毛双面呢大衣 double-faced wool coat ")
        .chars()
        .cycle()
        .take(NAME_CHARS)
        .collect()
}

/// Gives every order of the shop `ITEMS_PER_ORDER` items with long names.
fn fatten(gateway: &FakeGateway) {
    let shop = gateway.shop();
    let mut shop = shop.lock().unwrap();
    for (n, o_id) in shop.o_ids().into_iter().enumerate() {
        let order = shop.get(&o_id).unwrap();
        let template = order["items"]
            .as_array()
            .and_then(|items| items.first().cloned())
            .unwrap_or_else(|| json!({"sku_id": "SKU", "qty": 1, "price": "1.00"}));
        let items: Vec<Value> = (0..ITEMS_PER_ORDER)
            .map(|i| {
                let mut item = template.clone();
                item["oi_id"] = json!(10_000_000 + i as i64);
                item["name"] = json!(long_name(n, i));
                item
            })
            .collect();
        assert!(shop.set_field(&o_id, "items", Value::Array(items)));
    }
}

/// `VmHWM` (the peak resident size of the process's memory since its `exec`) of `pid`, in
/// bytes; `None` once the process has exited.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Runs `jst` to completion; returns its exit code and peak resident size in bytes, read from
/// the kernel's high-water mark while it runs. (Not `wait4`'s `ru_maxrss`: Linux carries the
/// parent's size at fork into it, and this test process holds the fat shop.)
async fn peak_resident_bytes(jst: Jst) -> (Option<i32>, u64) {
    let mut child = jst
        .command()
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut peak = 0;
    loop {
        if let Some(mark) = high_water_mark(pid) {
            peak = peak.max(mark);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), peak);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_fat_orders_pull_and_push_within_100_mb_resident() {
    let (gateway, since) = shop_gateway(fast_gateway(), 95, ORDERS);
    fatten(&gateway);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    // The shipped window concurrency (2), not the tests' usual 4.
    let run = |args: &[&str]| {
        fast(Jst::new(args))
            .against(&gateway, &db.url(), &staging)
            .env("JST_WINDOW_CONCURRENCY", "2")
    };

    let (code, pull_peak) = peak_resident_bytes(run(&["pull", "--since", &since])).await;
    assert_eq!(code, Some(0), "the pull succeeds");
    let (code, push_peak) = peak_resident_bytes(run(&["push"])).await;
    assert_eq!(code, Some(0), "the push succeeds");

    assert_eq!(db.count("order_list_query").await, ORDERS as u64);
    assert_eq!(
        db.count("order_items").await,
        (ORDERS * ITEMS_PER_ORDER) as u64
    );
    let mb = |bytes: u64| bytes as f64 / 1e6;
    eprintln!(
        "peak resident size with fat orders: pull {:.1} MB, push {:.1} MB",
        mb(pull_peak),
        mb(push_peak)
    );
    assert!(
        push_peak <= PUSH_LIMIT_BYTES,
        "the push peaked at {:.1} MB",
        mb(push_peak)
    );
    assert!(
        pull_peak <= PULL_LIMIT_BYTES,
        "the pull peaked at {:.1} MB",
        mb(pull_peak)
    );
    db.drop().await;
}
