//! The results table: one row per step, with its rate, target and peak memory.

use std::fmt::Write as _;
use std::time::Duration;

/// One row of the results table.
pub(super) struct Row {
    pub step: String,
    pub orders: u64,
    pub elapsed: Duration,
    pub target: String,
    pub met: Option<bool>,
    pub peak_mb: f64,
    /// Whether orders ÷ seconds means anything for the step (not for a time to first row).
    pub has_rate: bool,
}

impl Row {
    pub fn rate(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The Markdown table of `rows`.
pub(super) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| step | orders | seconds | orders/s | target | met? | peak RSS MB |"
    )
    .expect("writing to a String");
    writeln!(out, "|---|---:|---:|---:|---|---|---:|").expect("writing to a String");
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        writeln!(
            out,
            "| {} | {} | {:.3} | {} | {} | {met} | {:.0} |",
            row.step,
            row.orders,
            row.elapsed.as_secs_f64(),
            if row.has_rate {
                thousands(row.rate())
            } else {
                "—".to_owned()
            },
            row.target,
            row.peak_mb
        )
        .expect("writing to a String");
    }
    out
}

/// `1234567.8` → `1,234,568`.
pub(super) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
