//! A sorted `(key, o_id)` index over the visible orders: ranges, counts and pages in
//! O(log n + page), cheap enough for ~100k orders.

/// Entries kept sorted in a `Vec`: binary search for ranges, `O(n)` moves for single updates
/// (a few microseconds at 100k entries) and a re-sort for large batches.
#[derive(Clone, Debug, Default)]
pub(crate) struct SortedIndex<K> {
    entries: Vec<(K, u64)>,
}

/// Batches larger than this are applied by re-sorting instead of one insert at a time.
const BATCH_RESORT_THRESHOLD: usize = 64;

impl<K: Ord + Copy> SortedIndex<K> {
    pub(crate) fn insert(&mut self, key: K, o_id: u64) {
        if let Err(position) = self.entries.binary_search(&(key, o_id)) {
            self.entries.insert(position, (key, o_id));
        }
    }

    pub(crate) fn remove(&mut self, key: K, o_id: u64) {
        if let Ok(position) = self.entries.binary_search(&(key, o_id)) {
            self.entries.remove(position);
        }
    }

    /// Removes `removals` and adds `insertions`, re-sorting once for a large batch.
    pub(crate) fn apply(&mut self, removals: &[(K, u64)], insertions: &[(K, u64)]) {
        if removals.len() + insertions.len() <= BATCH_RESORT_THRESHOLD {
            removals
                .iter()
                .for_each(|&(key, o_id)| self.remove(key, o_id));
            insertions
                .iter()
                .for_each(|&(key, o_id)| self.insert(key, o_id));
            return;
        }
        if !removals.is_empty() {
            let mut removals = removals.to_vec();
            removals.sort_unstable();
            self.entries
                .retain(|entry| removals.binary_search(entry).is_err());
        }
        self.entries.extend_from_slice(insertions);
        self.entries.sort_unstable();
        self.entries.dedup();
    }

    /// The entries with `low <= key <= high` (either bound optional), in order.
    pub(crate) fn range(&self, low: Option<K>, high: Option<K>) -> &[(K, u64)] {
        let start = low.map_or(0, |low| self.entries.partition_point(|&(key, _)| key < low));
        let end = high.map_or(self.entries.len(), |high| {
            self.entries.partition_point(|&(key, _)| key <= high)
        });
        &self.entries[start..end.max(start)]
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_at_both_ends_and_sorted_by_key_then_id() {
        let mut index = SortedIndex::default();
        for (key, o_id) in [(5, 1), (3, 2), (5, 0), (9, 3)] {
            index.insert(key, o_id);
        }
        assert_eq!(index.range(Some(3), Some(5)), &[(3, 2), (5, 0), (5, 1)]);
        assert_eq!(index.range(Some(6), Some(4)), &[]);
        let removals: Vec<_> = (0..100).map(|i| (5, i)).collect();
        let insertions: Vec<_> = (0..100).map(|i| (7, i)).collect();
        index.apply(&removals, &insertions);
        assert_eq!(index.len(), 102);
        assert_eq!(index.range(None, Some(5)), &[(3, 2)]);
    }
}
