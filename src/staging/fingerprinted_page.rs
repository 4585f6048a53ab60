//! [`FingerprintedPage`]: a fetched page with each order's canonical JSON and SHA-256 already
//! computed, so that CPU work can run on another thread than the one SQLite writer.

use serde_json::Value;

use super::compression::{PageCompressor, PageFrames};
use crate::diff::{self, Fingerprint};
use crate::source::FetchedPage;

/// A page ready for [`StagingStore::stage_fingerprinted`](super::StagingStore::stage_fingerprinted):
/// one entry per order, `None` for an order that is not an object or has no usable `o_id`.
#[derive(Debug)]
pub struct FingerprintedPage {
    /// The page as fetched, its parsed orders dropped once fingerprinted: their canonical JSON
    /// is in `prints` (a parsed page takes several times its body's size in memory).
    page: FetchedPage,
    prints: Vec<Option<(Fingerprint, String)>>,
    /// The parsed orders that could not be fingerprinted (kept to quarantine them as sent).
    unprintable: Vec<Option<Value>>,
    body_sha256: String,
    /// The body and canonical JSON compressed ahead of the writer (see [`Self::compressed`]).
    frames: Option<PageFrames>,
}

impl FingerprintedPage {
    /// Canonicalises and hashes every order of `page`, and hashes its body (the CPU part of
    /// staging).
    pub fn new(mut page: FetchedPage) -> Self {
        let prints = fingerprint_orders(&page.orders);
        let body_sha256 = diff::sha256_hex(&page.body);
        let unprintable = std::mem::take(&mut page.orders)
            .into_iter()
            .zip(&prints)
            .map(|(order, print)| print.is_none().then_some(order))
            .collect();
        Self {
            page,
            prints,
            unprintable,
            body_sha256,
            frames: None,
        }
    }

    /// [`new`](Self::new), and compresses the body and the canonical JSON as the store will
    /// store them (the CPU part of staging that is left), so the writer only writes (see
    /// [`PageCompressor`] for when it does not).
    pub fn compressed(page: FetchedPage, compressor: &PageCompressor) -> Self {
        let mut fingerprinted = Self::new(page);
        fingerprinted.frames = compressor.compress(
            &fingerprinted.page.body,
            fingerprinted
                .prints
                .iter()
                .map(|print| print.as_ref().map(|(_, canonical)| canonical.as_str())),
        );
        fingerprinted
    }

    /// The frames made by [`compressed`](Self::compressed), if it was.
    pub(super) fn frames(&self) -> Option<&PageFrames> {
        self.frames.as_ref()
    }

    /// The largest `ts` among the page's orders.
    pub fn max_ts(&self) -> Option<i64> {
        self.prints
            .iter()
            .flatten()
            .filter_map(|(print, _)| print.ts)
            .max()
    }

    /// Per order, its parsed JSON where it was kept (only the orders that could not be
    /// fingerprinted).
    pub(super) fn kept_orders(&self) -> Vec<Option<&Value>> {
        self.unprintable.iter().map(Option::as_ref).collect()
    }

    /// The page as fetched, without its parsed orders (see [`prints`](Self::prints)).
    pub fn page(&self) -> &FetchedPage {
        &self.page
    }

    /// One fingerprint per order, in page order.
    pub(super) fn prints(&self) -> &[Option<(Fingerprint, String)>] {
        &self.prints
    }

    /// The SHA-256 of the page's body, stored with it.
    pub(super) fn body_sha256(&self) -> &str {
        &self.body_sha256
    }
}

/// The fingerprint of each order; `None` for one that is not an object or has no usable `o_id`.
pub(super) fn fingerprint_orders(
    orders: &[serde_json::Value],
) -> Vec<Option<(Fingerprint, String)>> {
    orders
        .iter()
        .map(|order| {
            order
                .is_object()
                .then(|| diff::fingerprint(order))
                .flatten()
        })
        .collect()
}
