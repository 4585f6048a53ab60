//! What the fake open platform refuses, with its codes: signature, timestamp, token, page
//! size, window, rate limits and arguments.

use super::*;

#[tokio::test]
async fn a_wrong_sign_or_an_unknown_app_key_is_refused_with_code_10() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let wrong_secret = Credentials {
        app_secret: Secret::new("not-the-secret"),
        ..Credentials::of(&gateway)
    };
    let unknown_app = Credentials {
        app_key: "someone-else".into(),
        ..Credentials::of(&gateway)
    };
    let mut unsigned = Credentials::of(&gateway).order_query(&past_window());
    unsigned.retain(|(key, _)| key != "sign");
    let mut upper_case = Credentials::of(&gateway).order_query(&past_window());
    upper_case
        .iter_mut()
        .filter(|(key, _)| key == "sign")
        .for_each(|(_, value)| *value = value.to_uppercase());
    for fields in [
        wrong_secret.order_query(&past_window()),
        unknown_app.order_query(&past_window()),
        unsigned,
        upper_case,
    ] {
        let body = post(&gateway, ORDER_QUERY_PATH, &fields).await;
        assert_eq!(code(&body), 10, "{body}");
        assert_eq!(body["data"], Value::Null);
        assert!(body["msg"].as_str().unwrap().contains("签名错误"), "{body}");
    }
    assert_eq!(gateway.stats().calls_with_code(10), 4);
}

#[tokio::test]
async fn a_timestamp_off_by_more_than_the_tolerance_is_refused_with_code_140() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    for offset in [-11 * 60, 11 * 60] {
        let stale = Credentials {
            timestamp: unix_now() + offset,
            ..Credentials::of(&gateway)
        };
        let body = post(
            &gateway,
            ORDER_QUERY_PATH,
            &stale.order_query(&past_window()),
        )
        .await;
        assert_eq!(code(&body), 140, "{body}");
    }
    let nearly = Credentials {
        timestamp: unix_now() - 9 * 60,
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &nearly.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 0, "{body}");
}

#[tokio::test]
async fn a_wrong_access_token_is_refused_with_code_100() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let wrong = Credentials {
        access_token: "not-the-token".into(),
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &wrong.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 100, "{body}");
    assert!(
        !body.to_string().contains("not-the-token"),
        "a token is never echoed"
    );
}

#[tokio::test]
async fn page_size_101_is_refused_and_100_is_accepted() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let refused = query(&gateway, &with(past_window(), json!({"page_size": 101}))).await;
    assert_eq!(code(&refused), 120, "{refused}");
    assert!(refused["msg"].as_str().unwrap().contains("page_size"));
    let accepted = query(&gateway, &with(past_window(), json!({"page_size": 100}))).await;
    assert_eq!(code(&accepted), 0, "{accepted}");
}

#[tokio::test]
async fn a_window_of_eight_days_is_refused_and_one_of_seven_is_accepted() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let window = |days: i64| {
        let end = hours_ago(0);
        json!({
            "modified_begin": beijing_time::format(end - chrono::Duration::days(days)),
            "modified_end": beijing_time::format(end),
        })
    };
    let refused = query(&gateway, &window(8)).await;
    assert_eq!(code(&refused), 120, "{refused}");
    assert!(refused["msg"].as_str().unwrap().contains("7 days"));
    let accepted = query(&gateway, &window(7)).await;
    assert_eq!(code(&accepted), 0, "{accepted}");
    assert_eq!(accepted["data"]["data_count"], 5);
}

#[tokio::test]
async fn the_sixth_call_within_a_second_gets_code_199() {
    let gateway = OpenApiGateway::start(OpenApiConfig::default(), past_shop(5)).unwrap();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(code(&query(&gateway, &past_window()).await));
    }
    assert_eq!(codes, [0, 0, 0, 0, 0, 199]);
    let stats = gateway.stats();
    assert_eq!(
        (
            stats.total_calls,
            stats.successful_calls,
            stats.calls_with_code(199)
        ),
        (6, 5, 1)
    );
    assert_eq!(stats.max_calls_in_any_second, 6);
}

#[tokio::test]
async fn calls_beyond_the_per_minute_limit_get_code_200() {
    let config = OpenApiConfig {
        rate_limits: RateLimits {
            per_second: None,
            per_minute: Some(3),
        },
        ..OpenApiConfig::default()
    };
    let gateway = OpenApiGateway::start(config, past_shop(5)).unwrap();
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(code(&query(&gateway, &past_window()).await));
    }
    assert_eq!(codes, [0, 0, 0, 200]);
}

#[tokio::test]
async fn refused_arguments_are_code_120_naming_the_field() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    for (biz, field) in [
        (json!({}), "required"),
        (
            json!({"modified_begin": "2024-05-01 00:00:00"}),
            "modified_end",
        ),
        (with(past_window(), json!({"page_index": 0})), "page_index"),
        (with(past_window(), json!({"date_type": 1})), "date_type"),
        (json!({"o_ids": "20000001"}), "o_ids"),
        (json!([1, 2]), "JSON object"),
    ] {
        let body = query(&gateway, &biz).await;
        assert_eq!(code(&body), 120, "{body}");
        assert!(body["msg"].as_str().unwrap().contains(field), "{body}");
    }
    let mut no_version = Credentials::of(&gateway).order_query(&past_window());
    no_version.retain(|(key, _)| key != "version" && key != "sign");
    let fields = Credentials::of(&gateway).signed(
        no_version
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect(),
    );
    let body = post(&gateway, ORDER_QUERY_PATH, &fields).await;
    assert_eq!(code(&body), 120, "{body}");
}
