//! `jst-bench`: prints its table, and a no-change rerun writes nothing to MySQL (real MariaDB at
//! 127.0.0.1:3306, or the server `JST_TEST_MYSQL` names, as for jst-sync's own tests).

use std::process::Command;

/// A database name of this test run's own, which the bench creates and drops, so parallel runs
/// never meet (`.ci/run` drops leftovers named `jst_t_…`).
fn bench_database_url() -> String {
    let server = std::env::var("JST_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
    format!("{server}/jst_t_bench_{}", std::process::id())
}

/// Runs `jst-bench` with `args` into the database `bench_database_url()` + `suffix`, with one
/// simulated day of the year projection instead of three (a debug build); its standard output,
/// once it exited 0.
fn run_bench(args: &[&str], suffix: &str) -> String {
    let ran = Command::new(env!("CARGO_BIN_EXE_jst-bench"))
        .args(args)
        .arg("--mysql-url")
        .arg(format!("{}{suffix}", bench_database_url()))
        .env("JST_BENCH_SIM_DAYS", "1")
        .output()
        .expect("jst-bench runs");
    let out = String::from_utf8_lossy(&ran.stdout).into_owned();
    let err = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "exit {:?}\n{out}\n{err}", ran.status);
    out
}

#[test]
fn bench_prints_the_table_and_a_no_change_rerun_writes_nothing_to_mysql() {
    let out = run_bench(&["--orders", "300", "--api-orders", "0"], "");

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
}

#[test]
fn bench_times_the_first_rows_of_a_backfill_throttled_at_the_real_limits() {
    let out = run_bench(
        &[
            "--orders",
            "100",
            "--api-orders",
            "0",
            "--first-row-orders",
            "200",
        ],
        "_first_row",
    );

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
}
