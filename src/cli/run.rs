//! `sync`, `pull` and `push`: one run against staging, the API and MySQL, recorded in staging
//! with its summary. Pulling never depends on MySQL; pushing never calls the API.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use super::args::{Command, GlobalArgs, PullArgs};
use super::error_text::{chain, chain_of};
use super::observe::Observer;
use super::output;
use super::summary::RunSummary;
use crate::beijing_time;
use crate::config::{Config, Strategy};
use crate::pipeline::pull::{self, PlanRequest};
use crate::pipeline::push;
use crate::pipeline::{SharedStaging, with_staging};
use crate::sink::mysql::{MysqlConfig, MysqlSink, TableNames};
use crate::source::{QimenClient, SourceConfig};
use crate::staging::{RequeueFilter, RunStatus, StagingStore};
use crate::transform::Mapping;

/// What one run does.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub pull: Option<PullArgs>,
    pub push: bool,
    pub dry_run: bool,
}

/// Loads the configuration with the global flags applied.
pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref())?;
    if let Some(staging) = &global.staging {
        config.staging = staging.clone();
    }
    if let Some(metrics_file) = &global.metrics_file {
        config.metrics_file = Some(metrics_file.clone());
    }
    Ok(config)
}

pub(super) async fn run_cli_command(
    global: &GlobalArgs,
    command: Command,
) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let options = match command {
        Command::Sync(args) => RunOptions {
            pull: Some(args.pull),
            push: true,
            dry_run: args.dry_run,
        },
        Command::Pull(args) => RunOptions {
            pull: Some(args),
            push: false,
            dry_run: false,
        },
        Command::Push(_) => RunOptions {
            pull: None,
            push: true,
            dry_run: false,
        },
        _ => unreachable!("dispatched elsewhere"),
    };
    let stop = stop_on_signals();
    let merchants = config.per_merchant()?;
    if let [(_, config)] = merchants.as_slice() {
        let mut observer = Observer::new(config);
        let summary = match run_command(config, &options, stop).await {
            Ok(summary) => summary,
            Err(error) => {
                observer
                    .run_not_started(options.command_name(), &error)
                    .await;
                return Err(error);
            }
        };
        observer.after_run(&summary).await;
        return Ok(report_summary(&summary));
    }
    // Several merchants: each runs on its own; one's failure does not stop the others.
    let mut failed = Vec::new();
    for (name, config) in &merchants {
        if *stop.borrow() {
            failed.push(name.clone());
            continue;
        }
        println!("== merchant {name}");
        let mut observer = Observer::new(config);
        match run_command(config, &options, stop.clone()).await {
            Ok(summary) => {
                observer.after_run(&summary).await;
                if report_summary(&summary) != ExitCode::SUCCESS {
                    failed.push(name.clone());
                }
            }
            Err(error) => {
                output::error(&format!("merchant {name}: {}", chain(&error)));
                observer
                    .run_not_started(options.command_name(), &error)
                    .await;
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        output::error(&format!(
            "{} of {} merchants failed: {}",
            failed.len(),
            merchants.len(),
            failed.join(", ")
        ));
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the summary (and the error on stderr) and returns the exit code.
pub(super) fn report_summary(summary: &RunSummary) -> ExitCode {
    print!("{summary}");
    if let Some(error) = &summary.error {
        output::error(error);
    }
    if summary.succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

impl RunOptions {
    /// The command this run is recorded as.
    pub fn command_name(&self) -> &'static str {
        match (&self.pull, self.push) {
            (Some(_), true) => "sync",
            (Some(_), false) => "pull",
            _ => "push",
        }
    }
}

/// A flag that turns true on SIGINT or SIGTERM: the run finishes or rolls back its current
/// step and stops.
pub fn stop_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("Signal received: stopping after the current step.");
        let _ = tx.send(true);
    });
    rx
}

/// Builds the Qimen client from the configuration.
pub fn qimen_client(config: &Config) -> anyhow::Result<QimenClient> {
    let (api_url, app_key, app_secret, customer_id) = config.require_source()?;
    let q = &config.qimen;
    let mut source = SourceConfig::new(api_url, app_key, app_secret, customer_id);
    source.target_app_key = q.target_app_key.clone();
    source.sign_method = q.sign_method;
    source.page_size = q.page_size;
    source.per_second = q.per_second;
    source.per_minute = q.per_minute;
    source.request_timeout = q.request_timeout;
    source.max_attempts = q.max_attempts;
    Ok(QimenClient::new(source)?)
}

/// The transform mapping: the built-in default with the config's `[mapping]` applied.
pub fn mapping(config: &Config) -> anyhow::Result<Mapping> {
    match &config.mapping {
        None => Ok(Mapping::default()),
        Some(table) => {
            let overrides: crate::transform::MappingOverrides = table
                .clone()
                .try_into()
                .context("invalid [mapping] in the config file")?;
            Mapping::with_overrides(&overrides).map_err(anyhow::Error::new)
        }
    }
}

/// The MySQL sink configuration from the configuration: URL, table names, partitioning.
pub fn mysql_config(config: &Config) -> anyhow::Result<MysqlConfig> {
    let mut mysql = MysqlConfig::new(config.require_mysql()?);
    let settings = &config.mysql;
    let prefixed = TableNames::with_prefix(&settings.table_prefix);
    mysql.tables = TableNames {
        orders: settings.orders_table.clone().unwrap_or(prefixed.orders),
        items: settings.items_table.clone().unwrap_or(prefixed.items),
        pays: settings.pays_table.clone().unwrap_or(prefixed.pays),
    };
    mysql.partition_by_month = settings.partition_by_month;
    Ok(mysql)
}

/// Runs one command against staging (and the API and MySQL as `options` say). A failure of a
/// stage is reported in the summary (and the exit code); an error is returned only when the
/// run cannot start at all (bad configuration, staging locked).
pub async fn run_command(
    config: &Config,
    options: &RunOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    execute(config, options, None, stop).await
}

/// [`run_command`], optionally re-enqueuing current versions from staging first (`replay`:
/// then no pull runs and the push writes what was re-enqueued).
pub(super) async fn execute(
    config: &Config,
    options: &RunOptions,
    requeue: Option<&RequeueFilter>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let mapping = mapping(config)?;
    let client = match &options.pull {
        Some(_) => Some(qimen_client(config)?),
        None => None,
    };
    if options.push && !options.dry_run {
        config.require_mysql()?;
    }
    let strategy = match options.pull.as_ref().and_then(|p| p.strategy.as_deref()) {
        Some(text) => text.parse().map_err(anyhow::Error::msg)?,
        None => config.sync.strategy,
    };
    // Arguments are checked before the run is recorded: a typo is not a failed run.
    let bounds = options.pull.as_ref().map(pull_bounds).transpose()?;
    // Only a pull creates the staging file; a push or replay of a missing file is refused.
    let store = if options.pull.is_some() && requeue.is_none() {
        StagingStore::open(&config.staging)?
    } else {
        StagingStore::open_existing(&config.staging)?
    };
    let command = if requeue.is_some() {
        "replay"
    } else {
        options.command_name()
    };
    let run_id = store.begin_run(command, options.pull.as_ref().map(|_| strategy.as_str()))?;
    let staging: SharedStaging = Arc::new(Mutex::new(store));
    let mut summary = RunSummary {
        run_id,
        command: command.into(),
        strategy: options.pull.as_ref().map(|_| strategy.as_str().to_owned()),
        dry_run: options.dry_run,
        ..RunSummary::default()
    };
    let mut errors: Vec<String> = Vec::new();

    if let Some(filter) = requeue {
        let filter = filter.clone();
        let requeued = with_staging(&staging, move |s| s.requeue_current(&filter, run_id)).await?;
        tracing::info!(run = run_id, requeued, "Current versions re-enqueued.");
        summary.requeued = Some(requeued as u64);
    }

    if let (Some(bounds), Some(client)) = (bounds, &client) {
        let source_key = config.qimen.customer_id.clone().unwrap_or_default();
        match plan_pull(config, bounds, strategy, &staging, &source_key).await {
            Ok(plan) => {
                let run = pull::PullRun {
                    run_id,
                    source_key: source_key.clone(),
                    strategy,
                    concurrency: config.sync.window_concurrency,
                };
                let (report, result) = pull::pull(client, &staging, &run, plan, stop.clone()).await;
                if let Err(error) = result {
                    errors.push(chain_of(&error));
                }
                summary.pull = Some(report);
            }
            Err(error) => errors.push(chain(&error)),
        }
        let stats = client.stats();
        summary.api_calls = stats.calls;
        summary.api_retries = stats.retries;
        summary.api_throttled = stats.throttled;
        summary.api_errors_by_code = stats.errors_by_code;
    }

    if options.push && !*stop.borrow() {
        let (report, result) = if options.dry_run {
            // Read-only: connect (no migration) only to tell inserts from updates.
            let probe = match config.require_mysql() {
                Ok(_) => MysqlSink::connect(&mysql_config(config)?, mapping.clone())
                    .await
                    .map_err(|e| chain_of(&e)),
                Err(_) => Err("no MySQL configured (JST_MYSQL_URL)".to_owned()),
            };
            let (mut report, result) = push::dry_run(
                &staging,
                probe.as_ref().ok(),
                &mapping,
                run_id,
                config.sync.batch_orders,
                &stop,
            )
            .await;
            if let (Err(note), Some(dry)) = (&probe, report.dry_run.as_mut()) {
                dry.mysql_note = Some(format!("MySQL not reachable: {note}"));
            }
            if let Ok(sink) = probe {
                sink.disconnect().await;
            }
            (report, result)
        } else {
            match connect_sink(config, &mapping).await {
                Ok(sink) => {
                    let outcome = push::push(
                        &staging,
                        &sink,
                        &mapping,
                        run_id,
                        config.sync.batch_orders,
                        &stop,
                    )
                    .await;
                    sink.disconnect().await;
                    outcome
                }
                Err(error) => {
                    let pending = with_staging(&staging, |s| s.pending_count())
                        .await
                        .unwrap_or(-1);
                    errors.push(format!(
                        "{pending} orders staged, not pushed: {}",
                        chain(&error)
                    ));
                    (
                        push::PushReport {
                            pending_left: pending,
                            ..Default::default()
                        },
                        Ok(()),
                    )
                }
            }
        };
        if let Err(error) = result {
            let pending = report.pending_left;
            errors.push(format!(
                "{pending} orders staged, not pushed: {}",
                chain_of(&error)
            ));
        }
        summary.push = Some(report);
    }

    if let Ok(watermarks) = with_staging(&staging, |s| s.watermarks()).await {
        let now = chrono::Utc::now();
        summary.watermarks = watermarks
            .into_iter()
            .map(
                |(source, strategy, value, updated_at)| crate::telemetry::WatermarkLag {
                    lag_secs: crate::telemetry::watermark_lag(&strategy, &value, &updated_at, now),
                    source,
                    strategy,
                    value,
                },
            )
            .collect();
    }
    summary.succeeded = errors.is_empty();
    summary.error = (!errors.is_empty()).then(|| errors.join("; "));
    summary.duration_secs = started.elapsed().as_secs_f64();
    let record = serde_json::to_value(&summary).expect("summary serialises");
    let status = if summary.succeeded {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    let error = summary.error.clone();
    with_staging(&staging, move |s| {
        s.finish_run(run_id, status, &record, error.as_deref())
    })
    .await?;
    if summary.succeeded {
        tracing::info!(
            run = run_id,
            command,
            secs = summary.duration_secs,
            "Run finished."
        );
    } else {
        // The error itself is said once, by the caller (`report_summary`).
        tracing::error!(run = run_id, command, "Run failed.");
    }
    Ok(summary)
}

/// `--since` and `--until` of a pull, read and checked.
#[derive(Clone, Copy, Debug)]
struct PullBounds {
    since: Option<chrono::NaiveDateTime>,
    until: Option<chrono::NaiveDateTime>,
}

fn pull_bounds(args: &PullArgs) -> anyhow::Result<PullBounds> {
    let parse_time =
        |flag: &str, text: &Option<String>| -> anyhow::Result<Option<chrono::NaiveDateTime>> {
            text.as_deref()
                .map(|t| {
                    beijing_time::parse(t).with_context(|| {
                        format!("{flag} {t:?} is not a Beijing time like \"2024-05-01 00:00:00\"")
                    })
                })
                .transpose()
        };
    let bounds = PullBounds {
        since: parse_time("--since", &args.since)?,
        until: parse_time("--until", &args.until)?,
    };
    if let (Some(since), Some(until)) = (bounds.since, bounds.until)
        && since >= until
    {
        anyhow::bail!(
            "--since {} is not before --until {}: swap them",
            beijing_time::format(since),
            beijing_time::format(until)
        );
    }
    Ok(bounds)
}

async fn plan_pull(
    config: &Config,
    bounds: PullBounds,
    strategy: Strategy,
    staging: &SharedStaging,
    source_key: &str,
) -> anyhow::Result<pull::PullPlan> {
    let request = PlanRequest {
        strategy,
        since: bounds.since,
        until: bounds.until,
        overlap: config.sync.overlap,
        safety_lag: config.sync.safety_lag,
        max_window: std::time::Duration::from_secs(7 * 86400),
        initial_backfill: config.sync.initial_backfill,
    };
    let key = source_key.to_owned();
    let watermark = with_staging(staging, move |s| s.watermark(&key, strategy.as_str())).await?;
    Ok(pull::plan(
        &request,
        watermark.as_deref(),
        beijing_time::now(),
    )?)
}

async fn connect_sink(config: &Config, mapping: &Mapping) -> anyhow::Result<MysqlSink> {
    let sink = MysqlSink::connect(&mysql_config(config)?, mapping.clone()).await?;
    sink.migrate().await?;
    Ok(sink)
}
