//! Tokens on the fake open platform: an expired one renewed by a refresh, and a
//! service-provider app that may not refresh.

use super::*;

#[tokio::test]
async fn an_expired_token_works_again_only_as_the_new_token_a_refresh_issues() {
    let gateway = OpenApiGateway::start(OpenApiConfig::unlimited(), past_shop(5)).unwrap();
    let old = Credentials::of(&gateway);
    assert_eq!(code(&query(&gateway, &past_window()).await), 0);
    gateway.expire_token();
    let body = post(&gateway, ORDER_QUERY_PATH, &old.order_query(&past_window())).await;
    assert_eq!(code(&body), 100, "{body}");

    let refreshed = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &old.refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&refreshed), 0, "{refreshed}");
    let data = &refreshed["data"];
    assert_eq!(
        (data["expires_in"].as_u64(), data["scope"].as_str()),
        (Some(2_592_000), Some("all"))
    );
    let new_token = data["access_token"].as_str().unwrap().to_owned();
    let new_refresh = data["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, "fake-access-token");
    assert_ne!(new_refresh, "fake-refresh-token");
    assert_eq!(gateway.current_access_token(), new_token);

    let new = Credentials {
        access_token: new_token,
        ..old.clone()
    };
    let body = post(&gateway, ORDER_QUERY_PATH, &new.order_query(&past_window())).await;
    assert_eq!(code(&body), 0, "{body}");
    let body = post(&gateway, ORDER_QUERY_PATH, &old.order_query(&past_window())).await;
    assert_eq!(code(&body), 100, "the old token stays dead: {body}");
    let again = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &old.refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&again), 100, "the old refresh token stops working");
    let stats = gateway.stats();
    assert_eq!(
        (
            stats.refreshes,
            stats.calls_with_code(100),
            stats.total_calls
        ),
        (1, 3, 6)
    );
}

#[tokio::test]
async fn a_service_provider_app_may_not_refresh_and_gets_code_150() {
    let config = OpenApiConfig {
        refresh_allowed: false,
        ..OpenApiConfig::unlimited()
    };
    let gateway = OpenApiGateway::start(config, past_shop(5)).unwrap();
    let body = post(
        &gateway,
        REFRESH_TOKEN_PATH,
        &Credentials::of(&gateway).refresh("fake-refresh-token"),
    )
    .await;
    assert_eq!(code(&body), 150, "{body}");
    assert!(body["msg"].as_str().unwrap().contains("重新授权"), "{body}");
    assert_eq!(gateway.current_access_token(), "fake-access-token");
}
