-- The staging store: what the API said and when, and what is still to be pushed.
-- Secrets are never stored: `params_json` holds every request parameter except `sign`.

-- One row per command run (sync, pull, push, …).
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    command       TEXT    NOT NULL,
    strategy      TEXT,
    started_at    TEXT    NOT NULL,          -- UTC, RFC 3339
    finished_at   TEXT,
    status        TEXT    NOT NULL DEFAULT 'running', -- running | succeeded | failed
    summary_json  TEXT,
    error         TEXT
);

-- Every API page exactly as received.
CREATE TABLE pages (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    window_start  TEXT,                      -- Beijing wall clock; NULL in ts-cursor mode
    window_end    TEXT,
    page_index    INTEGER NOT NULL,
    params_json   TEXT    NOT NULL,          -- request parameters without `sign`
    http_status   INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    received_at   TEXT    NOT NULL,          -- UTC, RFC 3339
    order_count   INTEGER NOT NULL
);
CREATE INDEX pages_by_run ON pages(run_id);

-- Every distinct version of every order, keyed by o_id and the SHA-256 of its canonical JSON.
CREATE TABLE order_versions (
    id            INTEGER PRIMARY KEY,
    o_id          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    ts            INTEGER,                   -- the order's `ts` row version, when sent
    modified      TEXT,                      -- the order's `modified`, as sent
    canonical_json TEXT   NOT NULL,          -- sorted keys, compact
    first_page_id INTEGER NOT NULL REFERENCES pages(id),
    first_run_id  INTEGER NOT NULL REFERENCES runs(id),
    first_seen_at TEXT    NOT NULL,
    UNIQUE (o_id, sha256)
);

-- The current version of each order: the diff compares against this.
CREATE TABLE current_orders (
    o_id          TEXT    PRIMARY KEY,
    version_id    INTEGER NOT NULL REFERENCES order_versions(id),
    sha256        TEXT    NOT NULL,
    ts            INTEGER,
    last_seen_at  TEXT    NOT NULL,
    last_page_id  INTEGER NOT NULL
) WITHOUT ROWID;

-- Versions to push. An entry is created each time a version becomes current; its id orders
-- pushes (an older entry never overwrites a newer one in MySQL).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    version_id    INTEGER NOT NULL REFERENCES order_versions(id),
    o_id          TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending', -- pending | pushed | superseded | quarantined | filtered
    enqueued_at   TEXT    NOT NULL,
    done_at       TEXT,
    run_id        INTEGER REFERENCES runs(id)
);
CREATE INDEX outbox_pending ON outbox(state, id);
CREATE INDEX outbox_by_order ON outbox(o_id, state);

-- Where incremental pulls resume, per source and strategy.
CREATE TABLE watermarks (
    source        TEXT    NOT NULL,
    strategy      TEXT    NOT NULL,          -- window | ts
    value         TEXT    NOT NULL,
    run_id        INTEGER,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (source, strategy)
) WITHOUT ROWID;

-- Orders that could not be staged or transformed, with the reason and the raw JSON.
CREATE TABLE quarantine (
    id            INTEGER PRIMARY KEY,
    o_id          TEXT,
    version_id    INTEGER REFERENCES order_versions(id),
    page_id       INTEGER REFERENCES pages(id),
    run_id        INTEGER REFERENCES runs(id),
    stage         TEXT    NOT NULL,          -- staging | transform
    reason        TEXT    NOT NULL,
    raw_json      TEXT    NOT NULL,
    quarantined_at TEXT   NOT NULL,
    resolved_at   TEXT                       -- set when a later version of the order is pushed
);
CREATE INDEX quarantine_open ON quarantine(resolved_at, id);
