//! The SQLite staging store: raw pages, order versions, current hashes, runs, outbox, quarantine.
