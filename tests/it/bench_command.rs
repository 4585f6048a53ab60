//! `jst-sync bench`: prints its table, and a no-change rerun writes nothing to MySQL.

use crate::support::{Jst, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_prints_the_table_and_a_no_change_rerun_writes_nothing_to_mysql() {
    // A database of its own, which the bench drops and recreates, so parallel tests never meet.
    let db = TestDb::create().await;

    let ran = Jst::new(&[
        "bench",
        "--orders",
        "300",
        "--api-orders",
        "0",
        "--mysql-url",
        &db.url(),
        "--keep-database",
    ])
    .run()
    .await
    .success();

    let out = ran.stdout();
    assert!(
        out.contains("| step | orders | seconds | orders/s | target | met? | peak RSS MB |"),
        "{out}"
    );
    for step in [
        "1. staging",
        "2. diff, no-change rerun",
        "3. push",
        "3. LOAD DATA",
        "4. push of the changed orders",
    ] {
        assert!(out.contains(step), "{step:?} missing:\n{out}");
    }
    assert!(out.contains("300 unchanged of 300"), "{out}");
    assert!(
        out.contains("MySQL writes: sink statements 0, batches 0, MariaDB ROWS_CHANGED +0"),
        "{out}"
    );
    assert!(out.contains("3 changed orders found"), "{out}");
    db.drop().await;
}
