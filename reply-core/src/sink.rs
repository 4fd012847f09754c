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
/// A derived reply written into a `Vec<u8>` or a `String` is copied straight into the room it
/// has instead (grown first if it has too little), each value checked as it is copied; the bytes
/// are the same. That way is this crate's own: no other sink can take it, or change what it
/// writes.
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
///
/// A sink of your own needs `write_str`, and `reserve` if it can make room ahead:
///
/// ```
/// use reply_core::{PassiveReply, Sink, Text};
///
/// /// Counts the bytes of a reply and keeps none.
/// struct Counter(usize);
///
/// impl Sink for Counter {
///     type Error = core::convert::Infallible;
///
///     fn write_str(&mut self, s: &str) -> Result<(), Self::Error> {
///         self.0 += s.len();
///         Ok(())
///     }
/// }
///
/// let reply = Text::new("toUser", "fromUser", "a]]>b").with_create_time(12345678);
/// let mut counter = Counter(0);
/// reply.write_to(&mut counter).unwrap();
/// assert_eq!(counter.0, reply.encoded_len());
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

    /// The storage of a `Vec<u8>` or `String` sink, for a derived reply to write straight
    /// into. Its argument and result can't be named outside this crate, so no other crate can
    /// override it or call it.
    #[doc(hidden)]
    #[inline]
    fn buffer(&mut self, _: Token) -> Option<Buffer<'_>> {
        None
    }
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

    #[inline]
    fn buffer(&mut self, token: Token) -> Option<Buffer<'_>> {
        (**self).buffer(token)
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
        self.extend_from_slice(s.as_bytes());
        Ok(())
    }

    #[inline]
    fn buffer(&mut self, _: Token) -> Option<Buffer<'_>> {
        Some(Buffer::of_vec(self))
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
        self.push_str(s);
        Ok(())
    }

    #[inline]
    fn buffer(&mut self, _: Token) -> Option<Buffer<'_>> {
        Some(Buffer::of_string(self))
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

/// What proves that a call of [`Sink::buffer`] comes from this crate: it can't be named or made
/// elsewhere, so no other crate can override that method or call it.
#[derive(Debug, Clone, Copy)]
pub struct Token(());

impl Token {
    pub(crate) const fn new() -> Self {
        Token(())
    }
}

/// What a `Vec<u8>` or `String` sink lends a derived reply through [`Sink::buffer`]: the
/// storage, as it is (no unsafe code here), and the room to keep around what is written into it.
/// It is written into by `crate::buffer`, the only place that reaches a `String`'s bytes.
#[derive(Debug)]
pub struct Buffer<'a> {
    pub(crate) storage: Storage<'a>,
    pub(crate) frame: Frame,
}

/// The storage a [`Buffer`] lends.
#[derive(Debug)]
pub(crate) enum Storage<'a> {
    Bytes(&'a mut Vec<u8>),
    Text(&'a mut String),
}

/// The room a [`Buffer`] keeps around what is written into it, for the bytes its owner puts
/// there: `before` zero bytes put first when it grows from empty (the header of an encrypted
/// reply's plaintext, filled in later), and `after` bytes of room left past the reply whenever
/// it grows (the AppID and padding that follow). A framed buffer grows to exactly that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) before: usize,
    pub(crate) after: usize,
}

impl<'a> Buffer<'a> {
    pub(crate) fn of_vec(vec: &'a mut Vec<u8>) -> Self {
        Buffer { storage: Storage::Bytes(vec), frame: Frame::default() }
    }

    /// A buffer that keeps `frame` around what is written into it. `vec` is either empty with
    /// no capacity (the frame's `before` goes in when it first grows) or holds it already.
    #[cfg(feature = "crypto")]
    pub(crate) fn framed(vec: &'a mut Vec<u8>, frame: Frame) -> Self {
        debug_assert!(vec.capacity() == 0 || vec.len() >= frame.before, "a framed buffer's room before");
        Buffer { storage: Storage::Bytes(vec), frame }
    }

    pub(crate) fn of_string(string: &'a mut String) -> Self {
        Buffer { storage: Storage::Text(string), frame: Frame::default() }
    }

    /// This buffer, for a shorter while.
    pub(crate) fn reborrow(&mut self) -> Buffer<'_> {
        let storage = match &mut self.storage {
            Storage::Bytes(vec) => Storage::Bytes(vec),
            Storage::Text(string) => Storage::Text(string),
        };
        Buffer { storage, frame: self.frame }
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
