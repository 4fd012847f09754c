//! What `#[derive(PassiveReply)]` and `#[derive(NewsArticle)]` generate calls to. Not a public
//! API: its items may change in any release.
//!
//! A derived reply implements `PassiveReply`'s hidden `__emit`, one function that hands its
//! pieces to an [`Output`] (its length is the same pieces handed to a length output, the hidden
//! `__len`'s default); its `encoded_len` and `write_to` are [`encoded_len`] and [`write_to`] over
//! it, and the trait's default `to_xml` writes it the same way. Each
//! value is reached through one accessor ([`text`], [`create_time`], `ArticleList::articles`)
//! that carries the trait bound, so a field of the wrong type is one diagnostic, at the field.

pub use std::string::String;

pub use crate::emit::{JsonOutput, Output, encoded_len};
/// `Incoming::parse_with` by each of its two readers alone, for the tests that hold them to each
/// other.
pub use crate::incoming::{parse_by_quick_xml, parse_plainly};
pub use crate::news::{ArticleList, NewsArticle};
pub use crate::reply::PassiveReply;
pub use crate::sink::Sink;
pub use crate::value::{CreateTime, TextValue, UnixSeconds};
pub use crate::write::write_to;

#[inline(always)]
pub fn text<T: TextValue + ?Sized>(value: &T) -> &str {
    value.as_text()
}

#[inline(always)]
pub fn create_time<T: CreateTime + ?Sized>(value: &T) -> UnixSeconds {
    value.unix_seconds()
}

/// The number of a news reply's articles (from `ArticleList::articles`, which the derive calls
/// on the field, so that a type that is not a list of articles is reported there).
#[inline(always)]
pub fn article_count<A>(articles: &[A]) -> UnixSeconds {
    UnixSeconds::from_u64(articles.len() as u64)
}

/// The JSON objects of a news reply's articles.
#[inline]
pub fn json_articles<A: NewsArticle, O: JsonOutput>(out: &mut O, articles: &[A]) -> bool {
    out.articles(articles)
}

/// The `<item>`s of a news reply's articles.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn items<A: NewsArticle, O: Output>(out: &mut O, articles: &[A]) -> bool {
    out.items(articles)
}

/// Uses SSE2 for the escaping code from now on, even where the CPU has AVX2 (with `false`, the
/// widest vectors the CPU has again): `benches/emit.rs` measures both in one run.
pub fn force_narrow_vectors(yes: bool) {
    crate::cdata::force_narrow(yes);
}

/// The text of a delivery's `<Encrypt>` element, as `MessageCrypto::decrypt_delivery` reads it:
/// for the fuzz target, which signs it to reach the decryption behind the signature.
#[cfg(feature = "crypto")]
pub fn encrypt_element(body: &str) -> Result<String, crate::crypto::CryptoError> {
    crate::crypto::encrypt_element(body)
}
