//! Answering a query over the shop's visible versions: which orders match, in which order,
//! and the page cut out of them with the total count.

use std::time::Instant;

use chrono::NaiveDateTime;
use serde_json::Value;

use super::Shop;
use crate::order_query::{DateType, OrderQuery};

/// One page of a query's answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Page {
    pub orders: Vec<Value>,
    /// Every order the query matches (not only this page's).
    pub data_count: u64,
    pub has_next: bool,
}

impl Shop {
    /// Answers a query over the versions visible now.
    pub(crate) fn page(&mut self, query: &OrderQuery) -> Page {
        self.refresh(Instant::now());
        if let Some(start_ts) = query.start_ts {
            let entries = self.indexes.by_ts.range(Some(start_ts), None);
            return self.select(entries, query, true);
        }
        let (low, high) = match query.window {
            Some((start, end)) => (Some(start), Some(end)),
            None => (None, None),
        };
        let index = match query.date_type {
            DateType::Modified => &self.indexes.by_modified,
            DateType::OrderDate => &self.indexes.by_order_date,
            DateType::SendDate => &self.indexes.by_send_date,
        };
        self.select(index.range(low, high), query, false)
    }

    /// Filters sorted index entries and cuts out the requested page.
    fn select<K>(&self, entries: &[(K, u64)], query: &OrderQuery, check_window: bool) -> Page {
        let offset = (query.page_index as usize - 1).saturating_mul(query.page_size as usize);
        let size = query.page_size as usize;
        let needs_filter = (check_window && query.window.is_some())
            || query.has_row_filters()
            || query.archive
            || query.archive_before.is_some()
            || self.archived_count > 0;
        let (data_count, page_ids): (usize, Vec<u64>) = if needs_filter {
            let mut count = 0;
            let mut page_ids = Vec::new();
            for &(_, o_id) in entries {
                if self.matches(o_id, query) {
                    if count >= offset && page_ids.len() < size {
                        page_ids.push(o_id);
                    }
                    count += 1;
                }
            }
            (count, page_ids)
        } else {
            let page = entries
                .iter()
                .skip(offset)
                .take(size)
                .map(|&(_, o_id)| o_id)
                .collect();
            (entries.len(), page)
        };
        let orders = page_ids
            .iter()
            .filter_map(|o_id| self.records[o_id].visible.as_ref())
            .map(|version| Value::Object(version.order()))
            .collect::<Vec<_>>();
        Page {
            has_next: offset + orders.len() < data_count,
            orders,
            data_count: data_count as u64,
        }
    }

    fn matches(&self, o_id: u64, query: &OrderQuery) -> bool {
        let record = &self.records[&o_id];
        let Some(version) = &record.visible else {
            return false;
        };
        let keys = &version.keys;
        let in_window = |time: Option<NaiveDateTime>| match (query.window, time) {
            (None, _) => true,
            (Some((start, end)), Some(time)) => start <= time && time <= end,
            (Some(_), None) => false,
        };
        let date = match query.date_type {
            DateType::Modified => Some(keys.modified),
            DateType::OrderDate => Some(keys.order_date),
            DateType::SendDate => keys.send_date,
        };
        let archived = record.archived
            || query
                .archive_before
                .is_some_and(|before| keys.modified < before);
        archived == query.archive
            && in_window(date)
            && query
                .status
                .as_ref()
                .is_none_or(|status| *status == keys.status)
            && query
                .not_status
                .as_ref()
                .is_none_or(|status| *status != keys.status)
            && query
                .shop_id
                .is_none_or(|shop_id| keys.shop_id == Some(shop_id))
            && query
                .wms_co_id
                .is_none_or(|wms_co_id| keys.wms_co_id == Some(wms_co_id))
            && query
                .so_ids
                .as_ref()
                .is_none_or(|so_ids| so_ids.contains(&keys.so_id))
            && query
                .o_ids
                .as_ref()
                .is_none_or(|o_ids| o_ids.contains(&o_id))
    }
}
