//! The open-platform route: Jushuitan's own `/open/orders/single/query` (the merchant's own
//! mall, offline and cross-border shops) — its settings, its signing (lower-case MD5 with the
//! secret prepended), its `{code, msg, data}` envelope and codes, the merchant's token pair
//! and the client that fetches one page. Paging and the `ts` cursor are the shared ones.

pub mod client;
pub mod config;
pub mod envelope;
pub mod sign;
pub mod token;

pub use client::OpenApiClient;
pub use config::OpenApiConfig;
