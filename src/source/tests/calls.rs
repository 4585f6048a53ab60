//! One call: signing, the envelope, failures, retries, the rate limit and the configuration.

use super::*;

#[tokio::test]
async fn requests_are_signed_form_posts_and_the_sign_stays_out_of_request_params() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    for method in [SignMethod::Md5, SignMethod::HmacMd5, SignMethod::HmacSha256] {
        let mut config = config(&gateway.url);
        config.sign_method = method;
        let page = client(config)
            .fetch_page(&PageQuery::window(day(), 1, 25).with_filter("status", "Sent"))
            .await
            .unwrap();
        assert_eq!(page.orders.len(), 1);
        assert!(page.request_params.iter().all(|(k, _)| k != "sign"));
        let call = gateway.calls().pop().unwrap();
        assert_eq!(
            call.content_type,
            "application/x-www-form-urlencoded; charset=UTF-8"
        );
        let mut sent = call.params.clone();
        assert!(sent.remove("sign").is_some());
        let kept: BTreeMap<String, String> = page.request_params.iter().cloned().collect();
        assert_eq!(kept, sent);
        for (key, value) in [
            ("method", "jushuitan.order.list.query"),
            ("app_key", "12345678"),
            ("target_app_key", "23060081"),
            ("customer_id", "10969016"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", method.as_param()),
            ("start_time", "2024-05-01 00:00:00"),
            ("end_time", "2024-05-02 00:00:00"),
            ("date_type", "0"),
            ("page_index", "1"),
            ("page_size", "25"),
            ("status", "Sent"),
        ] {
            assert_eq!(call.param(key), value, "{key}");
        }
        let stamped = beijing_time::parse(call.param("timestamp")).unwrap();
        assert!((beijing_time::now() - stamped).num_seconds().abs() <= 60);
    }
}

#[tokio::test]
async fn an_invalid_signature_fails_at_once_with_the_gateways_message() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    let mut config = config(&gateway.url);
    config.app_secret = Some(Secret::new("the-wrong-secret"));
    let client = client(config);
    let error = client
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Rejected { code: 25, .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let shown = chain(&error);
    assert_eq!(
        shown,
        "gateway rejected the request: code 25 (Invalid signature) [request_id test-req]: \
         check JST_APP_SECRET and JST_SIGN_METHOD"
    );
    let sent_sign = gateway.calls()[0].param("sign").to_owned();
    for text in [shown, format!("{error:?}")] {
        assert!(!text.contains("the-wrong-secret") && !text.contains(&sent_sign));
    }
    assert_eq!(gateway.calls().len(), 1, "a rejection is not retried");
    let stats = client.stats();
    assert_eq!((stats.calls, stats.retries, stats.pages), (1, 0, 0));
    assert_eq!(stats.errors_by_code.get("25"), Some(&1));
}

#[tokio::test]
async fn throttling_server_errors_and_unreadable_bodies_are_retried_then_succeed() {
    type FirstAnswer = (&'static str, fn() -> Reply);
    let first_answers: Vec<FirstAnswer> = vec![
        ("199", || {
            Reply::Json(failure(199, "more than 5 calls a second"))
        }),
        ("200", || {
            Reply::Json(failure(200, "more than 100 calls a minute"))
        }),
        ("http_503", || Reply::Status(503, "busy".into())),
        ("malformed", || {
            Reply::Raw(r#"{"response":{"flag":"success","orders":[{"o_id":"1""#.into())
        }),
        ("malformed", || {
            Reply::Raw("<response><code>0</code></response>".into())
        }),
    ];
    for (key, first) in first_answers {
        let gateway = TestGateway::start(move |call| {
            if call.number == 0 {
                first()
            } else {
                one_order_page()
            }
        })
        .await;
        let client = client(config(&gateway.url));
        let page = client
            .fetch_page(&PageQuery::window(day(), 1, 25))
            .await
            .unwrap();
        assert_eq!(page.orders.len(), 1, "{key}");
        assert_eq!(gateway.calls().len(), 2, "{key}");
        let stats = client.stats();
        assert_eq!(
            (stats.calls, stats.retries, stats.pages),
            (2, 1, 1),
            "{key}"
        );
        assert_eq!(stats.errors_by_code.get(key), Some(&1), "{key}");
        assert_eq!(
            stats.throttled,
            u64::from(key == "199" || key == "200"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn retries_exhausted_names_the_attempts_and_the_last_error() {
    let gateway = TestGateway::start(|_| Reply::Status(503, "busy".into())).await;
    let mut config = config(&gateway.url);
    config.max_attempts = 3;
    let error = client(config)
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::RetriesExhausted { attempts: 3, .. }
    ));
    assert_eq!(
        chain(&error),
        format!(
            "gave up after 3 attempts: gateway at {} answered HTTP 503: the gateway is failing; try again later",
            gateway.url
        )
    );
    assert_eq!(gateway.calls().len(), 3);
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_transport_error_without_the_query_string() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/router/qm", listener.local_addr().unwrap());
    drop(listener);
    let mut config = config(&format!("{url}?app_key=1"));
    config.max_attempts = 2;
    let error = client(config)
        .fetch_page(&PageQuery::window(day(), 1, 25))
        .await
        .unwrap_err();
    let SourceError::RetriesExhausted { last, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        matches!(
            **last,
            SourceError::Transport {
                timed_out: false,
                ..
            }
        ),
        "{last:?}"
    );
    let shown = chain(&error);
    assert!(
        shown.starts_with(&format!(
            "gave up after 2 attempts: could not reach the gateway at {url}: "
        )),
        "{shown}"
    );
    assert!(!shown.contains("app_key=1"), "{shown}");
}

#[tokio::test]
async fn paging_fields_under_data_are_understood() {
    let gateway = TestGateway::start(|call| {
        let mut answer = shop_of(30, 1).answer(call);
        let response = answer["response"].as_object_mut().unwrap();
        let mut data = serde_json::Map::new();
        for key in [
            "page_size",
            "page_index",
            "data_count",
            "page_count",
            "has_next",
            "orders",
        ] {
            data.insert(key.to_owned(), response.remove(key).unwrap());
        }
        response.insert("data".into(), data.into());
        Reply::Json(answer)
    })
    .await;
    let (tx, rx) = page_channel();
    let report = client(config(&gateway.url))
        .pull_window(day(), &tx)
        .await
        .unwrap();
    assert_eq!(
        (report.calls, report.distinct_orders, report.data_count_last),
        (3, 30, Some(30))
    );
    assert_eq!(ids_of(&drain(rx)), (1..=30).collect());
}

#[tokio::test]
async fn concurrent_calls_through_one_client_never_exceed_the_per_second_limit() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    let mut config = config(&gateway.url);
    config.per_second = 20;
    let client = client(config);
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let client = client.clone();
        calls.spawn(async move {
            client
                .fetch_page(&PageQuery::window(day(), 1, 25))
                .await
                .map(|_| ())
        });
    }
    for result in calls.join_all().await {
        result.unwrap();
    }
    let elapsed = started.elapsed();
    let mut arrivals: Vec<std::time::Instant> = gateway.calls().iter().map(|c| c.arrived).collect();
    arrivals.sort();
    let busiest = (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|a| **a - arrivals[i] < Duration::from_millis(900))
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(
        busiest, 20,
        "at most 20 calls reach the gateway within any second"
    );
    assert!(
        elapsed >= Duration::from_millis(990) && elapsed < Duration::from_millis(1600),
        "{elapsed:?}"
    );
}

#[test]
fn a_configuration_that_cannot_work_is_refused_before_any_call() {
    let mut bad = config("http://127.0.0.1:1/router/qm");
    bad.filters.push(("page_size".into(), "100".into()));
    assert_eq!(
        QimenClient::new(bad).unwrap_err().to_string(),
        "invalid source configuration: filter \"page_size\" would override a parameter the client sets itself"
    );
    let mut bad = config("ftp://gw/router/qm");
    bad.page_size = 25;
    assert!(matches!(QimenClient::new(bad), Err(SourceError::Config(_))));
    let mut bad = config("http://gw/router/qm");
    bad.app_secret = Some(Secret::new(""));
    assert!(matches!(QimenClient::new(bad), Err(SourceError::Config(_))));
}

#[tokio::test]
async fn whitespace_only_parameters_are_neither_sent_nor_signed() {
    let gateway = TestGateway::start(|_| one_order_page()).await;
    let mut config = config(&gateway.url);
    config.session = Some(Secret::new("   "));
    config.filters = vec![("shop_id".into(), " \t".into())];
    let page = client(config)
        .fetch_page(&PageQuery::window(day(), 1, 25).with_filter("status", "  "))
        .await
        .expect("the gateway accepts the signature made without them");
    assert_eq!(page.orders.len(), 1);
    let call = gateway.calls().pop().unwrap();
    for key in ["session", "shop_id", "status"] {
        assert!(!call.params.contains_key(key), "{key} was sent");
    }
}
