//! What a derived reply is made of, and the ways of writing it.
//!
//! `#[derive(PassiveReply)]` lowers a struct to one function, `PassiveReply::__emit`, which hands
//! its pieces in order to an [`Output`]: static text, its values to escape, its numbers. Every way of
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
//! A reply that the customer-service message API can send has that API's JSON body too, handed by
//! its `PassiveReply::__emit_json` to a [`JsonOutput`] ([`Length`] or [`SinkOutput`]).

use crate::cdata;
use crate::json;
use crate::news::NewsArticle;
use crate::reply::PassiveReply;
use crate::sink::Sink;
use crate::value::{DecimalBuf, UnixSeconds};

/// What a reply's pieces are handed to, in order. Not a public API.
///
/// Each method takes a piece and returns whether the output has failed (out of room, or its
/// sink failed): then the writer stops (a derived `emit` returns), and the caller asks the output
/// what happened. The output is lent (`&mut`) and the result is a `bool`, the least code per
/// piece for an unoptimized build to check and compile (issue 26, the derive's build cost). An
/// output that has failed keeps that and takes no more pieces, so a writer that went on anyway
/// would change nothing.
pub trait Output: Sized {
    /// Static text, written as it is. `true`: the output has failed.
    fn literal(&mut self, s: &'static str) -> bool;

    /// A value, escaped as the content of a CDATA section ([`cdata`]). `true`: the output has
    /// failed.
    fn text(&mut self, s: &str) -> bool;

    /// A number, in decimal. `true`: the output has failed.
    fn decimal(&mut self, n: UnixSeconds) -> bool;

    /// The `<item>`s of a news reply's articles: each article's pieces, in order. `true`: the
    /// output has failed.
    #[inline]
    fn items<A: NewsArticle>(&mut self, articles: &[A]) -> bool {
        write_items(self, articles)
    }
}

/// What a reply's customer-service JSON is handed to, in order; each method returns whether the
/// output has failed, as [`Output`]'s do. Not a public API.
pub trait JsonOutput: Sized {
    /// Static JSON, written as it is. `true`: the output has failed.
    fn literal(&mut self, s: &'static str) -> bool;

    /// A value, escaped as the content of a JSON string ([`json`]). `true`: the output has
    /// failed.
    fn text(&mut self, s: &str) -> bool;

    /// The objects of a news reply's articles, comma-separated. `true`: the output has failed.
    #[inline]
    fn articles<A: NewsArticle>(&mut self, articles: &[A]) -> bool {
        write_json_articles(self, articles)
    }
}

impl<S: Sink + ?Sized> JsonOutput for SinkOutput<'_, S> {
    #[inline]
    fn literal(&mut self, s: &'static str) -> bool {
        self.put(|sink| sink.write_str(s))
    }

    #[inline]
    fn text(&mut self, s: &str) -> bool {
        self.put(|sink| json::write_escaped(sink, s))
    }
}

/// The exact length of a reply's customer-service JSON.
#[inline]
pub(crate) fn json_len<R: PassiveReply + ?Sized>(reply: &R) -> usize {
    let mut length = Length::EXACT;
    reply.__emit_json(&mut length);
    length.len
}

/// The length of a reply's customer-service JSON when none of its values needs escaping.
#[inline]
pub(crate) fn json_clean_len<R: PassiveReply + ?Sized>(reply: &R) -> usize {
    let mut length = Length::CLEAN;
    reply.__emit_json(&mut length);
    length.len
}

/// The number of bytes a reply writes: exactly (`escaped`: each value as its escaping makes it),
/// or as if no value needed escaping (each value counted as it is, without looking at it: the
/// room to try first). One output for both, so that a reply's `emit` (and `__emit_json`) is
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
}

impl Output for Length {
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(&mut self, s: &'static str) -> bool {
        self.len += s.len();
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(&mut self, s: &str) -> bool {
        self.len += text_len(s, self.escaped);
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn decimal(&mut self, n: UnixSeconds) -> bool {
        self.len += n.decimal_len();
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn items<A: NewsArticle>(&mut self, articles: &[A]) -> bool {
        if self.escaped {
            return write_items(self, articles);
        }
        let mut clean = CleanItems(self.len);
        write_items(&mut clean, articles);
        self.len = clean.0;
        false
    }
}

/// The clean length of a news reply's articles: [`Length`]'s flag looked at once for all of
/// them, not once per value.
struct CleanItems(usize);

impl Output for CleanItems {
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(&mut self, s: &'static str) -> bool {
        self.0 += s.len();
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(&mut self, s: &str) -> bool {
        self.0 += s.len();
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn decimal(&mut self, n: UnixSeconds) -> bool {
        self.0 += n.decimal_len();
        false
    }
}

impl JsonOutput for Length {
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(&mut self, s: &'static str) -> bool {
        self.len += s.len();
        false
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(&mut self, s: &str) -> bool {
        self.len += if self.escaped { json::escaped_len(s) } else { s.len() };
        false
    }
}

/// A value's length in a reply: escaped (`exact`), or as it is. What the length output counts a value
/// as.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn text_len(s: &str, exact: bool) -> usize {
    if exact { cdata::escaped_len(s) } else { s.len() }
}

/// Any sink, written piece by piece; its first error kept, and no piece written after it.
pub(crate) struct SinkOutput<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    error: Option<S::Error>,
}

impl<'s, S: Sink + ?Sized> SinkOutput<'s, S> {
    #[inline]
    pub(crate) fn new(sink: &'s mut S) -> Self {
        SinkOutput { sink, error: None }
    }

    /// Writes a piece with `write`, unless a piece before it failed; `true` if one has.
    #[inline]
    fn put(&mut self, write: impl FnOnce(&mut S) -> Result<(), S::Error>) -> bool {
        if self.error.is_none()
            && let Err(error) = write(self.sink)
        {
            self.error = Some(error);
        }
        self.error.is_some()
    }

    /// What the pieces came to: the first error, if one failed.
    #[inline]
    pub(crate) fn finish(self) -> Result<(), S::Error> {
        self.error.map_or(Ok(()), Err)
    }
}

impl<S: Sink + ?Sized> Output for SinkOutput<'_, S> {
    #[inline]
    fn literal(&mut self, s: &'static str) -> bool {
        self.put(|sink| sink.write_str(s))
    }

    #[inline]
    fn text(&mut self, s: &str) -> bool {
        self.put(|sink| cdata::write_escaped(sink, s))
    }

    #[inline]
    fn decimal(&mut self, n: UnixSeconds) -> bool {
        self.put(|sink| sink.write_str(n.decimal(&mut DecimalBuf::new())))
    }
}

/// Writes `reply` into `sink` piece by piece, for the sink itself (in optimized builds: a call
/// through a vtable per piece would cost up to a fifth more on this path, `bash
/// benches/instructions.sh 20000 slice`, a text dense with escapes). Unoptimized builds write
/// through `dyn` instead (`buffer::Writable`).
#[inline]
pub(crate) fn write_pieces<R: PassiveReply + ?Sized, S: Sink + ?Sized>(
    reply: &R,
    sink: &mut S,
) -> Result<(), S::Error> {
    let mut out = SinkOutput::new(sink);
    reply.__emit(&mut out);
    out.finish()
}

/// [`write_pieces`] for the customer-service JSON (unoptimized, through `dyn Sink` too, so that
/// `__emit_json` is compiled once for every sink).
#[inline]
pub(crate) fn write_json_pieces<R: PassiveReply + ?Sized, S: Sink + ?Sized>(
    reply: &R,
    sink: &mut S,
) -> Result<(), S::Error> {
    /// The pieces into `sink`, as it is.
    #[inline]
    fn write<R: PassiveReply + ?Sized, S: Sink + ?Sized>(reply: &R, sink: &mut S) -> Result<(), S::Error> {
        let mut out = SinkOutput::new(sink);
        reply.__emit_json(&mut out);
        out.finish()
    }
    #[cfg(debug_assertions)]
    return crate::reply::through_erased(sink, |sink| write(reply, sink));
    #[cfg(not(debug_assertions))]
    write(reply, sink)
}

/// A derived reply's `encoded_len`: the exact length of its pieces.
#[inline]
pub fn encoded_len<R: PassiveReply + ?Sized>(reply: &R) -> usize {
    reply.__len(true)
}

/// The length of a reply when none of its values needs escaping: the room to try first.
#[inline]
pub(crate) fn clean_len<R: PassiveReply + ?Sized>(reply: &R) -> usize {
    reply.__len(false)
}

/// Hands the `<item>`s of `articles` to `out`: the body of `<Articles>`. An article with all four
/// values (the usual one) as five pieces of static text and its values; any other, element by
/// element.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn write_items<A: NewsArticle, O: Output>(out: &mut O, articles: &[A]) -> bool {
    for article in articles {
        let failed = match (article.title(), article.description(), article.pic_url(), article.url()) {
            (Some(title), Some(description), Some(pic_url), Some(url)) => {
                out.literal("<item><Title><![CDATA[")
                    || out.text(title)
                    || out.literal("]]></Title><Description><![CDATA[")
                    || out.text(description)
                    || out.literal("]]></Description><PicUrl><![CDATA[")
                    || out.text(pic_url)
                    || out.literal("]]></PicUrl><Url><![CDATA[")
                    || out.text(url)
                    || out.literal("]]></Url></item>")
            }
            (title, description, pic_url, url) => {
                out.literal("<item>")
                    || title.is_some_and(|title| {
                        out.literal("<Title><![CDATA[") || out.text(title) || out.literal("]]></Title>")
                    })
                    || description.is_some_and(|description| {
                        out.literal("<Description><![CDATA[")
                            || out.text(description)
                            || out.literal("]]></Description>")
                    })
                    || pic_url.is_some_and(|pic_url| {
                        out.literal("<PicUrl><![CDATA[") || out.text(pic_url) || out.literal("]]></PicUrl>")
                    })
                    || url.is_some_and(|url| out.literal("<Url><![CDATA[") || out.text(url) || out.literal("]]></Url>"))
                    || out.literal("</item>")
            }
        };
        if failed {
            return true;
        }
    }
    false
}

/// Hands the JSON objects of `articles` to `out`, comma-separated: the inside of the
/// customer-service message's `"articles":[…]`. Each object holds the values the article has,
/// under the API's keys (`title`, `description`, `url`, `picurl`).
#[inline]
pub(crate) fn write_json_articles<A: NewsArticle, O: JsonOutput>(out: &mut O, articles: &[A]) -> bool {
    for (i, article) in articles.iter().enumerate() {
        if out.literal(if i == 0 { "{" } else { ",{" }) {
            return true;
        }
        let values = [
            ("\"title\":\"", article.title()),
            ("\"description\":\"", article.description()),
            ("\"url\":\"", article.url()),
            ("\"picurl\":\"", article.pic_url()),
        ];
        let mut first = true;
        for (key, value) in values {
            if let Some(value) = value {
                if (!first && out.literal(",")) || out.literal(key) || out.text(value) || out.literal("\"") {
                    return true;
                }
                first = false;
            }
        }
        if out.literal("}") {
            return true;
        }
    }
    false
}
