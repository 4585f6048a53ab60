//! The `jst-sync` binary: parses the command line, runs it, and prints any error with its
//! causes on one line (a JSON line with `--log-format json`).

use std::process::ExitCode;

/// mysql_async keeps the buffers of sent statements for reuse: by default up to 128 of up to
/// 4 MiB each, so a push of fat orders (statements of several MB) keeps hundreds of MB
/// resident. A few buffers of at most 256 KiB are plenty (a larger one is shrunk back when
/// returned). An operator's own setting wins.
const MYSQL_BUFFER_POOL: [(&str, &str); 2] = [
    ("MYSQL_ASYNC_BUFFER_POOL_CAP", "16"),
    ("MYSQL_ASYNC_BUFFER_SIZE_CAP", "262144"),
];

fn main() -> ExitCode {
    for (name, value) in MYSQL_BUFFER_POOL {
        if std::env::var_os(name).is_none() {
            // SAFETY: the first statement of `main`, before any thread exists.
            unsafe { std::env::set_var(name, value) };
        }
    }
    // reqwest and mysql_async share rustls; exactly one crypto provider is compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match jst_sync::cli::run() {
        Ok(code) => code,
        Err(error) => {
            jst_sync::cli::output::error(&jst_sync::cli::error_text::chain(&error));
            ExitCode::FAILURE
        }
    }
}
