//! Operating jst-sync: audit, replay, dry run, verify, a configurable mapping, metrics, alerts
//! and the schedule — each driven through the real binary against the fake gateway and MariaDB.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, fast, shop_gateway, visible};

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The value of the sample `name` (with its labels, as written) in a Prometheus text file.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_order_shows_every_version_its_origin_and_the_fields_that_changed() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 31, 30);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let o_id = gateway.shop().lock().unwrap().o_ids()[0].clone();
    gateway.shop().lock().unwrap().modify(&o_id, gateway.now());
    fast(Jst::new(&["sync"]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let text = Jst::new(&["audit", "order", &o_id])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success()
        .stdout();
    assert!(
        text.contains(&format!("order {o_id}: 2 version(s)")),
        "{text}"
    );
    assert!(
        text.contains("(current)") && text.contains("outbox #") && text.contains("pushed"),
        "{text}"
    );
    assert!(
        text.contains("changes from the previous version:") && text.contains("modified: \""),
        "{text}"
    );

    let report = json_of(
        &Jst::new(&["audit", "order", &o_id, "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success()
            .stdout(),
    );
    let versions = report["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["changes_from_previous"], serde_json::json!([]));
    let changes: Vec<&str> = versions[1]["changes_from_previous"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(changes.iter().any(|c| c.starts_with("ts: ")), "{changes:?}");
    assert_eq!(
        versions[1]["order"]["o_id"].to_string().trim_matches('"'),
        o_id
    );
    assert_eq!(
        versions[1]["first_run_id"], 2,
        "the second sync brought the second version"
    );
    assert_eq!(versions[1]["current"], true);

    let page_id = versions[1]["first_page_id"].as_i64().unwrap().to_string();
    let raw = Jst::new(&["audit", "raw", &page_id])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success()
        .stdout();
    assert!(
        raw.contains("method = jushuitan.order.list.query") && raw.contains(&o_id),
        "{raw}"
    );
    assert!(
        !raw.contains("sign = ") && !raw.contains("fake-app-secret"),
        "{raw}"
    );
    let raw_json = json_of(
        &Jst::new(&["audit", "raw", &page_id, "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(raw_json["http_status"], 200);
    assert_eq!(raw_json["body"]["response"]["flag"], "success");
    assert!(
        raw_json["params"].get("sign").is_none() && raw_json["params"]["sign_method"].is_string()
    );

    let unknown = Jst::new(&["audit", "order", "1"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure();
    assert!(
        unknown.stderr().contains("no order with o_id"),
        "{}",
        unknown.stderr()
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_audit_read_staging_while_a_run_holds_its_lock() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 32, 5);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let _held = jst_sync::staging::StagingStore::open(&staging).unwrap();
    let status = json_of(
        &Jst::new(&["status", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .success()
            .stdout(),
    );
    assert_eq!(status["counts"]["current_orders"], 5);
    assert_eq!(status["runs"][0]["summary"]["push"]["orders_pushed"], 5);
    let text = Jst::new(&["status"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success()
        .stdout();
    assert!(text.contains("pushed 5 orders, pending 0"), "{text}");
    let o_id = gateway.shop().lock().unwrap().o_ids()[0].clone();
    Jst::new(&["audit", "order", &o_id])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let missing = Jst::new(&["status"])
        .env(
            "JST_STAGING",
            dir.path().join("none.sqlite").display().to_string(),
        )
        .run()
        .await
        .failure();
    assert!(
        missing.stderr().contains("run `jst-sync sync` first"),
        "{}",
        missing.stderr()
    );
    assert!(
        !dir.path().join("none.sqlite").exists(),
        "a read-only status must not create a staging file"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_a_wiped_table_from_staging_without_calling_the_api() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 33, 60);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let calls = gateway.stats().total_calls;
    {
        let mut conn = db.conn().await;
        for table in ["order_items", "order_pays", "order_list_query"] {
            conn.query_drop(format!("DELETE FROM {table}"))
                .await
                .unwrap();
        }
    }

    let replay = Jst::new(&["replay"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(
        replay.summary_number("re-enqueued"),
        60,
        "{}",
        replay.stdout()
    );
    assert_eq!(replay.summary_number("pushed"), 60);
    assert_exact(&db, &visible(&gateway)).await;

    let one = gateway.shop().lock().unwrap().o_ids()[7].clone();
    let single = Jst::new(&["replay", "--order", &one])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(single.summary_number("pushed"), 1, "{}", single.stdout());

    let mut modified: Vec<String> = visible(&gateway)
        .iter()
        .map(|o| o["modified"].as_str().unwrap().to_owned())
        .collect();
    modified.sort();
    let since_tenth_newest = modified[modified.len() - 10].clone();
    let recent = Jst::new(&["replay", "--since", &since_tenth_newest])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let expected = modified
        .iter()
        .filter(|m| **m >= since_tenth_newest)
        .count() as u64;
    assert_eq!(
        recent.summary_number("pushed"),
        expected,
        "{}",
        recent.stdout()
    );

    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "replay must not call the API"
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_change_then_replay_fills_a_new_column_and_cleans_text_with_zero_api_calls() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 34, 40);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let padded = gateway.shop().lock().unwrap().o_ids()[3].clone();
    gateway.shop().lock().unwrap().set_field(
        &padded,
        "remark",
        Value::String("  keep me \u{3000}".into()),
    );
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let calls = gateway.stats().total_calls;

    let config = dir.path().join("jst-sync.toml");
    std::fs::write(
        &config,
        r#"
[[mapping.order.columns]]
name = "remark"
clean = ["trim"]

[[mapping.order.columns]]
name = "receiver_address"
source = "receiver_address"
kind = { type = "long_text" }
"#,
    )
    .unwrap();
    Jst::new(&["replay", "--config"])
        .arg(config.display().to_string())
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "a mapping change is applied from staging alone"
    );
    let mut conn = db.conn().await;
    let remark: Option<String> = conn
        .exec_first(
            "SELECT remark FROM order_list_query WHERE id = ?",
            (padded.parse::<i64>().unwrap(),),
        )
        .await
        .unwrap()
        .flatten();
    assert_eq!(remark.as_deref(), Some("keep me"));
    let rows: Vec<(i64, Option<String>)> = conn
        .query("SELECT id, receiver_address FROM order_list_query")
        .await
        .unwrap();
    assert_eq!(rows.len(), 40);
    for order in visible(&gateway) {
        let id: i64 = order["o_id"]
            .as_str()
            .map_or_else(|| order["o_id"].to_string(), str::to_owned)
            .parse()
            .unwrap();
        let want = order["receiver_address"].as_str().filter(|a| !a.is_empty());
        let have = rows
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, a)| a.as_deref());
        assert_eq!(have, want, "receiver_address of order {id}");
    }
    drop(conn);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_inserts_and_updates_per_table_and_writes_and_marks_nothing() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 35, 40);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");

    let first = fast(Jst::new(&["sync", "--dry-run", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let out = first.stdout();
    assert!(out.contains("would push 40 orders"), "{out}");
    assert!(out.contains("orders: insert 40, update 0"), "{out}");
    assert!(out.contains("nothing was written to MySQL"), "{out}");
    assert_eq!(
        db.try_count("order_list_query").await.unwrap_or(0),
        0,
        "a dry run wrote to MySQL"
    );

    let push = Jst::new(&["push"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(
        push.summary_number("pushed"),
        40,
        "the dry run must not have marked the outbox:\n{}",
        push.stdout()
    );
    let rows_changed = db.rows_changed().await;

    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(2, gateway.now());
    let second = fast(Jst::new(&["sync", "--dry-run"]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert!(
        second.stdout().contains("orders: insert 0, update 2"),
        "{}",
        second.stdout()
    );
    assert_eq!(
        db.rows_changed().await,
        rows_changed,
        "a dry run wrote to MySQL"
    );

    let unreachable = Jst::new(&["sync", "--dry-run"])
        .against(&gateway, &db.url(), &staging)
        .env("JST_MYSQL_URL", "mysql://root@127.0.0.1:1/nowhere")
        .run()
        .await
        .success();
    assert!(
        unreachable
            .stdout()
            .contains("2 orders: inserts and updates not told apart (MySQL not reachable"),
        "{}",
        unreachable.stdout()
    );

    let real = fast(Jst::new(&["sync"]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(real.summary_number("pushed"), 2, "{}", real.stdout());
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_in_sync_reports_pending_as_not_yet_pushed_and_names_drifted_ids() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 36, 50);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let ok = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success()
        .stdout();
    assert!(
        ok.contains("in sync") && ok.contains("orders   staging 50 / MySQL 50"),
        "{ok}"
    );

    gateway
        .shop()
        .lock()
        .unwrap()
        .modify_random(1, gateway.now());
    fast(Jst::new(&["pull"]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let pending = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success()
        .stdout();
    assert!(
        pending.contains("not yet pushed 1") && pending.contains("in sync"),
        "{pending}"
    );
    Jst::new(&["push"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    let ids: Vec<i64> = gateway
        .shop()
        .lock()
        .unwrap()
        .o_ids()
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
    let with_items = visible(&gateway)
        .iter()
        .filter(|o| o["items"].as_array().is_some_and(|items| !items.is_empty()))
        .map(|o| {
            o["o_id"]
                .as_str()
                .map_or_else(|| o["o_id"].to_string(), str::to_owned)
                .parse::<i64>()
                .unwrap()
        })
        .find(|id| *id != ids[0] && *id != ids[1])
        .expect("an order with items");
    let (gone, edited, childless) = (ids[0], ids[1], with_items);
    {
        let mut conn = db.conn().await;
        conn.exec_drop("DELETE FROM order_list_query WHERE id = ?", (gone,))
            .await
            .unwrap();
        conn.exec_drop(
            "UPDATE order_list_query SET so_id = 'tampered' WHERE id = ?",
            (edited,),
        )
        .await
        .unwrap();
        conn.exec_drop("DELETE FROM order_items WHERE o_id = ?", (childless,))
            .await
            .unwrap();
        conn.query_drop("CREATE TEMPORARY TABLE stray AS SELECT * FROM order_list_query LIMIT 1")
            .await
            .unwrap();
        conn.query_drop("UPDATE stray SET id = 987654321")
            .await
            .unwrap();
        conn.query_drop("INSERT INTO order_list_query SELECT * FROM stray")
            .await
            .unwrap();
    }
    let drift = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(
        drift.contains(&format!("DRIFT in staging, missing in MySQL: 1 ({gone})")),
        "{drift}"
    );
    assert!(
        drift.contains("DRIFT in MySQL, unknown to staging: 1 (987654321)"),
        "{drift}"
    );
    assert!(
        drift.contains(&format!("DRIFT columns differ: 1 ({edited} so_id")),
        "{drift}"
    );
    assert!(
        drift.contains(&format!("DRIFT item row count differs: 1 ({childless})")),
        "{drift}"
    );

    let report = json_of(
        &Jst::new(&["verify", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .failure()
            .stdout(),
    );
    assert_eq!(report["in_sync"], false);
    assert_eq!(
        report["drift"]["missing_in_mysql"]["first"],
        serde_json::json!([gone])
    );

    // Replay repairs what staging knows; the stray row is not staging's to delete.
    Jst::new(&["replay"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    let after = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(
        after.contains("unknown to staging: 1") && !after.contains("missing in MySQL"),
        "{after}"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_an_order_deletes_it_from_mysql_on_replay_and_verify_expects_it_gone() {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 37, 30);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let o_ids = gateway.shop().lock().unwrap().o_ids();
    gateway
        .shop()
        .lock()
        .unwrap()
        .set_field(&o_ids[0], "shop_id", Value::String("424242".into()));
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(db.count("order_list_query").await, 30);

    let config = dir.path().join("jst-sync.toml");
    std::fs::write(&config, "[mapping.filter]\nskip_shop_ids = [424242]\n").unwrap();
    let with_config = |args: &[&str]| {
        Jst::new(args)
            .arg("--config")
            .arg(config.display().to_string())
            .against(&gateway, &db.url(), &staging)
    };
    let before = with_config(&["verify"]).run().await.failure().stdout();
    assert!(
        before.contains(&format!(
            "although the mapping filters them: 1 ({})",
            o_ids[0]
        )),
        "{before}"
    );

    let replay = with_config(&["replay"]).run().await.success();
    assert!(
        replay.stdout().contains("filtered 1"),
        "{}",
        replay.stdout()
    );
    assert_eq!(db.count("order_list_query").await, 29);
    with_config(&["verify"]).run().await.success();
    db.drop().await;
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

#[test]
fn the_example_config_loads_and_its_commented_mapping_builds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/jst-sync.example.toml");
    jst_sync::config::Config::load(Some(&path)).expect("the example config loads");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("# [mapping.filter]")
        .expect("the example has a [mapping] section");
    let uncommented: String = text[start..]
        .lines()
        .filter_map(|line| {
            line.strip_prefix("# ")
                .or_else(|| (line == "#").then_some(""))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let table: toml::Table =
        toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let overrides: jst_sync::transform::MappingOverrides = table["mapping"]
        .clone()
        .try_into()
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    jst_sync::transform::Mapping::with_overrides(&overrides).expect("the example mapping is valid");
}
