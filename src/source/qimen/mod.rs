//! The Qimen route: `jushuitan.order.list.query` through the TOP gateway — its settings, its
//! signing (MD5 / HMAC-MD5 / HMAC-SHA256 over the sorted parameters), its `{"response": …}`
//! envelope and error codes, and the client that fetches one page.

pub mod client;
pub mod config;
pub mod envelope;
pub mod sign;

pub use client::{METHOD, QimenClient};
pub use config::{DEFAULT_TARGET_APP_KEY, SourceConfig};
pub use sign::SignMethod;
