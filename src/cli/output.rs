//! Everything the commands print, and the `print!`, `println!` and `eprintln!` that every
//! module of `cli` uses instead of the standard ones (declared first in `cli/mod.rs`, they
//! shadow them).
//!
//! Standard output may be a pipe that closes early (`jst-sync status | head -1`): from then
//! on output is dropped and the command ends as it would have, with its own exit code — never
//! a panic, and never a success it did not have. Standard error is the log's: with
//! `--log-format json` a message or the final error is a JSON line like the log's lines.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// `print!` that survives a closed pipe (see the module documentation).
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::output::stdout(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed pipe (see the module documentation).
macro_rules! println {
    () => {
        $crate::cli::output::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// A message for the operator on standard error (a JSON line with `--log-format json`).
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::cli::output::note(format_args!($($arg)*))
    };
}

/// Makes messages and errors on standard error JSON lines (`--log-format json`).
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Writes to standard output; once it is a closed pipe, drops everything.
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.flush()) {
        // A closed pipe means the reader has what it wanted; any other failure (a full disk
        // behind a redirection) would fail every later line too. Either way the command goes
        // on and exits with its own status.
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(%error, "Standard output cannot be written: output is dropped.");
        }
    }
}

/// A message for the operator: a line on standard error, or a JSON line at WARN level.
pub fn note(args: fmt::Arguments<'_>) {
    if JSON.load(Ordering::Relaxed) {
        stderr_json("WARN", &[("message", &args.to_string())]);
    } else {
        stderr_line(format_args!("{args}"));
    }
}

/// The error that ends a command (or a run of `run --every`), said once: `error: …` on
/// standard error, or a JSON line at ERROR level with the error in its `error` field.
pub fn error(message: &str) {
    if JSON.load(Ordering::Relaxed) {
        stderr_json(
            "ERROR",
            &[("message", "Command failed."), ("error", message)],
        );
    } else {
        stderr_line(format_args!("error: {message}"));
    }
}

/// One line in the shape of the log's JSON lines (tracing-subscriber's `json()`), written
/// directly so that no log filter can hide it.
fn stderr_json(level: &str, fields: &[(&str, &str)]) {
    let fields: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": level,
        "fields": fields,
        "target": "jst_sync",
    });
    stderr_line(format_args!("{line}"));
}

/// Writes one line to standard error; a closed standard error is not worth a panic.
fn stderr_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}
