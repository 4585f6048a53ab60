//! A builder that runs the real `jst-sync` binary, as a user would.

use std::path::{Path, PathBuf};
use std::process::Output;

/// One invocation of the binary. Environment starts empty of `JST_*` settings.
#[must_use]
pub struct Jst {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Jst {
    pub fn new(args: &[&str]) -> Jst {
        Jst {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Jst {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Jst {
        self.args.push(arg.into());
        self
    }

    /// The settings of a fake gateway, a database and a staging file.
    pub fn against(
        self,
        gateway: &jst_sync::gateway::FakeGateway,
        db_url: &str,
        staging: &Path,
    ) -> Jst {
        let config = gateway.config();
        self.env("JST_API_URL", gateway.url())
            .env("JST_APP_KEY", config.app_key.clone())
            .env("JST_APP_SECRET", config.secret.expose())
            .env("JST_CUSTOMER_ID", config.customer_id.clone())
            .env("JST_TARGET_APP_KEY", config.target_app_key.clone())
            .env("JST_MYSQL_URL", db_url)
            .env("JST_STAGING", staging.display().to_string())
            .env("JST_SAFETY_LAG", "0s")
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command.args(&self.args);
        for (key, _) in std::env::vars() {
            if key.starts_with("JST_") {
                command.env_remove(key);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.kill_on_drop(true);
        command
    }

    /// Runs to completion and returns the output.
    pub async fn run(self) -> Ran {
        let output = self.command().output().await.expect("binary starts");
        Ran { output }
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jst-sync"))
}

/// A finished invocation.
pub struct Ran {
    pub output: Output,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn success(self) -> Ran {
        assert!(
            self.output.status.success(),
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub fn failure(self) -> Ran {
        assert!(
            !self.output.status.success(),
            "expected failure\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The number after `label` in the summary (e.g. `pushed` → orders pushed).
    pub fn summary_number(&self, label: &str) -> u64 {
        let out = self.stdout();
        let start = out
            .find(label)
            .unwrap_or_else(|| panic!("{label:?} not in summary:\n{out}"))
            + label.len();
        out[start..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after {label:?} in:\n{out}"))
    }
}
