//! Sinks: where transformed orders are written.

pub mod mysql;
