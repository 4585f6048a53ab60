-- The SHA-256 of each stored page's body (lower-case hex of its UTF-8 bytes), written with the
-- page, so `jst-sync verify --staging` can tell a body altered on disk from the one received.
-- Pages stored before this column existed are hashed by the migration itself (in Rust, in the
-- same transaction: SQLite has no SHA-256 function).
-- Since this version `runs.status` may also be 'interrupted': a run whose process died (SIGKILL,
-- crash), marked by the next run that opens the file.
ALTER TABLE pages ADD COLUMN body_sha256 TEXT;
