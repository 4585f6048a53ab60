//! Monthly partitions of the order table (`partition_by_month`): the partition key, the
//! `PARTITION BY` clause at creation, and the future months added at each migrate.
//!
//! The key is `p_month`, a `NOT NULL` integer `yyyymm` derived from `order_date` (`0` when the
//! order has none). MySQL requires the partition column in every unique key, so the primary key
//! is `(id, p_month)`; an order whose `order_date` moves to another month would leave its old
//! row behind, so the sink deletes an order's rows in other months before upserting it, in the
//! same transaction (see `sink.rs`).
//!
//! Layout: `p_old` holds everything before the first planned month (and undated orders, `0`),
//! then one partition per month, then `pmax` (`MAXVALUE`) as a catch-all. Migrate keeps
//! [`MONTHS_AHEAD`] future months split out of `pmax` with `REORGANIZE PARTITION`.

use chrono::{Datelike, NaiveDateTime};

use crate::transform::Cell;

/// The partition key column of the order table.
pub const PARTITION_COLUMN: &str = "p_month";
/// Months before the current one that get their own partition when the table is created.
pub const MONTHS_BACK: u32 = 24;
/// Months after the current one that always have their own partition.
pub const MONTHS_AHEAD: u32 = 3;

/// A month as `yyyymm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(pub u32);

impl Month {
    pub fn of(time: NaiveDateTime) -> Month {
        Month(time.year() as u32 * 100 + time.month())
    }

    pub fn next(self) -> Month {
        let (year, month) = (self.0 / 100, self.0 % 100);
        if month >= 12 {
            Month((year + 1) * 100 + 1)
        } else {
            Month(self.0 + 1)
        }
    }

    pub fn minus(self, months: u32) -> Month {
        let index = (self.0 / 100) * 12 + (self.0 % 100 - 1) - months;
        Month((index / 12) * 100 + index % 12 + 1)
    }

    pub fn plus(self, months: u32) -> Month {
        (0..months).fold(self, |month, _| month.next())
    }

    fn partition(self) -> String {
        format!("PARTITION p{} VALUES LESS THAN ({})", self.0, self.next().0)
    }
}

/// The `p_month` of an order row: the month of its `order_date` cell, `0` when it has none.
pub fn p_month(order_date: &Cell) -> i64 {
    match order_date {
        Cell::DateTime(time) => i64::from(Month::of(*time).0),
        _ => 0,
    }
}

/// The `PARTITION BY` clause of a new order table, with months from [`MONTHS_BACK`] before
/// `now` to [`MONTHS_AHEAD`] after it.
pub fn partition_clause(now: NaiveDateTime) -> String {
    let current = Month::of(now);
    let first = current.minus(MONTHS_BACK);
    let mut parts = vec![format!("PARTITION p_old VALUES LESS THAN ({})", first.0)];
    let mut month = first;
    while month <= current.plus(MONTHS_AHEAD) {
        parts.push(month.partition());
        month = month.next();
    }
    parts.push("PARTITION pmax VALUES LESS THAN MAXVALUE".to_owned());
    format!(
        "\n  PARTITION BY RANGE ({PARTITION_COLUMN}) (\n    {}\n  )",
        parts.join(",\n    ")
    )
}

/// The `REORGANIZE PARTITION pmax` statement that adds the months up to [`MONTHS_AHEAD`] after
/// `now`, given the upper bounds (`VALUES LESS THAN`) of the existing bounded partitions;
/// `None` when they are all there.
pub fn extend_statement(table: &str, bounds: &[u32], now: NaiveDateTime) -> Option<String> {
    let covered_until = bounds.iter().copied().max()?; // exclusive: months below are covered
    let target = Month::of(now).plus(MONTHS_AHEAD);
    let mut month = Month(covered_until);
    let mut parts = Vec::new();
    while month <= target {
        parts.push(month.partition());
        month = month.next();
    }
    if parts.is_empty() {
        return None;
    }
    parts.push("PARTITION pmax VALUES LESS THAN MAXVALUE".to_owned());
    Some(format!(
        "ALTER TABLE `{table}` REORGANIZE PARTITION pmax INTO ({})",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beijing_time;

    fn t(text: &str) -> NaiveDateTime {
        beijing_time::parse(text).unwrap()
    }

    #[test]
    fn month_arithmetic_crosses_years() {
        assert_eq!(Month(202412).next(), Month(202501));
        assert_eq!(Month(202403).minus(3), Month(202312));
        assert_eq!(Month(202401).minus(24), Month(202201));
        assert_eq!(Month(202411).plus(3), Month(202502));
        assert_eq!(p_month(&Cell::DateTime(t("2024-05-31 23:59:59"))), 202405);
        assert_eq!(p_month(&Cell::Null), 0);
    }

    #[test]
    fn a_new_table_gets_an_old_partition_the_months_and_a_catch_all() {
        let clause = partition_clause(t("2024-05-10 12:00:00"));
        assert!(clause.contains("PARTITION BY RANGE (p_month)"));
        assert!(
            clause.contains("PARTITION p_old VALUES LESS THAN (202205)"),
            "{clause}"
        );
        assert!(clause.contains("PARTITION p202205 VALUES LESS THAN (202206)"));
        assert!(clause.contains("PARTITION p202408 VALUES LESS THAN (202409)"));
        assert!(!clause.contains("p202409"));
        assert!(
            clause
                .trim_end()
                .ends_with("PARTITION pmax VALUES LESS THAN MAXVALUE\n  )")
        );
    }

    #[test]
    fn migrate_splits_the_missing_future_months_out_of_the_catch_all() {
        assert_eq!(
            extend_statement("o", &[202205, 202407, 202408], t("2024-06-01 00:00:00")).as_deref(),
            Some(
                "ALTER TABLE `o` REORGANIZE PARTITION pmax INTO (PARTITION p202408 VALUES LESS THAN (202409), \
                 PARTITION p202409 VALUES LESS THAN (202410), PARTITION pmax VALUES LESS THAN MAXVALUE)"
            )
        );
        assert_eq!(
            extend_statement("o", &[202410], t("2024-06-01 00:00:00")),
            None
        );
    }
}
