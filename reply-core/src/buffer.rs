//! Writing a reply straight into the spare capacity of a `Vec<u8>` or a `String`.
//!
//! A [`Cursor`] is the only thing that writes there. It holds the part of the spare capacity not
//! yet written, as `&mut [MaybeUninit<u8>]` (never as `&mut [u8]`: those bytes are not
//! initialized), and moves past bytes only after it has written them: each of its methods writes
//! a whole piece into the start of its room, then moves its room past the piece. So every byte
//! before a cursor's room is initialized, and holds whole pieces of UTF-8 (static text, a value
//! escaped, digits), whatever happens: a method that doesn't finish (a panic) leaves the room
//! where it was, or the cursor marked full. A piece that doesn't fit marks the cursor full (its
//! method returns `true`, and the writer stops there); a full cursor has no room left, and its
//! writing counts for nothing.
//!
//! [`Buffer::write_with`] lends the spare capacity to a reply's writer as a cursor, and sets the
//! length past what the cursor has written, if it is not full: the one `unsafe` step.

use core::convert::Infallible;
use core::mem::MaybeUninit;

use crate::cdata::{self, CopyChecked, NoRoom, PerValue};
#[cfg(debug_assertions)]
use crate::emit::SinkOutput;
use crate::emit::{Output, clean_len, encoded_len, write_items, write_pieces};
use crate::news::NewsArticle;
use crate::reply::PassiveReply;
#[cfg(debug_assertions)]
use crate::reply::SinkFailed;
use crate::sink::{Buffer, Frame, Sink, Storage, Token};
use crate::value::UnixSeconds;

/// How a [`Buffer`] grows when the reply needs more room than it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Growth {
    /// As a `Vec` grows: for a buffer written into again and again.
    Amortized,
    /// To exactly the reply's length, replacing the allocation rather than copying it: for a new
    /// buffer that will hold this reply only (`to_xml`).
    Exact,
}

impl Buffer<'_> {
    /// The bytes written into. A `String`'s are reached here, and only here: this module
    /// appends whole `&str`s (`write_str`) and what a `Cursor` wrote (whole pieces of UTF-8, see
    /// `write_in_room`), nothing else, so a string stays UTF-8.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn vec(&mut self) -> &mut Vec<u8> {
        match &mut self.storage {
            Storage::Bytes(vec) => vec,
            // SAFETY: every write through the result keeps it UTF-8 (above).
            Storage::Text(string) => unsafe { string.as_mut_vec() },
        }
    }

    /// [`write_with`](Self::write_with) of a reply as its own type: the tests' way in.
    #[cfg(test)]
    pub(crate) fn write<R: PassiveReply + ?Sized>(&mut self, reply: &R, growth: Growth) {
        self.write_with(writable(&Typed(reply)), growth);
    }

    /// Appends `reply`, as its [`Writable`] (see [`writable`]). First into the room the buffer
    /// has: a buffer written into again and again (`Growth::Amortized`) usually has enough, and
    /// the reply's length is then never counted (a framed buffer still empty grows first, for
    /// its frame). If it didn't fit (or the growth is `Exact`), into room grown to the reply's
    /// length if none of its values needs escaping: each value is checked as it is copied, and
    /// one that needs escaping is escaped where it stands if the room allows. When it doesn't,
    /// the room is grown to the exact length, and the reply written again. (Piece by piece, at
    /// the last, only if the reply's values changed between the passes: a `TextValue` that
    /// doesn't give the same text twice.) A pass that doesn't fit stops where it ran out of room
    /// and leaves the buffer as it was.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn write_with<W: Writable + ?Sized>(&mut self, reply: &W, growth: Growth) {
        let unframed = self.frame.before == 0 || !self.vec().is_empty();
        if growth == Growth::Amortized && unframed && self.write_in_room(reply) {
            return;
        }
        self.write_with_len(reply, reply.clean_len(), growth);
    }

    /// [`write_with`](Self::write_with), `clean_len` being the reply's `clean_len`, which its
    /// caller has taken already.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn write_with_len<W: Writable + ?Sized>(&mut self, reply: &W, clean_len: usize, growth: Growth) {
        self.grow(clean_len, growth);
        if self.write_in_room(reply) {
            return;
        }
        self.grow(reply.encoded_len(), growth);
        if self.write_in_room(reply) {
            return;
        }
        let Ok(()) = reply.write_pieces(self);
    }

    /// Makes room for `additional` more bytes (and the frame's after them): nothing to do, the
    /// usual case, inline.
    #[inline(always)]
    fn grow(&mut self, additional: usize, growth: Growth) {
        let after = self.frame.after;
        let vec = self.vec();
        if vec.capacity() - vec.len() < additional.saturating_add(after) {
            self.grow_to(additional, growth);
        }
    }

    #[inline(never)]
    fn grow_to(&mut self, additional: usize, growth: Growth) {
        let Frame { before, after } = self.frame;
        let additional = additional + after;
        let vec = self.vec();
        match growth {
            // Zeros: the header of an encrypted reply's plaintext, whose storage is a `Vec<u8>`.
            _ if before > 0 && vec.is_empty() => {
                *vec = Vec::with_capacity(before + additional);
                vec.resize(before, 0);
            }
            Growth::Amortized if after == 0 => vec.reserve(additional),
            Growth::Exact if vec.is_empty() && vec.capacity() < additional => {
                *vec = Vec::with_capacity(additional);
            }
            _ => vec.reserve_exact(additional),
        }
    }

    /// Writes `reply` into the spare capacity; keeps it if all of it fit.
    #[allow(unsafe_code)]
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write_in_room<W: Writable + ?Sized>(&mut self, reply: &W) -> bool {
        let after = self.frame.after;
        let vec = self.vec();
        let len = vec.len();
        let spare = vec.spare_capacity_mut();
        // The room the frame keeps after the reply is not the reply's.
        let room = spare.len().saturating_sub(after);
        let spare = &mut spare[..room];
        let end = spare.as_ptr_range().end;
        let mut cursor = Cursor { rest: spare, copies: PerValue, full: false };
        reply.emit_cursor(&mut cursor);
        // The cursor is the one this room was lent as: a reply's writer is generic over its
        // output, so it has no other to put in its place (in unoptimized builds it is lent
        // through an `AnyOutput`, which only its own methods change). Not full, its room is a
        // suffix of the room lent; its end is compared all the same, for two instructions.
        if cursor.full || cursor.rest.as_ptr_range().end != end || cursor.rest.len() > room {
            return false;
        }
        let written = room - cursor.rest.len();
        // SAFETY: the `written` bytes after `len` are the start of the room lent, the first
        // `room` bytes of the spare capacity, so within it, and the cursor, not full, has written
        // every one of them (see the module's documentation: a cursor's room starts past what it
        // has written), as whole pieces of UTF-8.
        unsafe { vec.set_len(len + written) };
        true
    }
}

impl Sink for Buffer<'_> {
    type Error = Infallible;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Infallible> {
        // Nothing for nothing: a framed buffer that is never written into stays empty.
        if additional > 0 {
            self.grow(additional, Growth::Amortized);
        }
        Ok(())
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Infallible> {
        if !s.is_empty() {
            self.grow(s.len(), Growth::Amortized);
            self.vec().extend_from_slice(s.as_bytes());
        }
        Ok(())
    }

    #[inline]
    fn buffer(&mut self, _: Token) -> Option<Buffer<'_>> {
        Some(self.reborrow())
    }
}

/// The write-only cursor over a [`Buffer`]'s spare capacity: see the module's documentation.
/// `C` says how it copies a value and checks it: [`PerValue`], short values inline and long ones
/// by a call to the widest vectors; or, in code compiled for AVX2 (a news reply's articles),
/// with AVX2 inline.
pub(crate) struct Cursor<'a, C = PerValue> {
    /// The room not yet written: a suffix of the room lent, unless `full`.
    rest: &'a mut [MaybeUninit<u8>],
    copies: C,
    /// A piece didn't fit (or a method didn't finish): what the cursor wrote counts for nothing,
    /// and it has no room left.
    full: bool,
}

impl<C: CopyChecked> Cursor<'_, C> {
    /// Moves the room past its first `n` bytes, which the caller has written. `false`.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn advance(&mut self, n: usize) -> bool {
        let rest = core::mem::take(&mut self.rest);
        match rest.get_mut(n..) {
            Some(rest) => {
                self.rest = rest;
                false
            }
            // Not reached: the callers write no more than the room.
            None => self.out_of_room(),
        }
    }

    /// A piece didn't fit: no room left, and the writing counts for nothing. `true`.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn out_of_room(&mut self) -> bool {
        self.rest = &mut [];
        self.full = true;
        true
    }
}

impl<C: CopyChecked> Output for Cursor<'_, C> {
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(&mut self, s: &'static str) -> bool {
        let Some(head) = self.rest.get_mut(..s.len()) else {
            return self.out_of_room();
        };
        head.write_copy_of_slice(s.as_bytes());
        self.advance(s.len())
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn text(&mut self, s: &str) -> bool {
        // Escaping never makes a value shorter.
        let Some(head) = self.rest.get_mut(..s.len()) else {
            return self.out_of_room();
        };
        let written = match self.copies.copy_checked(head, s.as_bytes()) {
            None => s.len(),
            Some(from) => match cdata::escape_into(self.rest, s, from) {
                Ok(written) => written,
                Err(NoRoom) => return self.out_of_room(),
            },
        };
        self.advance(written)
    }

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn decimal(&mut self, n: UnixSeconds) -> bool {
        let Some(head) = self.rest.get_mut(..n.decimal_len()) else {
            return self.out_of_room();
        };
        n.write_decimal(head);
        self.advance(n.decimal_len())
    }

    /// A news reply's articles, where the CPU has AVX2, in code compiled for it, each value's
    /// copy inlined into the loop over them (forty values of thirty to a hundred bytes: a call
    /// each, out to the widest vectors, cost more than the copies).
    #[inline]
    fn items<A: NewsArticle>(&mut self, articles: &[A]) -> bool {
        // The room goes to a cursor of the function that writes the items, kept in its registers
        // rather than behind a pointer, and comes back when it is done: this one is full until
        // then, so that a panic in between (an article's accessor) leaves it full.
        let rest = core::mem::take(&mut self.rest);
        let was_full = core::mem::replace(&mut self.full, true);
        #[cfg(target_arch = "x86_64")]
        let (rest, full) = match cdata::Avx2Cpu::get() {
            // Inlined into the function compiled for AVX2, so that it is compiled for AVX2 too.
            Some(cpu) if C::PER_VALUE => cpu.in_avx2_code(
                #[cfg_attr(not(debug_assertions), inline(always))]
                move || Cursor { rest, copies: cdata::InAvx2(cpu), full: false }.items_and_room(articles),
            ),
            _ => Cursor { rest, copies: self.copies, full: false }.items_and_room(articles),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (rest, full) = Cursor { rest, copies: self.copies, full: false }.items_and_room(articles);
        self.rest = rest;
        self.full = was_full || full;
        self.full
    }
}

impl<'a, C: CopyChecked> Cursor<'a, C> {
    /// Writes the `<item>`s of `articles`; the room left, and whether the cursor is full.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn items_and_room<A: NewsArticle>(mut self, articles: &[A]) -> (&'a mut [MaybeUninit<u8>], bool) {
        write_items(&mut self, articles);
        (self.rest, self.full)
    }
}

/// What the writers of this module ask of a reply: its lengths, and its pieces into a cursor or
/// a sink. [`Typed`]: the reply's own type, everything compiled (and inlined) for it, as
/// optimized builds write; `dyn AnyEmit`: the reply behind `dyn`, as unoptimized builds write, so
/// that the writers (the buffer's passes, the cursor's `unsafe` code among them, and the sinks')
/// are compiled once for all replies rather than once for each ([`writable`] chooses).
pub(crate) trait Writable {
    /// The length if no value needs escaping.
    fn clean_len(&self) -> usize;
    /// The exact length.
    fn encoded_len(&self) -> usize;
    /// The pieces into a cursor's room.
    fn emit_cursor(&self, cursor: &mut Cursor<'_>);
    /// The pieces into `sink`, one by one.
    fn write_pieces<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error>;
}

/// A reply as its own type.
pub(crate) struct Typed<'r, R: ?Sized>(pub(crate) &'r R);

impl<R: PassiveReply + ?Sized> Writable for Typed<'_, R> {
    #[inline(always)]
    fn clean_len(&self) -> usize {
        clean_len(self.0)
    }

    #[inline(always)]
    fn encoded_len(&self) -> usize {
        encoded_len(self.0)
    }

    #[inline(always)]
    fn emit_cursor(&self, cursor: &mut Cursor<'_>) {
        self.0.__emit(cursor)
    }

    #[inline(always)]
    fn write_pieces<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        write_pieces(self.0, sink)
    }
}

/// A reply as the [`Writable`] of this build: as it is in optimized builds, behind `dyn` in
/// unoptimized ones.
#[cfg(debug_assertions)]
#[inline]
pub(crate) fn writable<'a, R: PassiveReply + ?Sized>(reply: &'a Typed<'a, R>) -> &'a (dyn AnyEmit + 'a) {
    reply
}

/// A reply as the [`Writable`] of this build: as it is in optimized builds, behind `dyn` in
/// unoptimized ones.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn writable<'a, R: PassiveReply + ?Sized>(reply: &'a Typed<'a, R>) -> &'a Typed<'a, R> {
    reply
}

/// A reply behind `dyn`, in unoptimized builds: its `emit` for the one output of every way of
/// writing ([`AnyOutput`]), and its `len`.
#[cfg(debug_assertions)]
pub(crate) trait AnyEmit {
    fn emit_any(&self, out: &mut AnyOutput<'_, '_>);
    fn len_any(&self, exact: bool) -> usize;
}

#[cfg(debug_assertions)]
impl<R: PassiveReply + ?Sized> AnyEmit for Typed<'_, R> {
    fn emit_any(&self, out: &mut AnyOutput<'_, '_>) {
        self.0.__emit(out)
    }

    fn len_any(&self, exact: bool) -> usize {
        self.0.__len(exact)
    }
}

#[cfg(debug_assertions)]
impl Writable for dyn AnyEmit + '_ {
    fn clean_len(&self) -> usize {
        self.len_any(false)
    }

    fn encoded_len(&self) -> usize {
        self.len_any(true)
    }

    fn emit_cursor(&self, cursor: &mut Cursor<'_>) {
        self.emit_any(&mut AnyOutput::Cursor(cursor))
    }

    fn write_pieces<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        crate::reply::through_erased(sink, |sink| {
            let mut out = AnyOutput::Pieces(SinkOutput::new(sink));
            self.emit_any(&mut out);
            match out {
                AnyOutput::Pieces(out) => out.finish(),
                // Not reached: a reply's writer only calls the output's methods, which don't
                // change what it is.
                AnyOutput::Cursor(_) => Err(SinkFailed),
            }
        })
    }
}

/// In unoptimized builds (`debug_assertions`), every way of writing a reply's XML is this one
/// output: the cursor of a buffer's room, or any sink piece by piece (behind `dyn Sink`, its own
/// error kept aside, as `DynReply` does). A reply's `emit` is then compiled once for all of them,
/// not once for the cursor and once more for the sinks: the most of what a crate of many derived
/// replies spends its build on. The cursor's writes, `unsafe` code included, are the same either
/// way (its methods are called as they are); optimized builds hand the cursor and each sink to
/// `emit` as they are, for the speed of code made for each.
#[cfg(debug_assertions)]
pub(crate) enum AnyOutput<'o, 'a> {
    /// The room of a `Vec<u8>` or `String` sink.
    Cursor(&'o mut Cursor<'a>),
    /// Any sink, piece by piece, until a piece fails.
    Pieces(SinkOutput<'a, dyn Sink<Error = SinkFailed> + 'a>),
}

#[cfg(debug_assertions)]
impl Output for AnyOutput<'_, '_> {
    #[inline]
    fn literal(&mut self, s: &'static str) -> bool {
        match self {
            AnyOutput::Cursor(cursor) => cursor.literal(s),
            AnyOutput::Pieces(out) => out.literal(s),
        }
    }

    #[inline]
    fn text(&mut self, s: &str) -> bool {
        match self {
            AnyOutput::Cursor(cursor) => cursor.text(s),
            AnyOutput::Pieces(out) => out.text(s),
        }
    }

    #[inline]
    fn decimal(&mut self, n: UnixSeconds) -> bool {
        match self {
            AnyOutput::Cursor(cursor) => cursor.decimal(n),
            AnyOutput::Pieces(out) => out.decimal(n),
        }
    }

    #[inline]
    fn items<A: NewsArticle>(&mut self, articles: &[A]) -> bool {
        match self {
            AnyOutput::Cursor(cursor) => cursor.items(articles),
            AnyOutput::Pieces(out) => out.items(articles),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdata::tests::{lengths, pieces, reference, values};
    use crate::emit::Length;
    use crate::messages::Text;
    use crate::news::Articles;
    use crate::news::{Article, News};
    use crate::reply::PassiveReply;
    use crate::sink::Sink;

    /// `PassiveReply` for a test's reply of the hidden `__emit` given (and `__len` by default,
    /// through a length output), as a derived reply is.
    macro_rules! test_reply {
        ($ty:ty, |$this:ident, $out:ident| $emit:block) => {
            impl PassiveReply for $ty {
                fn encoded_len(&self) -> usize {
                    crate::emit::encoded_len(self)
                }

                fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                    crate::write::write_to(self, sink)
                }

                const __DERIVED: bool = true;

                fn __emit<O: Output>(&self, $out: &mut O) {
                    #[allow(unused_variables)]
                    let $this = self;
                    $emit
                }
            }
        };
    }

    /// A reply of literal pieces and values, for the tests: `Ok` pieces are literals, `Err`
    /// ones values.
    struct Pieces<'a>(&'a [Result<&'static str, &'a str>]);

    test_reply!(Pieces<'_>, |this, out| {
        for piece in this.0 {
            let failed = match piece {
                Ok(literal) => out.literal(literal),
                Err(value) => out.text(value),
            };
            if failed {
                return;
            }
        }
    });

    fn written(pieces: &[Result<&'static str, &str>], capacity: usize) -> Vec<u8> {
        let mut vec = Vec::with_capacity(capacity);
        vec.extend_from_slice(b"<xml>");
        Buffer::of_vec(&mut vec).write(&Pieces(pieces), Growth::Amortized);
        vec
    }

    /// A framed buffer (an encrypted reply's plaintext): the header's room first, the reply
    /// after it in room that leaves the frame's after it, clean or escaped, written whole or
    /// piece by piece; nothing at all for a reply that writes nothing.
    #[cfg(feature = "crypto")]
    #[test]
    fn a_framed_buffer_keeps_its_frame() {
        let frame = Frame { before: 20, after: 50 };
        for (pieces, expected) in [
            (&[Ok("<xml>"), Err("你好"), Ok("</xml>")][..], "<xml>你好</xml>"),
            (&[Ok("<xml>"), Err("a]]>b\u{1}"), Ok("</xml>")][..], "<xml>a]]]]><![CDATA[>b\u{FFFD}</xml>"),
        ] {
            let mut vec = Vec::new();
            Buffer::framed(&mut vec, frame).write(&Pieces(pieces), Growth::Amortized);
            assert_eq!((&vec[..20], &vec[20..]), (&[0; 20][..], expected.as_bytes()));
            assert!(vec.capacity() - vec.len() >= 50, "the frame's room after");

            let mut vec = Vec::new();
            let mut buffer = Buffer::framed(&mut vec, frame);
            for piece in pieces {
                let Ok(()) = cdata::write_escaped(&mut buffer, piece.unwrap_or_else(|value| value));
            }
            assert_eq!(
                &vec[20..],
                pieces
                    .iter()
                    .map(|p| p.unwrap_or_else(|v| v))
                    .collect::<String>()
                    .replace("]]>", "]]]]><![CDATA[>")
                    .replace('\u{1}', "\u{FFFD}")
                    .as_bytes()
            );
            assert!(vec.capacity() - vec.len() >= 50);
        }
        let mut vec = Vec::new();
        let mut buffer = Buffer::framed(&mut vec, frame);
        let (Ok(()), Ok(())) = (buffer.reserve(0), buffer.write_str(""));
        assert_eq!(vec.capacity(), 0, "nothing written, nothing allocated");
    }

    #[test]
    fn pieces_are_written_in_room_or_after_growing() {
        let pieces = [Ok("<a>"), Err("你好"), Ok("</a>"), Err("a]]>b\u{1}"), Ok("!")];
        let expected = "<xml><a>你好</a>a]]]]><![CDATA[>b\u{FFFD}!";
        let mut length = Length::EXACT;
        Pieces(&pieces).__emit(&mut length);
        assert_eq!(length.len, expected.len() - 5);
        // With room for all of it, escaped where it stands; for its clean length only, grown
        // and written again; with none, grown.
        for capacity in (0..=expected.len() + 20).chain([1000]) {
            assert_eq!(written(&pieces, capacity), expected.as_bytes(), "capacity {capacity}");
        }
    }

    #[test]
    fn a_string_stays_text() {
        let mut string = String::from("前");
        Buffer::of_string(&mut string).write(&Pieces(&[Err("\u{FFFF}中"), Ok("后")]), Growth::Exact);
        assert_eq!(string, "前\u{FFFD}中后");
        let mut fresh = String::new();
        Buffer::of_string(&mut fresh).write(&Pieces(&[Err("a]]>"), Ok("b")]), Growth::Exact);
        assert_eq!((fresh.as_str(), fresh.capacity()), ("a]]]]><![CDATA[>b", 17));
    }

    /// A reply whose writer copies a piece, then panics.
    struct Panics;

    test_reply!(Panics, |this, out| {
        if !out.literal("<a>") {
            panic!("in the middle of a reply");
        }
    });

    #[test]
    fn a_writer_that_panics_leaves_nothing() {
        let mut vec = Vec::with_capacity(64);
        vec.extend_from_slice(b"<xml>");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Buffer::of_vec(&mut vec).write(&Panics, Growth::Amortized)
        }));
        assert!(unwound.is_err());
        assert_eq!(vec, b"<xml>");
    }

    /// A reply whose writer copies a piece, then another in a closure that panics after it, and
    /// catches the panic and writes on: each piece it handed over was written whole.
    struct CatchesAPanic;

    test_reply!(CatchesAPanic, |this, out| {
        if out.literal("<a>") {
            return;
        }
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if !out.text("<b>") {
                panic!("in the middle of a reply");
            }
        }));
        assert!(caught.is_err());
        let _ = out.literal("<c>");
    });

    /// A reply whose writer goes on after its output has failed, and writes less after that.
    struct GoesOnAfterFailing;

    test_reply!(GoesOnAfterFailing, |this, out| {
        let failed = [out.literal("<a>"), out.text(&"b".repeat(100)), out.literal("<c>")];
        let _ = failed;
    });

    /// Out of room, the cursor is full and takes no more: a short piece after a long one that
    /// didn't fit is not kept in place of it (the reply is written again, in room of its length).
    #[test]
    fn a_writer_that_goes_on_after_failing_changes_nothing() {
        let mut vec = Vec::with_capacity(64);
        vec.extend_from_slice(b"<xml>");
        let mut buffer = Buffer::of_vec(&mut vec);
        let mut cursor = Cursor { rest: &mut [MaybeUninit::uninit(); 20], copies: PerValue, full: false };
        GoesOnAfterFailing.__emit(&mut cursor);
        assert!(cursor.full && cursor.rest.is_empty());
        buffer.write(&GoesOnAfterFailing, Growth::Amortized);
        assert_eq!(vec, format!("<xml><a>{}<c>", "b".repeat(100)).as_bytes());
    }

    #[test]
    fn a_writer_that_catches_a_panic_keeps_whole_pieces() {
        let mut vec = Vec::with_capacity(64);
        vec.extend_from_slice(b"<xml>");
        Buffer::of_vec(&mut vec).write(&CatchesAPanic, Growth::Amortized);
        assert_eq!(vec, b"<xml><a><b><c>");
    }

    /// An article whose title panics the second time it is asked for: in the middle of the
    /// `<item>`s, after the reply's length was counted.
    struct PanicsOnce<'a>(&'a std::cell::Cell<u32>);

    impl NewsArticle for PanicsOnce<'_> {
        fn title(&self) -> Option<&str> {
            self.0.set(self.0.get() + 1);
            assert_ne!(self.0.get(), 2, "an article's accessor panics");
            Some("t")
        }
    }

    /// A reply whose writer catches the panic of an article's accessor in its `<item>`s, and
    /// stops there.
    struct CatchesAnArticlesPanic<'a>(&'a std::cell::Cell<u32>);

    test_reply!(CatchesAnArticlesPanic<'_>, |this, out| {
        if out.literal("<a>") {
            return;
        }
        let articles = [PanicsOnce(this.0)];
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| out.items(&articles)));
        if this.0.get() == 2 {
            assert!(caught.is_err());
        }
    });

    /// Where the CPU has AVX2, the cursor lends its room to one compiled for it for the
    /// `<item>`s: a panic there leaves it full, so that what it wrote before counts for nothing,
    /// and the reply is written again (and whole, the accessor no longer panicking). Elsewhere
    /// (and under Miri) the panic comes before the first piece of the `<item>`s, and the
    /// buffer keeps the piece before it.
    #[test]
    fn a_panic_in_the_items_leaves_the_cursor_full() {
        let calls = std::cell::Cell::new(0);
        let mut vec = Vec::with_capacity(64);
        vec.extend_from_slice(b"<xml>");
        Buffer::of_vec(&mut vec).write(&CatchesAnArticlesPanic(&calls), Growth::Amortized);
        let whole = b"<xml><a><item><Title><![CDATA[t]]></Title></item>";
        assert!(vec == whole || vec == b"<xml><a>", "{:?}", String::from_utf8_lossy(&vec));
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if cdata::Avx2Cpu::get().is_some() {
            assert_eq!(vec, whole);
        }
    }

    /// Every path that writes into fresh capacity, for Miri with recursive validation
    /// (CONTRIBUTING.md): a `Vec` and a `String` with no room, exactly the room, and more; values
    /// of every length around the edges of the copies (16, 32, 64, 128 bytes) with every kind of
    /// spot at several places; a news reply's articles. Each is held to the reference escaping.
    #[test]
    fn fresh_capacity_of_every_length() {
        for piece in pieces() {
            for len in lengths() {
                for value in values(piece, len) {
                    let reply = Text::new("oUser", "gh_account", value.as_str()).with_create_time(1_700_000_000);
                    let expected = format!(
                        "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>\
                         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content></xml>",
                        reference(&value)
                    );
                    written_every_way(&reply, &expected);
                }
            }
        }
    }

    #[test]
    fn fresh_capacity_for_news() {
        let lengths = if cfg!(miri) { vec![0, 17, 65, 129] } else { lengths() };
        for &piece in if cfg!(miri) { &["a", "]]>"][..] } else { &["a", "]]>", "\u{1}", "\u{FFFF}", "，"] } {
            for &len in &lengths {
                let value = values(piece, len).pop().unwrap_or_default();
                let mut articles = Articles::new(Article::new().title(value.as_str()).url("https://example.com/1"));
                let escaped = reference(&value);
                let mut items = format!(
                    "<item><Title><![CDATA[{escaped}]]></Title><Url><![CDATA[https://example.com/1]]></Url></item>"
                );
                for i in 2..=10 {
                    let article = Article::new().description(value.as_str()).pic_url(format!("https://p/{i}.jpg"));
                    let title = if i % 3 == 0 { "<Title><![CDATA[t]]></Title>" } else { "" };
                    items.push_str(&format!(
                        "<item>{title}<Description><![CDATA[{escaped}]]></Description><PicUrl><![CDATA[https://p/{i}.jpg]]></PicUrl></item>"
                    ));
                    articles.push(if i % 3 == 0 { article.title("t") } else { article }).unwrap();
                }
                let reply = News::new("oUser", "gh_account", articles).with_create_time(1_700_000_000);
                let expected = format!(
                    "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>\
                     <CreateTime>1700000000</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>10</ArticleCount>\
                     <Articles>{items}</Articles></xml>"
                );
                written_every_way(&reply, &expected);
            }
        }
    }

    /// `reply` written into a `Vec` and a `String` without room, with room for its clean length,
    /// exactly its length, and more, after a prefix; and `to_xml`.
    fn written_every_way(reply: &impl PassiveReply, expected: &str) {
        assert_eq!(reply.encoded_len(), expected.len());
        assert_eq!(reply.to_xml(), expected);
        let extras: &[usize] = if cfg!(miri) { &[0, expected.len()] } else { &[0, 1, expected.len()] };
        for &extra in extras {
            let mut vec = Vec::with_capacity(5 + expected.len() + extra);
            vec.extend_from_slice(b"<xml>");
            let Ok(()) = reply.write_to(&mut vec);
            assert_eq!(&vec[5..], expected.as_bytes());
            let mut string = String::with_capacity(3 + expected.len() + extra);
            string.push('前');
            let Ok(()) = reply.write_to(&mut string);
            assert_eq!(&string[3..], expected);
        }
        let mut empty = Vec::new();
        let Ok(()) = reply.write_to(&mut empty);
        assert_eq!(empty, expected.as_bytes());
    }

    #[test]
    fn numbers_are_written_as_digits() {
        struct Number(u64);
        test_reply!(Number, |this, out| {
            let _ = out.literal("<n>") || out.decimal(UnixSeconds::from_u64(this.0)) || out.literal("</n>");
        });
        for n in [0, 7, 10, 99, 1_700_000_000, u64::MAX] {
            let mut vec = Vec::with_capacity(64);
            Buffer::of_vec(&mut vec).write(&Number(n), Growth::Amortized);
            assert_eq!(vec, format!("<n>{n}</n>").as_bytes());
        }
    }
}
