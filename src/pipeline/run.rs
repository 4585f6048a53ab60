//! A run: one `sync`, `pull`, `push` or `replay` against staging, the API and MySQL, recorded
//! in staging with its summary — the sources pulled each with its own watermark, then the
//! outbox pushed. Pulling never depends on MySQL; pushing never calls the API. The CLI parses
//! and prints; this is where the stages are tied together.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use super::follow::connect_sink;
use super::plan::{PullBounds, plan_pull, wait_for_a_known_ban};
use super::pull;
use super::push;
use super::summary::RunSummary;
use super::{SharedStaging, with_staging};
use crate::beijing_time;
use crate::config::{Config, SourceKind, Strategy};
use crate::error_text::{chain, chain_of};
use crate::sink::mysql::{MysqlConfig, MysqlSink};
use crate::source::QimenClient;
use crate::staging::{RequeueFilter, RunStatus, StagingStore};
use crate::transform::Mapping;

/// What one run does.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub pull: Option<PullOptions>,
    pub push: bool,
    pub dry_run: bool,
}

/// What a pull reads: `--since`, `--until` (Beijing time, as given) and the strategy.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    pub since: Option<String>,
    pub until: Option<String>,
    /// `window` or `ts`; the configuration's when `None`.
    pub strategy: Option<String>,
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
    Ok(QimenClient::new(config.qimen_source()?)?)
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
    config.mysql_sink()
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
pub async fn execute(
    config: &Config,
    options: &RunOptions,
    requeue: Option<&RequeueFilter>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let mapping = mapping(config)?;
    // Every source's client is built (and its configuration checked) before a run is recorded.
    let clients: Vec<SourceClient> = match &options.pull {
        Some(_) => config
            .sources
            .iter()
            .map(|kind| SourceClient::build(config, *kind))
            .collect::<anyhow::Result<_>>()?,
        None => Vec::new(),
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

    // A `sync` pushes while it pulls: the push follows the outbox as the pull fills it.
    let streaming = bounds.is_some() && options.push && !options.dry_run;
    let clock = push::PushClock {
        run_started: started,
        arrivals: crate::pipeline::freshness::Arrivals::default(),
    };
    let (pull_done, pull_done_rx) = tokio::sync::watch::channel(false);
    let pulling = async {
        let pulled = match bounds {
            Some(bounds) => Some(
                pull_sources(
                    config,
                    bounds,
                    strategy,
                    &staging,
                    run_id,
                    &clients,
                    &clock.arrivals,
                    stop.clone(),
                )
                .await,
            ),
            None => None,
        };
        let _ = pull_done.send(true);
        pulled
    };
    let following = async {
        if streaming {
            Some(
                super::follow::follow_pull(
                    config,
                    &mapping,
                    &staging,
                    run_id,
                    &stop,
                    &clock,
                    pull_done_rx,
                )
                .await,
            )
        } else {
            None
        }
    };
    let (pulled, followed) = tokio::join!(pulling, following);
    if let Some(pulled) = pulled {
        let (report, stats, pull_errors) = pulled?;
        summary.pull = report;
        errors.extend(pull_errors);
        summary.api_calls = stats.calls;
        summary.api_retries = stats.retries;
        summary.api_throttled = stats.throttled;
        summary.api_errors_by_code = stats.errors_by_code;
    }
    if let Some((report, push_errors)) = followed {
        summary.push = Some(report);
        errors.extend(push_errors);
    }

    if options.push && !streaming && !*stop.borrow() {
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
                    let outcome = push::push_measured(
                        &staging,
                        &sink,
                        &mapping,
                        run_id,
                        config.sync.batch_orders,
                        &stop,
                        &clock,
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
            .map(|(source, strategy, value, updated_at)| {
                crate::pipeline::watermark_lag::WatermarkLag {
                    lag_secs: crate::pipeline::watermark_lag::watermark_lag(
                        &strategy,
                        &value,
                        &updated_at,
                        now,
                    ),
                    source,
                    strategy,
                    value,
                }
            })
            .collect();
    }
    if let Ok(backlog) = with_staging(&staging, |s| s.backlog()).await {
        let sizes = super::summary::StagingSizes {
            outbox_pending: backlog.outbox_pending,
            quarantine_open: backlog.quarantine_open,
        };
        summary.staging_sizes = Some(sizes);
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

/// Pulls every route in turn into staging. Returns the pulls' report, their counters and the
/// errors that stopped them (`Err` only when staging fails).
#[allow(clippy::too_many_arguments)]
async fn pull_sources(
    config: &Config,
    bounds: PullBounds,
    strategy: Strategy,
    staging: &SharedStaging,
    run_id: i64,
    clients: &[SourceClient],
    arrivals: &crate::pipeline::freshness::Arrivals,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(
    Option<pull::PullReport>,
    crate::source::SourceStats,
    Vec<String>,
)> {
    let mut total: Option<pull::PullReport> = None;
    let mut stats = crate::source::SourceStats::default();
    let mut errors = Vec::new();
    for client in clients {
        let (report, source_stats, error) = pull_source(
            config,
            bounds,
            strategy,
            staging,
            run_id,
            client,
            arrivals,
            stop.clone(),
        )
        .await?;
        if let Some(report) = report {
            match total.as_mut() {
                Some(total) => total.absorb(report),
                None => total = Some(report),
            }
        }
        stats.add(&source_stats);
        if let Some(error) = error {
            errors.push(if clients.len() > 1 {
                format!("{}: {error}", client.kind().as_str())
            } else {
                error
            });
        }
    }
    Ok((total, stats, errors))
}

/// Reads and checks a pull's `--since` and `--until`.
fn pull_bounds(args: &PullOptions) -> anyhow::Result<PullBounds> {
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

/// One route's client, built from the configuration.
pub enum SourceClient {
    Qimen(QimenClient),
    OpenApi(crate::source::openapi::OpenApiClient),
}

impl SourceClient {
    fn build(config: &Config, kind: SourceKind) -> anyhow::Result<SourceClient> {
        Ok(match kind {
            SourceKind::Qimen => SourceClient::Qimen(qimen_client(config)?),
            SourceKind::Openapi => SourceClient::OpenApi(openapi_client(config)?),
        })
    }

    fn kind(&self) -> SourceKind {
        match self {
            SourceClient::Qimen(_) => SourceKind::Qimen,
            SourceClient::OpenApi(_) => SourceKind::Openapi,
        }
    }

    /// Whose watermarks: the Qimen `customer_id`, or `openapi:<app_key>`.
    fn source_key(&self, config: &Config) -> String {
        match self {
            SourceClient::Qimen(_) => config.qimen.customer_id.clone().unwrap_or_default(),
            SourceClient::OpenApi(client) => format!("openapi:{}", client.config().app_key),
        }
    }
}

/// Builds the open-platform client from the configuration; a renewed token pair is kept beside
/// the staging file.
pub fn openapi_client(config: &Config) -> anyhow::Result<crate::source::openapi::OpenApiClient> {
    Ok(crate::source::openapi::OpenApiClient::new(
        config.openapi_source()?,
    )?)
}

/// Pulls one route into staging: its own watermark, its own plan. Returns its report, its
/// counters and the error that stopped it, if any (`Err` only when staging fails).
#[allow(clippy::too_many_arguments)]
async fn pull_source(
    config: &Config,
    bounds: PullBounds,
    strategy: Strategy,
    staging: &SharedStaging,
    run_id: i64,
    client: &SourceClient,
    arrivals: &crate::pipeline::freshness::Arrivals,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(
    Option<pull::PullReport>,
    crate::source::SourceStats,
    Option<String>,
)> {
    let source_key = client.source_key(config);
    let run = pull::PullRun {
        run_id,
        source_key: source_key.clone(),
        strategy,
        concurrency: config.sync.window_concurrency,
        arrivals: arrivals.clone(),
    };
    let archive_after = match client {
        SourceClient::Qimen(_) => config.qimen.archive_after,
        // The open platform has no archive query.
        SourceClient::OpenApi(_) => std::time::Duration::ZERO,
    };
    let ban = match client {
        SourceClient::Qimen(qimen) => {
            let app_key = qimen.app_key();
            wait_for_a_known_ban(config, staging, app_key, stop.clone()).await
        }
        SourceClient::OpenApi(_) => Ok(()),
    };
    let planned = match ban {
        Ok(()) => {
            plan_pull(
                config,
                bounds,
                strategy,
                archive_after,
                staging,
                &source_key,
            )
            .await
        }
        Err(error) => Err(error),
    };
    let (report, error) = match (planned, client) {
        (Ok(plan), SourceClient::Qimen(qimen)) => {
            let (report, result) = pull::pull(qimen, staging, &run, plan, stop).await;
            (Some(report), result.err().map(|e| chain_of(&e)))
        }
        (Ok(plan), SourceClient::OpenApi(open)) => {
            let (report, result) = pull::pull(open, staging, &run, plan, stop).await;
            (Some(report), result.err().map(|e| chain_of(&e)))
        }
        (Err(error), _) => (None, Some(chain(&error))),
    };
    let stats = match client {
        SourceClient::Qimen(qimen) => {
            if let Some((until, message)) = qimen.banned_until() {
                let ban = crate::staging::GatewayBan {
                    until: beijing_time::to_utc(until),
                    message,
                };
                let key = qimen.app_key().to_owned();
                with_staging(staging, move |s| s.set_ban(&key, &ban, run_id)).await?;
            }
            qimen.stats()
        }
        SourceClient::OpenApi(open) => crate::source::PageFetcher::stats(open),
    };
    Ok((report, stats, error))
}
