//! The `jst-sync` binary: parses the command line, runs it, and prints any error with its
//! causes on one line (a JSON line with `--log-format json`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`, before any thread exists.
    unsafe { jst_sync::cli::prepare_process() };
    match jst_sync::cli::run() {
        Ok(code) => code,
        Err(error) => {
            jst_sync::cli::output::error(&jst_sync::cli::error_text::chain(&error));
            ExitCode::FAILURE
        }
    }
}
