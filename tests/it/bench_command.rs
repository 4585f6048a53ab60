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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_times_the_first_rows_of_a_backfill_throttled_at_the_real_limits() {
    let db = TestDb::create().await;

    let ran = Jst::new(&[
        "bench",
        "--orders",
        "100",
        "--api-orders",
        "0",
        "--first-row-orders",
        "200",
        "--mysql-url",
        &db.url(),
        "--keep-database",
    ])
    .env("JST_BENCH_SIM_DAYS", "1")
    .run()
    .await
    .success();

    let out = ran.stdout();
    let row = out
        .lines()
        .find(|line| line.starts_with("| 6. time to first row"))
        .unwrap_or_else(|| panic!("no time-to-first-row step:\n{out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | step | orders | seconds | orders/s | target | met? | peak RSS MB |
    assert_eq!(cells[2], "200", "{row}");
    let first_commit: f64 = cells[3].parse().unwrap();
    assert!(first_commit > 0.0 && first_commit <= 15.0, "{row}");
    assert_eq!(cells[6], "yes", "{row}");
    assert!(
        out.contains("- time to first row: 200 orders synced in"),
        "{out}"
    );
    db.drop().await;
}
