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
//!   room the sink has and checks each value as it copies it (`crate::write` chooses the way);
//! - [`SinkOutput`], any other sink, piece by piece.
//!
//! A reply that the customer-service message API can send implements [`EmitJson`] too: the same
//! reply as that API's JSON body, handed to a [`JsonOutput`] ([`JsonLength`], [`CleanLength`] or [`SinkOutput`]).

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

/// The exact length of a reply's customer-service JSON.
#[inline]
pub(crate) fn json_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(JsonLength(len)) = reply.emit_json(JsonLength(0));
    len
}

/// The length of a reply's customer-service JSON when none of its values needs escaping.
#[inline]
pub(crate) fn json_clean_len<R: EmitJson + ?Sized>(reply: &R) -> usize {
    let Ok(CleanLength(len)) = reply.emit_json(CleanLength(0));
    len
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
