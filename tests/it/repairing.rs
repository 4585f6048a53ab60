//! Changing and repairing MySQL from staging without the API: `replay` after a wiped table or
//! a mapping change, filters, a dry run, and the example configuration's mapping.

use std::path::Path;

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, SyncedShop, TestDb, fast, shop_gateway, synced_shop, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_a_wiped_table_from_staging_without_calling_the_api() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 33, 60).await;
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
