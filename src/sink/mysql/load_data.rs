//! New orders into MySQL with `LOAD DATA LOCAL INFILE` streamed from memory: rows encoded in
//! the tab-separated format the statement reads, handed to the driver as named in-memory files,
//! and what the server's answer means (refused, exact, or not exact).
//!
//! The format is `FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`,
//! `CHARACTER SET utf8mb4`: a backslash, tab, newline, carriage return and NUL inside a value are
//! escaped (`\\`, `\t`, `\n`, `\r`, `\0`), SQL NULL is `\N`, an empty string is an empty field;
//! everything else, 4-byte UTF-8 included, goes as it is. With `LOCAL` the server turns
//! duplicate keys and refused values into warnings and skips or adjusts the row instead of
//! failing, so a load counts as done only when every row went in without a warning; otherwise
//! the sink rolls the batch back and writes it again with upserts, which say exactly what is
//! wrong.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{Datelike, NaiveDateTime, Timelike};
use mysql_async::prelude::GlobalHandler;
use mysql_async::{Error as MysqlError, InfileData, LocalInfileError};

use crate::transform::{Cell, OrderRows};

/// One order row in the `LOAD DATA` format: the mapped cells, then the bookkeeping columns
/// (`jst_ts`, `jst_version`, `jst_synced_at`, `jst_modified`, `jst_sha256`) and `p_month` with
/// partitions: the values the upsert binds, in the same order.
pub fn encode_order(
    rows: &OrderRows,
    synced_at: NaiveDateTime,
    p_month: Option<i64>,
    file: &mut LoadFile,
) {
    file.cells(&rows.order);
    file.optional_int(rows.version.ts);
    file.int(rows.version.staging_version);
    file.datetime(synced_at);
    match rows.modified {
        Some(modified) => file.datetime(modified),
        None => file.null(),
    }
    match &rows.sha256 {
        Some(sha) => file.text(sha),
        None => file.null(),
    }
    if let Some(month) = p_month {
        file.int(month);
    }
    file.end_row();
}

/// One child row of `order` in the `LOAD DATA` format: its cells, then `jst_version` and
/// `jst_synced_at`.
pub fn encode_child(
    cells: &[Cell],
    order: &OrderRows,
    synced_at: NaiveDateTime,
    file: &mut LoadFile,
) {
    file.cells(cells);
    file.int(order.version.staging_version);
    file.datetime(synced_at);
    file.end_row();
}

/// Server errors that mean "LOAD DATA LOCAL is not allowed here": `ER_NOT_ALLOWED_COMMAND`
/// (older servers with `local_infile = 0`), MariaDB 10.5+'s
/// `ER_LOAD_INFILE_CAPABILITY_DISABLED` (4166), MySQL 8's `ER_CLIENT_LOCAL_FILES_DISABLED`
/// and `ER_LOAD_INFILE_CAPABILITY_DISABLED` (3950).
const REFUSAL_CODES: [u16; 4] = [1148, 3948, 3950, 4166];

/// Whether the server refused `LOAD DATA LOCAL INFILE` itself (not the rows).
pub(crate) fn is_refusal(error: &MysqlError) -> bool {
    matches!(error, MysqlError::Server(server) if REFUSAL_CODES.contains(&server.code))
}

/// `LOAD DATA LOCAL INFILE` of the in-memory file `file` into `columns` of `table`.
pub(crate) fn load_sql(file: &str, table: &str, columns: &[&str]) -> String {
    let columns = columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "LOAD DATA LOCAL INFILE '{file}' INTO TABLE `{table}` CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})"
    )
}

/// Rows in the `LOAD DATA` format, built field by field.
#[derive(Debug, Default)]
pub struct LoadFile {
    bytes: Vec<u8>,
    rows: usize,
    row_open: bool,
}

impl LoadFile {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Forgets the rows (keeps the buffer).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.rows = 0;
        self.row_open = false;
    }

    /// Starts the next field (a tab unless it is the row's first).
    fn next_field(&mut self) -> &mut Vec<u8> {
        if self.row_open {
            self.bytes.push(b'\t');
        } else {
            self.row_open = true;
        }
        &mut self.bytes
    }

    pub fn null(&mut self) {
        self.next_field().extend_from_slice(b"\\N");
    }

    pub fn text(&mut self, text: &str) {
        let out = self.next_field();
        let bytes = text.as_bytes();
        let mut start = 0;
        for (index, byte) in bytes.iter().enumerate() {
            let escaped: &[u8] = match byte {
                b'\\' => b"\\\\",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                0 => b"\\0",
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..index]);
            out.extend_from_slice(escaped);
            start = index + 1;
        }
        out.extend_from_slice(&bytes[start..]);
    }

    pub fn int(&mut self, value: i64) {
        let out = self.next_field();
        let mut digits = itoa_buffer();
        out.extend_from_slice(format_int(value, &mut digits));
    }

    pub fn optional_int(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    /// `YYYY-MM-DD HH:MM:SS`, with microseconds when there are any; written digit by digit
    /// (no allocation per field) for the years 0 to 9999 outside a leap second.
    pub fn datetime(&mut self, time: NaiveDateTime) {
        let micros = time.nanosecond() / 1000;
        if (0..=9999).contains(&time.year()) && micros < 1_000_000 {
            let out = self.next_field();
            push_digits(out, time.year() as u32, 4);
            out.push(b'-');
            push_digits(out, time.month(), 2);
            out.push(b'-');
            push_digits(out, time.day(), 2);
            out.push(b' ');
            push_digits(out, time.hour(), 2);
            out.push(b':');
            push_digits(out, time.minute(), 2);
            out.push(b':');
            push_digits(out, time.second(), 2);
            if micros > 0 {
                out.push(b'.');
                push_digits(out, micros, 6);
            }
            return;
        }
        let mut text = String::with_capacity(26);
        let _ = write!(
            text,
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
            let _ = write!(text, ".{micros:06}");
        }
        self.next_field().extend_from_slice(text.as_bytes());
    }

    pub fn cell(&mut self, cell: &Cell) {
        match cell {
            Cell::Null => self.null(),
            Cell::Text(text) | Cell::Decimal(text) => self.text(text),
            Cell::Int(int) => self.int(*int),
            Cell::DateTime(time) => self.datetime(*time),
            Cell::Bool(b) => self.int(i64::from(*b)),
        }
    }

    pub fn cells(&mut self, cells: &[Cell]) {
        for cell in cells {
            self.cell(cell);
        }
    }

    pub fn end_row(&mut self) {
        self.bytes.push(b'\n');
        self.row_open = false;
        self.rows += 1;
    }
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    for position in (0..width).rev() {
        out.push(b'0' + (value / 10u32.pow(position) % 10) as u8);
    }
}

fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// The decimal digits of `value` in `buffer` (no allocation per field).
fn format_int(value: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buffer[at] = b'-';
    }
    &buffer[at..]
}

/// In-memory files the server may ask for by name, each served once and in chunks; the
/// driver's global local-infile handler. A name that was not registered (a server asking for
/// a file of its choosing) is refused.
#[derive(Clone, Default)]
pub(crate) struct InfileRegistry {
    inner: Arc<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    next: AtomicU64,
    files: Mutex<HashMap<String, (Bytes, usize)>>,
}

/// A registered file; dropping it forgets the file if the server never asked for it.
pub(crate) struct RegisteredFile {
    registry: InfileRegistry,
    name: String,
}

impl RegisteredFile {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for RegisteredFile {
    fn drop(&mut self) {
        self.registry.files().remove(&self.name);
    }
}

impl InfileRegistry {
    /// Registers `data`, served in chunks of `chunk` bytes, under a fresh name.
    pub fn register(&self, data: Vec<u8>, chunk: usize) -> RegisteredFile {
        let name = format!(
            "jst-sync-{}",
            self.inner.next.fetch_add(1, Ordering::Relaxed)
        );
        self.files()
            .insert(name.clone(), (Bytes::from(data), chunk.max(1)));
        RegisteredFile {
            registry: self.clone(),
            name,
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Bytes, usize)>> {
        self.inner
            .files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl GlobalHandler for InfileRegistry {
    fn handle(
        &self,
        file_name: &[u8],
    ) -> futures_core::future::BoxFuture<'static, Result<InfileData, LocalInfileError>> {
        let name = String::from_utf8_lossy(file_name).into_owned();
        let found = self.files().remove(&name);
        Box::pin(std::future::ready(match found {
            Some((data, chunk)) => Ok(Box::pin(Chunks { data, chunk }) as InfileData),
            None => Err(LocalInfileError::PathIsNotInTheWhiteList(name)),
        }))
    }
}

/// A file's bytes as a stream of chunks (slices of one buffer, not copies).
struct Chunks {
    data: Bytes,
    chunk: usize,
}

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let size = self.chunk.min(self.data.len());
        Poll::Ready(Some(Ok(self.data.split_to(size))))
    }
}

/// Whether the sink loads new orders with `LOAD DATA LOCAL INFILE`, and how that went.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadDataStats {
    /// The setting (`[mysql] load_data`).
    pub configured: bool,
    /// Why the server refused `LOAD DATA LOCAL INFILE` (then every order is upserted).
    pub refused_by_server: Option<String>,
    /// Orders written with `LOAD DATA`.
    pub orders_loaded: u64,
    /// Batches whose `LOAD DATA` was not exact (a duplicate key, a warning, a refused row)
    /// and that were written again with upserts.
    pub batches_upserted_instead: u64,
}

/// The sink's switch for `LOAD DATA`: on when configured, off for good once the server
/// refuses it.
#[derive(Debug, Default)]
pub(crate) struct LoadDataSwitch {
    configured: bool,
    refused: Mutex<Option<String>>,
    orders_loaded: AtomicU64,
    upserted_instead: AtomicU64,
}

impl LoadDataSwitch {
    pub fn new(configured: bool) -> Self {
        Self {
            configured,
            ..Self::default()
        }
    }

    pub fn usable(&self) -> bool {
        self.configured && self.refused_lock().is_none()
    }

    /// Records the server's refusal; true the first time (to say so once).
    pub fn refuse(&self, reason: String) -> bool {
        let mut refused = self.refused_lock();
        let first = refused.is_none();
        if first {
            *refused = Some(reason);
        }
        first
    }

    pub fn loaded(&self, orders: usize) {
        self.orders_loaded
            .fetch_add(orders as u64, Ordering::Relaxed);
    }

    pub fn upserted_instead(&self) {
        self.upserted_instead.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> LoadDataStats {
        LoadDataStats {
            configured: self.configured,
            refused_by_server: self.refused_lock().clone(),
            orders_loaded: self.orders_loaded.load(Ordering::Relaxed),
            batches_upserted_instead: self.upserted_instead.load(Ordering::Relaxed),
        }
    }

    fn refused_lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn values_are_escaped_as_load_data_reads_them() {
        let time = crate::beijing_time::parse("2024-05-01 08:09:10").unwrap();
        let mut file = LoadFile::default();
        file.cells(&[
            Cell::Null,
            Cell::Text("a\tb\\c\nd\re\u{0}f 🙂".into()),
            Cell::Text(String::new()),
            Cell::Text("NULL \\N".into()),
            Cell::Int(-3),
            Cell::Int(i64::MIN),
            Cell::Decimal("227.00".into()),
            Cell::DateTime(time),
            Cell::Bool(true),
        ]);
        file.end_row();
        file.int(0);
        file.end_row();
        assert_eq!(
            String::from_utf8(file.into_bytes()).unwrap(),
            "\\N\ta\\tb\\\\c\\nd\\re\\0f 🙂\t\tNULL \\\\N\t-3\t-9223372036854775808\t227.00\t2024-05-01 08:09:10\t1\n0\n"
        );
    }

    #[test]
    fn datetimes_are_written_as_the_formatter_writes_them() {
        let at = |y, mo, d, h, mi, s, nanos| {
            chrono::NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_nano_opt(h, mi, s, nanos)
                .unwrap()
        };
        for time in [
            at(2024, 5, 1, 8, 9, 10, 0),
            at(2024, 12, 31, 23, 59, 59, 123_000_000),
            at(2024, 1, 2, 3, 4, 5, 7_000),
            at(2024, 1, 2, 3, 4, 5, 999),
            at(1, 1, 1, 0, 0, 0, 0),
            at(9999, 12, 31, 23, 59, 59, 999_999_000),
            at(10000, 1, 1, 0, 0, 0, 0),
            at(-1, 1, 1, 0, 0, 0, 0),
            at(2016, 12, 31, 23, 59, 59, 1_500_000_000),
        ] {
            let mut file = LoadFile::default();
            file.datetime(time);
            let micros = time.nanosecond() / 1000;
            let mut expected = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            );
            if micros > 0 {
                expected.push_str(&format!(".{micros:06}"));
            }
            assert_eq!(String::from_utf8(file.into_bytes()).unwrap(), expected);
        }
    }

    #[test]
    fn a_registered_file_is_served_once_in_chunks_and_unknown_names_are_refused() {
        let registry = InfileRegistry::default();
        let file = registry.register(b"abcdefg".to_vec(), 3);
        let served = futures_executor_block_on(registry.handle(file.name().as_bytes()));
        let mut stream = served.unwrap();
        let mut chunks = Vec::new();
        let waker = std::task::Waker::noop();
        let mut context = Context::from_waker(waker);
        while let Poll::Ready(Some(chunk)) = stream.as_mut().poll_next(&mut context) {
            chunks.push(chunk.unwrap());
        }
        assert_eq!(chunks, [&b"abc"[..], b"def", b"g"]);
        assert!(futures_executor_block_on(registry.handle(file.name().as_bytes())).is_err());
        assert!(futures_executor_block_on(registry.handle(b"/etc/passwd")).is_err());
    }

    /// The handler's futures are ready at once.
    fn futures_executor_block_on<T>(mut future: futures_core::future::BoxFuture<'static, T>) -> T {
        let mut context = Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the handler answers at once"),
        }
    }

    #[test]
    fn refusals_are_told_from_other_errors() {
        let server = |code| {
            MysqlError::Server(mysql_async::ServerError {
                code,
                message: String::new(),
                state: String::new(),
            })
        };
        assert!(is_refusal(&server(1148)));
        assert!(is_refusal(&server(3948)));
        assert!(is_refusal(&server(4166)));
        assert!(!is_refusal(&server(1062)));
    }
}
