//! The benchmark's staging step: staging every page of a synthetic shop the way `pull` does,
//! timed by thread, and counting the rows a changed edition must write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pages::{self, Edition, SyntheticShop, fetched_page};
use crate::pipeline::SharedStaging;
use crate::staging::{FingerprintedPage, PageOutcome};
use crate::transform::{Mapping, Transformed, VersionKey, transform};

/// Pages generated (untimed) before each timed stretch of staging: about 1,000 orders.
const PAGES_PER_CHUNK: usize = 40;

/// What staging a series of pages did, and where its time went.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StagingFigures {
    pub(super) outcome: PageOutcome,
    pub(super) pages: u64,
    /// Reading the bodies (the client's envelope parse).
    pub(super) parse: Duration,
    /// Canonical JSON and SHA-256 of every order.
    pub(super) fingerprint: Duration,
    /// `stage_fingerprinted`: the diff and the SQLite writes (one thread, the only writer).
    pub(super) stage: Duration,
    /// Wall time of the whole staging (parse, fingerprint and writes overlap with 2 threads).
    pub(super) wall: Duration,
    /// Rows (order, items, pays) of the changed orders, as the transform makes them.
    pub(super) changed_rows: u64,
    /// The staging run the pages were staged under.
    pub(super) run_id: i64,
}

impl StagingFigures {
    pub(super) fn elapsed(&self) -> Duration {
        self.wall
    }

    /// The time one core would need: the busy time of both threads added up.
    pub(super) fn one_core(&self) -> Duration {
        self.parse + self.fingerprint + self.stage
    }
}

/// Stages every page of `edition` as `pull` does: with two threads, one parses each body and
/// fingerprints its orders ([`FingerprintedPage::new`]) while the other diffs and writes SQLite
/// ([`StagingStore::stage_fingerprinted`]); with one thread, both in turn. Pages are generated
/// in chunks before each timed stretch, so generation is never timed.
pub(super) async fn stage_all(
    staging: &SharedStaging,
    shop: SyntheticShop,
    edition: Edition,
    mapping: &Mapping,
    threads: u8,
) -> anyhow::Result<StagingFigures> {
    let staging = Arc::clone(staging);
    let mapping = mapping.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<StagingFigures> {
        let mut store = staging.lock().unwrap_or_else(|p| p.into_inner());
        let run_id = store.begin_run("bench", None)?;
        let mut figures = StagingFigures {
            run_id,
            ..StagingFigures::default()
        };
        let pages: Vec<usize> = (0..shop.pages()).collect();
        let generate = |chunk: &[usize],
                        figures: &mut StagingFigures|
         -> Vec<(String, Vec<(String, String)>)> {
            if edition == Edition::OnePercentChanged {
                figures.changed_rows += changed_rows(shop, chunk, edition, &mapping);
            }
            chunk
                .iter()
                .map(|&page| (shop.page_body(page, edition), shop.request_params(page)))
                .collect()
        };
        if threads <= 1 {
            for chunk in pages.chunks(PAGES_PER_CHUNK) {
                let bodies = generate(chunk, &mut figures);
                let started = Instant::now();
                for (body, params) in bodies {
                    let (page, parse, fingerprint) = fingerprinted(body, params);
                    let staged = Instant::now();
                    figures
                        .outcome
                        .add(&store.stage_fingerprinted(run_id, &page)?);
                    figures.stage += staged.elapsed();
                    figures.parse += parse;
                    figures.fingerprint += fingerprint;
                    figures.pages += 1;
                }
                figures.wall += started.elapsed();
            }
            return Ok(figures);
        }
        // One parsing thread for the whole pass, as `pull` has one fingerprinter: it is handed
        // each chunk of bodies once generated, and the timing covers only the staging of it.
        let (parse, fingerprint) =
            std::thread::scope(|scope| -> anyhow::Result<(Duration, Duration)> {
                let (chunks, chunks_rx) =
                    std::sync::mpsc::sync_channel::<Vec<(String, Vec<(String, String)>)>>(1);
                let (sender, receiver) = std::sync::mpsc::sync_channel(8);
                let parser = scope.spawn(move || {
                    let (mut parse, mut fingerprint) = (Duration::ZERO, Duration::ZERO);
                    for bodies in chunks_rx {
                        for (body, params) in bodies {
                            let (page, parsed, printed) = fingerprinted(body, params);
                            parse += parsed;
                            fingerprint += printed;
                            if sender.send(page).is_err() {
                                return (parse, fingerprint);
                            }
                        }
                    }
                    (parse, fingerprint)
                });
                for chunk in pages.chunks(PAGES_PER_CHUNK) {
                    let bodies = generate(chunk, &mut figures);
                    let started = Instant::now();
                    chunks
                        .send(bodies)
                        .expect("the parsing thread runs until the chunks end");
                    for _ in chunk {
                        let page = receiver
                            .recv()
                            .expect("the parsing thread sends every page");
                        let staged = Instant::now();
                        figures
                            .outcome
                            .add(&store.stage_fingerprinted(run_id, &page)?);
                        figures.stage += staged.elapsed();
                        figures.pages += 1;
                    }
                    figures.wall += started.elapsed();
                }
                drop(chunks);
                Ok(parser.join().expect("the parsing thread does not panic"))
            })?;
        figures.parse += parse;
        figures.fingerprint += fingerprint;
        Ok(figures)
    })
    .await
    .expect("staging does not panic")
}

/// Reads `body` as the client does and fingerprints its orders; with the time each took.
pub(super) fn fingerprinted(
    body: String,
    params: Vec<(String, String)>,
) -> (FingerprintedPage, Duration, Duration) {
    let started = Instant::now();
    let fetched = fetched_page(body, params);
    let parsed = Instant::now();
    let page = FingerprintedPage::new(fetched);
    (page, parsed - started, parsed.elapsed())
}

/// Rows (order, items, pays) the transform makes of the changed orders of `pages`.
pub(super) fn changed_rows(
    shop: SyntheticShop,
    pages: &[usize],
    edition: Edition,
    mapping: &Mapping,
) -> u64 {
    let mut rows = 0;
    for &page in pages {
        for (offset, order) in shop.page_orders(page, edition).into_iter().enumerate() {
            if (page * pages::PAGE_SIZE + offset).is_multiple_of(pages::CHANGE_EVERY) {
                let version = VersionKey {
                    ts: None,
                    staging_version: 0,
                };
                let order = serde_json::Value::Object(order);
                if let Ok(Transformed::Rows(order_rows)) = transform(&order, mapping, version) {
                    rows += 1 + order_rows.items.len() as u64 + order_rows.pays.len() as u64;
                }
            }
        }
    }
    rows
}
