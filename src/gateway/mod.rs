//! A faithful fake of the Qimen gateway over real HTTP on loopback, for tests and the demo.
//!
//! [`FakeGateway`] serves `jushuitan.order.list.query` from a [`Shop`] of generated orders and
//! behaves as `qimen-protocol.md` describes: signature, timestamp and permission checks, the
//! 25-row pages and 7-day windows, the `ts` cursor, rate limits, and, when configured, faults
//! (throttling, 5xx, truncated bodies, delays), a live shop (churn while paging, late
//! visibility of changes) and the real route's untidy habits ([`Deviations`]: raw control
//! characters, code 10, timed bans, missing order lists, under-reported counts, an archive).

mod call_times;
pub mod config;
mod deviations;
mod envelope;
pub mod generate;
mod order_query;
pub mod server;
pub mod shop;
mod sorted_index;
pub mod stats;
#[cfg(test)]
mod tests;

pub use config::{
    BanRule, Churn, Deviations, Faults, GatewayConfig, LateChanges, ORDER_LIST_METHOD, RateLimits,
    ResponseDelay, codes,
};
pub use server::FakeGateway;
pub use shop::{SharedShop, Shop};
pub use stats::GatewayStats;
