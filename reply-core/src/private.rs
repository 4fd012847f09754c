//! What `#[derive(PassiveReply)]` and `#[derive(NewsArticle)]` generate calls to. Not a public
//! API: its items may change in any release.
//!
//! Each value is reached through one accessor (`text`, `create_time`, `ArticleList`'s methods) that carries
//! the trait bound, called with the same tokens in `encoded_len` and in `write_to`, so a field
//! of the wrong type is one diagnostic, not one per method.

pub use crate::news::{ArticleList, ItemScan, ItemsScan, NewsArticle};
pub use crate::reply::PassiveReply;
pub use crate::sink::{Reserved, Room, Sink};
pub use crate::value::{CreateTime, TextValue};

use crate::cdata;
pub use crate::value::DecimalBuf;
use crate::value::UnixSeconds;

#[inline(always)]
pub fn text<T: TextValue + ?Sized>(value: &T) -> &str {
    value.as_text()
}

pub use std::convert::Infallible;
pub use std::string::String;

pub use crate::cdata::Scanned;

/// A derived reply's `to_xml`: its `write_to` into an empty `String`, whose one `reserve` of the
/// exact length allocates exactly that (an empty `String` grows to what is asked, at least 8
/// bytes, and every reply is longer). Each value is scanned once, as in `write_to`, and the
/// emitter is compiled once, for `String`, not once more for `to_xml`.
#[inline]
pub fn to_xml<R: PassiveReply + ?Sized>(reply: &R) -> String {
    let mut xml = String::new();
    let Ok(()) = reply.write_to(&mut xml);
    xml
}

#[inline]
pub fn scan(text: &str) -> Scanned {
    crate::cdata::scan(text)
}

#[inline]
pub fn write_scanned<S: Sink + ?Sized>(sink: &mut S, text: &str, scanned: Scanned) -> Result<(), S::Error> {
    write_clean_or_escaped(sink, text, scanned.clean)
}

/// `text` as it is when a scan found it `clean`, escaped otherwise.
#[inline]
pub fn write_clean_or_escaped<S: Sink + ?Sized>(sink: &mut S, text: &str, clean: bool) -> Result<(), S::Error> {
    if clean { sink.write_str(text) } else { cdata::write_escaped(sink, text) }
}

#[inline]
pub fn text_len(text: &str) -> usize {
    cdata::escaped_len(text)
}

#[inline]
pub fn write_text<S: Sink + ?Sized>(sink: &mut S, text: &str) -> Result<(), S::Error> {
    cdata::write_escaped(sink, text)
}

#[inline(always)]
pub fn create_time<T: CreateTime + ?Sized>(value: &T) -> UnixSeconds {
    value.unix_seconds()
}

#[inline]
pub fn create_time_len(seconds: UnixSeconds) -> usize {
    seconds.decimal_len()
}

/// Room for a decimal, on the emitter's stack.
#[inline(always)]
pub fn digits() -> DecimalBuf {
    DecimalBuf::new()
}

/// A CreateTime's decimal form: formatted once, in the prelude of `write_to`, for both its length
/// and its write.
#[inline]
pub fn decimal(seconds: UnixSeconds, buf: &mut DecimalBuf) -> &str {
    seconds.decimal(buf)
}

/// An article count's decimal form, formatted once.
#[inline]
pub fn count_decimal(count: usize, buf: &mut DecimalBuf) -> &str {
    buf.format(false, count as u64)
}

#[inline]
pub fn article_count_len(count: usize) -> usize {
    UnixSeconds::from_u64(count as u64).decimal_len()
}

/// A derived reply's `write_to` into room its sink already has (a reused `Vec<u8>` or `String`
/// with `len` bytes of spare capacity, `len` being the reply's length when none of its values
/// needs escaping): `write` copies each piece into the room, checking each value as it copies
/// it, and the sink's length is set once at the end. False, and the sink left as it was, when
/// the sink has no such room or `write` returns false (a value needs escaping): the reply is
/// then written the other way, which scans its values first.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn write_in_room<S: Sink + ?Sized>(sink: &mut S, len: usize, write: impl FnOnce(&mut Room<'_>) -> bool) -> bool {
    match sink.room(len) {
        Some(reserved) => reserved.write(write),
        None => false,
    }
}
