//! Specifications of the layered configuration.

use super::*;
use crate::source::SignMethod;
use std::collections::HashMap;

fn load(file: Option<&str>, env: &[(&str, &str)]) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jst-sync.toml");
    if let Some(text) = file {
        std::fs::write(&path, text).unwrap();
    }
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(file.map(|_| path.as_path()), |name| env.get(name).cloned())
}

#[test]
fn environment_variables_alone_are_enough() {
    let config = load(
        None,
        &[
            ("JST_API_URL", "http://127.0.0.1:1/router/qm"),
            ("JST_APP_KEY", "k"),
            ("JST_APP_SECRET", "s3cret"),
            ("JST_CUSTOMER_ID", "c"),
            ("JST_SIGN_METHOD", "hmac-sha256"),
            ("JST_MYSQL_URL", "mysql://root:pw@127.0.0.1:3306/test"),
            ("JST_STAGING", "/tmp/x.sqlite"),
        ],
    )
    .unwrap();
    assert!(config.require_source().is_ok());
    assert!(config.require_mysql().is_ok());
    assert_eq!(config.qimen.sign_method, SignMethod::HmacSha256);
    assert_eq!(config.qimen.target_app_key, "23060081");
    assert_eq!(config.staging, PathBuf::from("/tmp/x.sqlite"));
}

#[test]
fn table_names_and_partitioning_come_from_the_file_or_the_environment() {
    let file = "[mysql]\ntable_prefix = \"shop1_\"\npays_table = \"payments\"\npartition_by_month = true\n";
    let config = load(Some(file), &[]).unwrap();
    assert_eq!(config.mysql.table_prefix, "shop1_");
    assert_eq!(config.mysql.pays_table.as_deref(), Some("payments"));
    assert!(config.mysql.partition_by_month);
    let config = load(
        Some(file),
        &[
            ("JST_MYSQL_TABLE_PREFIX", "shop2_"),
            ("JST_MYSQL_PARTITION_BY_MONTH", "false"),
        ],
    )
    .unwrap();
    assert_eq!(config.mysql.table_prefix, "shop2_");
    assert!(!config.mysql.partition_by_month);
    assert!(load(None, &[("JST_MYSQL_PARTITION_BY_MONTH", "maybe")]).is_err());
}

#[test]
fn environment_overrides_the_file() {
    let file = "staging = \"a.sqlite\"\n[qimen]\napp_key = \"from-file\"\npage_size = 20\n[sync]\noverlap = \"15m\"\n";
    let config = load(Some(file), &[("JST_APP_KEY", "from-env")]).unwrap();
    assert_eq!(config.qimen.app_key.as_deref(), Some("from-env"));
    assert_eq!(config.qimen.page_size, 20);
    assert_eq!(config.sync.overlap, Duration::from_secs(900));
    assert_eq!(config.staging, PathBuf::from("a.sqlite"));
}

#[test]
fn missing_credentials_are_all_named() {
    let error = load(None, &[("JST_APP_KEY", "k")])
        .unwrap()
        .require_source()
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("JST_API_URL")
            && message.contains("JST_APP_SECRET")
            && message.contains("JST_CUSTOMER_ID")
    );
    assert!(!message.contains("JST_APP_KEY"), "{message}");
}

#[test]
fn unknown_keys_in_the_file_are_refused() {
    assert!(load(Some("[qimen]\napp_kee = \"typo\"\n"), &[]).is_err());
}

#[test]
fn debug_output_hides_secrets() {
    let config = load(
        None,
        &[
            ("JST_APP_SECRET", "s3cret"),
            ("JST_MYSQL_URL", "mysql://u:pw9@h/db"),
        ],
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("pw9"),
        "{shown}"
    );
}

#[test]
fn merchant_blocks_give_each_merchant_its_credentials_staging_and_tables() {
    let file = "staging = \"data/jst.sqlite\"\n[qimen]\napp_key = \"shared\"\napp_secret = \"s\"\napi_url = \"http://gw/router/qm\"\n\
                [[merchant]]\nname = \"a\"\ncustomer_id = \"1\"\ntable_prefix = \"a_\"\n\
                [[merchant]]\nname = \"b\"\ncustomer_id = \"2\"\napp_key = \"own\"\nstaging = \"b.sqlite\"\n";
    let merchants = load(Some(file), &[]).unwrap().per_merchant().unwrap();
    let names: Vec<&str> = merchants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let (a, b) = (&merchants[0].1, &merchants[1].1);
    assert_eq!(
        (a.qimen.customer_id.as_deref(), a.qimen.app_key.as_deref()),
        (Some("1"), Some("shared"))
    );
    assert_eq!(a.staging, PathBuf::from("data/jst-a.sqlite"));
    assert_eq!(a.mysql.table_prefix, "a_");
    assert_eq!(
        (b.qimen.customer_id.as_deref(), b.qimen.app_key.as_deref()),
        (Some("2"), Some("own"))
    );
    assert_eq!(b.staging, PathBuf::from("b.sqlite"));
}

#[test]
fn without_merchant_blocks_there_is_one_default_merchant() {
    let merchants = load(None, &[]).unwrap().per_merchant().unwrap();
    assert_eq!(merchants.len(), 1);
    assert_eq!(merchants[0].0, "default");
}

#[test]
fn durations_parse_with_units() {
    let cases = [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("45", 45),
    ];
    for (text, seconds) in cases {
        assert_eq!(
            parse_duration(text).unwrap(),
            Duration::from_secs(seconds),
            "{text}"
        );
    }
    assert!(parse_duration("ten minutes").is_err());
}

#[test]
fn durations_read_humantime_forms_and_refuse_what_does_not_fit() {
    assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    for text in [
        "999999999999999999d",
        "99999999999999999999999",
        "3651d",
        "-5m",
        "",
        "10 parsecs",
    ] {
        let error = format!("{:#}", parse_duration(text).unwrap_err());
        assert!(error.contains("3650d"), "{text:?}: {error}");
    }
    let error = load(None, &[("JST_OVERLAP", "999999999999999999d")]).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.starts_with("JST_OVERLAP: "), "{text}");
}

#[test]
fn strings_in_the_file_expand_from_the_environment() {
    let file = "[qimen]\napp_key = \"${KEY}\"\ncustomer_id = \"${SHOP:-42}\"\n[mysql]\nurl = \"mysql://u:${PW}@h/db\"\n";
    let config = load(Some(file), &[("KEY", "k1"), ("PW", "p w\"1")]).unwrap();
    assert_eq!(config.qimen.app_key.as_deref(), Some("k1"));
    assert_eq!(config.qimen.customer_id.as_deref(), Some("42"));
    assert_eq!(
        config.mysql_url.as_ref().map(|u| u.expose().to_owned()),
        Some("mysql://u:p w\"1@h/db".to_owned())
    );
    let error = format!("{:#}", load(Some(file), &[("PW", "x")]).unwrap_err());
    assert!(
        error.contains("qimen.app_key") && error.contains("KEY"),
        "{error}"
    );
}

#[test]
fn each_setting_names_the_layer_it_came_from() {
    let file = "[qimen]\npage_size = 30\napp_key = \"f\"\n";
    let config = load(Some(file), &[("JST_APP_KEY", "e")]).unwrap();
    let origin = |key: &str| {
        config
            .settings()
            .into_iter()
            .find(|s| s.key == key)
            .unwrap()
            .origin
    };
    assert_eq!(origin("qimen.page_size"), Origin::File);
    assert_eq!(
        origin("qimen.app_key"),
        Origin::Environment("JST_APP_KEY".into())
    );
    assert_eq!(origin("qimen.per_second"), Origin::Default);
}

#[test]
fn a_secret_is_read_from_the_file_its_variable_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-file\n").unwrap();
    let path = path.display().to_string();
    let config = load(None, &[("JST_APP_SECRET_FILE", &path)]).unwrap();
    assert_eq!(
        config.qimen.app_secret.as_ref().map(|s| s.expose()),
        Some("from-file")
    );
    assert!(
        load(
            None,
            &[("JST_APP_SECRET_FILE", &path), ("JST_APP_SECRET", "x")]
        )
        .is_err()
    );
    assert!(load(None, &[("JST_APP_SECRET_FILE", "/nonexistent/secret")]).is_err());
}

#[test]
fn run_settings_come_from_the_run_table_and_the_environment_wins() {
    let defaults = load(None, &[]).unwrap();
    assert_eq!(defaults.run.merchant_concurrency, 4);
    assert_eq!(defaults.run.listen, None);
    let file = "[run]\nmerchant_concurrency = 2\nlisten = \"localhost:9187\"\n";
    let config = load(Some(file), &[]).unwrap();
    assert_eq!(config.run.merchant_concurrency, 2);
    assert_eq!(config.run.listen, Some("127.0.0.1:9187".parse().unwrap()));
    let config = load(
        Some(file),
        &[
            ("JST_MERCHANT_CONCURRENCY", "8"),
            ("JST_LISTEN", "[::1]:9000"),
        ],
    )
    .unwrap();
    assert_eq!(config.run.merchant_concurrency, 8);
    assert_eq!(config.run.listen, Some("[::1]:9000".parse().unwrap()));
    let refused = load(Some("[run]\nmerchant_concurrency = 0\n"), &[]).unwrap_err();
    assert!(format!("{refused:#}").contains("merchant_concurrency"));
    let refused = load(None, &[("JST_LISTEN", "9187")]).unwrap_err();
    assert!(format!("{refused:#}").contains("host:port"), "{refused:#}");
}

#[test]
fn keep_pages_comes_from_the_staging_table_or_the_environment_and_defaults_to_90_days() {
    assert_eq!(
        load(None, &[]).unwrap().keep_pages,
        Duration::from_secs(90 * 86400)
    );
    let file = "[staging]\npath = \"b.sqlite\"\nkeep_pages = \"30d\"\n";
    let config = load(Some(file), &[]).unwrap();
    assert_eq!(config.keep_pages, Duration::from_secs(30 * 86400));
    assert_eq!(config.staging, PathBuf::from("b.sqlite"));
    let config = load(Some(file), &[("JST_KEEP_PAGES", "7d")]).unwrap();
    assert_eq!(config.keep_pages, Duration::from_secs(7 * 86400));
    assert!(load(None, &[("JST_KEEP_PAGES", "soon")]).is_err());
}

#[test]
fn load_data_is_on_unless_the_file_or_the_environment_turns_it_off() {
    assert!(load(None, &[]).unwrap().mysql.load_data());
    let file = "[mysql]\nload_data = false\n";
    assert!(!load(Some(file), &[]).unwrap().mysql.load_data());
    let config = load(Some(file), &[("JST_MYSQL_LOAD_DATA", "true")]).unwrap();
    assert!(config.mysql.load_data());
    assert!(load(None, &[("JST_MYSQL_LOAD_DATA", "maybe")]).is_err());
}

#[test]
fn the_qimen_section_reads_durations_and_sizes_as_written_and_leaves_the_rest_at_the_defaults() {
    let file = "[qimen]\nrequest_timeout = \"5s\"\nmax_body = \"2MB\"\narchive_after = \"30d\"\n";
    let config = load(Some(file), &[]).unwrap();
    assert_eq!(config.qimen.request_timeout, Duration::from_secs(5));
    assert_eq!(config.qimen.max_body_bytes, 2 << 20);
    assert_eq!(config.qimen.archive_after, Duration::from_secs(30 * 86400));
    assert_eq!(config.qimen.page_size, 25);
    assert_eq!(config.qimen.max_ban_wait, Duration::from_secs(600));
    assert!(load(Some("[qimen]\nrequest_timeout = \"soon\"\n"), &[]).is_err());
    assert!(
        load(Some("[qimen]\nbase_backoff = \"1s\"\n"), &[]).is_err(),
        "only the keys the file documents are read"
    );
}

#[test]
fn the_mysql_section_keeps_its_url_with_the_secrets_and_the_rest_for_the_sink() {
    let file =
        "[mysql]\nurl = \"mysql://u:pw@h/db\"\norders_table = \"bi_orders\"\nload_data = false\n";
    let config = load(Some(file), &[]).unwrap();
    let sink = config.mysql_sink().unwrap();
    assert_eq!(sink.url.expose(), "mysql://u:pw@h/db");
    assert_eq!(sink.tables().orders, "bi_orders");
    assert_eq!(
        sink.tables()
            .children_of(&crate::transform::Mapping::default()),
        ["order_items", "order_pays"]
    );
    assert!(!sink.load_data);
    assert!(load(Some("[mysql]\nbatch_rows = 5\n"), &[]).is_err());
}

#[test]
fn a_setting_a_client_refuses_is_refused_at_load_in_the_clients_own_words() {
    let loaded = load(None, &[("JST_PAGE_SIZE", "0")])
        .unwrap_err()
        .to_string();
    let built = crate::source::QimenClient::new(crate::source::SourceConfig {
        page_size: 0,
        ..crate::source::SourceConfig::new("http://gw/router/qm", "k", Secret::new("s"), "c")
    })
    .unwrap_err()
    .to_string();
    assert!(built.ends_with(&loaded), "{built} / {loaded}");
    let loaded = load(None, &[("JST_OPENAPI_PAGE_SIZE", "101")])
        .unwrap_err()
        .to_string();
    assert!(loaded.contains("JST_OPENAPI_PAGE_SIZE"), "{loaded}");
    assert!(load(None, &[("JST_MAX_BODY", "10")]).is_err());
}
