//! Diff: decides whether a pulled order is new, changed, unchanged or stale.
