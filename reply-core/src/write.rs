//! The functions a derived reply's `PassiveReply` methods are: its pieces (`__emit`) written
//! into the room of a `Vec<u8>` or `String` sink (`crate::buffer`), or into any other sink piece
//! by piece ([`SinkOutput`](crate::emit::SinkOutput)), as XML or as the customer-service JSON.

use crate::buffer::{Growth, Typed, Writable, writable};
use crate::emit::{json_clean_len, json_len, write_json_pieces};
use crate::reply::PassiveReply;
use crate::sink::{Buffer, Sink, Token};

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

/// `PassiveReply::write_customer_service` of a reply whose `__emit_json` gives its message. Into
/// a `Vec<u8>` or `String`, which grow as they need: the length it has when no value needs
/// escaping reserved, then one pass. Into any other sink: its exact length reserved (so a fixed
/// buffer too small is left untouched), then piece by piece.
#[inline]
pub(crate) fn write_customer_service<R: PassiveReply + ?Sized, S: Sink + ?Sized>(
    reply: &R,
    sink: &mut S,
) -> Result<(), S::Error> {
    let len = match sink.buffer(Token::new()) {
        Some(_) => json_clean_len(reply),
        None => json_len(reply),
    };
    sink.reserve(len)?;
    write_json_pieces(reply, sink)
}

/// `PassiveReply::to_customer_service` of a reply whose `__emit_json` gives its message: one
/// allocation, of the length it has when no value needs escaping, written in one pass; when a
/// value's escaping makes it longer, that one is given back for one of the exact length, written
/// again.
#[inline]
pub(crate) fn to_customer_service<R: PassiveReply + ?Sized>(reply: &R) -> String {
    let mut json = String::with_capacity(json_clean_len(reply));
    if write_json_pieces(reply, &mut NoGrowth(&mut json)).is_ok() {
        return json;
    }
    let mut json = String::with_capacity(json_len(reply));
    let Ok(()) = write_json_pieces(reply, &mut json);
    json
}

/// A derived reply's `write_to`: into the room of a `Vec<u8>` or `String` sink, or, for any other
/// sink, its exact length reserved, then piece by piece.
#[inline]
pub fn write_to<R: PassiveReply + ?Sized, S: Sink + ?Sized>(reply: &R, sink: &mut S) -> Result<(), S::Error> {
    write_to_with(writable(&Typed(reply)), sink)
}

/// [`write_to`] with the reply as the buffer's writers take it: in unoptimized builds behind
/// `dyn`, so that this is compiled once per sink, not once per reply and sink.
#[inline]
fn write_to_with<W: Writable + ?Sized, S: Sink + ?Sized>(reply: &W, sink: &mut S) -> Result<(), S::Error> {
    match sink.buffer(Token::new()) {
        Some(mut buffer) => {
            buffer.write_with(reply, Growth::Amortized);
            Ok(())
        }
        None => {
            sink.reserve(reply.encoded_len())?;
            reply.write_pieces(sink)
        }
    }
}

/// A derived reply's `to_xml` (`PassiveReply::to_xml`'s default, for a reply whose `__emit`
/// gives its pieces): one allocation, of the reply's length when none of its values needs
/// escaping, written into like any `String` (one more, of the exact length, when one does).
#[inline]
pub(crate) fn to_xml<R: PassiveReply + ?Sized>(reply: &R) -> String {
    let typed = Typed(reply);
    let reply = writable(&typed);
    let clean_len = reply.clean_len();
    let mut xml = String::with_capacity(clean_len);
    Buffer::of_string(&mut xml).write_with_len(reply, clean_len, Growth::Exact);
    xml
}
