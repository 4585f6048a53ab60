//! Schema drift: new API fields and JSON type changes reported by `jst-sync schema`, and a new
//! field mapped and filled for history by `replay` without API calls.

use std::path::Path;

use jst_sync::gateway::GatewayConfig;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::schema::{column_type, config_file, o_ids, set_field};
use crate::support::truth::assert_exact;
use crate::support::{Jst, TestDb, shop_gateway, visible};

async fn schema_json(staging: &Path, config: Option<&Path>) -> Value {
    let mut jst = Jst::new(&["schema", "--json"]).env("JST_STAGING", staging.display().to_string());
    if let Some(config) = config {
        jst = jst.env("JST_CONFIG", config.display().to_string());
    }
    serde_json::from_str(&jst.run().await.success().stdout()).expect("schema --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_api_field_is_reported_then_mapped_and_a_replay_fills_it_without_api_calls() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 74, 60);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    let first = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert!(
        !first.stdout().contains("fields   new"),
        "the first run is the baseline:\n{}",
        first.stdout()
    );

    let ids = o_ids(&gateway);
    for o_id in &ids {
        set_field(
            &gateway,
            o_id,
            "gift_note",
            json!(format!("gift for {o_id}")),
        );
    }
    let second = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(
        second.summary_number("fields   new"),
        1,
        "{}",
        second.stdout()
    );
    assert!(
        second.stderr().contains("New field in the API payload"),
        "{}",
        second.stderr()
    );

    let text = Jst::new(&["schema"])
        .env("JST_STAGING", staging.display().to_string())
        .run()
        .await
        .success()
        .stdout();
    let line = text
        .lines()
        .find(|l| l.contains("gift_note"))
        .unwrap_or_else(|| panic!("gift_note not reported:\n{text}"));
    assert!(
        line.contains("first seen run 2 (new)") && line.contains("\"gift for "),
        "{line}"
    );
    let report = schema_json(&staging, None).await;
    let unmapped = &report["unmapped"][0];
    assert_eq!(
        (unmapped["path"].as_str(), unmapped["first_run_id"].as_i64()),
        (Some("gift_note"), Some(2))
    );

    let config = config_file(
        dir.path(),
        "mapped.toml",
        "[[mapping.order.columns]]\nname = \"gift_note\"\nsource = \"gift_note\"\nkind = { type = \"text\", max_chars = 64 }\n",
    );
    let calls = gateway.stats().total_calls;
    let replay = Jst::new(&["replay"])
        .against(&gateway, &db.url(), &staging)
        .env("JST_CONFIG", config.display().to_string())
        .run()
        .await
        .success();

    assert_eq!(replay.summary_number("pushed"), 60, "{}", replay.stdout());
    assert_eq!(
        gateway.stats().total_calls,
        calls,
        "a replay makes no API call"
    );
    let filled: Option<u64> = db
        .conn()
        .await
        .query_first(
            "SELECT COUNT(*) FROM order_list_query WHERE gift_note = CONCAT('gift for ', id)",
        )
        .await
        .unwrap();
    assert_eq!(filled, Some(60));
    assert_eq!(
        column_type(&db, "order_list_query", "gift_note")
            .await
            .unwrap()
            .0,
        "varchar(64)"
    );
    let report = schema_json(&staging, Some(&config)).await;
    assert!(
        report["unmapped"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["path"] != "gift_note"),
        "{report}"
    );
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_that_turns_from_number_to_string_is_reported() {
    let (gateway, since) = shop_gateway(GatewayConfig::default(), 75, 40);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    for o_id in &o_ids(&gateway)[..3] {
        set_field(&gateway, o_id, "freight", json!("12.50"));
    }

    let rerun = Jst::new(&["sync", "--since", &since])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();

    assert_eq!(
        rerun.summary_number("type changes"),
        1,
        "{}",
        rerun.stdout()
    );
    let report = schema_json(&staging, None).await;
    let changes = report["type_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["path"], "freight");
    let types: Vec<&str> = changes[0]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["json_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["number", "string"]);
    assert_eq!(changes[0]["types"][1]["first_run_id"], 2);
    assert_eq!(changes[0]["types"][1]["example"], "\"12.50\"");
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}
