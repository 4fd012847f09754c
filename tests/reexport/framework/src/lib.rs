//! A bot framework that re-exports passive-reply as `reexport_framework::reply`.

pub use passive_reply as reply;
