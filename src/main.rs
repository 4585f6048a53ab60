//! The `jst-sync` binary: parses the command line, runs it, and prints any error with its
//! causes on one line (a JSON line with `--log-format json`).

use std::process::ExitCode;

fn main() -> ExitCode {
    for (name, value) in jst_sync::sink::mysql::DRIVER_BUFFER_POOL {
        if std::env::var_os(name).is_none() {
            // SAFETY: the first statement of `main`, before any thread exists.
            unsafe { std::env::set_var(name, value) };
        }
    }
    // reqwest and the MySQL driver share rustls; exactly one crypto provider is compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match jst_sync::cli::run() {
        Ok(code) => code,
        Err(error) => {
            jst_sync::cli::output::error(&jst_sync::cli::error_text::chain(&error));
            ExitCode::FAILURE
        }
    }
}
