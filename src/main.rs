//! The `jst-sync` binary: parses the command line and runs it.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
