//! Inspecting what jst-sync did: `audit` (every version of an order, a stored page), `status`
//! while a run holds the lock, and `verify` (staging reconciled with MySQL).

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::support::{Jst, SyncedShop, fast, json_of, synced_shop, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_order_shows_every_version_its_origin_and_the_fields_that_changed() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 31, 30).await;
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
    let SyncedShop {
        gateway,
        db,
        dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 32, 5).await;

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
async fn verify_passes_in_sync_reports_pending_as_not_yet_pushed_and_names_drifted_ids() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(GatewayConfig::unlimited(), 36, 50).await;
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
