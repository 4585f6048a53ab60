//! The server's ingest limit: the very rows the push wrote, as tab-separated files in the
//! sink's own `LOAD DATA` format, loaded into empty copies of the three tables (`CREATE TABLE
//! … LIKE`) twice: with server-side `LOAD DATA INFILE` (the server reads the file itself: the
//! real limit) and with `LOAD DATA LOCAL INFILE` (the client sends it, as the push does).
//!
//! The files are written from the same `OrderRows` cells the sink writes (the staged versions
//! of one run, transformed again with the same mapping, with their fingerprints) before the
//! clock starts; only the `LOAD DATA` statements are timed, each in its own autocommit
//! transaction.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, WhiteListFsHandler};
use rusqlite::params;
use serde_json::Value;

use jst_sync::pipeline::SharedStaging;
use jst_sync::sink::mysql::TableNames;
use jst_sync::sink::mysql::bookkeeping::{CHILD_BOOKKEEPING_COLUMNS, ORDER_BOOKKEEPING_COLUMNS};
use jst_sync::sink::mysql::load_data::{LoadFile, encode_child, encode_order};
use jst_sync::transform::{Mapping, TableMapping, Transformed, VersionKey, transform};

/// The same session settings as the sink's connections.
const SESSION_INIT: [&str; 2] = [
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
];

/// What one baseline loaded, and how long the server took.
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

/// Both baselines of the same files.
#[derive(Clone, Copy, Debug, Default)]
pub struct Baselines {
    /// `LOAD DATA INFILE`: the server reads the file from its own disk.
    pub server_file: LoadFigures,
    /// `LOAD DATA LOCAL INFILE`: the client streams the file.
    pub local: LoadFigures,
}

/// One table's file and columns.
struct LoadTarget {
    source: String,
    columns: Vec<String>,
    file: PathBuf,
}

/// Writes the rows of every outbox entry of `run_id` to files in `dir` (made readable by the
/// server, which runs as another user), then loads them into `<table>_infile` copies of
/// `tables` with `LOAD DATA INFILE` and into `<table>_local` copies with `LOAD DATA LOCAL
/// INFILE`, and returns the server's times. The MySQL server must be on this machine and the
/// user must have the FILE privilege.
pub async fn load_data_baselines(
    mysql_url: &str,
    tables: &TableNames,
    mapping: &Mapping,
    staging: &SharedStaging,
    run_id: i64,
    dir: &Path,
) -> anyhow::Result<Baselines> {
    let columns = |table: &TableMapping, bookkeeping: &[&str]| -> Vec<String> {
        table
            .column_names()
            .chain(bookkeeping.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    let dir = dir.join("load-data");
    std::fs::create_dir_all(&dir).context("creating the LOAD DATA directory")?;
    let child = |name: &str| {
        (mapping.children.iter())
            .find(|c| c.name == name)
            .expect("the bench uses the default mapping's child tables")
    };
    let (items, pays) = (child("items"), child("pays"));
    let targets = [
        LoadTarget {
            source: tables.orders.clone(),
            columns: columns(&mapping.order, &ORDER_BOOKKEEPING_COLUMNS),
            file: dir.join("orders.tsv"),
        },
        LoadTarget {
            source: tables.child(items),
            columns: columns(&items.mapping, &CHILD_BOOKKEEPING_COLUMNS),
            file: dir.join("items.tsv"),
        },
        LoadTarget {
            source: tables.child(pays),
            columns: columns(&pays.mapping, &CHILD_BOOKKEEPING_COLUMNS),
            file: dir.join("pays.tsv"),
        },
    ];
    let files: Vec<PathBuf> = targets.iter().map(|t| t.file.clone()).collect();
    let (staging, mapping_owned) = (staging.clone(), mapping.clone());
    let file_bytes =
        tokio::task::spawn_blocking(move || write_files(&staging, &mapping_owned, run_id, &files))
            .await
            .expect("the file writer does not panic")?;
    readable_by_the_server(&dir, &targets)?;

    let opts = mysql_async::Opts::from_url(mysql_url).context("MySQL URL")?;
    let pool = mysql_async::Pool::new(
        OptsBuilder::from_opts(opts)
            .init(SESSION_INIT.to_vec())
            .local_infile_handler(Some(WhiteListFsHandler::new(
                targets.iter().map(|t| t.file.clone()),
            ))),
    );
    let mut conn = pool.get_conn().await.context("connecting for LOAD DATA")?;
    let mut baselines = Baselines::default();
    for (suffix, local, figures) in [
        ("_infile", false, &mut baselines.server_file),
        ("_local", true, &mut baselines.local),
    ] {
        *figures = load(&mut conn, &targets, suffix, local).await?;
        figures.file_bytes = file_bytes;
    }
    drop(conn);
    pool.disconnect().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(baselines)
}

/// Loads the files into fresh `<table><suffix>` copies; times only the `LOAD DATA`s.
async fn load(
    conn: &mut mysql_async::Conn,
    targets: &[LoadTarget],
    suffix: &str,
    local: bool,
) -> anyhow::Result<LoadFigures> {
    for target in targets {
        let copy = format!("{}{suffix}", target.source);
        conn.query_drop(format!("DROP TABLE IF EXISTS `{copy}`"))
            .await?;
        conn.query_drop(format!("CREATE TABLE `{copy}` LIKE `{}`", target.source))
            .await?;
    }
    let started = Instant::now();
    let mut loaded = [0u64; 3];
    for (target, count) in targets.iter().zip(loaded.iter_mut()) {
        let copy = format!("{}{suffix}", target.source);
        let columns = target
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let path = target.file.to_str().context("temporary paths are UTF-8")?;
        conn.query_drop(format!(
            "LOAD DATA {}INFILE '{}' INTO TABLE `{copy}` CHARACTER SET utf8mb4
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})",
            if local { "LOCAL " } else { "" },
            path.replace('\\', "\\\\").replace('\'', "\\'"),
        ))
        .await
        .with_context(|| {
            format!(
                "LOAD DATA {}INFILE into {copy}{}",
                if local { "LOCAL " } else { "" },
                if local {
                    ""
                } else {
                    " (the server must run on this machine and the user needs the FILE privilege)"
                }
            )
        })?;
        *count = conn.affected_rows();
    }
    let elapsed = started.elapsed();
    for target in targets {
        conn.query_drop(format!("DROP TABLE IF EXISTS `{}{suffix}`", target.source))
            .await?;
    }
    Ok(LoadFigures {
        orders: loaded[0],
        items: loaded[1],
        pays: loaded[2],
        elapsed,
        file_bytes: 0,
    })
}

/// The server runs as its own user: the files, their directory and the private temporary
/// directory above it (0700) must be readable by others.
fn readable_by_the_server(dir: &Path, targets: &[LoadTarget]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for path in dir.parent().into_iter().chain([dir]) {
        let mode = std::fs::metadata(path)?.permissions().mode();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o005))?;
    }
    for target in targets {
        std::fs::set_permissions(&target.file, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
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
    let synced_at = jst_sync::beijing_time::now();
    let mut after = 0i64;
    let mut files: Vec<LoadFile> = (0..3).map(|_| LoadFile::default()).collect();
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
            let Transformed::Rows(mut rows) = transform(&order, mapping, version)? else {
                continue;
            };
            // As the push does: the fingerprint of the staged JSON goes with the row.
            rows.sha256 = Some(jst_sync::diff::sha256_hex(&json));
            encode_order(&rows, synced_at, None, &mut files[0]);
            for item in rows.rows_of(mapping, "items") {
                encode_child(item, &rows, synced_at, &mut files[1]);
            }
            for pay in rows.rows_of(mapping, "pays") {
                encode_child(pay, &rows, synced_at, &mut files[2]);
            }
        }
        for (file, writer) in files.iter_mut().zip(&mut writers) {
            writer.write_all(file.as_bytes())?;
            file.clear();
        }
    }
    let mut bytes = 0;
    for writer in writers {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        bytes += file.metadata()?.len();
    }
    Ok(bytes)
}
