//! The words of `#[reply(…)]`, in one place.

/// The attribute's name.
pub const REPLY: &str = "reply";
/// Container: the path the generated code names the runtime by.
pub const CRATE: &str = "crate";
/// Container, news only: the most articles allowed.
pub const MAX_ARTICLES: &str = "max_articles";
/// Field: the element it maps to, by the platform's name.
pub const RENAME: &str = "rename";
/// Field: leave it out.
pub const SKIP: &str = "skip";
/// The runtime's path when `crate = …` is not given.
pub const DEFAULT_CRATE: &str = "passive_reply";
