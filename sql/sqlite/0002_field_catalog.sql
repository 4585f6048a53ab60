-- The field catalog: every field path the API has sent, per JSON type, with the first and last
-- run that staged a version carrying it and one example. Updated while staging (once per path
-- and type per run), read by `jst-sync schema` to report drift between the API and the mapping.
-- Paths: `remark` (order level), `items[].sku_id`, `pays[].amount`.
CREATE TABLE field_catalog (
    path           TEXT    NOT NULL,
    json_type      TEXT    NOT NULL,          -- string | number | boolean | object | array | null
    first_run_id   INTEGER NOT NULL REFERENCES runs(id),
    last_run_id    INTEGER NOT NULL REFERENCES runs(id),
    first_seen_at  TEXT    NOT NULL,          -- UTC, RFC 3339
    last_seen_at   TEXT    NOT NULL,
    example        TEXT    NOT NULL,          -- JSON text, at most 80 characters; personal data masked
    example_o_id   TEXT,
    PRIMARY KEY (path, json_type)
) WITHOUT ROWID;
