-- What the gateway told us that outlives a run.
--
-- A ban too long to wait out (code 7 naming its length): no run calls the gateway before it ends.
CREATE TABLE gateway_bans (
    app_key     TEXT PRIMARY KEY,
    until_utc   TEXT NOT NULL,      -- RFC 3339, UTC
    message     TEXT NOT NULL,      -- the gateway's words (never a secret)
    run_id      INTEGER,
    recorded_at TEXT NOT NULL
);

-- The `ts` strategy's cursor history: each value the cursor reached, and when. The next scan
-- starts from the largest value reached at least `overlap` ago, so changes that become visible
-- late (with a `ts` below the cursor) are read again.
CREATE TABLE cursor_marks (
    source     TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    reached_at TEXT NOT NULL,       -- RFC 3339, UTC
    run_id     INTEGER,
    PRIMARY KEY (source, ts)
);
