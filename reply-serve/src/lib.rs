//! The serving side of [`passive-reply`](https://docs.rs/passive-reply): everything that awaits,
//! owns a clock, a socket or a store, around the wire format of
//! [`reply-core`](https://docs.rs/reply-core).
//!
//! - [`router`]: one route per thing the account answers (no feature).
//! - `serve` (feature `tokio`): the 5-second rule and the retry guard, its stores in memory and
//!   (feature `redis`) on Redis, and late replies (feature `client`).
//! - `endpoint` (feature `tower`): the platform's URL, the whole delivery path, as a tower service
//!   and as plain async functions; `axum` (feature `axum`) as an axum router.
//! - `server` (feature `server`): the crate's HTTP/1.1 server, with the limits a public URL needs.
//! - [`session`] (feature `session`): conversations, state per account and user between
//!   messages, in memory or (feature `redis`) on Redis.
//! - late replies (feature `client`) send through the platform's API, [`reply-client`](https://docs.rs/reply-client).
//!
//! Applications depend on `passive-reply`, which re-exports each of these under its feature, with
//! the derives and the core. This crate is for frameworks that build on the endpoint or the guard.
//! It re-exports [`http`] and [`bytes`] (feature `tower`), whose types its endpoint takes.
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "tower")]
pub mod endpoint;
pub mod router;
#[cfg(feature = "tokio")]
pub mod serve;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "session")]
pub mod session;

#[cfg(feature = "tower")]
pub use {bytes, http};
