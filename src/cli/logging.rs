//! Logging setup: tracing to stderr as text or JSON; `RUST_LOG` overrides the verbosity.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(format: &str, verbose: u8) {
    let default = match verbose {
        0 => "jst_sync=info,warn",
        1 => "jst_sync=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.with_target(false).compact().try_init()
    };
}
