-- Staging that stays small.
--
-- `pages.body` and `order_versions.canonical_json` hold zstd frames (BLOB) from now on; TEXT
-- values (written before this version) stay readable. The migration compresses the stored ones
-- in place (in Rust, in the same transaction), and the file is rewritten once afterwards
-- (VACUUM) to switch it to `auto_vacuum = INCREMENTAL`, so `jst-sync prune` can shrink it.
--
-- A page is content-addressed by the orders it carries: `orders_sha256` is the SHA-256 over
-- each order's o_id and version hash, in page order (NULL for pages stored before this
-- version). A page read again with the same orders is not stored again: it is a sighting.
ALTER TABLE pages ADD COLUMN orders_sha256 BLOB;
CREATE INDEX pages_by_orders ON pages(orders_sha256) WHERE orders_sha256 IS NOT NULL;

-- 1 when the page explains something that is kept for good: it first carried an order version,
-- or a quarantined record, or it is an order's `last_page_id`. `prune` keeps these pages and
-- drops the others (re-read copies) once older than the retention.
ALTER TABLE pages ADD COLUMN pinned INTEGER;
CREATE INDEX pages_unpinned ON pages(received_at) WHERE pinned IS NULL;

-- Pages read again and not stored again: with the same orders as a stored page (`page_id`),
-- or carrying only orders whose versions are stored already (`page_id` NULL, the versions in
-- `version_ids`). The body received is not kept; its SHA-256 is.
CREATE TABLE page_sightings (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    page_id       INTEGER REFERENCES pages(id),
    window_start  TEXT,
    window_end    TEXT,
    page_index    INTEGER NOT NULL,
    received_at   TEXT    NOT NULL,          -- UTC, RFC 3339
    order_count   INTEGER NOT NULL,
    body_sha256   TEXT    NOT NULL,
    version_ids   BLOB                       -- order_versions ids, delta-varint packed
);
CREATE INDEX page_sightings_by_page ON page_sightings(page_id) WHERE page_id IS NOT NULL;

-- The zstd dictionary canonical JSON is compressed against: the first orders staged.
CREATE TABLE zstd_dictionaries (
    id          INTEGER PRIMARY KEY,
    content     BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
