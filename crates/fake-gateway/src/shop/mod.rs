//! The fake merchant's orders: every version of every order, which version queries see now
//! (late visibility), sorted indexes for paging, and the mutations tests and churn apply.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::generate;
mod query;

pub(crate) use query::Page;

use super::sorted_index::SortedIndex;
use crate::beijing_time;

/// A shop shared between a running gateway and the test that drives it.
pub type SharedShop = Arc<Mutex<Shop>>;

/// The first internal order id handed out.
const FIRST_O_ID: u64 = 20_000_001;
/// Row versions start high, beyond 32 bits, as a long-lived Jushuitan account's do.
const FIRST_TS: u64 = 5_000_000_001;

/// The orders of one merchant, generated deterministically from a seed.
///
/// Every change is stamped with a new `ts` (a global row version) and becomes visible to
/// queries [`visibility_lag`](Self::visibility_lag) after it was made; until then queries see
/// the previous version (or nothing, for a new order). Generating 100k orders takes a few
/// seconds in a release build; a page is answered in O(log n + page) without row filters.
pub struct Shop {
    rng: StdRng,
    next_o_id: u64,
    next_ts: u64,
    /// Every order id, in creation order (for deterministic random picks).
    o_ids: Vec<u64>,
    records: HashMap<u64, OrderRecord>,
    indexes: Indexes,
    /// When pending versions become visible: `(visible_at, o_id)`, earliest first.
    pending: BinaryHeap<Reverse<(Instant, u64)>>,
    visibility_lag: Duration,
    archived_count: usize,
}

/// A summary: the orders themselves are too many (and hold personal data) to print.
impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("orders", &self.records.len())
            .field("pending_changes", &self.pending.len())
            .field("max_ts", &self.max_ts())
            .field("visibility_lag", &self.visibility_lag)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct OrderRecord {
    visible: Option<Version>,
    /// Versions not yet visible, oldest first.
    pending: Vec<(Instant, Version)>,
    archived: bool,
}

impl OrderRecord {
    fn latest(&self) -> Option<&Version> {
        self.pending
            .last()
            .map(|(_, version)| version)
            .or(self.visible.as_ref())
    }
}

/// One version of an order: its JSON as served, and the values queries select and sort on.
#[derive(Clone, Debug)]
struct Version {
    json: Box<str>,
    keys: RowKeys,
}

impl Version {
    fn new(order: &Map<String, Value>, previous: Option<&RowKeys>) -> Self {
        let json = serde_json::to_string(order)
            .expect("a JSON map serializes")
            .into_boxed_str();
        Self {
            json,
            keys: RowKeys::read(order, previous),
        }
    }

    fn order(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).expect("stored orders are valid JSON objects")
    }
}

/// What a query selects and sorts an order by. Read from the order's fields; a field a test
/// has poisoned (unparseable, missing) keeps the previous value, as the database column behind
/// the API would.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RowKeys {
    modified: NaiveDateTime,
    order_date: NaiveDateTime,
    send_date: Option<NaiveDateTime>,
    ts: u64,
    status: String,
    shop_id: Option<i64>,
    wms_co_id: Option<i64>,
    so_id: String,
}

impl RowKeys {
    fn read(order: &Map<String, Value>, previous: Option<&RowKeys>) -> Self {
        let text = |name: &str| order.get(name).and_then(Value::as_str);
        let time = |name: &str| text(name).and_then(beijing_time::parse);
        let integer = |name: &str| {
            order.get(name).and_then(|value| match value {
                Value::Number(number) => number.as_i64(),
                Value::String(text) => text.trim().parse().ok(),
                _ => None,
            })
        };
        let send_date = match text("send_date") {
            None | Some("") => None,
            Some(value) => beijing_time::parse(value).or(previous.and_then(|p| p.send_date)),
        };
        Self {
            modified: time("modified")
                .or(previous.map(|p| p.modified))
                .unwrap_or_default(),
            order_date: time("order_date")
                .or(previous.map(|p| p.order_date))
                .unwrap_or_default(),
            send_date,
            ts: integer("ts")
                .and_then(|ts| u64::try_from(ts).ok())
                .or(previous.map(|p| p.ts))
                .unwrap_or_default(),
            status: text("status").unwrap_or_default().to_owned(),
            shop_id: integer("shop_id"),
            wms_co_id: integer("wms_co_id"),
            so_id: text("so_id").unwrap_or_default().to_owned(),
        }
    }
}

/// The sort orders a query can page in, over the visible versions.
#[derive(Debug, Default)]
struct Indexes {
    by_modified: SortedIndex<NaiveDateTime>,
    by_order_date: SortedIndex<NaiveDateTime>,
    by_send_date: SortedIndex<NaiveDateTime>,
    by_ts: SortedIndex<u64>,
}

impl Indexes {
    /// Replaces the visible keys of orders: `(o_id, old keys, new keys)`.
    fn replace(&mut self, changes: &[(u64, Option<RowKeys>, RowKeys)]) {
        type Entries<K> = Vec<(K, u64)>;
        fn entries<K>(
            changes: &[(u64, Option<RowKeys>, RowKeys)],
            key: impl Fn(&RowKeys) -> Option<K>,
        ) -> (Entries<K>, Entries<K>) {
            let removals = changes
                .iter()
                .filter_map(|(o_id, old, _)| old.as_ref().and_then(&key).map(|k| (k, *o_id)))
                .collect();
            let insertions = changes
                .iter()
                .filter_map(|(o_id, _, new)| key(new).map(|k| (k, *o_id)))
                .collect();
            (removals, insertions)
        }
        let (removals, insertions) = entries(changes, |keys| Some(keys.modified));
        self.by_modified.apply(&removals, &insertions);
        let (removals, insertions) = entries(changes, |keys| Some(keys.order_date));
        self.by_order_date.apply(&removals, &insertions);
        let (removals, insertions) = entries(changes, |keys| keys.send_date);
        self.by_send_date.apply(&removals, &insertions);
        let (removals, insertions) = entries(changes, |keys| Some(keys.ts));
        self.by_ts.apply(&removals, &insertions);
    }
}

impl Shop {
    /// `count` orders with `modified` spread over `[from, to]`, the same for the same arguments.
    /// Their `ts` grows with `modified`; all are visible at once.
    pub fn generate(seed: u64, count: usize, from: NaiveDateTime, to: NaiveDateTime) -> Shop {
        assert!(
            from <= to,
            "the generated orders' range starts before it ends"
        );
        let mut shop = Shop::empty(seed);
        let span = (to - from).num_seconds();
        let mut times: Vec<NaiveDateTime> = (0..count)
            .map(|_| from + chrono::Duration::seconds(shop.rng.random_range(0..=span)))
            .collect();
        times.sort_unstable();
        // In chunks, so the orders' maps never all live at once.
        for chunk in times.chunks(4_096) {
            let orders = chunk
                .iter()
                .map(|&modified| {
                    let (o_id, ts) = (shop.take_o_id(), shop.take_ts());
                    (o_id, generate::new_order(&mut shop.rng, o_id, modified, ts))
                })
                .collect();
            shop.commit(orders, Duration::ZERO);
        }
        shop
    }

    /// A shop with no orders.
    pub fn empty(seed: u64) -> Shop {
        Shop {
            rng: StdRng::seed_from_u64(seed),
            next_o_id: FIRST_O_ID,
            next_ts: FIRST_TS,
            o_ids: Vec::new(),
            records: HashMap::new(),
            indexes: Indexes::default(),
            pending: BinaryHeap::new(),
            visibility_lag: Duration::ZERO,
            archived_count: 0,
        }
    }

    /// How many orders exist, including new ones not yet visible.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every order id (as the API writes it), in creation order.
    pub fn o_ids(&self) -> Vec<String> {
        self.o_ids.iter().map(u64::to_string).collect()
    }

    /// The largest `ts` handed out so far (including changes not yet visible).
    pub fn max_ts(&self) -> u64 {
        self.next_ts - 1
    }

    pub fn visibility_lag(&self) -> Duration {
        self.visibility_lag
    }

    /// Changes made from now on become visible `lag` after they are made.
    pub fn set_visibility_lag(&mut self, lag: Duration) {
        self.visibility_lag = lag;
    }

    /// The latest version of an order, visible or not yet.
    pub fn get(&self, o_id: &str) -> Option<Value> {
        let record = self.records.get(&parse_o_id(o_id)?)?;
        record
            .latest()
            .map(|version| Value::Object(version.order()))
    }

    /// The order as a query would show it now (`None` while a new order is not yet visible).
    pub fn get_visible(&mut self, o_id: &str) -> Option<Value> {
        self.refresh(Instant::now());
        let record = self.records.get(&parse_o_id(o_id)?)?;
        record
            .visible
            .as_ref()
            .map(|version| Value::Object(version.order()))
    }

    /// Every order as queries would show it now, archived ones included, by `modified` then
    /// `o_id`: the truth a complete sync should end up with.
    pub fn visible_orders(&mut self) -> Vec<Value> {
        self.refresh(Instant::now());
        self.indexes
            .by_modified
            .range(None, None)
            .iter()
            .filter_map(|(_, o_id)| self.records[o_id].visible.as_ref())
            .map(|version| Value::Object(version.order()))
            .collect()
    }

    /// Changes a few fields of an order (status, remark, amounts…) as the shop would, with
    /// `modified = at` and a new `ts`. False if there is no such order.
    pub fn modify(&mut self, o_id: &str, at: NaiveDateTime) -> bool {
        let Some(o_id) = parse_o_id(o_id).filter(|id| self.records.contains_key(id)) else {
            return false;
        };
        let changed = self.changed_order(o_id, at);
        self.commit(vec![(o_id, changed)], self.visibility_lag);
        true
    }

    /// Modifies `n` distinct random orders (all of them if there are fewer) and returns their ids.
    pub fn modify_random(&mut self, n: usize, at: NaiveDateTime) -> Vec<String> {
        let picked =
            rand::seq::index::sample(&mut self.rng, self.o_ids.len(), n.min(self.o_ids.len()));
        let o_ids: Vec<u64> = picked.iter().map(|index| self.o_ids[index]).collect();
        let changes = o_ids
            .iter()
            .map(|&o_id| (o_id, self.changed_order(o_id, at)))
            .collect();
        self.commit(changes, self.visibility_lag);
        o_ids.iter().map(u64::to_string).collect()
    }

    /// [`modify_random`](Self::modify_random), visible only after `lag` (a late change).
    pub fn modify_random_late(
        &mut self,
        n: usize,
        at: NaiveDateTime,
        lag: Duration,
    ) -> Vec<String> {
        let normal = self.visibility_lag;
        self.visibility_lag = lag;
        let changed = self.modify_random(n, at);
        self.visibility_lag = normal;
        changed
    }

    /// Sets `qty` of the first item of each of these orders to a decimal string such as
    /// `"1.5"`, in every version, as the method's field table allows.
    pub fn set_decimal_quantity(&mut self, o_id: &str, qty: &str) -> bool {
        self.edit_versions(o_id, |order| {
            if let Some(Value::Array(items)) = order.get_mut("items")
                && let Some(Value::Object(item)) = items.first_mut()
            {
                item.insert("qty".into(), Value::String(qty.to_owned()));
            }
        })
    }

    /// Adds `n` new random orders created and modified at `at`, and returns their ids.
    pub fn add_random(&mut self, n: usize, at: NaiveDateTime) -> Vec<String> {
        let orders: Vec<(u64, Map<String, Value>)> = (0..n)
            .map(|_| {
                let (o_id, ts) = (self.take_o_id(), self.take_ts());
                let mut order = generate::new_order(&mut self.rng, o_id, at, ts);
                order.insert("order_date".into(), Value::String(beijing_time::format(at)));
                order.insert("created".into(), Value::String(beijing_time::format(at)));
                (o_id, order)
            })
            .collect();
        let o_ids = orders.iter().map(|(o_id, _)| o_id.to_string()).collect();
        self.commit(orders, self.visibility_lag);
        o_ids
    }

    /// Sets one raw field of an order, in every version, visible at once, without touching
    /// `modified` or `ts`: for poisoning orders in tests (bad amounts, `0000-00-00 00:00:00`,
    /// hostile text). A poisoned time or `ts` that cannot be parsed keeps the order where it was
    /// in the indexes. False if there is no such order.
    pub fn set_field(&mut self, o_id: &str, key: &str, value: Value) -> bool {
        self.edit_versions(o_id, |order| {
            order.insert(key.to_owned(), value.clone());
        })
    }

    /// Removes one field of an order, like [`set_field`](Self::set_field).
    pub fn remove_field(&mut self, o_id: &str, key: &str) -> bool {
        self.edit_versions(o_id, |order| {
            order.remove(key);
        })
    }

    /// Moves an order into the archive (seen only with `archive=true`) or out of it.
    pub fn set_archived(&mut self, o_id: &str, archived: bool) -> bool {
        let Some(record) = parse_o_id(o_id).and_then(|id| self.records.get_mut(&id)) else {
            return false;
        };
        if record.archived != archived {
            record.archived = archived;
            if archived {
                self.archived_count += 1;
            } else {
                self.archived_count -= 1;
            }
        }
        true
    }

    fn take_o_id(&mut self) -> u64 {
        let o_id = self.next_o_id;
        self.next_o_id += self.rng.random_range(1..=3);
        o_id
    }

    fn take_ts(&mut self) -> u64 {
        let ts = self.next_ts;
        self.next_ts += 1;
        ts
    }

    /// The latest version of an existing order, changed by the shop at `at`.
    fn changed_order(&mut self, o_id: u64, at: NaiveDateTime) -> Map<String, Value> {
        let mut order = self.records[&o_id]
            .latest()
            .expect("an existing order has a version")
            .order();
        let ts = self.take_ts();
        generate::change_order(&mut self.rng, &mut order, at, ts);
        order
    }

    /// Records new versions, visible after `lag` (at once for zero).
    fn commit(&mut self, orders: Vec<(u64, Map<String, Value>)>, lag: Duration) {
        let mut visible_now = Vec::new();
        let visible_at = Instant::now() + lag;
        for (o_id, order) in orders {
            let record = self.records.entry(o_id).or_insert_with(|| {
                self.o_ids.push(o_id);
                OrderRecord::default()
            });
            let version = Version::new(&order, record.latest().map(|v| &v.keys));
            if lag.is_zero() {
                record.pending.clear();
                visible_now.push((o_id, version));
            } else {
                record.pending.push((visible_at, version));
                self.pending.push(Reverse((visible_at, o_id)));
            }
        }
        self.make_visible(visible_now);
    }

    /// Promotes pending versions whose time has come.
    fn refresh(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(Reverse((visible_at, o_id))) = self.pending.peek().copied() {
            if visible_at > now {
                break;
            }
            self.pending.pop();
            let record = self
                .records
                .get_mut(&o_id)
                .expect("pending versions belong to orders");
            let ready = record
                .pending
                .iter()
                .take_while(|(at, _)| *at <= now)
                .count();
            if ready > 0 {
                let version = record
                    .pending
                    .drain(..ready)
                    .next_back()
                    .expect("ready > 0")
                    .1;
                due.push((o_id, version));
            }
        }
        self.make_visible(due);
    }

    fn make_visible(&mut self, versions: Vec<(u64, Version)>) {
        let mut changes = Vec::with_capacity(versions.len());
        for (o_id, version) in versions {
            let record = self
                .records
                .get_mut(&o_id)
                .expect("visible versions belong to orders");
            let old = record.visible.replace(version);
            changes.push((
                o_id,
                old.map(|v| v.keys),
                record.visible.as_ref().expect("just set").keys.clone(),
            ));
        }
        self.indexes.replace(&changes);
    }

    fn edit_versions(&mut self, o_id: &str, edit: impl Fn(&mut Map<String, Value>)) -> bool {
        let Some(o_id) = parse_o_id(o_id) else {
            return false;
        };
        let Some(record) = self.records.get_mut(&o_id) else {
            return false;
        };
        let rewrite = |version: &mut Version| {
            let mut order = version.order();
            edit(&mut order);
            *version = Version::new(&order, Some(&version.keys));
        };
        record
            .pending
            .iter_mut()
            .for_each(|(_, version)| rewrite(version));
        if let Some(visible) = record.visible.as_mut() {
            let old_keys = visible.keys.clone();
            rewrite(visible);
            if visible.keys != old_keys {
                let change = (o_id, Some(old_keys), visible.keys.clone());
                self.indexes.replace(&[change]);
            }
        }
        true
    }
}

fn parse_o_id(o_id: &str) -> Option<u64> {
    o_id.trim().parse().ok()
}
