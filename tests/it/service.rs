//! Running jst-sync as a service: `run --every --listen` serves `/metrics`, `/healthz` and a
//! status page read in a real headless browser, and runs merchants side by side so a slow
//! gateway delays no one else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jst_sync::gateway::{FakeGateway, Faults, GatewayConfig, ResponseDelay};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, json_of, shop_gateway, visible};

/// `jst-sync run --every <every> --listen 127.0.0.1:0 --since <since>`, not holding back.
fn run_listening(every: &str, since: &str) -> Jst {
    fast(Jst::new(&[
        "run",
        "--every",
        every,
        "--listen",
        "127.0.0.1:0",
        "--since",
        since,
    ]))
}

/// [`run_listening`] for the merchants of `config`, into `db`, with no safety lag (so each run
/// moves the watermarks).
fn run_merchants(every: &str, since: &str, config: &Path, db: &TestDb) -> Jst {
    run_listening(every, since)
        .env("JST_CONFIG", config.display().to_string())
        .env("JST_MYSQL_URL", db.url())
        .env("JST_SAFETY_LAG", "0s")
}

/// A gateway without rate limits for the merchant `customer_id`.
fn for_customer(customer_id: &str) -> GatewayConfig {
    GatewayConfig {
        customer_id: customer_id.into(),
        ..GatewayConfig::unlimited()
    }
}

/// A `jst-sync run --every … --listen 127.0.0.1:0` process and the address it serves on.
struct Daemon {
    child: tokio::process::Child,
    address: String,
    stdout: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts `jst` (which must listen on port 0) and reads the address from its first line.
    async fn start(jst: Jst) -> Daemon {
        let mut child = jst
            .command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let announced = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the daemon announces its address")
            .unwrap()
            .expect("a first line");
        let address = announced
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {announced:?}"))
            .to_owned();
        let stdout = Arc::new(Mutex::new(format!("{announced}\n")));
        let mut errors = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = Arc::clone(&stdout);
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                let mut kept = kept.lock().unwrap();
                kept.push_str("stderr: ");
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let kept = Arc::clone(&stdout);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        Daemon {
            child,
            address,
            stdout,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// GET `path`: the status code and the body.
    async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .expect("the daemon accepts connections");
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.address).as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, body.to_owned())
    }

    /// Polls `path` until `enough` says yes about (status, body).
    async fn wait_for(&self, path: &str, enough: impl Fn(u16, &str) -> bool) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (status, body) = self.get(path).await;
            if enough(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not show what was expected in time: {status}\n{body}\nstdout:\n{}",
                self.stdout.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, then the exit status must be 0 within a minute.
    async fn stop(mut self) -> String {
        let pid = self.child.id().expect("the daemon runs").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the daemon stops within a minute of SIGTERM")
            .unwrap();
        // Let the reader take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stdout = self.stdout.lock().unwrap().clone();
        assert!(status.success(), "exit {status:?}\n{stdout}");
        assert!(stdout.contains("stopped by signal after"), "{stdout}");
        stdout
    }
}

/// A Prometheus text exposition (format 0.0.4), checked line by line: every sample belongs to
/// a family declared by `# TYPE` before it, counters end in `_total`, names and labels are
/// well formed and values are numbers. Returns each series (name with labels, as written) and
/// its value.
fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    fn is_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut series = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_name(name) {
                        return Err(bad("bad metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(bad("unknown type"));
                    }
                    if kind == "counter" && !name.ends_with("_total") {
                        return Err(bad("a counter not named _total"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(bad("a family declared twice"));
                    }
                }
                (Some("HELP"), Some(name), _) if is_name(name) => {}
                (Some("HELP" | "TYPE"), _, _) => return Err(bad("malformed")),
                _ => {}
            }
            continue;
        }
        let (key, value) = line.rsplit_once(' ').ok_or_else(|| bad("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| bad("value is not a number"))?,
        };
        let name = match key.split_once('{') {
            None => key,
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .ok_or_else(|| bad("unclosed labels"))?;
                let mut rest = labels;
                while !rest.is_empty() {
                    let (label, after) = rest.split_once("=\"").ok_or_else(|| bad("bad label"))?;
                    if !is_name(label) {
                        return Err(bad("bad label name"));
                    }
                    // The value runs to the first quote not escaped by a backslash.
                    let mut escaped = false;
                    let end = after
                        .char_indices()
                        .find(|&(_, c)| {
                            let end = c == '"' && !escaped;
                            escaped = c == '\\' && !escaped;
                            end
                        })
                        .map(|(i, _)| i)
                        .ok_or_else(|| bad("unterminated label value"))?;
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
                name
            }
        };
        if !is_name(name) {
            return Err(bad("bad metric name"));
        }
        let family = [
            name,
            name.trim_end_matches("_bucket"),
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|family| types.contains_key(*family))
        .ok_or_else(|| bad("a sample without a # TYPE before it"))?;
        if family != name && types[family] != "histogram" && types[family] != "summary" {
            return Err(bad("a suffixed sample of a family that is not a histogram"));
        }
        if series.insert(key.to_owned(), value).is_some() {
            return Err(bad("a series written twice"));
        }
    }
    Ok(series)
}

#[test]
fn the_prometheus_check_refuses_what_a_scraper_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{m=\"x\\\"y\",n=\"z\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    let parsed = parse_prometheus(good).unwrap();
    assert_eq!(parsed["a_total{m=\"x\\\"y\",n=\"z\"}"], 3.0);
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na 1\n",
        "# TYPE a_total counter\na_total one\n",
        "# TYPE a_total counter\na_total{m=\"x} 1\n",
        "# TYPE g gauge\ng_sum 1\n",
    ] {
        assert!(parse_prometheus(bad).is_err(), "{bad:?} passed");
    }
}

fn metric(series: &BTreeMap<String, f64>, key: &str) -> f64 {
    *series
        .get(key)
        .unwrap_or_else(|| panic!("{key} not served; have {:?}", series.keys()))
}

fn succeeded_syncs(metrics: &str, merchant: &str) -> f64 {
    parse_prometheus(metrics).ok().map_or(0.0, |s| {
        s.get(&format!(
            "jst_sync_runs_total{{merchant=\"{merchant}\",command=\"sync\",outcome=\"succeeded\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_as_prometheus_text_and_their_counters_grow_across_runs() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 61, 20);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let metrics_file = dir.path().join("jst.prom");
    let daemon = Daemon::start(
        run_listening("1s", &since)
            .against(&gateway, &db.url(), &staging)
            .env("JST_METRICS_FILE", metrics_file.display().to_string()),
    )
    .await;

    let (_, first) = daemon
        .wait_for("/metrics", |_, body| {
            succeeded_syncs(body, "default") >= 1.0
        })
        .await;
    let first = parse_prometheus(&first).unwrap_or_else(|e| panic!("{e}\n{first}"));
    let m = |name: &str| format!("{name}{{merchant=\"default\"}}");
    assert_eq!(
        metric(
            &first,
            "jst_sync_orders_total{merchant=\"default\",outcome=\"new\"}"
        ),
        20.0
    );
    assert_eq!(
        metric(
            &first,
            "jst_sync_rows_pushed_total{merchant=\"default\",table=\"orders\"}"
        ),
        20.0
    );
    for served in [
        m("jst_sync_outbox_pending"),
        m("jst_sync_quarantine_open"),
        m("jst_sync_push_latency_seconds_count"),
        "jst_sync_run_duration_seconds_count{merchant=\"default\",command=\"sync\"}".to_owned(),
        format!(
            "jst_sync_watermark_lag_seconds{{merchant=\"default\",source=\"{}\",strategy=\"window\"}}",
            gateway.config().customer_id
        ),
    ] {
        metric(&first, &served);
    }

    // Two more runs: the counters keep counting from where they were.
    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(3, gateway.now());
    let runs = metric(
        &first,
        "jst_sync_runs_total{merchant=\"default\",command=\"sync\",outcome=\"succeeded\"}",
    );
    let (_, later) = daemon
        .wait_for("/metrics", |_, body| {
            succeeded_syncs(body, "default") >= runs + 2.0
        })
        .await;
    let later = parse_prometheus(&later).unwrap_or_else(|e| panic!("{e}\n{later}"));
    let calls = m("jst_sync_api_calls_total");
    assert!(
        metric(&later, &calls) > metric(&first, &calls),
        "API calls did not grow: {} then {}",
        metric(&first, &calls),
        metric(&later, &calls)
    );
    for (key, value) in &first {
        if key.contains("_total") || key.ends_with("_count") {
            assert!(
                later.get(key).is_some_and(|v| v >= value),
                "{key} went from {value} to {:?}",
                later.get(key)
            );
        }
    }
    // The metrics file is written from the same counters, without the merchant label.
    let file = std::fs::read_to_string(&metrics_file).unwrap();
    let file = parse_prometheus(&file).unwrap_or_else(|e| panic!("{e}\n{file}"));
    assert!(metric(&file, "jst_sync_api_calls_total") >= metric(&first, &calls));

    daemon.stop().await;
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_200_while_runs_succeed_and_503_with_the_reason_once_the_gateway_goes_away() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 62, 10);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let daemon = Daemon::start(
        run_listening("1s", &since)
            .against(&gateway, &db.url(), &staging)
            .env("JST_MAX_WATERMARK_LAG", "1h")
            .env("JST_MAX_ATTEMPTS", "1")
            .env("JST_REQUEST_TIMEOUT", "3s"),
    )
    .await;

    let (_, healthy) = daemon.wait_for("/healthz", |status, _| status == 200).await;
    let healthy = json_of(&healthy);
    assert_eq!(healthy["status"], "ok");
    assert_eq!(healthy["merchants"][0]["merchant"], "default");
    assert_eq!(healthy["merchants"][0]["last_run"]["succeeded"], true);

    gateway.shutdown().await;
    let (_, unhealthy) = daemon.wait_for("/healthz", |status, _| status == 503).await;
    let unhealthy = json_of(&unhealthy);
    assert_eq!(unhealthy["status"], "unhealthy");
    let reason = unhealthy["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("merchant default: run ") && reason.contains("failed"),
        "{unhealthy:#}"
    );
    assert_eq!(unhealthy["merchants"][0]["healthy"], false);

    daemon.stop().await;
    db.drop().await;
}

/// A configuration of `[[merchant]]` blocks, one per (name, gateway, table prefix).
fn merchants_config(dir: &Path, merchants: &[(&str, &FakeGateway, &str)]) -> PathBuf {
    let first = merchants[0].1.config();
    let mut text = format!(
        "staging = \"{}\"\n[qimen]\napp_key = \"{}\"\napp_secret = \"{}\"\n",
        dir.join("jst.sqlite").display(),
        first.app_key,
        first.secret.expose()
    );
    for (name, gateway, prefix) in merchants {
        text.push_str(&format!(
            "[[merchant]]\nname = \"{name}\"\ncustomer_id = \"{}\"\napi_url = \"{}\"\ntable_prefix = \"{prefix}\"\n",
            gateway.config().customer_id,
            gateway.url()
        ));
    }
    let path = dir.join("merchants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `status --json` of a staging file (read-only: works while the daemon holds its lock).
async fn status_of(staging: &Path) -> Value {
    let ran = Jst::new(&["status", "--json", "--runs", "20"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success();
    json_of(&ran.stdout())
}

fn chromium_present() -> bool {
    std::process::Command::new("chromium")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs headless Chromium with `args` and then `url`; returns its stdout.
async fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes within 90 s")
    .expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_in_a_real_browser_shows_each_merchants_watermark() {
    if !chromium_present() {
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED the_status_page_in_a_real_browser_shows_each_merchants_watermark: \
             `chromium` is not installed (apt-get install -y chromium; .ci/run installs it)\n!!!!!!!!\n"
        );
        return;
    }
    let (north, since) = shop_gateway(for_customer("111"), 63, 30);
    let (south, _) = shop_gateway(for_customer("222"), 64, 12);
    north.set_churn(jst_sync::gateway::Churn {
        changes_per_request: 1,
        arrivals_per_request: 1,
    });
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = merchants_config(
        dir.path(),
        &[("north", &north, "north_"), ("south", &south, "south_")],
    );
    let daemon = Daemon::start(run_merchants("3s", &since, &config, &db)).await;
    daemon
        .wait_for("/metrics", |_, body| {
            succeeded_syncs(body, "north") >= 2.0 && succeeded_syncs(body, "south") >= 2.0
        })
        .await;

    // The watermarks move with every run, so the page must show the one that one of the
    // merchant's latest runs reached (as its staging file recorded it).
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom"], &daemon.url("/")).await;
    for (name, customer_id) in [("north", "111"), ("south", "222")] {
        let shown = section_of(&dom, name);
        let label = format!("watermark {customer_id} window</span><span class=\"value\">");
        let value = shown
            .split_once(&label)
            .and_then(|(_, rest)| rest.split('<').next())
            .unwrap_or_else(|| panic!("{name}'s watermark is not on the page:\n{shown}"));
        let reached =
            latest_watermarks(&dir.path().join(format!("jst-{name}.sqlite")), customer_id).await;
        assert!(
            reached.iter().any(|w| w == value),
            "{name}'s page shows watermark {value}, its latest runs reached {reached:?}"
        );
        assert!(shown.contains("class=\"badge ok\">healthy"), "{shown}");
        assert!(shown.contains("<circle class=\"point\""), "{shown}");
        assert!(shown.contains("<rect class=\"bar\""), "{shown}");
        assert!(shown.contains("<tr class=\"run\">"), "{shown}");
    }

    // A screenshot renders too; JST_STATUS_SCREENSHOT keeps it (docs/status-page.png).
    let picture = dir.path().join("status-page.png");
    chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", picture.display()),
            "--window-size=1280,900",
            "--hide-scrollbars",
        ],
        &daemon.url("/"),
    )
    .await;
    let png = std::fs::read(&picture).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("JST_STATUS_SCREENSHOT") {
        std::fs::copy(&picture, keep).unwrap();
    }

    daemon.stop().await;
    db.drop().await;
}

/// The window watermark of `source` after each of the latest runs, newest first, from the
/// run summaries in a staging file.
async fn latest_watermarks(staging: &Path, source: &str) -> Vec<String> {
    let status = status_of(staging).await;
    status["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| {
            run["summary"]["watermarks"]
                .as_array()?
                .iter()
                .find(|w| w["source"] == source && w["strategy"] == "window")?["value"]
                .as_str()
                .map(str::to_owned)
        })
        .take(4)
        .collect()
}

/// The part of a dumped DOM that shows one merchant.
fn section_of<'a>(dom: &'a str, merchant: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"merchant-{merchant}\""))
        .unwrap_or_else(|| panic!("no section for {merchant} in:\n{dom}"));
    let end = dom[start..]
        .find("</section>")
        .map_or(dom.len(), |end| start + end);
    &dom[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_behind_a_gateway_that_answers_in_20_s_does_not_delay_the_others() {
    let (quick, since) = shop_gateway(for_customer("111"), 65, 15);
    let (slow, _) = shop_gateway(
        GatewayConfig {
            faults: Faults {
                delay: ResponseDelay::Fixed(Duration::from_secs(20)),
                ..Faults::default()
            },
            ..for_customer("222")
        },
        66,
        5,
    );
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    // The slow merchant comes first: a sequential loop would wait for it.
    let config = merchants_config(
        dir.path(),
        &[("slow", &slow, "slow_"), ("quick", &quick, "")],
    );
    let started = Instant::now();
    let daemon = Daemon::start(run_merchants("1s", &since, &config, &db)).await;

    daemon
        .wait_for("/metrics", |_, body| succeeded_syncs(body, "quick") >= 2.0)
        .await;
    let quick_done = started.elapsed();
    assert!(
        quick_done < Duration::from_secs(15),
        "the quick merchant's two runs took {quick_done:?}"
    );
    // Meanwhile the slow merchant is still in its first run.
    let slow_status = status_of(&dir.path().join("jst-slow.sqlite")).await;
    let slow_runs = slow_status["runs"].as_array().unwrap();
    assert!(
        !slow_runs.is_empty() && slow_runs.iter().all(|r| r["status"] == "running"),
        "{slow_status:#}"
    );
    let (_, page) = daemon.get("/").await;
    assert!(
        section_of(&page, "slow").contains("running for"),
        "{}",
        section_of(&page, "slow")
    );

    daemon.stop().await;
    assert_exact(&db, &visible(&quick)).await;
    db.drop().await;
}
