//! `jst-sync config`: the resolved configuration, each value with the layer it came from,
//! every secret masked; `${VAR}` in the file, secrets read from `*_FILE`s, and a warning when
//! a file holding a secret is readable by others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::support::{Jst, json_of};

/// Every secret a configuration can hold, each a string found nowhere else.
const SECRETS: [&str; 8] = [
    "app-secret-5521",
    "mysql-pw-5522",
    "open-secret-5523",
    "access-token-5524",
    "refresh-token-5525",
    "robot-token-5526",
    "SECsigning-5527",
    "merchant-secret-5528",
];

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The settings of `config --json`, by key: (value, origin as printed in text).
fn settings(ran: &crate::support::binary::Ran) -> std::collections::BTreeMap<String, Value> {
    json_of(&ran.stdout())["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

#[tokio::test]
async fn every_secret_is_masked_wherever_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jst-sync.toml");
    write_private(
        &file,
        &format!(
            "[qimen]\napp_secret = \"{}\"\n[openapi]\napp_secret = \"{}\"\n\
             [alerts]\nwebhook_url = \"https://oapi.dingtalk.com/robot/send?access_token={}\"\n\
             format = \"dingtalk\"\nsecret = \"{}\"\n\
             [[merchant]]\nname = \"a\"\ncustomer_id = \"1\"\napp_secret = \"{}\"\n",
            SECRETS[0], SECRETS[2], SECRETS[5], SECRETS[6], SECRETS[7]
        ),
    );
    let token_file = dir.path().join("access_token");
    write_private(&token_file, &format!("{}\n", SECRETS[3]));
    for json in [false, true] {
        let mut jst = Jst::new(&["config", "--config", file.to_str().unwrap()])
            .env(
                "JST_MYSQL_URL",
                format!("mysql://app:{}@db:3306/bi", SECRETS[1]),
            )
            .env(
                "JST_OPENAPI_ACCESS_TOKEN_FILE",
                token_file.display().to_string(),
            )
            .env("JST_OPENAPI_REFRESH_TOKEN", SECRETS[4]);
        if json {
            jst = jst.arg("--json");
        }
        let ran = jst.run().await.success();
        let (out, err) = (ran.stdout(), ran.stderr());
        for secret in SECRETS {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "{secret} shown:\n{out}\n{err}"
            );
        }
        assert!(out.contains("mysql://app:***@db:3306/bi"), "{out}");
        assert!(out.contains("https://oapi.dingtalk.com/***"), "{out}");
    }
}

#[tokio::test]
async fn each_value_says_whether_it_is_a_default_or_from_the_file_the_environment_or_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jst-sync.toml");
    write_private(
        &file,
        "[qimen]\npage_size = 50\napp_key = \"from-file\"\n[sync]\noverlap = \"15m\"\n",
    );
    let ran = Jst::new(&["config", "--json", "--config", file.to_str().unwrap()])
        .arg("--staging")
        .arg(dir.path().join("flag.sqlite").display().to_string())
        .env("JST_APP_KEY", "from-env")
        .run()
        .await
        .success();
    let settings = settings(&ran);
    let origin = |key: &str| settings[key]["origin"].clone();
    let value = |key: &str| settings[key]["value"].as_str().unwrap().to_owned();
    assert_eq!(
        origin("qimen.page_size"),
        serde_json::json!({"layer": "file"})
    );
    assert_eq!(value("qimen.page_size"), "50");
    assert_eq!(value("sync.overlap"), "\"15m\"");
    assert_eq!(
        origin("qimen.app_key"),
        serde_json::json!({"layer": "environment", "name": "JST_APP_KEY"})
    );
    assert_eq!(value("qimen.app_key"), "\"from-env\"");
    assert_eq!(
        origin("staging"),
        serde_json::json!({"layer": "flag", "name": "--staging"})
    );
    assert_eq!(
        origin("qimen.per_second"),
        serde_json::json!({"layer": "default"})
    );
    assert_eq!(value("qimen.per_second"), "5");

    // The text form says the same on one line per setting.
    let text = Jst::new(&["config", "--config", file.to_str().unwrap()])
        .env("JST_APP_KEY", "from-env")
        .run()
        .await
        .success()
        .stdout();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key}:\n{text}"))
            .to_owned()
    };
    assert!(line("qimen.page_size").ends_with(" file"), "{text}");
    assert!(
        line("qimen.app_key").ends_with(" environment (JST_APP_KEY)"),
        "{text}"
    );
    assert!(line("qimen.per_minute").ends_with(" default"), "{text}");
}

#[tokio::test]
async fn the_file_expands_variables_with_defaults_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jst-sync.toml");
    write_private(
        &file,
        "[qimen]\napi_url = \"http://${GW_HOST}/router/qm\"\ncustomer_id = \"${SHOP:-10969016}\"\n\
         app_secret = \"${QIMEN_SECRET}\"\n",
    );
    let ran = Jst::new(&["config", "--json", "--config", file.to_str().unwrap()])
        .env("GW_HOST", "gw.internal:8080")
        .env("QIMEN_SECRET", "expanded-secret-881")
        .run()
        .await
        .success();
    let settings = settings(&ran);
    assert_eq!(
        settings["qimen.api_url"]["value"],
        "\"http://gw.internal:8080/router/qm\""
    );
    assert_eq!(settings["qimen.customer_id"]["value"], "\"10969016\"");
    assert_eq!(settings["qimen.app_secret"]["value"], "***");
    assert!(!ran.stdout().contains("expanded-secret-881"));

    let refused = Jst::new(&["config", "--config", file.to_str().unwrap()])
        .env("GW_HOST", "gw.internal:8080")
        .run()
        .await
        .failure();
    let err = refused.stderr();
    assert!(
        err.contains("qimen.app_secret") && err.contains("QIMEN_SECRET"),
        "{err}"
    );
}

#[tokio::test]
async fn secrets_are_read_from_files_without_their_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("app_secret");
    write_private(&secret_file, "file-secret-991\n");
    let url_file = dir.path().join("mysql_url");
    write_private(&url_file, "mysql://u:file-pw-992@h:3306/bi\r\n");
    let ran = Jst::new(&["config", "--json"])
        .env("JST_APP_SECRET_FILE", secret_file.display().to_string())
        .env("JST_MYSQL_URL_FILE", url_file.display().to_string())
        .run()
        .await
        .success();
    let settings = settings(&ran);
    assert_eq!(
        settings["qimen.app_secret"]["origin"],
        serde_json::json!({"layer": "environment", "name": "JST_APP_SECRET_FILE"})
    );
    // The URL read has no newline left: the masked form ends with the database.
    assert_eq!(
        settings["mysql.url"]["value"],
        "\"mysql://u:***@h:3306/bi\""
    );
    assert!(!ran.stdout().contains("file-pw-992") && !ran.stdout().contains("file-secret-991"));

    // The value itself and a file of it at once is a mistake worth stopping for.
    Jst::new(&["config"])
        .env("JST_APP_SECRET_FILE", secret_file.display().to_string())
        .env("JST_APP_SECRET", "other")
        .run()
        .await
        .failure();
}

#[tokio::test]
async fn a_file_holding_a_secret_readable_by_others_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jst-sync.toml");
    std::fs::write(&file, "[qimen]\napp_secret = \"world-readable-771\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = Jst::new(&["config", "--config", file.to_str().unwrap()])
        .run()
        .await
        .success();
    let err = ran.stderr();
    assert!(err.contains("readable by group or others"), "{err}");
    assert!(
        err.contains("qimen.app_secret") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains("world-readable-771") && !ran.stdout().contains("world-readable-771"));

    // Private, or holding only references, it is not.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let quiet = Jst::new(&["config", "--config", file.to_str().unwrap()])
        .run()
        .await
        .success();
    assert!(
        !quiet.stderr().contains("readable by group"),
        "{}",
        quiet.stderr()
    );
    std::fs::write(&file, "[qimen]\napp_secret = \"${QIMEN_SECRET}\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let referenced = Jst::new(&["config", "--config", file.to_str().unwrap()])
        .env("QIMEN_SECRET", "s")
        .run()
        .await
        .success();
    assert!(
        !referenced.stderr().contains("readable by group"),
        "{}",
        referenced.stderr()
    );

    // A secret file readable by others is warned about too.
    let secret_file = dir.path().join("app_secret");
    std::fs::write(&secret_file, "s\n").unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = Jst::new(&["config"])
        .env("JST_APP_SECRET_FILE", secret_file.display().to_string())
        .run()
        .await
        .success();
    assert!(
        ran.stderr().contains("JST_APP_SECRET_FILE"),
        "{}",
        ran.stderr()
    );
}
