//! Errors: what is transient, what is refused, and never a password.

use super::*;

#[tokio::test]
async fn data_mysql_refuses_is_rejected_not_transient() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    let mut bad = rows(order(1, "a", &[]), 1, 1);
    let at = Mapping::default().order.position("pay_amount").unwrap();
    bad.order[at] = crate::transform::Cell::Text("abc".into());
    let error = sink
        .write(&[bad, rows(order(2, "b", &[]), 1, 2)])
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::Rejected(_)), "{error:?}");
    assert!(!error.is_transient());
    assert_eq!(
        sink.count_rows().await.unwrap(),
        RowCounts::default(),
        "the whole batch rolled back"
    );
    sink.disconnect().await;
}

#[tokio::test]
async fn unreachable_mysql_is_transient_and_never_shows_the_password() {
    let config = MysqlConfig::new(Secret::new("mysql://root:TopSecret123@127.0.0.1:1/test"));
    let error = match MysqlSink::connect(&config, Mapping::default()).await {
        Ok(_) => panic!("nothing listens on port 1"),
        Err(error) => error,
    };
    let message = format!("{error} {error:?} {config:?}");
    assert!(
        matches!(&error, SinkError::Unreachable { endpoint, .. } if endpoint == "127.0.0.1:1"),
        "{message}"
    );
    assert!(error.is_transient());
    assert!(!message.contains("TopSecret123"), "{message}");
}

#[tokio::test]
async fn a_wrong_password_is_reported_without_it() {
    let db = TestDb::create().await;
    let url = db.url().replacen("root@", "jst_nobody:Wr0ngPass@", 1);
    let error =
        match MysqlSink::connect(&MysqlConfig::new(Secret::new(url)), Mapping::default()).await {
            Ok(_) => panic!("the user does not exist"),
            Err(error) => error,
        };
    let message = format!("{error} {error:?}");
    assert!(matches!(error, SinkError::Unreachable { .. }), "{message}");
    assert!(!message.contains("Wr0ngPass"), "{message}");
}

#[tokio::test]
async fn a_column_dropped_behind_the_sinks_back_is_a_schema_change_not_rejected_data() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    let mut conn = Conn::new(Opts::from_url(&db.url()).unwrap()).await.unwrap();
    conn.query_drop("ALTER TABLE order_list_query DROP COLUMN remark")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    let error = sink
        .write(&[rows(order(1, "a", &[]), 1, 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SinkError::SchemaChanged { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("run `jst-sync migrate`"),
        "{error}"
    );
    assert!(!error.is_data_rejection() && !error.is_transient());
    // Migrating brings the column back and the same batch lands.
    sink.prepare().await.unwrap();
    sink.write(&[rows(order(1, "a", &[]), 1, 1)]).await.unwrap();
    sink.disconnect().await;
}

#[tokio::test]
async fn a_row_over_max_allowed_packet_is_refused_before_it_is_sent() {
    let db = TestDb::create().await;
    let sink = db.sink().await;
    let mut fat = rows(order(1, "a", &[]), 1, 1);
    let at = Mapping::default().order.position("remark").unwrap();
    fat.order[at] = crate::transform::Cell::Text("x".repeat(sink.max_allowed_packet()));
    let error = sink.write(&[fat]).await.unwrap_err();
    assert!(
        matches!(&error, SinkError::PacketTooLarge { .. }),
        "{error:?}"
    );
    assert!(error.is_data_rejection());
    assert!(
        error.to_string().contains("order 1 has a row of about"),
        "{error}"
    );
    sink.disconnect().await;
}
