//! The server's ingest limit: the very rows the push wrote, as tab-separated files, loaded with
//! `LOAD DATA LOCAL INFILE` into empty copies of the three tables (`CREATE TABLE … LIKE`).
//!
//! The files are written from the same `OrderRows` cells the sink binds (the staged versions of
//! one run, transformed again with the same mapping) before the clock starts; only the three
//! `LOAD DATA` statements are timed, each in its own autocommit transaction.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, NaiveDateTime, Timelike};
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, WhiteListFsHandler};
use rusqlite::params;
use serde_json::Value;

use crate::pipeline::SharedStaging;
use crate::sink::mysql::TableNames;
use crate::sink::mysql::bookkeeping::{CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS};
use crate::transform::{
    Cell, Mapping, OrderRows, TableMapping, Transformed, VersionKey, transform,
};

/// The same session settings as the sink's connections.
const SESSION_INIT: [&str; 2] = [
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
];

/// What the baseline loaded, and how long the server took.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadFigures {
    pub orders: u64,
    pub items: u64,
    pub pays: u64,
    pub elapsed: Duration,
    pub file_bytes: u64,
}

impl LoadFigures {
    pub fn rows(&self) -> u64 {
        self.orders + self.items + self.pays
    }
}

/// One table's copy and its file.
struct LoadTarget {
    table: String,
    columns: Vec<String>,
    file: PathBuf,
}

/// Writes the rows of every outbox entry of `run_id` to files in `dir`, then loads them into
/// `<table>_load` copies of `tables` and returns the server's time.
pub async fn load_data_baseline(
    mysql_url: &str,
    tables: &TableNames,
    mapping: &Mapping,
    staging: &SharedStaging,
    run_id: i64,
    dir: &Path,
) -> anyhow::Result<LoadFigures> {
    let columns = |table: &TableMapping, bookkeeping: &[&str]| -> Vec<String> {
        table
            .column_names()
            .chain(bookkeeping.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    let targets = [
        LoadTarget {
            table: format!("{}_load", tables.orders),
            columns: columns(&mapping.order, &ORDER_BOOKKEEPING_COLUMNS),
            file: dir.join("orders.tsv"),
        },
        LoadTarget {
            table: format!("{}_load", tables.items),
            columns: columns(&mapping.items, &CHILD_BOOKKEEPING_COLUMNS),
            file: dir.join("items.tsv"),
        },
        LoadTarget {
            table: format!("{}_load", tables.pays),
            columns: columns(&mapping.pays, &CHILD_BOOKKEEPING_COLUMNS),
            file: dir.join("pays.tsv"),
        },
    ];
    let files: Vec<PathBuf> = targets.iter().map(|t| t.file.clone()).collect();
    let (staging, mapping_owned) = (staging.clone(), mapping.clone());
    let file_bytes =
        tokio::task::spawn_blocking(move || write_files(&staging, &mapping_owned, run_id, &files))
            .await
            .expect("the file writer does not panic")?;

    let opts = mysql_async::Opts::from_url(mysql_url).context("MySQL URL")?;
    let pool = mysql_async::Pool::new(
        OptsBuilder::from_opts(opts)
            .init(SESSION_INIT.to_vec())
            .local_infile_handler(Some(WhiteListFsHandler::new(
                targets.iter().map(|t| t.file.clone()),
            ))),
    );
    let mut conn = pool.get_conn().await.context("connecting for LOAD DATA")?;
    for (target, source) in targets
        .iter()
        .zip([&tables.orders, &tables.items, &tables.pays])
    {
        conn.query_drop(format!("DROP TABLE IF EXISTS `{}`", target.table))
            .await?;
        conn.query_drop(format!("CREATE TABLE `{}` LIKE `{source}`", target.table))
            .await?;
    }
    let mut figures = LoadFigures {
        file_bytes,
        ..LoadFigures::default()
    };
    let started = Instant::now();
    let mut loaded = [0u64; 3];
    for (target, count) in targets.iter().zip(loaded.iter_mut()) {
        let columns = target
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let path = target.file.to_str().context("temporary paths are UTF-8")?;
        conn.query_drop(format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE `{}` CHARACTER SET utf8mb4
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})",
            path.replace('\\', "\\\\").replace('\'', "\\'"),
            target.table
        ))
        .await
        .with_context(|| format!("LOAD DATA into {}", target.table))?;
        *count = conn.affected_rows();
    }
    figures.elapsed = started.elapsed();
    [figures.orders, figures.items, figures.pays] = loaded;
    drop(conn);
    pool.disconnect().await?;
    for file in targets.iter().map(|t| &t.file) {
        let _ = std::fs::remove_file(file);
    }
    Ok(figures)
}

/// Streams the run's staged versions through the transform into the three files, 1,000 at a
/// time; returns the bytes written.
fn write_files(
    staging: &SharedStaging,
    mapping: &Mapping,
    run_id: i64,
    files: &[PathBuf],
) -> anyhow::Result<u64> {
    let mut writers = files
        .iter()
        .map(|path| File::create(path).map(|f| BufWriter::with_capacity(1 << 20, f)))
        .collect::<Result<Vec<_>, _>>()
        .context("creating the LOAD DATA files")?;
    let synced_at = crate::beijing_time::now();
    let mut after = 0i64;
    let mut line = String::with_capacity(4096);
    loop {
        let batch: Vec<(i64, Option<i64>, String)> = {
            let store = staging.lock().unwrap_or_else(|p| p.into_inner());
            let mut statement = store.connection().prepare_cached(
                "SELECT o.id, v.ts, v.canonical_json FROM outbox o JOIN order_versions v ON v.id = o.version_id
                 WHERE o.run_id = ?1 AND o.id > ?2 ORDER BY o.id LIMIT 1000",
            )?;
            let rows = statement.query_map(params![run_id, after], |r| {
                Ok((r.get(0)?, r.get(1)?, store.decode_canonical(r.get_ref(2)?)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let Some(last) = batch.last() else { break };
        after = last.0;
        for (id, ts, json) in batch {
            let order: Value = serde_json::from_str(&json)?;
            let version = VersionKey {
                ts,
                staging_version: id,
            };
            let Transformed::Rows(rows) = transform(&order, mapping, version)? else {
                continue;
            };
            write_rows(&rows, synced_at, &mut line, &mut writers)?;
        }
    }
    let mut bytes = 0;
    for writer in writers {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        bytes += file.metadata()?.len();
    }
    Ok(bytes)
}

fn write_rows(
    rows: &OrderRows,
    synced_at: NaiveDateTime,
    line: &mut String,
    writers: &mut [BufWriter<File>],
) -> std::io::Result<()> {
    line.clear();
    write_cells(&rows.order, line);
    line.push('\t');
    match rows.version.ts {
        Some(ts) => line.push_str(&ts.to_string()),
        None => line.push_str("\\N"),
    }
    line.push('\t');
    line.push_str(&rows.version.staging_version.to_string());
    line.push('\t');
    write_datetime(synced_at, line);
    line.push('\n');
    writers[0].write_all(line.as_bytes())?;
    for (children, writer) in [&rows.items, &rows.pays].into_iter().zip(&mut writers[1..]) {
        for child in children {
            line.clear();
            write_cells(child, line);
            line.push('\t');
            line.push_str(&rows.version.staging_version.to_string());
            line.push('\t');
            write_datetime(synced_at, line);
            line.push('\n');
            writer.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// The cells of one row, tab-separated, escaped for `ESCAPED BY '\\'`.
fn write_cells(cells: &[Cell], line: &mut String) {
    for (index, cell) in cells.iter().enumerate() {
        if index > 0 {
            line.push('\t');
        }
        match cell {
            Cell::Null => line.push_str("\\N"),
            Cell::Text(text) | Cell::Decimal(text) => escape(text, line),
            Cell::Int(int) => line.push_str(&int.to_string()),
            Cell::DateTime(time) => write_datetime(*time, line),
            Cell::Bool(b) => line.push(if *b { '1' } else { '0' }),
        }
    }
}

fn escape(text: &str, line: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\t' => line.push_str("\\t"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\0' => line.push_str("\\0"),
            other => line.push(other),
        }
    }
}

fn write_datetime(time: NaiveDateTime, line: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(
        line,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    let micros = time.nanosecond() / 1000;
    if micros > 0 {
        let _ = write!(line, ".{micros:06}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_written_as_load_data_reads_them() {
        let time = crate::beijing_time::parse("2024-05-01 08:09:10").unwrap();
        let cells = [
            Cell::Null,
            Cell::Text("a\tb\\c\nd".into()),
            Cell::Int(-3),
            Cell::Decimal("227.00".into()),
            Cell::DateTime(time),
            Cell::Bool(true),
        ];
        let mut line = String::new();
        write_cells(&cells, &mut line);
        assert_eq!(
            line,
            "\\N\ta\\tb\\\\c\\nd\t-3\t227.00\t2024-05-01 08:09:10\t1"
        );
    }
}
