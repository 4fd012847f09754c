//! Where a reply is written.

use core::convert::Infallible;
use core::fmt;

/// A destination for the bytes of a reply.
///
/// A reply's [`write_to`](crate::PassiveReply::write_to) first calls [`reserve`](Sink::reserve)
/// once with the exact length it is about to write, then [`write_str`](Sink::write_str) once per
/// run of static text and once or more per value. Growable sinks allocate at most once, in
/// `reserve`; a fixed buffer refuses there, before a byte is written.
///
/// A derived reply written into a `Vec<u8>` or `String` that already has the room for it (a
/// buffer reused from one reply to the next) is copied straight into that room instead, each
/// value checked as it is copied, and the length set once at the end; it is written the way
/// above when it doesn't fit or a value needs escaping. The bytes are the same either way.
///
/// Implemented for `Vec<u8>`, `String`, [`SliceSink`] (a fixed `&mut [u8]`), [`IoSink`] (any
/// [`std::io::Write`]), [`FmtSink`] (any [`core::fmt::Write`]), `bytes::BytesMut` with the feature
/// `bytes`, and `&mut S` for any sink `S`.
///
/// ```
/// use reply_core::{PassiveReply, Sink, Text};
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// let mut buf: Vec<u8> = Vec::with_capacity(4096);
/// reply.write_to(&mut buf).unwrap();
/// assert_eq!(buf.len(), reply.encoded_len());
/// ```
pub trait Sink {
    /// What a failed write reports. [`Infallible`] for sinks that grow.
    type Error;

    /// Announces that `additional` more bytes are about to be written. Growable sinks make room
    /// for them here; a fixed buffer returns its error here if they don't fit. The default does
    /// nothing.
    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Self::Error> {
        let _ = additional;
        Ok(())
    }

    /// Appends `s`.
    fn write_str(&mut self, s: &str) -> Result<(), Self::Error>;

    /// `len` bytes of room the sink already has, lent to a derived reply to write into
    /// directly: `Vec<u8>` and `String` with that much spare capacity. Not a public API.
    #[doc(hidden)]
    #[inline]
    fn room(&mut self, len: usize) -> Option<Reserved<'_>> {
        let _ = len;
        None
    }
}

pub use append::{Reserved, Room};

/// A [`Room`] was too small. Not a public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct NoRoom;

impl<S: Sink + ?Sized> Sink for &mut S {
    type Error = S::Error;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Self::Error> {
        (**self).reserve(additional)
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Self::Error> {
        (**self).write_str(s)
    }

    #[inline]
    fn room(&mut self, len: usize) -> Option<Reserved<'_>> {
        (**self).room(len)
    }
}

impl Sink for Vec<u8> {
    type Error = Infallible;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Infallible> {
        Vec::reserve(self, additional);
        Ok(())
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Infallible> {
        append::append(self, s.as_bytes());
        Ok(())
    }

    #[inline]
    fn room(&mut self, len: usize) -> Option<Reserved<'_>> {
        Reserved::in_vec(self, len)
    }
}

impl Sink for String {
    type Error = Infallible;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Infallible> {
        String::reserve(self, additional);
        Ok(())
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Infallible> {
        append::append_str(self, s);
        Ok(())
    }

    #[inline]
    fn room(&mut self, len: usize) -> Option<Reserved<'_>> {
        Reserved::in_string(self, len)
    }
}

/// Appending to a `Vec<u8>` or `String` without a call to `memcpy` per piece, and writing a
/// whole reply into the room they already have.
///
/// A reply is a few dozen short pieces (static text, ids, titles, URLs) written into room
/// reserved for all of them at once. [`append`] copies a piece of up to 64 bytes inline
/// ([`crate::copy`]); [`Reserved`] lends the spare capacity itself to a derived emitter, which
/// copies every piece into it and has the length set once at the end. The `unsafe` is that
/// length update (`Vec::set_len`, and `String::as_mut_vec` to reach it); the tests below check
/// every length from 0 to 80 with and without room, and `Room`'s every way out.
#[allow(unsafe_code)]
mod append {
    use core::mem::{self, MaybeUninit};

    use crate::cdata;
    use crate::copy::{self, copy_short};

    /// The longest piece copied inline; longer ones go through `extend_from_slice` (inline copies
    /// of up to 128 bytes measured no faster here).
    const INLINE: usize = 64;

    #[inline(always)]
    pub(super) fn append(vec: &mut Vec<u8>, bytes: &[u8]) {
        let len = vec.len();
        if bytes.len() <= INLINE
            && let Some(room) = vec.spare_capacity_mut().get_mut(..bytes.len())
            && copy_short(room, bytes)
        {
            // SAFETY: `copy_short` initialized the `bytes.len()` bytes after `len`, which are
            // within the capacity (`room` is part of the spare capacity).
            unsafe { vec.set_len(len + bytes.len()) };
            return;
        }
        vec.extend_from_slice(bytes);
    }

    #[inline(always)]
    pub(super) fn append_str(string: &mut String, s: &str) {
        // SAFETY: only the bytes of a whole `&str` are appended, so the string stays UTF-8.
        append(unsafe { string.as_mut_vec() }, s.as_bytes());
    }

    /// Room a `Vec<u8>` or `String` already has, lent to a derived reply's `write_to` to be
    /// written into directly. Not a public API.
    ///
    /// Made only here, from a `Vec<u8>` or a `String` with at least `len` bytes of spare
    /// capacity ([`Sink::room`](super::Sink::room)).
    #[derive(Debug)]
    pub struct Reserved<'a> {
        vec: &'a mut Vec<u8>,
        len: usize,
    }

    impl<'a> Reserved<'a> {
        #[inline]
        pub(in super::super) fn in_vec(vec: &'a mut Vec<u8>, len: usize) -> Option<Self> {
            (vec.capacity() - vec.len() >= len).then_some(Reserved { vec, len })
        }

        #[inline]
        pub(in super::super) fn in_string(string: &'a mut String, len: usize) -> Option<Self> {
            // SAFETY: a `Reserved` only ever appends the bytes of whole `&str`s (`write`), so
            // the string stays UTF-8.
            Reserved::in_vec(unsafe { string.as_mut_vec() }, len)
        }

        /// Lends the room to `write`; keeps what it wrote only if it returns true, and then
        /// returns true. Otherwise the sink is left as it was (the bytes written in its spare
        /// capacity are not part of it).
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn write(self, write: impl FnOnce(&mut Room<'_>) -> bool) -> bool {
            let start = self.vec.len();
            let Some(spare) = self.vec.spare_capacity_mut().get_mut(..self.len) else {
                return false;
            };
            let base = spare.as_ptr();
            let mut room = Room { rest: spare, vectors: cdata::Vectors::detect() };
            let kept = write(&mut room);
            // What was written is what the room has lost from its start, if the room that
            // comes back is this one, not another `Room` swapped in by `write`: then its first
            // `written` bytes are the ones its copies initialized. (The borrow checker already
            // refuses a swap of two rooms lent to two writes; this costs a few instructions per
            // reply.)
            let written = self.len - room.rest.len();
            if !kept || room.rest.as_ptr() != base.wrapping_add(written) {
                return false;
            }
            // SAFETY: the `written` bytes after `start` are within the capacity (they are the
            // start of `spare`), and were initialized by `Room`'s copies, each of a whole `&str`
            // (so a `String` stays UTF-8), one after the other.
            unsafe { self.vec.set_len(start + written) };
            true
        }
    }

    /// The room of a [`Reserved`], written from its start. Not a public API.
    #[derive(Debug)]
    pub struct Room<'a> {
        /// The room after what has been written.
        rest: &'a mut [MaybeUninit<u8>],
        vectors: cdata::Vectors,
    }

    impl Room<'_> {
        /// The next `n` bytes of room, counted as written: the caller fills them all.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn take(&mut self, n: usize) -> Option<&mut [MaybeUninit<u8>]> {
            if n > self.rest.len() {
                return None;
            }
            let (taken, rest) = mem::take(&mut self.rest).split_at_mut(n);
            self.rest = rest;
            Some(taken)
        }

        /// Runs `write` on this room moved into a local (this one is left empty meanwhile), in
        /// code compiled for the vectors the CPU has (AVX2), so that the copies of the values
        /// `write` makes are inlined into it: for a loop over a list's articles. A room reached
        /// through a reference would be kept in memory, its state stored after every piece (a
        /// call may unwind and leave it seen); a local one stays in registers.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub(crate) fn write_compiled(&mut self, write: impl FnOnce(&mut Room<'_>) -> bool) -> bool {
            let rest = mem::take(&mut self.rest);
            let (written, rest) = self.vectors.compiled(
                #[cfg_attr(not(debug_assertions), inline(always))]
                move |vectors| {
                    let mut local = Room { rest, vectors };
                    (write(&mut local), local.rest)
                },
            );
            self.rest = rest;
            written
        }

        /// Copies `s` (static text, digits): false if it doesn't fit.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn copy(&mut self, s: &str) -> bool {
            match self.take(s.len()) {
                Some(dst) => {
                    copy::copy(dst, s.as_bytes());
                    true
                }
                None => false,
            }
        }

        /// Copies a text value that has nothing to escape: false if it has (then nothing counts as
        /// written) or doesn't fit. The value is checked as it is copied; one of up to 32 bytes
        /// (an id) is copied inline.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn text(&mut self, s: &str) -> bool {
            self.text_with::<true>(s)
        }

        /// [`text`](Room::text) for the values of an article, written in a loop over a list: each
        /// copied by a call, which keeps the loop's state in registers.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn item_text(&mut self, s: &str) -> bool {
            self.text_with::<false>(s)
        }

        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn text_with<const INLINE: bool>(&mut self, s: &str) -> bool {
            let copied = match self.rest.get_mut(..s.len()) {
                Some(dst) => cdata::copy_if_clean::<INLINE>(dst, s, self.vectors),
                None => false,
            };
            copied && self.take(s.len()).is_some()
        }
    }

    /// A [`Room`] as a sink, for what a derived emitter doesn't write itself (a hand-written
    /// article): each piece copied as it is.
    impl super::Sink for Room<'_> {
        type Error = super::NoRoom;

        #[inline]
        fn write_str(&mut self, s: &str) -> Result<(), super::NoRoom> {
            if self.copy(s) { Ok(()) } else { Err(super::NoRoom) }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn room_is_kept_only_when_all_of_it_was_written() {
            let mut vec = Vec::with_capacity(32);
            vec.extend_from_slice(b"<xml>");
            assert!(Reserved::in_vec(&mut vec, 28).is_none(), "27 bytes of room are not 28");

            // Written and kept.
            let reserved = Reserved::in_vec(&mut vec, 27).unwrap();
            assert!(reserved.write(|room| room.copy("<a>") && room.text("你好") && room.copy("</a>")));
            assert_eq!(vec, "<xml><a>你好</a>".as_bytes());

            // A value that needs escaping, or a piece that doesn't fit: nothing is kept, and
            // the buffer is as it was.
            let before = vec.clone();
            for refused in [
                &mut |room: &mut Room<'_>| room.copy("<b>") && room.text("a]]>b") && room.copy("</b>"),
                &mut |room: &mut Room<'_>| room.copy("<b>") && room.text("\u{1}") && room.copy("</b>"),
                &mut |room: &mut Room<'_>| room.copy("0123456789") && room.copy("0123456789"),
                &mut |room: &mut Room<'_>| room.copy("<b>") && room.text("0123456789abcdef"),
                &mut |room: &mut Room<'_>| !room.copy("<b>"),
            ] as [&mut dyn FnMut(&mut Room<'_>) -> bool; 5]
            {
                let reserved = Reserved::in_vec(&mut vec, 14).unwrap();
                assert!(!reserved.write(refused));
                assert_eq!(vec, before);
            }

            // A refused value takes no room: what follows it goes where it would have gone.
            let mut string = String::with_capacity(16);
            let reserved = Reserved::in_string(&mut string, 16).unwrap();
            assert!(reserved.write(|room| {
                let refused = room.text("a\u{FFFF}");
                !refused && room.text("tab\tline\n") && super::super::Sink::write_str(room, "]]>").is_ok()
            }));
            assert_eq!(string, "tab\tline\n]]>");
        }

        #[test]
        fn a_room_written_in_compiled_code_goes_on_where_it_stopped() {
            let long = "这是一段图文消息的描述，用来测试十条图文的回复。"; // 72 bytes: three AVX2 blocks
            let mut vec = Vec::with_capacity(256);
            vec.extend_from_slice(b"<xml>");
            let reserved = Reserved::in_vec(&mut vec, 200).unwrap();
            assert!(reserved.write(|room| {
                room.copy("<a>")
                    && room.write_compiled(|inner| inner.item_text(long) && inner.copy("</a><b>"))
                    && room.text("x")
                    && room.copy("</b>")
            }));
            assert_eq!(vec, format!("<xml><a>{long}</a><b>x</b>").as_bytes());

            // A value refused inside: false comes out, and nothing of the reply is kept.
            let before = vec.clone();
            let reserved = Reserved::in_vec(&mut vec, 100).unwrap();
            assert!(!reserved.write(|room| {
                room.copy("<c>") && room.write_compiled(|inner| inner.item_text(long) && inner.item_text("a]]>b"))
            }));
            assert_eq!(vec, before);
        }

        #[test]
        fn every_length_with_and_without_room() {
            let source: Vec<u8> = (0..80u8).map(|i| b'a' + i % 26).collect();
            for n in 0..=source.len() {
                let piece = &source[..n];
                for capacity in [0, n / 2, n, n + 7, 200] {
                    let mut vec = Vec::with_capacity(capacity);
                    vec.extend_from_slice(b"<xml>");
                    append(&mut vec, piece);
                    append(&mut vec, b"!");
                    let mut expected = b"<xml>".to_vec();
                    expected.extend_from_slice(piece);
                    expected.push(b'!');
                    assert_eq!(vec, expected, "{n} bytes, capacity {capacity}");
                }
                let text = std::str::from_utf8(piece).unwrap();
                let mut string = String::from("你");
                append_str(&mut string, text);
                assert_eq!(string, format!("你{text}"));
            }
        }
    }
}

#[cfg(feature = "bytes")]
impl Sink for bytes::BytesMut {
    type Error = Infallible;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), Infallible> {
        bytes::BytesMut::reserve(self, additional);
        Ok(())
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), Infallible> {
        self.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A sink over a fixed buffer, for writing a reply without a heap.
///
/// When the reply does not fit, writing returns [`BufferFull`] before a single byte is written,
/// and no byte past the buffer's end is ever touched.
///
/// ```
/// use reply_core::{PassiveReply, SliceSink, Text};
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// let mut buf = [0u8; 512];
/// let mut sink = SliceSink::new(&mut buf);
/// reply.write_to(&mut sink).unwrap();
/// assert!(sink.as_str().starts_with("<xml><ToUserName>"));
///
/// let mut small = [0u8; 16];
/// let err = reply.write_to(&mut SliceSink::new(&mut small)).unwrap_err();
/// assert_eq!(err.needed(), reply.encoded_len());
/// assert_eq!(small, [0u8; 16]);
/// ```
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink that writes from the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }

    /// How many bytes have been written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            Err(e) => unreachable!("SliceSink holds only whole strings: {e}"),
        }
    }

    /// Gives back the written part of the buffer, for as long as the buffer lives.
    pub fn into_str(self) -> &'a str {
        let written = &self.buf[..self.len];
        match core::str::from_utf8(written) {
            Ok(s) => s,
            Err(e) => unreachable!("SliceSink holds only whole strings: {e}"),
        }
    }

    fn check(&self, needed: usize) -> Result<(), BufferFull> {
        if needed <= self.remaining() { Ok(()) } else { Err(BufferFull { needed, available: self.remaining() }) }
    }
}

impl Sink for SliceSink<'_> {
    type Error = BufferFull;

    #[inline]
    fn reserve(&mut self, additional: usize) -> Result<(), BufferFull> {
        self.check(additional)
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), BufferFull> {
        self.check(s.len())?;
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// A reply did not fit in a [`SliceSink`]'s buffer. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferFull {
    needed: usize,
    available: usize,
}

impl BufferFull {
    /// How many bytes the write needed.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// How many bytes were left in the buffer.
    pub fn available(&self) -> usize {
        self.available
    }
}

impl fmt::Display for BufferFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the reply needs {} more bytes but the buffer has {} left; nothing was written",
            self.needed, self.available
        )
    }
}

impl std::error::Error for BufferFull {}

/// A sink over any [`std::io::Write`].
///
/// Each run of static text and each value is one `write_all` call, so wrap an unbuffered writer
/// (a socket, a file) in a [`std::io::BufWriter`], or write to a `Vec<u8>` first.
///
/// ```
/// use reply_core::{IoSink, PassiveReply, Text};
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// let mut out = std::io::BufWriter::new(Vec::new());
/// reply.write_to(&mut IoSink::new(&mut out)).unwrap();
/// assert_eq!(out.into_inner().unwrap(), reply.to_xml().into_bytes());
/// ```
#[derive(Debug)]
pub struct IoSink<W: ?Sized>(W);

impl<W: std::io::Write> IoSink<W> {
    /// Wraps `writer`.
    pub fn new(writer: W) -> Self {
        IoSink(writer)
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.0
    }
}

impl<W: std::io::Write + ?Sized> Sink for IoSink<W> {
    type Error = std::io::Error;

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), std::io::Error> {
        self.0.write_all(s.as_bytes())
    }
}

/// A sink over any [`core::fmt::Write`], such as a [`core::fmt::Formatter`].
///
/// ```
/// use core::fmt;
/// use reply_core::{FmtSink, PassiveReply, Text};
///
/// struct Shown<'a>(&'a Text<'a>);
///
/// impl fmt::Display for Shown<'_> {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         self.0.write_to(&mut FmtSink::new(f))
///     }
/// }
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// assert_eq!(Shown(&reply).to_string(), reply.to_xml());
/// ```
#[derive(Debug)]
pub struct FmtSink<W: ?Sized>(W);

impl<W: fmt::Write> FmtSink<W> {
    /// Wraps `writer`.
    pub fn new(writer: W) -> Self {
        FmtSink(writer)
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.0
    }
}

impl<W: fmt::Write + ?Sized> Sink for FmtSink<W> {
    type Error = fmt::Error;

    #[inline]
    fn write_str(&mut self, s: &str) -> Result<(), fmt::Error> {
        self.0.write_str(s)
    }
}
