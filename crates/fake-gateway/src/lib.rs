//! A faithful fake of the Qimen gateway over real HTTP on loopback, for jst-sync's tests, demo
//! and benchmark. It is a crate of its own, with its own signer and clock, so that it checks
//! jst-sync's client independently rather than agreeing with it by construction.
//!
//! [`FakeGateway`] serves `jushuitan.order.list.query` from a [`Shop`] of generated orders and
//! behaves as `qimen-protocol.md` describes: signature, timestamp and permission checks, the
//! 25-row pages and 7-day windows, the `ts` cursor, rate limits, and, when configured, faults
//! (throttling, 5xx, truncated bodies, delays), a live shop (churn while paging, late
//! visibility of changes) and the real route's untidy habits ([`Deviations`]: raw control
//! characters, code 10, timed bans, missing order lists, under-reported counts, an archive).
//!
//! [`OpenApiGateway`] serves the same shop as Jushuitan's own open platform
//! (`/open/orders/single/query`, token refresh), as `jushuitan-openapi-protocol.md` describes.

pub mod beijing_time;
mod call_times;
pub mod config;
mod deviations;
mod envelope;
pub mod generate;
pub mod openapi;
mod order_query;
pub mod secret;
pub mod server;
pub mod shop;
pub mod sign;
mod sorted_index;
pub mod stats;
#[cfg(test)]
mod tests;

pub use config::{
    BanRule, Churn, Deviations, Faults, GatewayConfig, LateChanges, ORDER_LIST_METHOD, RateLimits,
    ResponseDelay, codes,
};
pub use openapi::{OpenApiConfig, OpenApiGateway};
pub use secret::Secret;
pub use server::FakeGateway;
pub use shop::{SharedShop, Shop};
pub use stats::GatewayStats;
