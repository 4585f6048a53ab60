//! The fake open platform as a live shop: injected faults, churn, a skewed clock and late
//! visibility.

use super::*;

#[tokio::test]
async fn injected_faults_give_server_errors_throttling_and_truncated_bodies() {
    let start = |faults: Faults| {
        OpenApiGateway::start(
            OpenApiConfig {
                faults,
                ..OpenApiConfig::unlimited()
            },
            past_shop(3),
        )
        .unwrap()
    };
    let gateway = start(Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    });
    let fields = Credentials::of(&gateway).order_query(&past_window());
    let url = format!("{}{ORDER_QUERY_PATH}", gateway.url());
    let (status, _) = post_raw(&url, &fields).await;
    assert!([500, 502, 503].contains(&status), "{status}");
    assert_eq!(gateway.stats().server_errors, 1);
    let refreshed = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &Credentials::of(&gateway).refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&refreshed), 0, "the refresh route is never faulted");

    let gateway = start(Faults {
        throttle_probability: 1.0,
        ..Faults::default()
    });
    assert_eq!(code(&query(&gateway, &past_window()).await), 199);

    let gateway = start(Faults {
        truncated_body_probability: 1.0,
        ..Faults::default()
    });
    let fields = Credentials::of(&gateway).order_query(&past_window());
    let (status, body) = post_raw(&format!("{}{ORDER_QUERY_PATH}", gateway.url()), &fields).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(gateway.stats().truncated_bodies, 1);
}

#[tokio::test]
async fn churn_changes_and_adds_orders_before_each_successful_page() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(30)).unwrap();
    assert_eq!(
        query(&gateway, &past_window()).await["data"]["data_count"],
        30
    );
    gateway.set_churn(Churn {
        changes_per_request: 1,
        arrivals_per_request: 1,
    });
    let after = query(&gateway, &past_window()).await;
    assert_eq!(
        after["data"]["data_count"], 29,
        "the changed order left the window"
    );
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "one order arrived"
    );
    let refused = query(&gateway, &json!({})).await;
    assert_eq!(code(&refused), 120);
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "no churn before a refusal"
    );
    gateway.set_churn(Churn::default());
    assert_eq!(
        query(&gateway, &past_window()).await["data"]["data_count"],
        29
    );
    assert_eq!(
        gateway.shop().lock().unwrap().len(),
        31,
        "no churn once switched off"
    );
}

#[tokio::test]
async fn a_skewed_clock_moves_the_timestamp_the_platform_accepts() {
    let config = OpenApiConfig {
        clock_offset: chrono::Duration::hours(1),
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(3)).unwrap();
    assert_eq!(code(&query(&gateway, &past_window()).await), 140);
    let ahead = Credentials {
        timestamp: unix_now() + 3600,
        ..Credentials::of(&gateway)
    };
    let body = post(
        &gateway,
        ORDER_QUERY_PATH,
        &ahead.order_query(&past_window()),
    )
    .await;
    assert_eq!(code(&body), 0, "{body}");
    assert!(gateway.now() > beijing_time::now() + chrono::Duration::minutes(59));
}

#[tokio::test]
async fn late_visibility_hides_a_change_until_the_lag_passes() {
    let lag = std::time::Duration::from_secs(1);
    let config = OpenApiConfig {
        visibility_lag: lag,
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(10)).unwrap();
    let o_id = gateway.shop().lock().unwrap().o_ids()[3].clone();
    let by_id = json!({"o_ids": [o_id.parse::<u64>().unwrap()]});
    let original = orders(&query(&gateway, &by_id).await)[0].clone();

    let changed_at = std::time::Instant::now();
    assert!(
        gateway
            .shop()
            .lock()
            .unwrap()
            .modify(&o_id, beijing_time::now())
    );
    let hidden = orders(&query(&gateway, &by_id).await)[0].clone();
    assert_eq!(hidden, original, "the change is not visible yet");

    let deadline = changed_at + std::time::Duration::from_secs(5);
    loop {
        let seen = orders(&query(&gateway, &by_id).await)[0].clone();
        if seen != original {
            assert!(changed_at.elapsed() >= lag, "visible only after the lag");
            assert!(seen["ts"].as_u64() > original["ts"].as_u64());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change never became visible"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
