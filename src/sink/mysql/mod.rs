//! The MySQL sink: schema migrations and batched, idempotent upserts.
