//! [`FingerprintedPage`]: a fetched page with each order's canonical JSON and SHA-256 already
//! computed, so that CPU work can run on another thread than the one SQLite writer.

use crate::diff::{self, Fingerprint};
use crate::source::FetchedPage;

/// A page ready for [`StagingStore::stage_fingerprinted`](super::StagingStore::stage_fingerprinted):
/// one entry per order, `None` for an order that is not an object or has no usable `o_id`.
#[derive(Debug)]
pub struct FingerprintedPage {
    page: FetchedPage,
    prints: Vec<Option<(Fingerprint, String)>>,
    body_sha256: String,
}

impl FingerprintedPage {
    /// Canonicalises and hashes every order of `page`, and hashes its body (the CPU part of
    /// staging).
    pub fn new(page: FetchedPage) -> Self {
        let prints = fingerprint_orders(&page.orders);
        let body_sha256 = diff::sha256_hex(&page.body);
        Self {
            page,
            prints,
            body_sha256,
        }
    }

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
