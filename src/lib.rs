//! jst-sync keeps a MySQL copy of Jushuitan (聚水潭) sales orders read through the Qimen (奇门)
//! gateway: **pull** raw pages into an SQLite staging store, **diff** each order's canonical
//! SHA-256 against its current version, **push** only changed orders to MySQL.
//!
//! The modules follow the data: [`source`] (Qimen client) → [`staging`] (SQLite) → [`diff`] →
//! [`transform`] → [`sink`] (MySQL), with [`cli`] on top, [`telemetry`] (metrics, alerts)
//! beside it, and [`gateway`], a faithful fake of the Qimen gateway used by the tests and the
//! demo.

pub mod beijing_time;
pub mod cli;
pub mod config;
pub mod diff;
pub mod gateway;
pub mod pipeline;
pub mod secret;
pub mod sink;
pub mod source;
pub mod staging;
pub mod telemetry;
pub mod transform;
