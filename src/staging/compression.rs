//! How staging keeps its bytes small: page bodies and canonical JSON are stored as zstd frames
//! (canonical JSON against a dictionary kept in the file), and read back byte for byte.
//!
//! A stored text column (`pages.body`, `order_versions.canonical_json`) holds either TEXT (as
//! written before migration 0006, or by hand) or a BLOB: a zstd frame of the text's UTF-8 bytes.
//! Readers accept both, so a file is readable whatever mix it holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};

use super::StagingError;

/// zstd level for page bodies and canonical JSON: fast enough not to slow staging down.
const LEVEL: i32 = 3;
/// The largest text a stored frame may claim to hold (a damaged frame must not make us
/// allocate gigabytes).
const MAX_TEXT_BYTES: u64 = 256 << 20;
/// The canonical JSON the dictionary is made of: the first orders staged, up to this size.
const DICTIONARY_BYTES: usize = 48 << 10;

/// Why a stored text cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("stored zstd frame cannot be decompressed: {0}")]
    Frame(String),
    #[error("stored text is not UTF-8")]
    NotUtf8,
    #[error("stored value is neither text nor a zstd frame")]
    NotText,
}

impl From<DecodeError> for rusqlite::Error {
    fn from(error: DecodeError) -> Self {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(error))
    }
}

/// Compresses a page body (no dictionary: a page is large enough to compress on its own).
pub(super) fn compress_body(text: &str) -> Vec<u8> {
    compress_bytes(text.as_bytes())
}

/// Compresses stored bytes as [`compress_body`] does, whatever they are.
pub(super) fn compress_bytes(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, LEVEL).expect("zstd compresses any input")
}

/// The bytes of a stored text: TEXT as is, a BLOB decompressed (with `dictionary`, if given).
pub(super) fn stored_bytes(
    value: ValueRef<'_>,
    dictionary: Option<&[u8]>,
) -> Result<Vec<u8>, DecodeError> {
    match value {
        ValueRef::Text(text) => Ok(text.to_vec()),
        ValueRef::Blob(frame) => decompress(frame, dictionary),
        _ => Err(DecodeError::NotText),
    }
}

fn decompress(frame: &[u8], dictionary: Option<&[u8]>) -> Result<Vec<u8>, DecodeError> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| DecodeError::Frame("no frame header".into()))?
        .ok_or_else(|| DecodeError::Frame("frame does not say its size".into()))?;
    if size > MAX_TEXT_BYTES {
        return Err(DecodeError::Frame(format!("frame claims {size} bytes")));
    }
    let mut decompressor = match dictionary {
        Some(dictionary) => zstd::bulk::Decompressor::with_dictionary(dictionary),
        None => zstd::bulk::Decompressor::new(),
    }
    .map_err(|e| DecodeError::Frame(e.to_string()))?;
    let bytes = decompressor
        .decompress(frame, size as usize)
        .map_err(|e| DecodeError::Frame(e.to_string()))?;
    if bytes.len() as u64 != size {
        return Err(DecodeError::Frame("frame is shorter than it says".into()));
    }
    Ok(bytes)
}

/// A stored text as a string.
pub(super) fn stored_text(
    value: ValueRef<'_>,
    dictionary: Option<&[u8]>,
) -> Result<String, DecodeError> {
    String::from_utf8(stored_bytes(value, dictionary)?).map_err(|_| DecodeError::NotUtf8)
}

/// A page body as stored (TEXT or zstd BLOB), as received.
pub fn stored_body(value: ValueRef<'_>) -> Result<String, DecodeError> {
    stored_text(value, None)
}

/// Compresses and decompresses canonical JSON with the file's dictionary, reusing one zstd
/// context each way.
pub(super) struct JsonCodec {
    /// The dictionary's bytes (`None`: the file has none yet; canonical JSON is then compressed
    /// without one).
    dictionary: Option<Vec<u8>>,
    compressor: zstd::bulk::Compressor<'static>,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl JsonCodec {
    /// The codec of the file `conn` opens: with its dictionary, if it has one.
    pub(super) fn load(conn: &Connection) -> Result<Self, StagingError> {
        let dictionary: Option<Vec<u8>> = conn
            .query_row(
                "SELECT content FROM zstd_dictionaries ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .or_else(|error| match error {
                // A file not yet migrated to 0006 (opened read-only) has no dictionary table.
                rusqlite::Error::SqliteFailure(_, Some(ref message))
                    if message.contains("no such table") =>
                {
                    Ok(None)
                }
                other => Err(other),
            })?;
        Ok(Self::with(dictionary))
    }

    fn with(dictionary: Option<Vec<u8>>) -> Self {
        let (compressor, decompressor) = match &dictionary {
            Some(d) => (
                zstd::bulk::Compressor::with_dictionary(LEVEL, d),
                zstd::bulk::Decompressor::with_dictionary(d),
            ),
            None => (
                zstd::bulk::Compressor::new(LEVEL),
                zstd::bulk::Decompressor::new(),
            ),
        };
        Self {
            dictionary,
            compressor: compressor.expect("a zstd context is created"),
            decompressor: decompressor.expect("a zstd context is created"),
        }
    }

    pub(super) fn has_dictionary(&self) -> bool {
        self.dictionary.is_some()
    }

    /// The dictionary's bytes, if the file has one.
    pub(super) fn dictionary(&self) -> Option<&[u8]> {
        self.dictionary.as_deref()
    }

    /// Makes the file's dictionary from `samples` (canonical JSON of the first orders staged),
    /// stores it and uses it from now on. Call only when [`has_dictionary`](Self::has_dictionary)
    /// is false.
    pub(super) fn create_dictionary<'a>(
        &mut self,
        conn: &Connection,
        samples: impl Iterator<Item = &'a str>,
    ) -> Result<(), StagingError> {
        let mut content = Vec::with_capacity(DICTIONARY_BYTES);
        for sample in samples {
            if content.len() + sample.len() > DICTIONARY_BYTES {
                break;
            }
            content.extend_from_slice(sample.as_bytes());
        }
        if content.is_empty() {
            return Ok(());
        }
        conn.execute(
            "INSERT INTO zstd_dictionaries (id, content, created_at) VALUES (1, ?1, ?2)",
            params![content, super::timestamp::now()],
        )?;
        *self = Self::with(Some(content));
        Ok(())
    }

    /// Canonical JSON as stored: a zstd frame.
    pub(super) fn compress(&mut self, text: &str) -> Vec<u8> {
        self.compressor
            .compress(text.as_bytes())
            .expect("zstd compresses any input")
    }

    /// Canonical JSON as stored (TEXT or a zstd BLOB), as staged.
    pub(super) fn text(&mut self, value: ValueRef<'_>) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes(value)?).map_err(|_| DecodeError::NotUtf8)
    }

    /// The bytes of canonical JSON as stored.
    pub(super) fn bytes(&mut self, value: ValueRef<'_>) -> Result<Vec<u8>, DecodeError> {
        let frame = match value {
            ValueRef::Text(text) => return Ok(text.to_vec()),
            ValueRef::Blob(frame) => frame,
            _ => return Err(DecodeError::NotText),
        };
        let size = zstd::zstd_safe::get_frame_content_size(frame)
            .map_err(|_| DecodeError::Frame("no frame header".into()))?
            .ok_or_else(|| DecodeError::Frame("frame does not say its size".into()))?;
        if size > MAX_TEXT_BYTES {
            return Err(DecodeError::Frame(format!("frame claims {size} bytes")));
        }
        let bytes = self
            .decompressor
            .decompress(frame, size as usize)
            .map_err(|e| DecodeError::Frame(e.to_string()))?;
        if bytes.len() as u64 != size {
            return Err(DecodeError::Frame("frame is shorter than it says".into()));
        }
        Ok(bytes)
    }
}

/// Compresses pages as the store would, on the thread that fingerprints them, so the one SQLite
/// writer only writes: the body as [`compress_body`] does, and each order's canonical JSON as
/// [`JsonCodec::compress`] does with the dictionary the store last said it uses. The writer
/// takes the frames only when they were made with its own dictionary (the same level and the
/// same dictionary give the same bytes); otherwise it compresses again. While the pages staged
/// store nothing new (a no-change rerun: every page a sighting), no frames are made: the writer
/// would throw them away. Cheap to clone: clones share the dictionary and a pool of zstd
/// contexts.
#[derive(Clone, Default)]
pub struct PageCompressor {
    shared: Arc<SharedCompressor>,
}

/// A zstd context, with the dictionary it was made with.
type Context = (Option<Arc<[u8]>>, zstd::bulk::Compressor<'static>);

#[derive(Default)]
struct SharedCompressor {
    /// Whether the last page staged stored nothing compressed (false until a page says so).
    idle_writer: AtomicBool,
    dictionary: Mutex<Option<Arc<[u8]>>>,
    /// Contexts not in use.
    idle: Mutex<Vec<Context>>,
}

impl std::fmt::Debug for PageCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCompressor").finish_non_exhaustive()
    }
}

/// A page's bytes as stored, compressed ahead of the writer by a [`PageCompressor`].
#[derive(Debug)]
pub(super) struct PageFrames {
    pub(super) body: Vec<u8>,
    /// The dictionary the canonical JSON was compressed with (`None`: without one).
    dictionary: Option<Arc<[u8]>>,
    /// One frame per order (empty for an order without canonical JSON), in page order.
    canonical: Vec<Vec<u8>>,
}

impl PageFrames {
    /// The frames of the orders' canonical JSON, if they were made with `dictionary`.
    pub(super) fn canonical_with(&self, dictionary: Option<&[u8]>) -> Option<&[Vec<u8>]> {
        (self.dictionary.as_deref() == dictionary).then_some(self.canonical.as_slice())
    }
}

impl PageCompressor {
    /// Compresses a page's body and its orders' canonical JSON (`None` for an order without);
    /// `None` while the pages staged store nothing compressed.
    pub(super) fn compress<'a>(
        &self,
        body: &str,
        canonical: impl Iterator<Item = Option<&'a str>>,
    ) -> Option<PageFrames> {
        if self.shared.idle_writer.load(Ordering::Relaxed) {
            return None;
        }
        let dictionary = self.lock_dictionary().clone();
        let (_, mut compressor) = self.take_context(&dictionary);
        let canonical = canonical
            .map(|json| match json {
                Some(json) => compressor
                    .compress(json.as_bytes())
                    .expect("zstd compresses any input"),
                None => Vec::new(),
            })
            .collect();
        self.lock_idle().push((dictionary.clone(), compressor));
        Some(PageFrames {
            body: compress_body(body),
            dictionary,
            canonical,
        })
    }

    /// Says whether the page just staged stored a body or canonical JSON.
    pub(super) fn stored_compressed(&self, stored: bool) {
        self.shared.idle_writer.store(!stored, Ordering::Relaxed);
    }

    /// Says which dictionary the store compresses canonical JSON with from now on.
    pub(super) fn use_dictionary(&self, dictionary: Option<&[u8]>) {
        let mut current = self.lock_dictionary();
        if current.as_deref() != dictionary {
            *current = dictionary.map(Arc::from);
        }
    }

    /// An idle context made with `dictionary`, or a new one; contexts made with another are
    /// dropped.
    fn take_context(&self, dictionary: &Option<Arc<[u8]>>) -> Context {
        let mut idle = self.lock_idle();
        idle.retain(|(made_with, _)| made_with.as_deref() == dictionary.as_deref());
        idle.pop().unwrap_or_else(|| {
            let compressor = match dictionary {
                Some(d) => zstd::bulk::Compressor::with_dictionary(LEVEL, d),
                None => zstd::bulk::Compressor::new(LEVEL),
            }
            .expect("a zstd context is created");
            (dictionary.clone(), compressor)
        })
    }

    fn lock_dictionary(&self) -> MutexGuard<'_, Option<Arc<[u8]>>> {
        self.shared
            .dictionary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Context>> {
        self.shared.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A key for "the same orders": SHA-256 over each order's `o_id` and version hash, in page
/// order (an order that could not be fingerprinted counts by the SHA-256 of its JSON).
pub(super) fn orders_key<'a>(orders: impl Iterator<Item = OrderKey<'a>>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for order in orders {
        match order {
            OrderKey::Version { o_id, sha256 } => {
                hasher.update(b"v");
                hasher.update((o_id.len() as u64).to_le_bytes());
                hasher.update(o_id.as_bytes());
                hasher.update(sha256.as_bytes());
            }
            OrderKey::Unprintable(json) => {
                hasher.update(b"u");
                hasher.update(Sha256::digest(json.as_bytes()));
            }
        }
    }
    hasher.finalize().to_vec()
}

/// One order of a page, as [`orders_key`] counts it.
pub(super) enum OrderKey<'a> {
    Version { o_id: &'a str, sha256: &'a str },
    Unprintable(String),
}

/// Version ids, packed: each the difference to the one before (zigzag), as a LEB128 varint.
pub(super) fn pack_ids(ids: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 3);
    let mut previous = 0i64;
    for &id in ids {
        let delta = id.wrapping_sub(previous);
        previous = id;
        let mut zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The ids [`pack_ids`] packed; `None` when the bytes are not such a list.
pub(super) fn unpack_ids(bytes: &[u8]) -> Option<Vec<i64>> {
    let mut ids = Vec::new();
    let (mut previous, mut value, mut shift) = (0i64, 0u64, 0u32);
    for &byte in bytes {
        if shift > 63 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            let delta = ((value >> 1) as i64) ^ -((value & 1) as i64);
            previous = previous.wrapping_add(delta);
            ids.push(previous);
            (value, shift) = (0, 0);
        }
    }
    (shift == 0).then_some(ids)
}

/// The store's canonical-JSON codec, loaded on first use (and again while the file has no
/// dictionary yet: another process may have made it).
pub(super) fn codec_of<'a>(
    slot: &'a mut Option<JsonCodec>,
    conn: &Connection,
) -> Result<&'a mut JsonCodec, StagingError> {
    if slot.as_ref().is_none_or(|codec| !codec.has_dictionary()) {
        *slot = Some(JsonCodec::load(conn)?);
    }
    Ok(slot.as_mut().expect("just loaded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_body_reads_back_byte_for_byte() {
        let body = "{\"a\":\"\u{0}\t\\n\u{1F600}\"}".repeat(50);
        let frame = compress_body(&body);
        assert!(frame.len() < body.len());
        assert_eq!(stored_body(ValueRef::Blob(&frame)).unwrap(), body);
        assert_eq!(stored_body(ValueRef::Text(body.as_bytes())).unwrap(), body);
    }

    #[test]
    fn a_damaged_frame_is_an_error_not_a_panic() {
        let mut frame = compress_body(&"abc".repeat(100));
        let middle = frame.len() / 2;
        frame[middle] ^= 0xff;
        frame.truncate(frame.len() - 2);
        assert!(stored_body(ValueRef::Blob(&frame)).is_err());
        assert!(stored_body(ValueRef::Blob(b"not zstd")).is_err());
    }

    #[test]
    fn packed_version_ids_unpack_to_the_same_list() {
        for ids in [vec![], vec![1], vec![5, 3, 900_000_000_000, 7, 7, -2]] {
            assert_eq!(unpack_ids(&pack_ids(&ids)).unwrap(), ids);
        }
        assert!(pack_ids(&[100, 101, 102, 103]).len() <= 5);
    }
}
