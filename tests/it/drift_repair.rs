//! A column someone else dropped is re-added and refilled for every order, and `verify` checks
//! content (every mapped column and the fingerprint of the version written), so it fails while
//! the column is empty and passes once it is refilled.

use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::support::truth::assert_exact;
use crate::support::{Jst, SyncedShop, TestDb, fast, fast_gateway, json_of, synced_shop, visible};

async fn filled_remarks(db: &TestDb) -> u64 {
    db.conn()
        .await
        .query_first("SELECT COUNT(*) FROM order_list_query WHERE remark IS NOT NULL")
        .await
        .unwrap()
        .unwrap_or(0)
}

fn with_remark(truth: &[Value]) -> u64 {
    truth
        .iter()
        .filter(|o| o.get("remark").is_some_and(|r| !r.is_null()))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_column_is_re_added_and_refilled_and_verify_fails_until_it_is() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(fast_gateway(), 101, 120).await;
    let truth = visible(&gateway);
    assert!(with_remark(&truth) > 20);

    db.conn()
        .await
        .query_drop("ALTER TABLE order_list_query DROP COLUMN remark")
        .await
        .unwrap();
    // A DBA (or the next run) migrates: the column comes back, empty.
    Jst::new(&["migrate"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(filled_remarks(&db).await, 0);
    let report = json_of(
        &Jst::new(&["verify", "--json"])
            .against(&gateway, &db.url(), &staging)
            .run()
            .await
            .failure()
            .stdout(),
    );
    assert_eq!(report["in_sync"], false);
    assert_eq!(report["drift"]["no_fingerprint"]["count"], 120, "{report}");
    assert!(
        report["drift"]["fields_differ"]["count"].as_u64().unwrap() >= with_remark(&truth),
        "{report}"
    );
    let text = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(text.contains("remark: staging Some("), "{text}");

    // The next run writes every order again, without API calls.
    let calls = gateway.stats().total_calls;
    let push = Jst::new(&["push"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_eq!(gateway.stats().total_calls, calls);
    assert_eq!(push.summary_number("re-enqueued"), 120, "{}", push.stdout());
    assert_eq!(filled_remarks(&db).await, with_remark(&truth));
    Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &truth).await;

    // Without a separate migrate, one sync does both: re-add and refill.
    db.conn()
        .await
        .query_drop("ALTER TABLE order_list_query DROP COLUMN remark")
        .await
        .unwrap();
    fast(Jst::new(&["sync"]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    assert_exact(&db, &visible(&gateway)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_row_whose_content_no_longer_matches_its_version() {
    let SyncedShop {
        gateway,
        db,
        dir: _dir,
        staging,
    } = synced_shop(fast_gateway(), 102, 40).await;
    let id: i64 = db
        .conn()
        .await
        .query_first("SELECT id FROM order_list_query ORDER BY id LIMIT 1")
        .await
        .unwrap()
        .unwrap();
    db.conn()
        .await
        .exec_drop(
            "UPDATE order_list_query SET buyer_message = 'edited by hand' WHERE id = ?",
            (id,),
        )
        .await
        .unwrap();
    let text = Jst::new(&["verify"])
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .failure()
        .stdout();
    assert!(
        text.contains(&format!("DRIFT columns differ: 1 ({id} buyer_message")),
        "{text}"
    );
}
