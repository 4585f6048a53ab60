//! jst-sync keeps a MySQL copy of Jushuitan (聚水潭) sales orders read through the Qimen (奇门)
//! gateway: **pull** raw pages into an SQLite staging store, **diff** each order's canonical
//! SHA-256 against its current version, **push** only changed orders to MySQL.
//!
//! The modules follow the data: [`source`] (Qimen client) → [`staging`] (SQLite) → [`diff`] →
//! [`transform`] → [`sink`] (MySQL), with [`cli`] on top, [`telemetry`] (metrics, alerts)
//! beside it. [`gateway`] is the faithful fake of the Qimen gateway used by the tests and the
//! demo: the `jst-fake-gateway` crate (`crates/fake-gateway/`), with its own signer, re-exported
//! here; nothing in the pipeline builds on it.

pub mod beijing_time;
pub mod cli;
pub mod config;
pub mod diff;
pub mod error_text;
pub mod order_id;
pub mod pipeline;
pub mod secret;
pub mod sink;
pub mod source;
pub mod staging;
pub mod telemetry;
pub mod transform;
pub mod units;

pub use jst_fake_gateway as gateway;
