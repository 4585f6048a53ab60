//! Alerts as the robots take them: DingTalk with its signing secret (加签, `timestamp` and
//! `sign` in the URL) and Feishu/Lark (签名校验, `timestamp` and `sign` in the body), checked
//! by a local receiver that computes the signature on its own; the secret is never shown.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use jst_sync::gateway::GatewayConfig;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Jst, shop_gateway};

const SECRET: &str = "SECrobot-signing-6613";
const TOKEN: &str = "robot-token-6614";

/// Standard base64, written here again so the receiver does not trust jst-sync's own.
fn base64(bytes: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                alphabet[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// What the receiver saw of one POST.
#[derive(Clone, Debug)]
struct Received {
    signature_ok: bool,
    body: Value,
}

/// A robot on loopback that checks each message's signature against `SECRET` as the vendor
/// does, and answers as the vendor does (refusing a bad signature with HTTP 200 and a code).
struct Robot {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Robot {
    async fn start(vendor: &'static str) -> Robot {
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        let app = axum::Router::new().fallback(axum::routing::post(
            move |uri: axum::http::Uri, body: String| {
                let kept = Arc::clone(&kept);
                async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let now = chrono::Utc::now();
                    let (signature_ok, answer) = if vendor == "dingtalk" {
                        let query: std::collections::HashMap<String, String> =
                            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                                .into_owned()
                                .collect();
                        let timestamp: i64 = query.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
                        let expected = base64(&hmac_sha256(
                            SECRET.as_bytes(),
                            format!("{timestamp}\n{SECRET}").as_bytes(),
                        ));
                        let ok = query.get("access_token").map(String::as_str) == Some(TOKEN)
                            && (now.timestamp_millis() - timestamp).abs() < 3_600_000
                            && query.get("sign") == Some(&expected);
                        let answer = if ok {
                            json!({"errcode": 0, "errmsg": "ok"})
                        } else {
                            json!({"errcode": 310000, "errmsg": "sign not match"})
                        };
                        (ok, answer)
                    } else {
                        let timestamp: i64 = body["timestamp"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                        let expected = base64(&hmac_sha256(format!("{timestamp}\n{SECRET}").as_bytes(), b""));
                        let ok = uri.path().ends_with(TOKEN)
                            && (now.timestamp() - timestamp).abs() < 3600
                            && body["sign"].as_str() == Some(expected.as_str());
                        let answer = if ok {
                            json!({"code": 0, "msg": "success", "data": {}})
                        } else {
                            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
                        };
                        (ok, answer)
                    };
                    kept.lock().unwrap().push(Received { signature_ok, body });
                    answer.to_string()
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = match vendor {
            "dingtalk" => format!("http://{address}/robot/send?access_token={TOKEN}"),
            _ => format!("http://{address}/open-apis/bot/v2/hook/{TOKEN}"),
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Robot { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A sync that fails (a wrong app secret), alerting `robot` as `format` signed with `secret`.
async fn failing_sync(robot: &Robot, format: &str, secret: &str) -> crate::support::binary::Ran {
    let (gateway, since) = shop_gateway(GatewayConfig::unlimited(), 401, 5);
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    Jst::new(&["sync", "--since", &since])
        .against(&gateway, "mysql://root@127.0.0.1:3306/unused", &staging)
        .env("JST_APP_SECRET", "wrong")
        .env("JST_ALERT_WEBHOOK_URL", robot.url.clone())
        .env("JST_ALERT_FORMAT", format)
        .env("JST_ALERT_SECRET", secret)
        .run()
        .await
        .failure()
}

#[track_caller]
fn assert_nothing_leaked(ran: &crate::support::binary::Ran, secret: &str) {
    for text in [ran.stdout(), ran.stderr()] {
        assert!(!text.contains(secret), "the signing secret leaked:\n{text}");
        assert!(!text.contains(TOKEN), "the robot token leaked:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dingtalk_robot_with_a_signing_secret_accepts_the_signed_alert() {
    let robot = Robot::start("dingtalk").await;
    let ran = failing_sync(&robot, "dingtalk", SECRET).await;
    let received = robot.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].signature_ok, "{received:?}");
    assert_eq!(received[0].body["msgtype"], "text");
    assert!(ran.stderr().contains("Alert sent"), "{}", ran.stderr());
    assert_nothing_leaked(&ran, SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feishu_bot_with_a_signing_secret_accepts_the_signed_alert() {
    let robot = Robot::start("feishu").await;
    let ran = failing_sync(&robot, "feishu", SECRET).await;
    let received = robot.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].signature_ok, "{received:?}");
    let body = &received[0].body;
    assert_eq!(body["msg_type"], "text");
    assert!(
        body["content"]["text"]
            .as_str()
            .unwrap()
            .starts_with("jst-sync sync run 1 failed"),
        "{body}"
    );
    assert!(ran.stderr().contains("Alert sent"), "{}", ran.stderr());
    assert_nothing_leaked(&ran, SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_that_refuses_the_signature_is_reported_as_not_delivered() {
    for vendor in ["dingtalk", "feishu"] {
        let robot = Robot::start(vendor).await;
        let ran = failing_sync(&robot, vendor, "SECnot-the-robots-6615").await;
        let received = robot.received();
        assert_eq!(received.len(), 1, "{vendor}: {received:?}");
        assert!(!received[0].signature_ok, "{vendor}");
        let err = ran.stderr();
        assert!(err.contains("Alert not delivered"), "{vendor}: {err}");
        assert_nothing_leaked(&ran, "SECnot-the-robots-6615");
    }
}

#[tokio::test]
async fn a_signing_secret_for_a_receiver_that_does_not_sign_is_refused() {
    let ran = Jst::new(&["config"])
        .env("JST_ALERT_FORMAT", "wecom")
        .env("JST_ALERT_SECRET", SECRET)
        .run()
        .await
        .failure();
    assert!(
        ran.stderr().contains("dingtalk or feishu"),
        "{}",
        ran.stderr()
    );
    assert_nothing_leaked(&ran, SECRET);
}
