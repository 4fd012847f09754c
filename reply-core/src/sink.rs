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
}

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
}

/// Appending a short piece without a call to `memcpy`.
///
/// A reply is a few dozen short pieces (static text, ids, titles, URLs) written into room
/// reserved for all of them at once. Appending each with `extend_from_slice` is a call to the C
/// library's `memcpy` per piece, which costs more than the copy; here a piece of up to 64 bytes is
/// copied with two fixed-size moves that may overlap. The `unsafe` is the length update after
/// the copy (`Vec::set_len`, and `String::as_mut_vec` to reach it); the tests below check every
/// length from 0 to 80, with and without room.
#[allow(unsafe_code)]
mod append {
    use core::mem::MaybeUninit;

    /// The longest piece copied inline; longer ones go through `extend_from_slice`.
    const INLINE: usize = 64;

    /// Copies `src` into `dst`, of the same length, at most [`INLINE`] bytes, with two moves of
    /// the largest power of two not longer than it. Returns whether it did (it does when the
    /// lengths agree and are at most `INLINE`).
    #[inline(always)]
    fn copy_short(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> bool {
        let n = src.len();
        if dst.len() != n || n > INLINE {
            return false;
        }
        macro_rules! ends {
            ($k:literal) => {{
                dst[..$k].write_copy_of_slice(&src[..$k]);
                dst[n - $k..].write_copy_of_slice(&src[n - $k..]);
            }};
        }
        match n {
            32.. => ends!(32),
            16.. => ends!(16),
            8.. => ends!(8),
            4.. => ends!(4),
            2.. => ends!(2),
            1 => ends!(1),
            0 => {}
        }
        true
    }

    #[inline(always)]
    pub(super) fn append(vec: &mut Vec<u8>, bytes: &[u8]) {
        let len = vec.len();
        if let Some(room) = vec.spare_capacity_mut().get_mut(..bytes.len())
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

    #[cfg(test)]
    mod tests {
        use super::*;

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
