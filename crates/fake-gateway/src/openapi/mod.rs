//! A faithful fake of Jushuitan's own open platform (`jushuitan-openapi-protocol.md`) over real
//! HTTP on loopback: `/open/orders/single/query` and `/openWeb/auth/refreshToken`, serving the
//! same [`Shop`](crate::Shop) as the Qimen fake — alone, or shared with a running
//! [`FakeGateway`](crate::FakeGateway) so one merchant's orders come from both routes with the
//! same `o_id`s, in each route's types.
//!
//! It checks what the document says the platform checks: the lower-case MD5 `sign` with the
//! secret prepended (10), a Unix `timestamp` within the tolerance (140), the access token (100,
//! renewable at the refresh route unless the app is a service provider's, 150), 5 calls a
//! second and 100 a minute (199, 200), `page_size` ≤ 100 and windows of at most 7 days; and
//! it reuses the Qimen fake's faults, churn, late visibility and statistics.
//!
//! Decided where the protocol document is silent or only inferred (the lead's spec says so):
//! - Argument errors (a `biz` that is not a JSON object or breaks a rule, a wrong `version`,
//!   `charset`, `grant_type` or `scope`, an over-long window, `page_size` 101) are code 120
//!   "参数错误: …"; the document names no code for them.
//! - A missing or unknown `app_key` is code 10, like a bad `sign`: without the app the
//!   platform has no secret to check the signature with.
//! - Every field but `sign` is signed, empty values included ("every field except sign").
//! - `page_size` defaults to 30 when `biz` names none (the real default is undocumented).
//! - Checks run in this order: `app_key`/`sign`, `timestamp`, `charset` (must be `utf-8`) and
//!   `version` (must be `2`), `access_token`, rate limits, the throttle fault, then `biz`; a
//!   refused call does not count against the limits.
//! - Rate limits, faults (5xx, throttle as code 199, truncated bodies, delays) and churn apply
//!   to the order query only; the refresh route is never limited or faulted.
//! - A refresh checks `app_key`/`sign`, `timestamp`, `charset`, `grant_type=refresh_token`,
//!   `scope=all`, then answers 150 if refreshing is not allowed and 100 for a refresh token
//!   that is not the current one; otherwise it issues a new pair and the old pair stops
//!   working. A refresh is allowed while the access token is still valid.
//! - `start_sharing` leaves the shared shop's visibility lag as its owner set it.
//! - Any path but the two routes is HTTP 404; another method on a route is HTTP 405.
//! - The order conversion ([`orders`]) changes types only, never values; a value that cannot
//!   take its type is served as it is.

pub mod config;
mod orders;
mod query;
pub mod server;
pub mod sign;
pub mod stats;
#[cfg(test)]
mod tests;

pub use config::{ORDER_QUERY_PATH, OpenApiConfig, REFRESH_TOKEN_PATH, codes};
pub use server::OpenApiGateway;
pub use stats::OpenApiStats;
