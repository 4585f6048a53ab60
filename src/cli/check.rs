//! `jst-sync check`: every part a run needs, tried once before the first run (or after a change
//! of credentials): per merchant and route one signed API call over the last minute, MySQL
//! (connection, privileges, table version) and staging (opened read-write, SQLite's
//! `quick_check`). One line per part, `ok` or what is wrong and what to do; exit 0 only when
//! every part is ok. Nothing is written: no run is recorded, no table created.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{CheckArgs, GlobalArgs};
use super::run::load_config;
use crate::beijing_time;
use crate::config::{Config, SourceKind};
use crate::error_text::{chain, chain_of};
use crate::pipeline::run::{mapping, mysql_config, openapi_client, qimen_client};
use crate::sink::mysql::health::{MIGRATE_PRIVILEGES, PUSH_PRIVILEGES};
use crate::sink::mysql::{MysqlSink, SinkError};
use crate::source::{FetchedPage, PageQuery, SourceError, Window};

/// The outcome of checking one part.
struct Part {
    /// What was checked: `qimen`, `mysql 127.0.0.1:3306/bi`, `staging jst-sync.sqlite`.
    name: String,
    /// `Ok(detail)` or `Err(what is wrong and what to do)`.
    outcome: Result<String, String>,
}

pub(super) async fn check(global: &GlobalArgs, _args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let merchants = config.per_merchant()?;
    let mut parts = Vec::new();
    for (name, config) in &merchants {
        let merchant = if merchants.len() > 1 {
            format!("merchant {name}: ")
        } else {
            String::new()
        };
        let mut merchant_parts = Vec::new();
        for kind in &config.sources {
            merchant_parts.push(check_source(config, *kind).await);
        }
        merchant_parts.push(check_mysql(config).await);
        merchant_parts.push(check_staging(&config.staging));
        for mut part in merchant_parts {
            part.name = format!("{merchant}{}", part.name);
            match &part.outcome {
                Ok(detail) => println!("ok    {}: {detail}", part.name),
                Err(problem) => println!("FAIL  {}: {problem}", part.name),
            }
            parts.push(part);
        }
    }
    let failed = parts.iter().filter(|p| p.outcome.is_err()).count();
    if failed == 0 {
        println!("all {} parts ok", parts.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} parts failed", parts.len());
        Ok(ExitCode::FAILURE)
    }
}

/// One signed call of `kind` over the last minute.
async fn check_source(config: &Config, kind: SourceKind) -> Part {
    let mut config = config.clone();
    // One quick answer is wanted, not a run's patience.
    config.qimen.max_attempts = 1;
    config.qimen.max_ban_wait = Duration::ZERO;
    let now = beijing_time::now();
    let window = Window::new(now - chrono::Duration::minutes(1), now);
    let (name, answer) = match kind {
        SourceKind::Qimen => {
            let name = format!(
                "qimen {}",
                config
                    .qimen
                    .customer_id
                    .as_deref()
                    .unwrap_or("(no customer_id)")
            );
            let answer = match qimen_client(&config) {
                Ok(client) => {
                    let query = PageQuery::window(window, 1, client.page_size());
                    Some(client.fetch_page(&query).await)
                }
                Err(error) => return failed(name, chain(&error)),
            };
            (name, answer)
        }
        SourceKind::Openapi => {
            let name = format!(
                "openapi {}",
                config.openapi.app_key.as_deref().unwrap_or("(no app_key)")
            );
            let answer = match openapi_client(&config) {
                Ok(client) => {
                    let size = crate::source::PageFetcher::page_size(&client);
                    let query = PageQuery::window(window, 1, size);
                    Some(client.fetch_page(&query).await)
                }
                Err(error) => return failed(name, chain(&error)),
            };
            (name, answer)
        }
    };
    match answer {
        Some(Ok(page)) => Part {
            name,
            outcome: Ok(format!(
                "signed call answered ({} modified in the last minute)",
                orders_in(&page)
            )),
        },
        Some(Err(error)) => failed(name, source_problem(&error)),
        None => failed(name, "no call made".to_owned()),
    }
}

fn orders_in(page: &FetchedPage) -> String {
    let count = page.data_count.unwrap_or(page.orders.len() as u64);
    match count {
        1 => "1 order".to_owned(),
        n => format!("{n} orders"),
    }
}

/// The source's error; a bad signature says so in those words.
fn source_problem(error: &SourceError) -> String {
    // One attempt is all `check` makes: its last error is the whole story.
    let error = match error {
        SourceError::RetriesExhausted { last, .. } => last.as_ref(),
        other => other,
    };
    let text = chain_of(error);
    let signature = match error {
        SourceError::Rejected { code, .. } => [10, 25].contains(code),
        SourceError::Refused { code, .. } => *code == 10,
        _ => false,
    };
    if signature && !text.to_lowercase().contains("signature") {
        format!("the signature was refused: {text}")
    } else {
        text
    }
}

/// Connects as the sink does and reads privileges and the tables' version (no DDL).
async fn check_mysql(config: &Config) -> Part {
    let mysql = match mysql_config(config) {
        Ok(mysql) => mysql,
        Err(error) => return failed("mysql".to_owned(), chain(&error)),
    };
    let mapping = match mapping(config) {
        Ok(mapping) => mapping,
        Err(error) => return failed("mysql".to_owned(), chain(&error)),
    };
    let sink = match MysqlSink::connect(&mysql, mapping).await {
        Ok(sink) => sink,
        Err(error) => {
            return failed("mysql".to_owned(), mysql_problem(&error));
        }
    };
    let name = format!("mysql {}", sink.endpoint());
    let health = sink.health().await;
    sink.disconnect().await;
    let health = match health {
        Ok(health) => health,
        Err(error) => return failed(name, mysql_problem(&error)),
    };
    let name = format!("mysql {}/{}", health.endpoint, health.database);
    let grant = |privileges: &[&str]| {
        format!(
            "GRANT {} ON `{}`.* TO '{}'@'%'",
            privileges.join(", "),
            health.database,
            health.user
        )
    };
    if !health.missing_for_push.is_empty() {
        return failed(
            name,
            format!(
                "user {} lacks {} on `{}`: a DBA can grant them with: {}",
                health.user,
                health.missing_for_push.join(", "),
                health.database,
                grant(&PUSH_PRIVILEGES)
            ),
        );
    }
    let may_migrate = health.missing_for_migrate.is_empty();
    let version = match health.applied_version {
        Some(v) => format!("tables at migration {v} of {}", health.expected_version),
        None => "tables not created yet".to_owned(),
    };
    let outcome = match (health.pending_ddl.is_empty(), may_migrate) {
        (true, true) => Ok(format!(
            "user {} may read, write and migrate; {version}",
            health.user
        )),
        (true, false) => Ok(format!(
            "user {} may read and write (not migrate: a DBA runs `jst-sync migrate` after \
             upgrades); {version}",
            health.user
        )),
        (false, true) => Ok(format!(
            "user {} may read, write and migrate; {version}: the next sync migrates them ({})",
            health.user,
            health.pending_ddl.join(", ")
        )),
        (false, false) => Err(format!(
            "{version} and they need {} but user {} lacks {}: run `jst-sync migrate` once as a \
             user with CREATE and ALTER, or grant them with: {}",
            health.pending_ddl.join(", "),
            health.user,
            health.missing_for_migrate.join(", "),
            grant(&MIGRATE_PRIVILEGES)
        )),
    };
    Part { name, outcome }
}

fn mysql_problem(error: &SinkError) -> String {
    match error {
        // The reason may carry its own hint (a refused login names the URL's user and
        // password); only a bare one gets the general hint.
        SinkError::Unreachable { endpoint, reason } if reason.contains("JST_MYSQL_URL") => {
            format!("cannot connect to MySQL at {endpoint}: {reason}")
        }
        SinkError::Unreachable { endpoint, reason } => format!(
            "cannot connect to MySQL at {endpoint}: {reason}: check that the server runs there \
             and JST_MYSQL_URL (mysql.url)"
        ),
        other => chain_of(other),
    }
}

/// Opens an existing staging file read-write and runs `PRAGMA quick_check`; a missing one must
/// be creatable.
fn check_staging(path: &Path) -> Part {
    let name = format!("staging {}", path.display());
    if !path.exists() {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir,
            None => Path::new("."),
        };
        return match tempfile::tempfile_in(dir) {
            Ok(_) => Part {
                name,
                outcome: Ok(format!(
                    "not created yet; the first pull creates it in {}",
                    dir.display()
                )),
            },
            Err(error) => failed(
                name,
                format!(
                    "cannot create files in {} ({error}): create the directory and let this \
                     user write there (under systemd: StateDirectory=), or set JST_STAGING",
                    dir.display()
                ),
            ),
        };
    }
    let outcome = quick_check(path).and_then(|problem| match problem {
        None => Ok("opened read-write; quick_check ok".to_owned()),
        Some(problem) => Err(format!(
            "SQLite's quick_check finds damage ({problem}): see `jst-sync verify --integrity`, \
             restore the file from a backup"
        )),
    });
    Part { name, outcome }
}

/// `Ok(None)` when the file opens read-write and `quick_check` says ok.
fn quick_check(path: &Path) -> Result<Option<String>, String> {
    use rusqlite::{Connection, OpenFlags};
    let cannot = |error: rusqlite::Error| format!("cannot open it read-write: {error}");
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(cannot)?;
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(cannot)? {
        return Err(
            "the file is read-only for this user: give it to the user jst-sync runs as".to_owned(),
        );
    }
    let rows: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect()
        })
        .map_err(|error| format!("cannot read it: {error}"))?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(None)
    } else {
        Ok(Some(rows.join("; ")))
    }
}

fn failed(name: String, problem: String) -> Part {
    Part {
        name,
        outcome: Err(problem),
    }
}
