//! Freshness: how long an order waited between its page being received from the API and its
//! rows being committed in MySQL. The stager notes which outbox entries each page enqueued and
//! when that page arrived; the push, after each commit, looks its orders up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Pages of this run that enqueued orders, oldest first: the outbox ids each one created and
/// when it was received. Shared by the stager (writer) and the push (reader).
#[derive(Clone, Debug, Default)]
pub struct Arrivals(Arc<Mutex<VecDeque<PageArrival>>>);

#[derive(Clone, Copy, Debug)]
struct PageArrival {
    /// Outbox ids `after < id <= last` were enqueued by this page.
    after: i64,
    last: i64,
    received_at: DateTime<Utc>,
}

impl Arrivals {
    /// Notes that the page received at `received_at` enqueued the outbox ids in `(after, last]`.
    pub fn record(&self, after: i64, last: i64, received_at: DateTime<Utc>) {
        if last > after {
            self.lock().push_back(PageArrival {
                after,
                last,
                received_at,
            });
        }
    }

    /// When the page that enqueued outbox entry `id` was received; `None` for an entry this
    /// run did not enqueue (left pending by an earlier run, or re-enqueued by a replay).
    pub fn received_at(&self, id: i64) -> Option<DateTime<Utc>> {
        let pages = self.lock();
        let index = pages.partition_point(|page| page.last < id);
        pages
            .get(index)
            .filter(|page| page.after < id)
            .map(|page| page.received_at)
    }

    /// Forgets pages whose every entry is at most `id`: the push is past them.
    pub fn forget_through(&self, id: i64) {
        let mut pages = self.lock();
        while pages.front().is_some_and(|page| page.last <= id) {
            pages.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<PageArrival>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Freshness over a push: orders measured, the worst and the mean wait, and when the first
/// rows of the run were committed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Freshness {
    /// Orders whose page this run received (others were staged by an earlier run).
    pub orders_measured: u64,
    /// The longest wait from a page's receipt to its rows' commit, in seconds.
    pub max_secs: Option<f64>,
    /// The mean of those waits, in seconds.
    pub mean_secs: Option<f64>,
    /// Seconds from the start of the run to the first commit of rows.
    pub first_commit_secs: Option<f64>,
    #[serde(skip)]
    total_secs: f64,
}

impl Freshness {
    /// Adds the waits of orders committed at `committed_at` whose pages arrived at `received`.
    pub fn add(
        &mut self,
        committed_at: DateTime<Utc>,
        received: impl IntoIterator<Item = DateTime<Utc>>,
    ) {
        for received_at in received {
            let secs = ((committed_at - received_at).num_milliseconds().max(0)) as f64 / 1000.0;
            self.orders_measured += 1;
            self.total_secs += secs;
            self.max_secs = Some(self.max_secs.map_or(secs, |max| max.max(secs)));
        }
        if self.orders_measured > 0 {
            self.mean_secs = Some(self.total_secs / self.orders_measured as f64);
        }
    }

    /// Adds the measures of a later push of the same run.
    pub fn absorb(&mut self, other: &Freshness) {
        self.orders_measured += other.orders_measured;
        self.total_secs += other.total_secs;
        self.max_secs = match (self.max_secs, other.max_secs) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.first_commit_secs = self.first_commit_secs.or(other.first_commit_secs);
        if self.orders_measured > 0 {
            self.mean_secs = Some(self.total_secs / self.orders_measured as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid")
    }

    #[test]
    fn an_entry_is_traced_to_the_page_that_enqueued_it_and_entries_of_earlier_runs_to_none() {
        let arrivals = Arrivals::default();
        arrivals.record(10, 15, at(0));
        arrivals.record(15, 15, at(1)); // a page that enqueued nothing is not kept
        arrivals.record(15, 40, at(2));
        assert_eq!(arrivals.received_at(9), None);
        assert_eq!(arrivals.received_at(10), None);
        assert_eq!(arrivals.received_at(11), Some(at(0)));
        assert_eq!(arrivals.received_at(15), Some(at(0)));
        assert_eq!(arrivals.received_at(16), Some(at(2)));
        assert_eq!(arrivals.received_at(41), None);
        arrivals.forget_through(15);
        assert_eq!(arrivals.received_at(12), None);
        assert_eq!(arrivals.received_at(40), Some(at(2)));
    }

    #[test]
    fn freshness_keeps_the_worst_and_the_mean_wait() {
        let mut freshness = Freshness::default();
        freshness.add(at(10), [at(0), at(8)]);
        freshness.add(at(12), [at(11)]);
        assert_eq!(freshness.orders_measured, 3);
        assert_eq!(freshness.max_secs, Some(10.0));
        assert_eq!(freshness.mean_secs, Some(13.0 / 3.0));
    }
}
