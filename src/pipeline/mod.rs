//! Runs: what `pull` and `push` do, tying the stages together — the source feeds pages to
//! staging (which diffs them), and the outbox feeds the transform and the MySQL sink.

mod dry_run;
mod follow;
pub mod freshness;
pub mod plan;
pub mod pull;
pub mod push;
pub mod run;
mod stager;
pub mod summary;
pub mod watermark_lag;

use std::sync::{Arc, Mutex};

use crate::staging::StagingStore;

/// The staging store shared between async tasks; every use runs on a blocking thread.
pub type SharedStaging = Arc<Mutex<StagingStore>>;

/// Runs `f` with the store on a blocking thread.
pub async fn with_staging<T, F>(
    staging: &SharedStaging,
    f: F,
) -> Result<T, crate::staging::StagingError>
where
    T: Send + 'static,
    F: FnOnce(&mut StagingStore) -> Result<T, crate::staging::StagingError> + Send + 'static,
{
    let staging = Arc::clone(staging);
    tokio::task::spawn_blocking(move || {
        let mut store = staging
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut store)
    })
    .await
    .expect("staging task does not panic")
}

/// Returns once `stop` is true (at once if it already is); never if its sender is gone.
pub async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
