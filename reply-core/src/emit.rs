//! What a derived reply is made of, and the ways of writing it.
//!
//! `#[derive(PassiveReply)]` lowers a struct to one function, [`Emit::emit`], which hands its
//! pieces in order to an [`Output`]: static text, its values to escape, its numbers. Every way of
//! writing the reply is that one function with another output, so the length it reports and the
//! bytes it writes come from the same code and can't disagree:
//!
//! - [`Length`], the exact length (`encoded_len`), or the length if no value needs escaping
//!   (the room to try first), one output for both;
//! - the cursor of a `Vec<u8>` or `String` sink (`crate::buffer`), which copies each piece into the
//!   room the sink has and checks each value as it copies it (`crate::write` chooses the way);
//! - [`SinkOutput`], any other sink, piece by piece.
//!
//! In unoptimized builds the cursor and every sink are one output (`buffer::AnyOutput`), so
//! that each reply's `emit` is compiled once for all of them.
//!
//! A reply that the customer-service message API can send implements [`EmitJson`] too: the same
//! reply as that API's JSON body, handed to a [`JsonOutput`] ([`Length`] or [`SinkOutput`]).

use core::convert::Infallible;

use crate::cdata;
use crate::json;
use crate::news::NewsArticle;
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

    /// The number of bytes the pieces make: exactly (`exact`), or as if no value needed
    /// escaping. What `emit` gives to a length output; the derive writes it out as a function of its
    /// own, which an unoptimized build compiles at a fraction of the cost of `emit`'s copy.
    #[inline]
    fn len(&self, exact: bool) -> usize {
        let Ok(Length { len, .. }) = self.emit(Length { len: 0, escaped: exact });
        len
    }
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

/// The exact length of a reply's customer-service JSON.
#[inline]
pub(crate) fn json_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(Length { len, .. }) = reply.emit_json(Length::EXACT);
    len
}

/// The length of a reply's customer-service JSON when none of its values needs escaping.
#[inline]
pub(crate) fn json_clean_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(Length { len, .. }) = reply.emit_json(Length::CLEAN);
    len
}

/// The number of bytes a reply writes: exactly (`escaped`: each value as its escaping makes it),
/// or as if no value needed escaping (each value counted as it is, without looking at it: the
/// room to try first). One output for both, so that a reply's `emit` (and `emit_json`) is
/// compiled once for its lengths, not twice; where the flag is known, as in the functions below,
/// the optimizer folds it away. (Its methods are inlined always in optimized builds only: an
/// unoptimized build would copy each into every piece of every reply.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Length {
    pub(crate) len: usize,
    pub(crate) escaped: bool,
}

impl Length {
    /// Counting the exact length, from 0.
    pub(crate) const EXACT: Length = Length { len: 0, escaped: true };
    /// Counting the length if no value needs escaping, from 0.
    pub(crate) const CLEAN: Length = Length { len: 0, escaped: false };

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn plus(self, n: usize) -> Length {
        Length { len: self.len + n, escaped: self.escaped }
    }
}

impl Output for Length {
    type Error = Infallible;

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(self.plus(s.len()))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(self.plus(text_len(s, self.escaped)))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn decimal(self, n: UnixSeconds) -> Result<Self, Infallible> {
        Ok(self.plus(n.decimal_len()))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn items<A: NewsArticle>(self, articles: &[A]) -> Result<Self, Infallible> {
        if self.escaped {
            return write_items(self, articles);
        }
        let Ok(CleanItems(len)) = write_items(CleanItems(self.len), articles);
        Ok(Length { len, escaped: false })
    }
}

/// The clean length of a news reply's articles: [`Length`]'s flag looked at once for all of
/// them, not once per value.
struct CleanItems(usize);

impl Output for CleanItems {
    type Error = Infallible;

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(CleanItems(self.0 + s.len()))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(CleanItems(self.0 + s.len()))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn decimal(self, n: UnixSeconds) -> Result<Self, Infallible> {
        Ok(CleanItems(self.0 + n.decimal_len()))
    }
}

impl JsonOutput for Length {
    type Error = Infallible;

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(self, s: &'static str) -> Result<Self, Infallible> {
        Ok(self.plus(s.len()))
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(self, s: &str) -> Result<Self, Infallible> {
        Ok(self.plus(if self.escaped { json::escaped_len(s) } else { s.len() }))
    }
}

/// A value's length in a reply: escaped (`exact`), or as it is. What the length output counts a value
/// as, and what a derived reply's `len` calls.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn text_len(s: &str, exact: bool) -> usize {
    if exact { cdata::escaped_len(s) } else { s.len() }
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

/// Writes `reply` into `sink` piece by piece, for the sink itself (in optimized builds: a call
/// through a vtable per piece would cost up to a fifth more on this path, `bash
/// benches/instructions.sh 20000 slice`, a text dense with escapes). Unoptimized builds write
/// through `dyn` instead (`buffer::Writable`).
#[inline]
pub(crate) fn write_pieces<R: Emit + ?Sized, S: Sink + ?Sized>(reply: &R, sink: &mut S) -> Result<(), S::Error> {
    reply.emit(SinkOutput(sink)).map(drop)
}

/// [`write_pieces`] for the customer-service JSON (unoptimized, through `dyn Sink` too, so that
/// `emit_json` is compiled once for every sink).
#[inline]
pub(crate) fn write_json_pieces<R: EmitJson + ?Sized, S: Sink + ?Sized>(
    reply: &R,
    sink: &mut S,
) -> Result<(), S::Error> {
    #[cfg(debug_assertions)]
    return crate::reply::through_erased(sink, |sink| reply.emit_json(SinkOutput(sink)).map(drop));
    #[cfg(not(debug_assertions))]
    reply.emit_json(SinkOutput(sink)).map(drop)
}

/// A derived reply's `encoded_len`.
#[inline]
pub fn encoded_len<R: Emit + ?Sized>(reply: &R) -> usize {
    reply.len(true)
}

/// The length of a reply when none of its values needs escaping: the room to try first.
#[inline]
pub(crate) fn clean_len<R: Emit + ?Sized>(reply: &R) -> usize {
    reply.len(false)
}

/// Hands the `<item>`s of `articles` to `out`: the body of `<Articles>`. An article with all four
/// values (the usual one) as five pieces of static text and its values; any other, element by
/// element.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn write_items<A: NewsArticle, O: Output>(mut out: O, articles: &[A]) -> Result<O, O::Error> {
    for article in articles {
        out = match (article.title(), article.description(), article.pic_url(), article.url()) {
            (Some(title), Some(description), Some(pic_url), Some(url)) => out
                .literal("<item><Title><![CDATA[")?
                .text(title)?
                .literal("]]></Title><Description><![CDATA[")?
                .text(description)?
                .literal("]]></Description><PicUrl><![CDATA[")?
                .text(pic_url)?
                .literal("]]></PicUrl><Url><![CDATA[")?
                .text(url)?
                .literal("]]></Url></item>")?,
            (title, description, pic_url, url) => {
                out = out.literal("<item>")?;
                if let Some(title) = title {
                    out = out.literal("<Title><![CDATA[")?.text(title)?.literal("]]></Title>")?;
                }
                if let Some(description) = description {
                    out = out.literal("<Description><![CDATA[")?.text(description)?.literal("]]></Description>")?;
                }
                if let Some(pic_url) = pic_url {
                    out = out.literal("<PicUrl><![CDATA[")?.text(pic_url)?.literal("]]></PicUrl>")?;
                }
                if let Some(url) = url {
                    out = out.literal("<Url><![CDATA[")?.text(url)?.literal("]]></Url>")?;
                }
                out.literal("</item>")?
            }
        };
    }
    Ok(out)
}

/// Hands the JSON objects of `articles` to `out`, comma-separated: the inside of the
/// customer-service message's `"articles":[…]`. Each object holds the values the article has,
/// under the API's keys (`title`, `description`, `url`, `picurl`).
#[inline]
pub(crate) fn write_json_articles<A: NewsArticle, O: JsonOutput>(mut out: O, articles: &[A]) -> Result<O, O::Error> {
    for (i, article) in articles.iter().enumerate() {
        out = out.literal(if i == 0 { "{" } else { ",{" })?;
        let values = [
            ("\"title\":\"", article.title()),
            ("\"description\":\"", article.description()),
            ("\"url\":\"", article.url()),
            ("\"picurl\":\"", article.pic_url()),
        ];
        let mut first = true;
        for (key, value) in values {
            if let Some(value) = value {
                out = if first { out } else { out.literal(",")? };
                out = out.literal(key)?.text(value)?.literal("\"")?;
                first = false;
            }
        }
        out = out.literal("}")?;
    }
    Ok(out)
}
