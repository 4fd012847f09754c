//! What is wrong with a body the platform would not send.

use std::fmt;

use super::MAX_DEPTH;

/// A body the platform would not send: what is wrong, and the byte offset where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    offset: usize,
}

/// What is wrong with a body.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// A JSON document (it starts with `{` or `[`): this endpoint takes the platform's XML.
    Json,
    /// Not well-formed XML; the reason says why.
    NotXml(&'static str),
    /// The document ends before `</xml>`.
    Truncated,
    /// The root element is not `<xml>`.
    WrongRoot,
    /// A header element every message has is missing.
    MissingField(&'static str),
    /// A header element is given twice.
    DuplicateField(&'static str),
    /// CreateTime or MsgId is not a whole number.
    InvalidNumber(&'static str),
    /// The body is longer than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A document type declaration: DTDs and entity definitions are refused, never expanded.
    Dtd,
    /// A reference to an entity other than XML's five (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`)
    /// or a character reference to no character.
    UnknownEntity,
    /// Elements nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Something other than whitespace, comments or processing instructions after `</xml>`.
    TrailingContent,
}

impl ParseError {
    pub(super) fn new(kind: ParseErrorKind, offset: usize) -> Self {
        ParseError { kind, offset }
    }

    /// What is wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The byte offset in the body where it was found. For a header element that is missing,
    /// the offset of `</xml>`; for one given twice or with a bad number, the offset of its start
    /// tag; for a body over the limit, the limit.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::Empty => f.write_str("the body is empty")?,
            ParseErrorKind::Json => f.write_str("the body is JSON; the platform sends XML")?,
            ParseErrorKind::NotXml(reason) => write!(f, "the body is not well-formed XML: {reason}")?,
            ParseErrorKind::Truncated => f.write_str("the body ends before </xml>")?,
            ParseErrorKind::WrongRoot => f.write_str("the root element is not <xml>")?,
            ParseErrorKind::MissingField(name) => write!(f, "the message has no {name}")?,
            ParseErrorKind::DuplicateField(name) => write!(f, "{name} is given twice")?,
            ParseErrorKind::InvalidNumber(name) => write!(f, "{name} is not a whole number")?,
            ParseErrorKind::TooLarge { limit } => write!(f, "the body is longer than {limit} bytes")?,
            ParseErrorKind::Dtd => f.write_str("the body declares a DTD, which is refused")?,
            ParseErrorKind::UnknownEntity => f.write_str("the body refers to an entity XML does not define")?,
            ParseErrorKind::TooDeep => write!(f, "elements nest deeper than {MAX_DEPTH} levels")?,
            ParseErrorKind::TrailingContent => f.write_str("there is content after </xml>")?,
        }
        write!(f, " (at byte {})", self.offset)
    }
}

impl std::error::Error for ParseError {}
