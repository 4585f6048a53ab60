//! Peak resident memory per benchmark step: a background thread reads `VmRSS` from
//! `/proc/self/status` every 10 ms and keeps the largest value since the last reset
//! (`VmHWM` cannot be reset, so it would only ever show the whole run's peak).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Samples the resident set size until dropped.
pub struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start() -> Self {
        let peak_kib = Arc::new(AtomicU64::new(current_kib()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak_kib, stop) = (Arc::clone(&peak_kib), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        peak_kib.fetch_max(current_kib(), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
                .expect("the sampler thread starts")
        };
        Self { peak_kib, stop, thread: Some(thread) }
    }

    /// Starts a new step: the peak becomes the current size.
    pub fn reset(&self) {
        self.peak_kib.store(current_kib(), Ordering::Relaxed);
    }

    /// The largest size seen since the last reset, in MB (10^6 bytes).
    pub fn peak_mb(&self) -> f64 {
        let peak = self.peak_kib.fetch_max(current_kib(), Ordering::Relaxed).max(current_kib());
        peak as f64 * 1024.0 / 1e6
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `VmRSS` in KiB; 0 where `/proc` is not available.
fn current_kib() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

/// `VmHWM` (the process's peak resident size) in MB, if known.
pub fn high_water_mark_mb() -> Option<f64> {
    status_field("VmHWM:").map(|kib| kib as f64 * 1024.0 / 1e6)
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}
