//! What a derived reply is made of, and the ways of writing it.
//!
//! `#[derive(PassiveReply)]` lowers a struct to one function, [`Emit::emit`], which hands its
//! pieces in order to an [`Output`]: static text, its values to escape, its numbers. Every way of
//! writing the reply is that one function with another output, so the length it reports and the
//! bytes it writes come from the same code and can't disagree:
//!
//! - [`Length`], the exact length (`encoded_len`), and [`CleanLength`], the length if no value
//!   needs escaping (the room to try first);
//! - the cursor of a `Vec<u8>` or `String` sink (`crate::buffer`), which copies each piece into the
//!   room the sink has and checks each value as it copies it;
//! - [`SinkOutput`], any other sink, piece by piece.
//!
//! A reply that the customer-service message API can send implements [`EmitJson`] too: the same
//! reply as that API's JSON body, handed to a [`JsonOutput`] ([`JsonLength`], [`CleanLength`] or [`SinkOutput`]).

use core::convert::Infallible;

use crate::buffer::{Buffer, Growth, Token};
use crate::cdata;
use crate::json;
use crate::news::{NewsArticle, write_items, write_json_articles};
use crate::sink::Sink;
use crate::value::{DecimalBuf, UnixSeconds};

/// What a reply's pieces are handed to, in order. Not a public API.
pub trait Output: Sized {
    /// What stops the writing.
    type Error;

    /// Static text, written as it is.
    fn literal(self, s: &'static str) -> Result<Self, Self::Error>;

    /// A value, escaped as the content of a CDATA section ([`cdata`]).
    fn text(self, s: &str) -> Result<Self, Self::Error>;

    /// A number, in decimal.
    fn decimal(self, n: UnixSeconds) -> Result<Self, Self::Error>;

    /// The `<item>`s of a news reply's articles: each article's pieces, in order.
    #[inline]
    fn items<A: NewsArticle>(self, articles: &[A]) -> Result<Self, Self::Error> {
        write_items(self, articles)
    }
}

/// A reply as the pieces [`Output`] takes: what `#[derive(PassiveReply)]` implements. Not a
/// public API.
pub trait Emit {
    /// Hands the reply's pieces to `out`, in order.
    fn emit<O: Output>(&self, out: O) -> Result<O, O::Error>;
}

/// What a reply's customer-service JSON is handed to, in order. Not a public API.
pub trait JsonOutput: Sized {
    /// What stops the writing.
    type Error;

    /// Static JSON, written as it is.
    fn literal(self, s: &'static str) -> Result<Self, Self::Error>;

    /// A value, escaped as the content of a JSON string ([`json`]).
    fn text(self, s: &str) -> Result<Self, Self::Error>;

    /// The objects of a news reply's articles, comma-separated.
    #[inline]
    fn articles<A: NewsArticle>(self, articles: &[A]) -> Result<Self, Self::Error> {
        write_json_articles(self, articles)
    }
}

/// A reply as the customer-service message API's JSON body: what `#[derive(PassiveReply)]`
/// implements for every kind that API can send. Not a public API.
pub trait EmitJson {
    /// Hands the body's pieces to `out`, in order.
    fn emit_json<O: JsonOutput>(&self, out: O) -> Result<O, O::Error>;
}

/// The number of bytes a reply's customer-service JSON takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonLength(pub(crate) usize);

impl JsonOutput for JsonLength {
    type Error = Infallible;

    #[inline(always)]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(JsonLength(self.0 + s.len()))
    }

    #[inline]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(JsonLength(self.0 + json::escaped_len(s)))
    }
}

impl<S: Sink + ?Sized> JsonOutput for SinkOutput<'_, S> {
    type Error = S::Error;

    #[inline]
    fn literal(self, s: &'static str) -> Result<Self, S::Error> {
        self.0.write_str(s)?;
        Ok(self)
    }

    #[inline]
    fn text(self, s: &str) -> Result<Self, S::Error> {
        json::write_escaped(self.0, s)?;
        Ok(self)
    }
}

/// A `String` that takes no more than the room it has: a write that doesn't fit fails, and the
/// writing stops there.
struct NoGrowth<'s>(&'s mut String);

/// A write didn't fit the room a [`NoGrowth`] had.
struct Full;

impl Sink for NoGrowth<'_> {
    type Error = Full;

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Full> {
        if self.0.capacity() - self.0.len() < s.len() {
            return Err(Full);
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// The exact length of a reply's customer-service JSON.
#[inline]
fn json_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(JsonLength(len)) = reply.emit_json(JsonLength(0));
    len
}

/// The length of a reply's customer-service JSON when none of its values needs escaping.
#[inline]
fn json_clean_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(CleanLength(len)) = reply.emit_json(CleanLength(0));
    len
}

/// A derived reply's `customer_service_len`.
#[inline]
pub fn customer_service_len<R: EmitJson + ?Sized>(reply: &R) -> Option<usize> {
    Some(json_len(reply))
}

/// A derived reply's `write_customer_service`. Into a `Vec<u8>` or `String`, which grow as they
/// need: the length it has when no value needs escaping reserved, then one pass. Into any other
/// sink: its exact length reserved (so a fixed buffer too small is left untouched), then piece by
/// piece.
#[inline]
pub fn write_customer_service<R: EmitJson + ?Sized, S: Sink + ?Sized>(reply: &R, sink: &mut S) -> Result<(), S::Error> {
    let len = match sink.buffer(Token::new()) {
        Some(_) => json_clean_len(reply),
        None => json_len(reply),
    };
    sink.reserve(len)?;
    reply.emit_json(SinkOutput(sink)).map(drop)
}

/// A derived reply's `to_customer_service`: one allocation, of the length it has when no value
/// needs escaping, written in one pass; when a value's escaping makes it longer, that one is given
/// back for one of the exact length, written again.
#[inline]
pub fn to_customer_service<R: EmitJson + ?Sized>(reply: &R) -> Option<String> {
    let mut json = String::with_capacity(json_clean_len(reply));
    if reply.emit_json(SinkOutput(&mut NoGrowth(&mut json))).is_ok() {
        return Some(json);
    }
    let mut json = String::with_capacity(json_len(reply));
    let Ok(_) = reply.emit_json(SinkOutput(&mut json));
    Some(json)
}

/// The number of bytes a reply writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Length(pub(crate) usize);

impl Output for Length {
    type Error = Infallible;

    #[inline(always)]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(Length(self.0 + s.len()))
    }

    #[inline]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(Length(self.0 + cdata::escaped_len(s)))
    }

    #[inline(always)]
    fn decimal(self, n: UnixSeconds) -> Result<Self, Infallible> {
        Ok(Length(self.0 + n.decimal_len()))
    }
}

/// The number of bytes a reply writes when none of its values needs escaping: each value is
/// counted as it is, without looking at it. The same count serves the XML and the
/// customer-service JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanLength(pub(crate) usize);

impl Output for CleanLength {
    type Error = Infallible;

    #[inline(always)]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(CleanLength(self.0 + s.len()))
    }

    #[inline(always)]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(CleanLength(self.0 + s.len()))
    }

    #[inline(always)]
    fn decimal(self, n: UnixSeconds) -> Result<Self, Infallible> {
        Ok(CleanLength(self.0 + n.decimal_len()))
    }
}

impl JsonOutput for CleanLength {
    type Error = Infallible;

    #[inline(always)]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(CleanLength(self.0 + s.len()))
    }

    #[inline(always)]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(CleanLength(self.0 + s.len()))
    }
}

/// Any sink, written piece by piece.
pub(crate) struct SinkOutput<'s, S: ?Sized>(pub(crate) &'s mut S);

impl<S: Sink + ?Sized> Output for SinkOutput<'_, S> {
    type Error = S::Error;

    #[inline]
    fn literal(self, s: &'static str) -> Result<Self, S::Error> {
        self.0.write_str(s)?;
        Ok(self)
    }

    #[inline]
    fn text(self, s: &str) -> Result<Self, S::Error> {
        cdata::write_escaped(self.0, s)?;
        Ok(self)
    }

    #[inline]
    fn decimal(self, n: UnixSeconds) -> Result<Self, S::Error> {
        self.0.write_str(n.decimal(&mut DecimalBuf::new()))?;
        Ok(self)
    }
}

/// A derived reply's `encoded_len`.
#[inline]
pub fn encoded_len<R: Emit + ?Sized>(reply: &R) -> usize {
    let Ok(Length(len)) = reply.emit(Length(0));
    len
}

/// A derived reply's `write_to`: into the room of a `Vec<u8>` or `String` sink, or, for any other
/// sink, its exact length reserved, then piece by piece.
#[inline]
pub fn write_to<R: Emit + ?Sized, S: Sink + ?Sized>(reply: &R, sink: &mut S) -> Result<(), S::Error> {
    match sink.buffer(Token::new()) {
        Some(mut buffer) => {
            buffer.write(reply, Growth::Amortized);
            Ok(())
        }
        None => {
            sink.reserve(encoded_len(reply))?;
            reply.emit(SinkOutput(sink)).map(drop)
        }
    }
}

/// A derived reply's `to_xml`: one allocation, of the reply's length when none of its values
/// needs escaping, written into like any `String` (one more, of the exact length, when one does).
#[inline]
pub fn to_xml<R: Emit + ?Sized>(reply: &R) -> String {
    let mut xml = String::new();
    Buffer::of_string(&mut xml).write(reply, Growth::Exact);
    xml
}
