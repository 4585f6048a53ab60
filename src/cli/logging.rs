//! Logging setup: tracing to stderr as text or JSON; `RUST_LOG` overrides the verbosity. On a
//! terminal with text logs, long pulls show a progress bar (log lines print above it).

use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::IndicatifFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber. Safe to call once per process.
pub fn init(format: &str, verbose: u8) {
    let default = match verbose {
        0 => "jst_sync=info,warn",
        1 => "jst_sync=debug,info",
        _ => "debug",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = if format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .json()
            .try_init()
            .map_err(|e| e.to_string())
    } else if terminal {
        // Only spans that ask for a bar (`indicatif.pb_show`) get one: the pull's.
        let bars = IndicatifLayer::new();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .compact()
                    .with_writer(bars.get_stderr_writer())
                    .with_filter(filter()),
            )
            .with(bars.with_filter(IndicatifFilter::new(false)))
            .try_init()
            .map_err(|e| e.to_string())
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .compact()
            .try_init()
            .map_err(|e| e.to_string())
    };
}
