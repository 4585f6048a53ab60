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
        Self {
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts a new step: the peak becomes the current size.
    pub fn reset(&self) {
        self.peak_kib.store(current_kib(), Ordering::Relaxed);
    }

    /// The largest size seen since the last reset, in MB (10^6 bytes).
    pub fn peak_mb(&self) -> f64 {
        let peak = self
            .peak_kib
            .fetch_max(current_kib(), Ordering::Relaxed)
            .max(current_kib());
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
    line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time this process has used (user + system), from `/proc/self/stat`, in seconds; a
/// busy machine shows as wall time well above it. Assumes the usual 100 clock ticks a second.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at field 3 (`state`).
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after `state`.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The 1-minute load average, to show how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
