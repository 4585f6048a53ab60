//! `run --every 5m [--listen 127.0.0.1:9187]`: syncs every merchant on an interval until
//! SIGTERM or Ctrl-C. Each run is an ordinary `sync` (same guarantees, recorded in staging); a
//! failed run is reported (summary, metrics, alert) and the loop goes on.
//!
//! Merchants run side by side, each in its own loop on its own schedule, at most
//! `[run] merchant_concurrency` runs at once: one merchant's failure, ban or slow gateway
//! never delays the others (merchants sharing an app key share its rate limiter, see
//! `source::rate_limit`). With `--listen`, `/metrics`, `/healthz` and the status page are
//! served while it runs. A signal interrupts the waits at once, or stops the current runs after
//! their current step; either way the process exits 0.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;

use super::args::{GlobalArgs, PullArgs, ScheduleArgs};
use super::observe::Observer;
use super::output;
use super::run::load_config;
use crate::config::{Config, parse_duration, parse_listen};
use crate::pipeline::run::{RunOptions, run_command, stop_on_signals};
use crate::telemetry::metrics::{Families, Metrics};
use crate::telemetry::server::{Service, history_from_staging, serve};

type Stop = tokio::sync::watch::Receiver<bool>;

pub(super) async fn run_every(global: &GlobalArgs, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let every = args
        .every
        .as_deref()
        .map(|text| parse_duration(text).map_err(|e| e.context("--every")))
        .transpose()?
        .filter(|d| !d.is_zero());
    let listen = match args.listen.as_deref() {
        Some(text) => Some(parse_listen(text).context("--listen")?),
        None => config.run.listen,
    };
    let stop = stop_on_signals();
    let merchants = config.per_merchant()?;
    let families = Families::default();
    let mut observers: Vec<Observer> = merchants
        .iter()
        .map(|(name, config)| {
            Observer::with_metrics(config, Metrics::new().also_into(&families, name))
        })
        .collect();
    if let Some(address) = listen {
        let histories = {
            let staged: Vec<(String, std::path::PathBuf)> = merchants
                .iter()
                .map(|(name, c)| (name.clone(), c.staging.clone()))
                .collect();
            tokio::task::spawn_blocking(move || {
                staged
                    .iter()
                    .map(|(name, staging)| history_from_staging(name, staging))
                    .collect::<Vec<_>>()
            })
            .await?
        };
        let service = Service::new(
            families.registry(),
            histories,
            config.alerts.max_watermark_lag,
        );
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (--listen)"))?;
        let address = listener.local_addr().unwrap_or(address);
        println!("jst-sync run: serving http://{address}/ (status page), /metrics and /healthz");
        let _ = std::io::stdout().flush();
        tokio::spawn({
            let service = Arc::clone(&service);
            let stop = stop.clone();
            async move {
                if let Err(error) = serve(listener, service, stop).await {
                    tracing::error!(%error, "The status server stopped.");
                }
            }
        });
        observers = observers
            .into_iter()
            .zip(&merchants)
            .map(|(observer, (name, _))| observer.serving(Arc::clone(&service), name))
            .collect();
    }

    let slots = Arc::new(Semaphore::new(config.run.merchant_concurrency));
    let named = merchants.len() > 1;
    let loops: Vec<MerchantLoop> = merchants
        .into_iter()
        .zip(observers)
        .map(|((name, config), observer)| MerchantLoop {
            name,
            config,
            observer,
            pull: args.pull.clone(),
            every,
            slots: Arc::clone(&slots),
            stop: stop.clone(),
            named,
        })
        .collect();
    let (runs, failed) = run_side_by_side(loops).await?;
    if every.is_none() {
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    println!("jst-sync run: stopped by signal after {runs} run(s)");
    Ok(ExitCode::SUCCESS)
}

/// Runs every merchant's loop at once and adds up (runs, any failed). One merchant runs on this
/// runtime; several each get a thread with a runtime of their own, so that neither a slow
/// gateway nor a busy diff of one merchant holds up another.
async fn run_side_by_side(loops: Vec<MerchantLoop>) -> anyhow::Result<(u64, bool)> {
    if loops.len() == 1 {
        let only = loops.into_iter().next().expect("one loop");
        return Ok(merchant_loop(only).await);
    }
    let mut ended = Vec::new();
    for merchant in loops {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let name = merchant.name.clone();
        std::thread::Builder::new()
            .name(format!("merchant-{name}"))
            .spawn(move || {
                let outcome = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(format!("merchant-{}", merchant.name))
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(merchant_loop(merchant)),
                    Err(error) => {
                        tracing::error!(merchant = %merchant.name, %error, "No runtime for the merchant's loop.");
                        (0, true)
                    }
                };
                let _ = tx.send(outcome);
            })
            .with_context(|| format!("cannot start the thread of merchant {name}"))?;
        ended.push((name, rx));
    }
    let (mut runs, mut failed) = (0, false);
    for (name, rx) in ended {
        let (merchant_runs, merchant_failed) = rx
            .await
            .with_context(|| format!("the loop of merchant {name} panicked"))?;
        runs += merchant_runs;
        failed |= merchant_failed;
    }
    Ok((runs, failed))
}

/// One merchant's loop and what it needs.
struct MerchantLoop {
    name: String,
    config: Config,
    observer: Observer,
    pull: PullArgs,
    every: Option<Duration>,
    slots: Arc<Semaphore>,
    stop: Stop,
    /// Several merchants: each summary is headed by the merchant's name.
    named: bool,
}

/// Runs one merchant until the signal (or once, without `--every`). Returns the runs done and
/// whether the last one failed.
async fn merchant_loop(mut m: MerchantLoop) -> (u64, bool) {
    let mut runs = 0u64;
    let mut failed = false;
    loop {
        let started = tokio::time::Instant::now();
        let slot = tokio::select! {
            slot = m.slots.acquire() => slot.expect("the semaphore is never closed"),
            _ = crate::pipeline::stopped(&mut m.stop) => break,
        };
        if *m.stop.borrow() {
            break;
        }
        let options = RunOptions {
            pull: Some(m.pull.clone().into()),
            push: true,
            dry_run: false,
        };
        m.observer.run_started();
        failed = match run_command(&m.config, &options, m.stop.clone()).await {
            Ok(summary) => {
                runs += 1;
                let interrupted = *m.stop.borrow();
                if !interrupted || summary.succeeded {
                    m.observer.after_run(&summary).await;
                }
                // One write, so the summaries of merchants running side by side do not mix.
                let heading = if m.named {
                    format!("== merchant {}\n", m.name)
                } else {
                    String::new()
                };
                {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{heading}{summary}");
                    let _ = out.flush();
                }
                if let Some(error) = &summary.error {
                    output::error(&if m.named {
                        format!("merchant {}: {error}", m.name)
                    } else {
                        error.clone()
                    });
                }
                summary.exit_code() != ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(merchant = %m.name, error = super::error_text::chain(&error), "Run could not start.");
                m.observer.run_not_started("sync", &error).await;
                true
            }
        };
        // Re-read copies older than `[staging] keep_pages` go; the file shrinks.
        super::prune::after_run(&m.config).await;
        drop(slot);
        // `--since` and `--until` are for the first run; later runs continue from the watermark.
        m.pull.since = None;
        m.pull.until = None;
        let Some(every) = m.every else { break };
        if *m.stop.borrow() {
            break;
        }
        let next = started + every;
        tracing::info!(
            merchant = %m.name,
            runs,
            next_in_secs = (next - tokio::time::Instant::now()).as_secs_f64(),
            "Waiting for the next run."
        );
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = crate::pipeline::stopped(&mut m.stop) => break,
        }
    }
    (runs, failed)
}
