//! Reading a POST body into an [`Incoming`], with quick-xml: limits, the reader's errors in the
//! platform's terms, and the values borrowed from the body where they can be.

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
        Parser::new(body, options)?.run()
    }

    /// Parses a notice to a third-party platform: as [`parse_with`](Incoming::parse_with), with
    /// only CreateTime required of the header.
    pub(crate) fn parse_notice(body: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
        let mut parser = Parser::new(body, options)?;
        parser.notice = true;
        parser.run()
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

struct Parser<'a> {
    body: &'a str,
    reader: Reader<&'a [u8]>,
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
    /// A parser of `body`, which is checked first against the limit and for being JSON or empty.
    fn new(body: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
        if body.len() > options.max_body_len {
            return Err(ParseError::new(
                ParseErrorKind::TooLarge { limit: options.max_body_len },
                options.max_body_len,
            ));
        }
        let first = body.len() - body.trim_start().len();
        match body.as_bytes().get(first) {
            None => return Err(ParseError::new(ParseErrorKind::Empty, 0)),
            Some(b'{' | b'[') => return Err(ParseError::new(ParseErrorKind::Json, first)),
            Some(_) => {}
        }
        let mut reader = Reader::from_str(body);
        let config = reader.config_mut();
        // End tags are matched here, against `open`, so that a mismatch is reported with this
        // crate's reason and offset.
        config.check_end_names = false;
        config.trim_text(false);
        Ok(Parser {
            body,
            reader,
            open: [""; MAX_DEPTH],
            index: [0; MAX_DEPTH],
            depth: 0,
            leaf: None,
            header: Header::default(),
            fields: Vec::with_capacity(8),
            notice: false,
        })
    }

    fn error(&self, kind: ParseErrorKind, offset: usize) -> ParseError {
        ParseError::new(kind, offset)
    }

    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    fn name(&self, bytes: &[u8], offset: usize) -> Result<&'a str, ParseError> {
        within(self.body, bytes)
            .ok_or_else(|| self.error(ParseErrorKind::NotXml("an element's name is not valid"), offset))
    }

    fn run(mut self) -> Result<Incoming<'a>, ParseError> {
        let mut root_closed_at = None;
        loop {
            let at = self.position();
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let offset = usize::try_from(self.reader.error_position()).unwrap_or(at);
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
            match event {
                XmlEvent::Start(start) => {
                    let name = self.name(start.name().as_ref(), at)?;
                    self.open_element(name, at)?;
                }
                XmlEvent::Empty(start) => {
                    let name = self.name(start.name().as_ref(), at)?;
                    self.open_element(name, at)?;
                    self.close_element(name, at)?;
                    if self.depth == 0 {
                        root_closed_at = Some(at);
                    }
                }
                XmlEvent::End(end) => {
                    let name = self.name(end.name().as_ref(), at)?;
                    self.close_element(name, at)?;
                    if self.depth == 0 {
                        root_closed_at = Some(at);
                    }
                }
                XmlEvent::Text(text) => {
                    let piece = within(self.body, &text).unwrap_or_default();
                    self.text(Cow::Borrowed(piece), at)?;
                }
                XmlEvent::CData(cdata) => {
                    let piece = within(self.body, &cdata).unwrap_or_default();
                    if self.depth == 0 {
                        return Err(self.error(ParseErrorKind::NotXml("text outside the root element"), at));
                    }
                    self.text(Cow::Borrowed(piece), at)?;
                }
                XmlEvent::GeneralRef(reference) => {
                    let resolved = self.reference(&reference, at)?;
                    self.text(resolved, at)?;
                }
                XmlEvent::DocType(_) => return Err(self.error(ParseErrorKind::Dtd, at)),
                XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
                XmlEvent::Eof => {
                    return Err(if self.depth == 0 {
                        self.error(ParseErrorKind::NotXml("there is no root element"), at)
                    } else {
                        self.error(ParseErrorKind::Truncated, self.body.len())
                    });
                }
            }
        }
        let closed_at = root_closed_at.unwrap_or(self.body.len());
        self.finish(closed_at)
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

    fn close_element(&mut self, name: &'a str, at: usize) -> Result<(), ParseError> {
        if self.depth == 0 || self.open[self.depth - 1] != name {
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
        let value = leaf.value.into_cow();
        let at = leaf.offset;
        let index = self.index[self.depth];
        debug_assert_eq!(index + 1, self.fields.len(), "a leaf is the last element recorded");
        let twice = |name| ParseError::new(ParseErrorKind::DuplicateField(name), at);
        let number = |name: &'static str, value: &str| {
            value.trim().parse::<u64>().map_err(|_| ParseError::new(ParseErrorKind::InvalidNumber(name), at))
        };
        let header = &mut self.header;
        match (top_level, name) {
            (true, "ToUserName") => set(&mut header.to_user_name, value).map_err(|()| twice("ToUserName"))?,
            (true, "FromUserName") => set(&mut header.from_user_name, value).map_err(|()| twice("FromUserName"))?,
            (true, "MsgType") => set(&mut header.msg_type, value).map_err(|()| twice("MsgType"))?,
            (true, "CreateTime") => {
                let seconds = number("CreateTime", &value)?;
                set(&mut header.create_time, seconds).map_err(|()| twice("CreateTime"))?;
            }
            (true, "MsgId") => {
                let id = number("MsgId", &value)?;
                set(&mut header.msg_id, id).map_err(|()| twice("MsgId"))?;
            }
            _ => {
                // The spelling of events (mass and template sends' job ids): at the top, the
                // message's id too unless it has a MsgId, when it is a number. A field either way.
                if top_level
                    && name == "MsgID"
                    && let Ok(id) = value.trim().parse::<u64>()
                {
                    header.msg_id_alias.get_or_insert(id);
                }
                self.fields[index].value = value;
                return Ok(());
            }
        }
        // A header element: kept in the header, not among the fields.
        self.fields.truncate(index);
        Ok(())
    }

    fn finish(self, closed_at: usize) -> Result<Incoming<'a>, ParseError> {
        let missing = |name| ParseError::new(ParseErrorKind::MissingField(name), closed_at);
        let Header { to_user_name, from_user_name, create_time, msg_type, msg_id, msg_id_alias } = self.header;
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
            fields: self.fields,
        })
    }
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
