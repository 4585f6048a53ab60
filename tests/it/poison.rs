//! One bad order never blocks the rest: an order MySQL refuses for its data (a row over
//! `max_allowed_packet`, a constraint) is quarantined at stage `push` with MySQL's reason, every
//! other order lands, the exit code says orders were set aside, and a later version of the
//! refused order is tried again.

use jst_sync::beijing_time;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::support::private_mariadb::PrivateMariaDb;
use crate::support::truth::assert_exact;
use crate::support::{
    Jst, SyncedShop, TestDb, fast, fast_gateway, json_of, shop_gateway, synced_shop, visible,
};

/// The exit code of a run that set orders aside (README, "Exit codes").
const SET_ASIDE: i32 = 3;

fn except(truth: Vec<Value>, refused: &[String]) -> Vec<Value> {
    truth
        .into_iter()
        .filter(|o| {
            !refused
                .iter()
                .any(|id| o["o_id"].as_str() == Some(id.as_str()))
        })
        .collect()
}

async fn quarantine_json(staging: &std::path::Path) -> Vec<Value> {
    let listed = Jst::new(&["quarantine", "--json", "--all"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    json_of(&listed).as_array().unwrap().clone()
}

async fn last_push_report(staging: &std::path::Path) -> Value {
    let status = Jst::new(&["status", "--json"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    let status = json_of(&status);
    let run = &status["runs"][0];
    let summary = match &run["summary"] {
        Value::String(text) => json_of(text),
        other => other.clone(),
    };
    summary["push"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_over_max_allowed_packet_is_quarantined_and_every_other_order_lands() {
    let (gateway, since) = shop_gateway(fast_gateway(), 71, 300);
    let ids = gateway.shop().lock().unwrap().o_ids();
    let fat = ids[150].clone();
    assert!(gateway.shop().lock().unwrap().set_field(
        &fat,
        "remark",
        json!("备注 too big for one packet ".repeat(70_000))
    ));
    let mut server = PrivateMariaDb::install();
    server.start_with(&["--max-allowed-packet=1M"]).await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let url = server.url("jst");

    let first = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &url, &staging)
        .env("JST_BATCH_ORDERS", "100")
        .run()
        .await;
    assert_eq!(
        first.output.status.code(),
        Some(SET_ASIDE),
        "{}\n{}",
        first.stdout(),
        first.stderr()
    );
    assert!(
        !first.stderr().contains("unreachable"),
        "{}",
        first.stderr()
    );
    let push = last_push_report(&staging).await;
    assert_eq!(push["rejected_by_mysql"], 1, "{push}");
    assert_eq!(push["orders_pushed"], 299, "{push}");
    assert_eq!(push["pending_left"], 0, "{push}");

    let quarantined = quarantine_json(&staging).await;
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0]["o_id"], fat.as_str());
    assert_eq!(quarantined[0]["stage"], "push");
    let reason = quarantined[0]["reason"].as_str().unwrap();
    assert!(reason.contains("max_allowed_packet"), "{reason}");
    let listed = Jst::new(&["quarantine"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    assert!(
        listed.contains(&fat) && listed.contains("push stage"),
        "{listed}"
    );

    let db = TestDb::create_on(&format!("mysql://root@127.0.0.1:{}", server.port()), "jst")
        .await
        .sibling("jst")
        .await;
    assert_exact(&db, &except(visible(&gateway), std::slice::from_ref(&fat))).await;

    // The next run is not blocked by it: nothing changed, nothing to push, exit 0.
    let second = fast(Jst::new(&["sync"]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_eq!(second.summary_number("pushed"), 0, "{}", second.stdout());

    // A later version of the refused order is tried again and lands.
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        assert!(shop.modify(&fat, beijing_time::now()));
        assert!(shop.set_field(&fat, "remark", json!("short again")));
    }
    fast(Jst::new(&["sync"]))
        .against(&gateway, &url, &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
    let quarantined = quarantine_json(&staging).await;
    assert!(quarantined[0]["resolved_at"].is_string(), "{quarantined:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_a_constraint_refuses_are_quarantined_with_mysqls_reason_and_the_rest_land() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(fast_gateway(), 72, 120).await;
    // A DBA adds a rule jst-sync does not know about.
    db.conn()
        .await
        .query_drop(
            "ALTER TABLE order_list_query ADD CONSTRAINT no_poison CHECK (remark IS NULL OR remark NOT LIKE '%POISON%')",
        )
        .await
        .unwrap();
    let ids = gateway.shop().lock().unwrap().o_ids();
    let refused = vec![ids[3].clone(), ids[77].clone()];
    let before = visible(&gateway);
    let later = beijing_time::now();
    let changed = {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        let changed = shop.modify_random(30, later);
        for o_id in &refused {
            assert!(shop.modify(o_id, later));
            assert!(shop.set_field(o_id, "remark", json!("POISON")));
        }
        changed
    };
    let ran = fast(Jst::new(&["sync"]))
        .against(&gateway, &db.url(), &staging)
        .env("JST_BATCH_ORDERS", "50")
        .run()
        .await;
    assert_eq!(
        ran.output.status.code(),
        Some(SET_ASIDE),
        "{}",
        ran.stderr()
    );
    let push = last_push_report(&staging).await;
    assert_eq!(push["rejected_by_mysql"], 2, "{push}");
    let quarantined = quarantine_json(&staging).await;
    let mut listed: Vec<&str> = quarantined
        .iter()
        .map(|q| q["o_id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut expected: Vec<&str> = refused.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for entry in &quarantined {
        assert_eq!(entry["stage"], "push");
        assert!(
            entry["reason"].as_str().unwrap().contains("no_poison"),
            "MySQL's own words: {entry}"
        );
    }
    // MySQL keeps the refused orders' previous versions; every other order is exact.
    let mut truth = except(visible(&gateway), &refused);
    truth.extend(before.into_iter().filter(|o| {
        refused
            .iter()
            .any(|id| o["o_id"].as_str() == Some(id.as_str()))
    }));
    assert!(changed.len() >= 28);
    assert_exact(&db, &truth).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_order_among_new_orders_loaded_with_load_data_is_isolated_and_the_rest_land() {
    let (gateway, since) = shop_gateway(fast_gateway(), 73, 120);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["migrate"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    // A DBA's rule, before the first push: the refused orders are new, in LOAD DATA batches.
    db.conn()
        .await
        .query_drop(
            "ALTER TABLE order_list_query ADD CONSTRAINT no_poison CHECK (remark IS NULL OR remark NOT LIKE '%POISON%')",
        )
        .await
        .unwrap();
    let ids = gateway.shop().lock().unwrap().o_ids();
    let refused = vec![ids[5].clone(), ids[90].clone()];
    {
        let shop = gateway.shop();
        let mut shop = shop.lock().unwrap();
        for o_id in &refused {
            assert!(shop.set_field(o_id, "remark", json!("POISON")));
        }
    }

    let ran = fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .env("JST_BATCH_ORDERS", "50")
        .run()
        .await;

    assert_eq!(
        ran.output.status.code(),
        Some(SET_ASIDE),
        "{}",
        ran.stderr()
    );
    let push = last_push_report(&staging).await;
    assert_eq!(push["rejected_by_mysql"], 2, "{push}");
    assert_eq!(push["orders_pushed"], 118, "{push}");
    assert_eq!(push["pending_left"], 0, "{push}");
    let quarantined = quarantine_json(&staging).await;
    let mut listed: Vec<&str> = quarantined
        .iter()
        .map(|q| q["o_id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut expected: Vec<&str> = refused.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for entry in &quarantined {
        assert_eq!(entry["stage"], "push");
        assert!(
            entry["reason"].as_str().unwrap().contains("no_poison"),
            "MySQL's own words: {entry}"
        );
    }
    assert_exact(&db, &except(visible(&gateway), &refused)).await;
    db.drop().await;
}
