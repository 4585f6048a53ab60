//! Running jst-sync for months: the metrics file, webhook alerts, and `run --every` until
//! SIGTERM.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jst_sync::gateway::GatewayConfig;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, json_of, shop_gateway, visible};

/// The value of the sample `name` (with its labels, as written) in a Prometheus text file.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A webhook receiver on loopback that keeps every body it is sent.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    async fn start() -> Webhook {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let app = axum::Router::new().route(
            "/robot/send",
            axum::routing::post(move |body: String| {
                let kept = Arc::clone(&kept);
                async move {
                    kept.lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                    r#"{"errcode":0,"errmsg":"ok"}"#
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/robot/send?access_token=tok3n",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Webhook { url, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_file_counts_api_calls_orders_and_rows_and_is_replaced_atomically() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 38, 25);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let metrics_dir = dir.path().join("metrics");
    std::fs::create_dir(&metrics_dir).unwrap();
    let metrics = metrics_dir.join("jst.prom");

    fast(
        Jst::new(&["sync", "--since", &since, "--metrics-file"]).arg(metrics.display().to_string()),
    )
    .against(&gateway, &db.url(), &staging)
    .run()
    .await
    .success();

    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(&text, "jst_sync_api_calls_total"),
        Some(gateway.stats().total_calls as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, "jst_sync_orders_total{outcome=\"new\"}"),
        Some(25.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "jst_sync_rows_pushed_total{table=\"orders\"}"),
        Some(25.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "jst_sync_runs_total{command=\"sync\",outcome=\"succeeded\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "jst_sync_outbox_pending"),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "jst_sync_push_duration_seconds").is_some(),
        "{text}"
    );
    // Every order of this run had its wait from page receipt to commit measured.
    assert_eq!(
        sample(&text, "jst_sync_freshness_orders_total"),
        Some(25.0),
        "{text}"
    );
    assert!(
        sample(&text, "jst_sync_freshness_max_seconds").is_some_and(|s| s >= 0.0),
        "{text}"
    );
    let lag = sample(
        &text,
        "jst_sync_watermark_lag_seconds{source=\"10969016\",strategy=\"window\"}",
    )
    .expect("lag");
    assert!((0.0..120.0).contains(&lag), "{text}");

    // The environment variable works too, and a failed run counts its error code.
    Jst::new(&["pull"])
        .against(&gateway, &db.url(), &staging)
        .env("JST_METRICS_FILE", metrics.display().to_string())
        .env("JST_APP_SECRET", "wrong")
        .env("JST_WINDOW_CONCURRENCY", "1")
        .run()
        .await
        .failure();
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(&text, "jst_sync_api_errors_total{code=\"25\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "jst_sync_last_run_success{command=\"pull\"}"),
        Some(0.0),
        "{text}"
    );
    let files: Vec<_> = std::fs::read_dir(&metrics_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        files,
        vec![std::ffi::OsString::from("jst.prom")],
        "temporary files were left behind"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_posts_an_alert_in_the_configured_format() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 39, 5);
    let webhook = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let failing = |format: &str| {
        Jst::new(&["sync", "--since", &since])
            .against(&gateway, "mysql://root@127.0.0.1:3306/unused", &staging)
            .env("JST_APP_SECRET", "wrong")
            .env("JST_WINDOW_CONCURRENCY", "1")
            .env("JST_ALERT_WEBHOOK_URL", webhook.url.clone())
            .env("JST_ALERT_FORMAT", format)
    };

    let ran = failing("json").run().await.failure();
    failing("dingtalk").run().await.failure();
    failing("wecom").run().await.failure();

    let bodies = webhook.bodies();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "run_failed");
    assert_eq!(bodies[0]["command"], "sync");
    assert_eq!(bodies[0]["run_id"], 1);
    assert!(
        bodies[0]["error"]
            .as_str()
            .unwrap()
            .contains("Invalid signature"),
        "{bodies:?}"
    );
    for robot in &bodies[1..] {
        assert_eq!(robot["msgtype"], "text");
        let content = robot["text"]["content"].as_str().unwrap();
        assert!(
            content.starts_with("jst-sync sync run ") && content.contains("Invalid signature"),
            "{content}"
        );
    }
    assert!(
        !ran.stderr().contains("tok3n") && !ran.stdout().contains("tok3n"),
        "the webhook token leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_lagging_beyond_the_limit_posts_an_alert() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 40, 10);
    let webhook = Webhook::start().await;
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let until =
        jst_sync::beijing_time::format(jst_sync::beijing_time::now() - chrono::Duration::days(2));

    fast(Jst::new(&["sync", "--since", &since, "--until", &until]))
        .against(&gateway, &db.url(), &staging)
        .env("JST_ALERT_WEBHOOK_URL", webhook.url.clone())
        .env("JST_MAX_WATERMARK_LAG", "1h")
        .run()
        .await
        .success();

    let bodies = webhook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "watermark_lag");
    assert_eq!(bodies[0]["watermark"], until.as_str());
    assert!(
        bodies[0]["lag_secs"].as_f64().unwrap() >= 2.0 * 86400.0 - 60.0,
        "{bodies:?}"
    );
    db.drop().await;
}

/// Polls `status --json` (read-only, so it works while the daemon holds the lock) until
/// `enough` says yes.
async fn wait_for_status(staging: &Path, enough: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ran = Jst::new(&["status", "--json", "--runs", "20"])
            .env("JST_STAGING", staging.display().to_string())
            .run()
            .await;
        if ran.output.status.success() {
            let status = json_of(&ran.stdout());
            if enough(&status) {
                return status;
            }
        }
        assert!(
            Instant::now() < deadline,
            "status did not show the expected runs in time:\n{}",
            ran.stdout()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_every_keeps_syncing_until_sigterm_then_exits_cleanly() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 41, 20);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let daemon = fast(Jst::new(&["run", "--every", "1s", "--since", &since])).against(
        &gateway,
        &db.url(),
        &staging,
    );
    let mut command = daemon.command();
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let finished_syncs = |status: &Value| {
        status["runs"].as_array().map_or(0, |runs| {
            runs.iter()
                .filter(|r| r["command"] == "sync" && r["status"] == "succeeded")
                .count()
        })
    };
    wait_for_status(&staging, |s| finished_syncs(s) >= 1).await;
    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(2, gateway.now());
    let status = wait_for_status(&staging, |s| finished_syncs(s) >= 3).await;
    assert!(
        status["runs"][0]["summary"]["pull"]["windows_planned"]
            .as_u64()
            .is_some()
    );

    let pid = child.id().expect("daemon runs").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the daemon stops within a minute of SIGTERM")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("stopped by signal after"), "{stdout}");
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}
