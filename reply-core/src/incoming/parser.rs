//! Reading a POST body into an [`Incoming`]: limits, the reader's errors in the platform's terms,
//! and the values borrowed from the body where they can be.
//!
//! Two readers feed one builder of the model ([`Parser`], from [`Piece`]s). A body is read first
//! by [`Scan`], which reads the plain XML the platform sends (elements without attributes, text
//! without references, CDATA) and gives up at anything else (the shape of nearly every delivery,
//! a root of elements that each hold one text or CDATA section, is read straight, without its
//! pieces: [`Parser::flat`]). Then, if it gave up or the body is not a valid delivery, by
//! quick-xml, whose result (the message, or the error with its reason and offset) is the answer.
//! So a body that [`Scan`] reads is one quick-xml reads the same way (`tests/inbound_properties.rs`
//! checks the two against each other), and no error comes from it.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, IllFormedError, SyntaxError};
use quick_xml::events::{BytesRef, Event as XmlEvent};

use super::MAX_DEPTH;
use super::error::{ParseError, ParseErrorKind};
use super::message::{Field, Incoming};

/// The largest body [`Incoming::parse`] reads: 1 MiB. The platform's messages are a few hundred
/// bytes; anything near this is not one of them.
pub const DEFAULT_MAX_BODY_LEN: usize = 1 << 20;

/// Limits for [`Incoming::parse_with`].
///
/// ```
/// use reply_core::{Incoming, ParseErrorKind, ParseOptions};
///
/// let options = ParseOptions::new().max_body_len(64);
/// let body = format!("<xml>{}</xml>", " ".repeat(100));
/// let err = Incoming::parse_with(&body, options).unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::TooLarge { limit: 64 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    max_body_len: usize,
}

impl ParseOptions {
    /// The defaults: a body of at most [`DEFAULT_MAX_BODY_LEN`] bytes.
    pub const fn new() -> Self {
        ParseOptions { max_body_len: DEFAULT_MAX_BODY_LEN }
    }

    /// Refuses a body longer than `bytes`.
    #[must_use]
    pub const fn max_body_len(mut self, bytes: usize) -> Self {
        self.max_body_len = bytes;
        self
    }

    /// The longest body read.
    pub const fn limit(&self) -> usize {
        self.max_body_len
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions::new()
    }
}

impl<'a> Incoming<'a> {
    /// Parses a POST body with the default [`ParseOptions`].
    pub fn parse(body: &'a str) -> Result<Self, ParseError> {
        Incoming::parse_with(body, ParseOptions::new())
    }

    /// Parses a POST body.
    pub fn parse_with(body: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
        parse(body, options, false)
    }

    /// Parses a notice to a third-party platform: as [`parse_with`](Incoming::parse_with), with
    /// only CreateTime required of the header.
    pub(crate) fn parse_notice(body: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
        parse(body, options, true)
    }
}

/// The plain reading first, quick-xml's when it gives up or finds the body invalid.
/// The body is checked once, before either reading.
fn parse(body: &str, options: ParseOptions, notice: bool) -> Result<Incoming<'_>, ParseError> {
    admit(body, options)?;
    if let Some(msg) = Parser::new(body, notice).scan() {
        return Ok(msg);
    }
    Parser::new(body, notice).read()
}

/// [`Incoming::parse_with`] by quick-xml alone, without the plain reading first: for the tests
/// that hold the two readers to each other (through `__private`).
#[doc(hidden)]
pub fn parse_by_quick_xml(body: &str, options: ParseOptions) -> Result<Incoming<'_>, ParseError> {
    admit(body, options)?;
    Parser::new(body, false).read()
}

/// [`Incoming::parse_with`] by the plain reader alone: `None` where it gives up or the body is
/// not a valid delivery. For the same tests.
#[doc(hidden)]
pub fn parse_plainly(body: &str, options: ParseOptions) -> Option<Incoming<'_>> {
    admit(body, options).ok()?;
    Parser::new(body, false).scan()
}

/// Checks `body` before it is read: against the limit, and for being JSON or empty.
fn admit(body: &str, options: ParseOptions) -> Result<(), ParseError> {
    if body.len() > options.max_body_len {
        return Err(ParseError::new(ParseErrorKind::TooLarge { limit: options.max_body_len }, options.max_body_len));
    }
    let first = body.len() - body.trim_start().len();
    match body.as_bytes().get(first) {
        None => Err(ParseError::new(ParseErrorKind::Empty, 0)),
        Some(b'{' | b'[') => Err(ParseError::new(ParseErrorKind::Json, first)),
        Some(_) => Ok(()),
    }
}

/// The text of an element, gathered from its pieces: borrowed while it is one piece from the
/// body, owned once pieces are joined or an entity is replaced.
#[derive(Default)]
enum Value<'a> {
    #[default]
    None,
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> Value<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        *self = match (std::mem::take(self), piece) {
            (Value::None, Cow::Borrowed(s)) => Value::Borrowed(s),
            (Value::None, Cow::Owned(s)) => Value::Owned(s),
            (Value::Borrowed(a), b) => Value::Owned(a.to_owned() + &b),
            (Value::Owned(mut a), b) => {
                a.push_str(&b);
                Value::Owned(a)
            }
        };
    }

    fn into_cow(self) -> Cow<'a, str> {
        match self {
            Value::None => Cow::Borrowed(""),
            Value::Borrowed(s) => Cow::Borrowed(s),
            Value::Owned(s) => Cow::Owned(s),
        }
    }
}

/// An element without children yet: its text so far, and where its start tag is.
struct Leaf<'a> {
    offset: usize,
    value: Value<'a>,
}

#[derive(Default)]
struct Header<'a> {
    to_user_name: Option<Cow<'a, str>>,
    from_user_name: Option<Cow<'a, str>>,
    create_time: Option<u64>,
    msg_type: Option<Cow<'a, str>>,
    msg_id: Option<u64>,
    /// A top-level MsgID's number.
    msg_id_alias: Option<u64>,
}

/// One piece of a document, as the model is built from it: what both readers give.
enum Piece<'a> {
    Start(&'a str),
    /// An element without content (`<name/>`).
    Empty(&'a str),
    End(&'a str),
    Text(&'a str),
    /// A CDATA section's content.
    CData(&'a str),
    /// A reference, replaced.
    Ref(Cow<'a, str>),
    DocType,
    /// A declaration, a processing instruction or a comment: nothing to the model.
    Other,
    Eof,
}

/// The plain reader: the elements, text and CDATA of the XML the platform sends, each piece as
/// quick-xml gives it; `None` (give up) at anything else (attributes, references, comments,
/// declarations, names of other bytes than ASCII letters, digits and `_-.:`, a body that ends
/// inside a tag), which quick-xml then reads.
struct Scan<'a> {
    body: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    /// `self.body[start..end]`; the two are positions of ASCII bytes or the end, so whole UTF-8.
    fn slice(&self, start: usize, end: usize) -> Option<&'a str> {
        self.body.get(start..end)
    }

    /// The name starting at `start` and the position after it.
    fn name(&self, start: usize) -> Option<(&'a str, usize)> {
        /// The bytes of the names the plain reader reads: ASCII letters, digits and `_-.:`.
        const NAME: [bool; 256] = {
            let mut table = [false; 256];
            let mut b = 0;
            while b < 256 {
                let c = b as u8;
                table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':');
                b += 1;
            }
            table
        };
        let bytes = self.body.as_bytes();
        let len = bytes.get(start..)?.iter().position(|&b| !NAME[usize::from(b)])?;
        if len == 0 {
            return None;
        }
        Some((self.slice(start, start + len)?, start + len))
    }

    /// The name of the start tag at `start` and the position of its `>`, when it is the header's
    /// element numbered `next` in the order the platform writes them (ToUserName, FromUserName,
    /// CreateTime, MsgType): its bytes compared with the name's, not read as a name (the name
    /// [`name`](Scan::name) would read there). `next` moves on past it; `None` at anything else,
    /// for [`name`](Scan::name) to read.
    #[inline(always)]
    fn expected_start(&self, start: usize, next: &mut usize) -> Option<(&'static str, usize)> {
        let bytes = self.body.as_bytes();
        // Each comparison with a constant, inline.
        #[inline(always)]
        fn tag(bytes: &[u8], start: usize, name: &'static str) -> Option<(&'static str, usize)> {
            let end = start + 1 + name.len();
            (bytes.get(start + 1..end) == Some(name.as_bytes()) && bytes.get(end) == Some(&b'>')).then_some((name, end))
        }
        let known = match *next {
            0 => tag(bytes, start, "ToUserName"),
            1 => tag(bytes, start, "FromUserName"),
            2 => tag(bytes, start, "CreateTime"),
            3 => tag(bytes, start, "MsgType"),
            _ => None,
        }?;
        *next += 1;
        Some(known)
    }

    /// Where the first `]]>` at or after `from` starts.
    fn cdata_end(&self, from: usize) -> Option<usize> {
        let bytes = self.body.as_bytes();
        let mut at = from;
        loop {
            at += memchr::memchr(b']', bytes.get(at..)?)?;
            if bytes.get(at..at + 3) == Some(b"]]>") {
                return Some(at);
            }
            at += 1;
        }
    }

    /// The length of the text at `start`, up to the next tag or the end; `None` at a reference,
    /// which quick-xml reads.
    #[inline(always)]
    fn text_len(&self, start: usize) -> Option<usize> {
        let bytes = self.body.as_bytes();
        let len = memchr::memchr2(b'<', b'&', bytes.get(start..)?).unwrap_or(bytes.len() - start);
        (bytes.get(start + len) != Some(&b'&')).then_some(len)
    }

    /// The content of the CDATA section at `start`, and the position after it; `None` if none
    /// starts there or it doesn't end.
    #[inline(always)]
    fn cdata(&self, start: usize) -> Option<(&'a str, usize)> {
        const OPEN: &[u8] = b"<![CDATA[";
        if self.body.as_bytes().get(start..start + OPEN.len()) != Some(OPEN) {
            return None;
        }
        let content = start + OPEN.len();
        let end = self.cdata_end(content)?;
        Some((self.slice(content, end)?, end + 3))
    }

    /// The position after the end tag of `open` at `start` (`</`, its name compared as bytes, not
    /// read as a name, and `>`); `None` if there is none there.
    #[inline(always)]
    fn end_tag(&self, start: usize, open: &str) -> Option<usize> {
        let bytes = self.body.as_bytes();
        let end = start + 2 + open.len();
        (!open.is_empty()
            && bytes.get(start..start + 2) == Some(b"</")
            && bytes.get(start + 2..end) == Some(open.as_bytes())
            && bytes.get(end) == Some(&b'>'))
        .then_some(end + 1)
    }

    /// The next piece; `open` is the name of the innermost open element, which an end tag here
    /// must close (one that doesn't, quick-xml reads).
    fn next(&mut self, open: &'a str) -> Option<Piece<'a>> {
        let bytes = self.body.as_bytes();
        let start = self.at;
        let Some(&first) = bytes.get(start) else { return Some(Piece::Eof) };
        if first != b'<' {
            self.at = start + self.text_len(start)?;
            return Some(Piece::Text(self.slice(start, self.at)?));
        }
        match *bytes.get(start + 1)? {
            b'/' => {
                self.at = self.end_tag(start, open)?;
                Some(Piece::End(open))
            }
            b'!' => {
                let (content, end) = self.cdata(start)?;
                self.at = end;
                Some(Piece::CData(content))
            }
            _ => {
                let (name, end) = self.name(start + 1)?;
                match (bytes.get(end), bytes.get(end + 1)) {
                    (Some(b'>'), _) => {
                        self.at = end + 1;
                        Some(Piece::Start(name))
                    }
                    (Some(b'/'), Some(b'>')) => {
                        self.at = end + 2;
                        Some(Piece::Empty(name))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// The builder of the model from a document's pieces.
struct Parser<'a> {
    body: &'a str,
    /// The names of the open elements, borrowed from the body.
    open: [&'a str; MAX_DEPTH],
    /// Where each open element below the root is in `fields`.
    index: [usize; MAX_DEPTH],
    depth: usize,
    leaf: Option<Leaf<'a>>,
    header: Header<'a>,
    fields: Vec<Field<'a>>,
    /// A notice to a third-party platform (`ComponentNotice`): no ToUserName, FromUserName or
    /// MsgType is required (they are empty when absent), only CreateTime.
    notice: bool,
}

/// `part`, a slice of `body`'s bytes, as a `&str` borrowed from `body`.
fn within<'a>(body: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    body.get(start..start.checked_add(part.len())?)
}

fn xml_reason(error: &XmlError) -> Option<&'static str> {
    Some(match error {
        XmlError::Syntax(
            SyntaxError::UnclosedCData
            | SyntaxError::UnclosedComment
            | SyntaxError::UnclosedDoctype
            | SyntaxError::UnclosedPIOrXmlDecl
            | SyntaxError::UnclosedTag,
        ) => return None,
        XmlError::Syntax(SyntaxError::InvalidBangMarkup) => "markup starting with `<!` is neither a comment nor CDATA",
        XmlError::IllFormed(IllFormedError::UnmatchedEndTag(_) | IllFormedError::MismatchedEndTag { .. }) => {
            "an end tag does not match the element it closes"
        }
        XmlError::IllFormed(IllFormedError::MissingEndTag(_)) => return None,
        XmlError::IllFormed(IllFormedError::DoubleHyphenInComment) => "a comment contains `--`",
        XmlError::IllFormed(IllFormedError::UnclosedReference) => "an `&` does not start a reference",
        XmlError::IllFormed(_) => "the document is ill-formed",
        XmlError::InvalidAttr(_) => "an attribute is malformed",
        XmlError::Escape(_) => "a reference is malformed",
        XmlError::Encoding(_) => "the text is not valid in its encoding",
        _ => "the document can't be read",
    })
}

impl<'a> Parser<'a> {
    /// A builder of the model of `body`, which [`admit`] has checked.
    fn new(body: &'a str, notice: bool) -> Self {
        Parser {
            body,
            open: [""; MAX_DEPTH],
            index: [0; MAX_DEPTH],
            depth: 0,
            leaf: None,
            header: Header::default(),
            fields: Vec::with_capacity(8),
            notice,
        }
    }

    fn error(&self, kind: ParseErrorKind, offset: usize) -> ParseError {
        ParseError::new(kind, offset)
    }

    fn name(&self, bytes: &[u8], offset: usize) -> Result<&'a str, ParseError> {
        within(self.body, bytes)
            .ok_or_else(|| self.error(ParseErrorKind::NotXml("an element's name is not valid"), offset))
    }

    /// The model by the plain reader; `None` where it gives up, or where the body is not a
    /// valid delivery (quick-xml's reading then gives the error, with its offset).
    ///
    /// The shape the platform sends, read straight first ([`flat`](Parser::flat)); the pieces
    /// one by one, from the start again, if the body has any other.
    fn scan(mut self) -> Option<Incoming<'a>> {
        if self.flat().is_some() {
            let end = self.body.len();
            return self.finish(end).ok();
        }
        // Back to the start, keeping the field list's allocation. (The open elements' names and
        // places are written before they are read.)
        self.depth = 0;
        self.leaf = None;
        self.header = Header::default();
        self.fields.clear();
        self.pieces()
    }

    /// [`scan`](Parser::scan) piece by piece, whatever the body's shape.
    fn pieces(mut self) -> Option<Incoming<'a>> {
        let mut scan = Scan { body: self.body, at: 0 };
        let mut root_closed = false;
        loop {
            let at = scan.at;
            let open = match self.depth {
                0 => "",
                depth => self.open[depth - 1],
            };
            let piece = scan.next(open)?;
            if root_closed {
                match piece {
                    Piece::Eof => break,
                    Piece::Text(t) if t.bytes().all(|b| b.is_ascii_whitespace()) => continue,
                    _ => return None,
                }
            }
            root_closed = self.take(piece, at).ok()?;
        }
        let end = self.body.len();
        self.finish(end).ok()
    }

    /// The body read as the platform writes its deliveries, straight, without pieces: `<xml>`
    /// at the very start; inside it, elements holding one text (without references) or one
    /// CDATA section, or nothing, perhaps with text between them (whitespace, as the platform
    /// writes; any text there is left out of the model, as piece by piece); `</xml>`, and
    /// whitespace to the end. Each element is recorded as the piece-by-piece
    /// reading records a top-level element without children ([`header`](Parser::header), or a
    /// field), in the same order, so the model is the same. `None` at anything else (a nested
    /// element, a reference, a comment, text and CDATA in one element, an error of the
    /// builder), with the builder part-way: [`scan`](Parser::scan) then starts again with the
    /// pieces.
    #[inline(always)]
    fn flat(&mut self) -> Option<()> {
        let (body, bytes) = (self.body, self.body.as_bytes());
        let scan = Scan { body, at: 0 };
        if !bytes.starts_with(b"<xml>") {
            return None;
        }
        let mut at = b"<xml>".len();
        // Which of the header's elements is looked for first at the next start tag.
        let mut next = 0;
        loop {
            // Between elements: text (left out of the model) up to the next tag.
            if *bytes.get(at)? != b'<' {
                at += scan.text_len(at)?;
            }
            if *bytes.get(at + 1)? == b'/' {
                // Only the root's end tag can come here.
                let end = scan.end_tag(at, "xml")?;
                return bytes[end..].iter().all(u8::is_ascii_whitespace).then_some(());
            }
            let start = at;
            let (name, end) = match scan.expected_start(at, &mut next) {
                Some(known) => known,
                None => scan.name(at + 1)?,
            };
            if *bytes.get(end)? != b'>' {
                return None;
            }
            at = end + 1;
            // Its one piece of text or CDATA, if any, and its end tag.
            let value = if let Some((content, end)) = scan.cdata(at) {
                at = end;
                content
            } else if *bytes.get(at)? != b'<' {
                let text = at;
                at += scan.text_len(at)?;
                scan.slice(text, at)?
            } else {
                ""
            };
            at = scan.end_tag(at, name)?;
            if let Some(value) = self.header(name, Cow::Borrowed(value), start).ok()? {
                self.fields.push(Field { name: Cow::Borrowed(name), value, depth: 1, leaf: true });
            }
        }
    }

    /// The model by quick-xml.
    fn read(mut self) -> Result<Incoming<'a>, ParseError> {
        let mut reader = Reader::from_str(self.body);
        let config = reader.config_mut();
        // End tags are matched here, against `open`, so that a mismatch is reported with this
        // crate's reason and offset.
        config.check_end_names = false;
        config.trim_text(false);
        let position = |reader: &Reader<&[u8]>| usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let mut root_closed_at = None;
        loop {
            let at = position(&reader);
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let offset = usize::try_from(reader.error_position()).unwrap_or(at);
                    return Err(match xml_reason(&e) {
                        Some(reason) => self.error(ParseErrorKind::NotXml(reason), offset),
                        None => self.error(ParseErrorKind::Truncated, self.body.len()),
                    });
                }
            };
            if root_closed_at.is_some() {
                match event {
                    XmlEvent::Eof => break,
                    XmlEvent::Comment(_) | XmlEvent::PI(_) => continue,
                    XmlEvent::Text(t) if t.iter().all(u8::is_ascii_whitespace) => continue,
                    _ => return Err(self.error(ParseErrorKind::TrailingContent, at)),
                }
            }
            let piece = match event {
                XmlEvent::Start(start) => Piece::Start(self.name(start.name().as_ref(), at)?),
                XmlEvent::Empty(start) => Piece::Empty(self.name(start.name().as_ref(), at)?),
                XmlEvent::End(end) => Piece::End(self.name(end.name().as_ref(), at)?),
                XmlEvent::Text(text) => Piece::Text(within(self.body, &text).unwrap_or_default()),
                XmlEvent::CData(cdata) => Piece::CData(within(self.body, &cdata).unwrap_or_default()),
                XmlEvent::GeneralRef(reference) => Piece::Ref(self.reference(&reference, at)?),
                XmlEvent::DocType(_) => Piece::DocType,
                XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => Piece::Other,
                XmlEvent::Eof => Piece::Eof,
            };
            if self.take(piece, at)? {
                root_closed_at = Some(at);
            }
        }
        let closed_at = root_closed_at.unwrap_or(self.body.len());
        self.finish(closed_at)
    }

    /// Builds the model on with the piece that starts at `at`; `true` when it closed the root.
    /// Inlined into each reader's loop, as the steps below are into it: a call per piece was
    /// about an eighth of a plain reading's instructions.
    #[inline(always)]
    fn take(&mut self, piece: Piece<'a>, at: usize) -> Result<bool, ParseError> {
        match piece {
            Piece::Start(name) => self.open_element(name, at)?,
            Piece::Empty(name) => {
                self.open_element(name, at)?;
                self.close_element(name, at)?;
                return Ok(self.depth == 0);
            }
            Piece::End(name) => {
                self.close_element(name, at)?;
                return Ok(self.depth == 0);
            }
            Piece::Text(piece) => self.text(Cow::Borrowed(piece), at)?,
            Piece::CData(piece) => {
                if self.depth == 0 {
                    return Err(self.error(ParseErrorKind::NotXml("text outside the root element"), at));
                }
                self.text(Cow::Borrowed(piece), at)?;
            }
            Piece::Ref(resolved) => self.text(resolved, at)?,
            Piece::DocType => return Err(self.error(ParseErrorKind::Dtd, at)),
            Piece::Other => {}
            Piece::Eof => {
                return Err(if self.depth == 0 {
                    self.error(ParseErrorKind::NotXml("there is no root element"), at)
                } else {
                    self.error(ParseErrorKind::Truncated, self.body.len())
                });
            }
        }
        Ok(false)
    }

    fn reference(&self, reference: &BytesRef<'_>, at: usize) -> Result<Cow<'a, str>, ParseError> {
        let unknown = || self.error(ParseErrorKind::UnknownEntity, at);
        if reference.is_char_ref() {
            return match reference.resolve_char_ref() {
                Ok(Some(c)) => Ok(Cow::Owned(c.to_string())),
                _ => Err(unknown()),
            };
        }
        Ok(Cow::Borrowed(match &**reference {
            b"amp" => "&",
            b"lt" => "<",
            b"gt" => ">",
            b"quot" => "\"",
            b"apos" => "'",
            _ => return Err(unknown()),
        }))
    }

    #[inline(always)]
    fn open_element(&mut self, name: &'a str, at: usize) -> Result<(), ParseError> {
        if self.depth == 0 && name != crate::schema::ROOT {
            return Err(self.error(ParseErrorKind::WrongRoot, at));
        }
        if self.depth == MAX_DEPTH {
            return Err(self.error(ParseErrorKind::TooDeep, at));
        }
        self.open[self.depth] = name;
        if self.depth >= 1 {
            // Its parent, if it was a leaf so far, is not one.
            if self.depth >= 2 {
                self.fields[self.index[self.depth - 1]].leaf = false;
            }
            self.index[self.depth] = self.fields.len();
            // Recorded now, in document order; its text, if it has no children, when it closes.
            let depth = u8::try_from(self.depth).unwrap_or(u8::MAX);
            self.fields.push(Field { name: Cow::Borrowed(name), value: Cow::Borrowed(""), depth, leaf: true });
        }
        self.depth += 1;
        self.leaf = Some(Leaf { offset: at, value: Value::None });
        Ok(())
    }

    #[inline(always)]
    fn text(&mut self, piece: Cow<'a, str>, at: usize) -> Result<(), ParseError> {
        match &mut self.leaf {
            Some(leaf) => leaf.value.push(piece),
            // Text inside an element that has children: whitespace between them, or mixed
            // content that no message of the platform has. Left out.
            None if self.depth > 0 => {}
            None if piece.trim().is_empty() => {}
            None => return Err(self.error(ParseErrorKind::NotXml("text outside the root element"), at)),
        }
        Ok(())
    }

    #[inline(always)]
    fn close_element(&mut self, name: &'a str, at: usize) -> Result<(), ParseError> {
        // The plain reader's end tags hand back the open name itself: no bytes compared.
        if self.depth == 0 || !same(self.open[self.depth - 1], name) {
            return Err(self.error(ParseErrorKind::NotXml("an end tag does not match the element it closes"), at));
        }
        self.depth -= 1;
        if let Some(leaf) = self.leaf.take()
            && self.depth >= 1
        {
            self.record(name, leaf, self.depth == 1)?;
        }
        Ok(())
    }

    /// Records the text of the element without children that just closed (the last in `fields`),
    /// or takes it out of `fields` into the header.
    fn record(&mut self, name: &'a str, leaf: Leaf<'a>, top_level: bool) -> Result<(), ParseError> {
        let mut value = leaf.value.into_cow();
        let index = self.index[self.depth];
        debug_assert_eq!(index + 1, self.fields.len(), "a leaf is the last element recorded");
        if top_level {
            match self.header(name, value, leaf.offset)? {
                Some(field) => value = field,
                None => {
                    // A header element: kept in the header, not among the fields.
                    self.fields.truncate(index);
                    return Ok(());
                }
            }
        }
        self.fields[index].value = value;
        Ok(())
    }

    /// Takes the text of a top-level element without children, whose start tag is at `at`, into
    /// the header if it is one of the header's (`None`), or hands it back, a field (`Some`).
    #[inline(always)]
    fn header(&mut self, name: &str, value: Cow<'a, str>, at: usize) -> Result<Option<Cow<'a, str>>, ParseError> {
        let twice = |name| ParseError::new(ParseErrorKind::DuplicateField(name), at);
        let number = |name: &'static str, value: &str| {
            digits(value)
                .or_else(|| value.trim().parse::<u64>().ok())
                .ok_or_else(|| ParseError::new(ParseErrorKind::InvalidNumber(name), at))
        };
        let header = &mut self.header;
        match name {
            "ToUserName" => set(&mut header.to_user_name, value).map_err(|()| twice("ToUserName"))?,
            "FromUserName" => set(&mut header.from_user_name, value).map_err(|()| twice("FromUserName"))?,
            "MsgType" => set(&mut header.msg_type, value).map_err(|()| twice("MsgType"))?,
            "CreateTime" => {
                let seconds = number("CreateTime", &value)?;
                set(&mut header.create_time, seconds).map_err(|()| twice("CreateTime"))?;
            }
            "MsgId" => {
                let id = number("MsgId", &value)?;
                set(&mut header.msg_id, id).map_err(|()| twice("MsgId"))?;
            }
            _ => {
                // The spelling of events (mass and template sends' job ids): at the top, the
                // message's id too unless it has a MsgId, when it is a number. A field either way.
                if name == "MsgID"
                    && let Ok(id) = value.trim().parse::<u64>()
                {
                    header.msg_id_alias.get_or_insert(id);
                }
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// The model, taken out of the builder (which is not moved: it holds the open elements' names).
    fn finish(&mut self, closed_at: usize) -> Result<Incoming<'a>, ParseError> {
        let missing = |name| ParseError::new(ParseErrorKind::MissingField(name), closed_at);
        let Header { to_user_name, from_user_name, create_time, msg_type, msg_id, msg_id_alias } =
            std::mem::take(&mut self.header);
        let (notice, empty) = (self.notice, || Cow::Borrowed(""));
        let header = |value: Option<Cow<'a, str>>, name| match value {
            Some(value) => Ok(value),
            None if notice => Ok(empty()),
            None => Err(missing(name)),
        };
        Ok(Incoming {
            to_user_name: header(to_user_name, "ToUserName")?,
            from_user_name: header(from_user_name, "FromUserName")?,
            create_time: create_time.ok_or_else(|| missing("CreateTime"))?,
            msg_type: header(msg_type, "MsgType")?,
            msg_id: msg_id.or(msg_id_alias),
            fields: std::mem::take(&mut self.fields),
        })
    }
}

/// The number `value` writes when it is 1 to 19 ASCII digits and nothing else (no `u64` overflows
/// there), as the platform writes its times and ids; `None` otherwise, for `str::parse` to read.
fn digits(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    // Eight digits at a time, then one at a time.
    let (mut n, mut rest) = (0u64, value.as_bytes());
    while let Some((eight, after)) = rest.split_first_chunk::<8>() {
        n = n * 100_000_000 + eight_digits(*eight)?;
        rest = after;
    }
    rest.iter().try_fold(n, |n, b| {
        let digit = b.wrapping_sub(b'0');
        (digit < 10).then(|| n * 10 + u64::from(digit))
    })
}

/// The number eight ASCII digits write, the first the most significant; `None` if any is not a
/// digit. (In one word: the test and the three steps of pairs, fours and eights are those of
/// simdjson's `parse_eight_digits_unrolled`.)
fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    let word = u64::from_le_bytes(bytes);
    // Each byte is 0x30-0x39: its high nibble 3, and its low one not carried out by adding 6.
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    if (word & HIGH) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4) != 0x3333_3333_3333_3333 {
        return None;
    }
    let word = word & 0x0F0F_0F0F_0F0F_0F0F;
    // Each pair of digits, then each four, then the eight: the first (lower) byte is the more
    // significant one.
    let word = (word * 10 + (word >> 8)) & 0x00FF_00FF_00FF_00FF;
    let word = (word * 100 + (word >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((word * 10_000 + (word >> 32)) & 0xFFFF_FFFF)
}

/// `a == b`, at once when they are the same slice.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// Sets `slot` to `value`, or refuses if it was set.
fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), ()> {
    match slot {
        Some(_) => Err(()),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straight reading takes the platform's deliveries (CDATA or text, numbers, an empty
    /// element, whitespace between elements and after the root, an event's MsgID) and gives the
    /// model the piece-by-piece reading gives; everything else it leaves to that reading.
    /// (`tests/inbound_properties.rs` holds the two, together, to quick-xml.)
    #[test]
    fn the_platforms_deliveries_are_read_straight_as_piece_by_piece() {
        let delivered = [
            "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好 a<b&c]]></Content>\
             <MsgId>23456789012345678</MsgId></xml>",
            "<xml>\n <ToUserName>gh</ToUserName>\n <FromUserName>u</FromUserName>\n <CreateTime>1</CreateTime>\n \
             <MsgType>event</MsgType>\n <Event>CLICK</Event>\n <EventKey></EventKey>\n <MsgID>42</MsgID>\n</xml>\n",
            "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime> 7 </CreateTime>\
             <MsgType>image</MsgType><PicUrl><![CDATA[]]></PicUrl><MediaId>m]]</MediaId></xml>",
        ];
        for body in delivered {
            let mut straight = Parser::new(body, false);
            assert_eq!(straight.flat(), Some(()), "{body}");
            let straight = straight.finish(body.len()).expect("a valid delivery");
            assert_eq!(Some(&straight), Parser::new(body, false).pieces().as_ref(), "{body}");
            assert_eq!(Ok(&straight), parse_by_quick_xml(body, ParseOptions::new()).as_ref(), "{body}");
        }
        let header = "<ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>";
        let other_shapes = [
            format!(" <xml>{header}<MsgType>text</MsgType></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType><A><B>1</B></A></xml>"),
            format!("<xml>{header}<MsgType>a &amp; b</MsgType></xml>"),
            format!("<xml>{header}<MsgType>a<![CDATA[b]]></MsgType></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType><!-- c --></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType><Empty/></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType></xml><!-- c -->"),
            format!("<xml>{header}<MsgType>text</MsgType><Content>x</Other></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType><CreateTime>2</CreateTime></xml>"),
            format!("<xml>{header}<MsgType>text</MsgType>"),
        ];
        for body in &other_shapes {
            assert_eq!(Parser::new(body, false).flat(), None, "{body}");
        }
    }

    /// A number's digits are read as `str::parse` reads them, of every length up to two past the
    /// longest it takes (19 digits), and refused wherever a byte that is not a digit stands; what
    /// it refuses (`None`) goes to `str::parse` as before.
    #[test]
    fn digits_read_as_str_parse_reads_them() {
        let digits_of = |len: usize, seed: u64| -> String {
            (0..len).map(|i| char::from(b'0' + ((seed >> (i % 16 * 4)) as u8).wrapping_add(i as u8) % 10)).collect()
        };
        for len in 0..=21 {
            for seed in [0, u64::MAX, 0x0123_4567_89AB_CDEF, 0x9999_9999_9999_9999, 0xFEDC_BA98_7654_3210] {
                let number = digits_of(len, seed);
                let expected = (1..=19).contains(&len).then(|| number.parse::<u64>().unwrap());
                assert_eq!(digits(&number), expected, "{number:?}");
                // Each place taken by the bytes just outside the digits' range and a few others
                // (those that leave no valid UTF-8 alone are the next test's).
                for at in 0..len {
                    for byte in [b'0' - 1, b'9' + 1, b'/', b':', b' ', b'+', b'-', 0, 0x80, 0xF9, 0xFA, 0xFF] {
                        let mut bytes = number.clone().into_bytes();
                        bytes[at] = byte;
                        let Ok(changed) = std::str::from_utf8(&bytes) else { continue };
                        assert_eq!(digits(changed), None, "{changed:?}");
                    }
                }
            }
        }
        assert_eq!(digits("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(digits("18446744073709551615"), None, "20 digits: left to `str::parse`");
        assert_eq!(digits("00000000000000000001"), None);
        assert_eq!(digits("0000000000000000001"), Some(1));
        assert_eq!(digits("12345678"), Some(12_345_678));
        assert_eq!(digits("1700000000"), Some(1_700_000_000));
        assert_eq!(digits("23456789012345678"), Some(23_456_789_012_345_678));
    }

    /// Every byte the 64-bit test takes for a digit is one, alone or beside any other byte.
    #[test]
    fn eight_digits_take_only_digits() {
        for byte in 0..=u8::MAX {
            for other in [b'0', b'9', 0x2F, 0x3A, 0xFA, 0xFF, 0x00] {
                for at in 0..8 {
                    let mut eight = [other; 8];
                    eight[at] = byte;
                    let expected = std::str::from_utf8(&eight)
                        .ok()
                        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                        .map(|s| s.parse::<u64>().unwrap());
                    assert_eq!(eight_digits(eight), expected, "{eight:?}");
                }
            }
        }
    }
}
