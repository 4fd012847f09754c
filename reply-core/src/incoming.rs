//! What the platform sends: parsing its POST body, and answering it.
//!
//! ```
//! use reply_core::{Incoming, Message, PassiveReply};
//!
//! let body = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>\
//!     <FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime>\
//!     <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content>\
//!     <MsgId>1234567890123456</MsgId></xml>";
//! let msg = Incoming::parse(body)?;
//! assert_eq!(msg.from_user_name(), "oUser");
//! assert_eq!(msg.msg_id(), Some(1234567890123456));
//! let Message::Text { content } = msg.message() else { unreachable!() };
//! let reply = msg.reply_text(format!("you said: {content}"));
//! assert!(reply.to_xml().starts_with("<xml><ToUserName><![CDATA[oUser]]></ToUserName>"));
//! # Ok::<(), reply_core::ParseError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, IllFormedError, SyntaxError};
use quick_xml::events::{BytesRef, Event as XmlEvent};

use crate::messages::{Article, Image, Music, News, Text, Video, Voice};
use crate::news::Articles;

/// The largest body [`Incoming::parse`] reads: 1 MiB. The platform's messages are a few hundred
/// bytes; anything near this is not one of them.
pub const DEFAULT_MAX_BODY_LEN: usize = 1 << 20;

/// How deep elements may nest. The platform's deepest message
/// (`xml/SendPicsInfo/PicList/item/PicMd5Sum`) has five levels.
pub const MAX_DEPTH: usize = 16;

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
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions::new()
    }
}

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
    fn new(kind: ParseErrorKind, offset: usize) -> Self {
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

/// One element of a message other than the header, with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// A message or event the platform delivered, parsed from its POST body.
///
/// It borrows from the body wherever a value needs no unescaping (CDATA, and text without
/// entity references). The header (ToUserName, FromUserName, CreateTime, MsgType, MsgId) has
/// accessors; [`message`](Incoming::message) gives typed access to the rest; every other element,
/// known or not, stays reachable through [`field`](Incoming::field) and [`fields`](Incoming::fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    to_user_name: Cow<'a, str>,
    from_user_name: Cow<'a, str>,
    create_time: u64,
    msg_type: Cow<'a, str>,
    msg_id: Option<u64>,
    fields: Vec<Field<'a>>,
}

/// The key that identifies a delivery across the platform's retries, by the platform's rule:
/// MsgId when the message has one, otherwise FromUserName and CreateTime (events).
///
/// ```
/// use reply_core::{DedupKey, Incoming};
///
/// let event = "<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName>\
///     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>";
/// let key = Incoming::parse(event)?.dedup_key();
/// assert_eq!(key, DedupKey::SenderAndTime { from_user_name: "u".into(), create_time: 1 });
/// # Ok::<(), reply_core::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DedupKey {
    /// The message's MsgId.
    MsgId(u64),
    /// FromUserName and CreateTime, for a message without MsgId.
    SenderAndTime {
        /// The sender's OpenID.
        from_user_name: Box<str>,
        /// Whole seconds since the Unix epoch.
        create_time: u64,
    },
}

/// Typed access to a message's body, by MsgType (and Event, for events).
///
/// Text fields the platform always sends are `&str` (empty if a delivery leaves one out);
/// optional ones are `Option<&str>`; numbers are `None` when absent or not numbers, and the raw
/// text is still in [`Incoming::field`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'m> {
    /// `text`.
    Text {
        /// Content.
        content: &'m str,
    },
    /// `image`.
    Image {
        /// PicUrl.
        pic_url: &'m str,
        /// MediaId.
        media_id: &'m str,
    },
    /// `voice`.
    Voice {
        /// MediaId.
        media_id: &'m str,
        /// Format: amr, speex, …
        format: &'m str,
        /// Recognition: the speech as text, when recognition is on.
        recognition: Option<&'m str>,
    },
    /// `video`.
    Video {
        /// MediaId.
        media_id: &'m str,
        /// ThumbMediaId.
        thumb_media_id: &'m str,
    },
    /// `shortvideo`.
    ShortVideo {
        /// MediaId.
        media_id: &'m str,
        /// ThumbMediaId.
        thumb_media_id: &'m str,
    },
    /// `location`.
    Location {
        /// Location_X: latitude.
        location_x: Option<f64>,
        /// Location_Y: longitude.
        location_y: Option<f64>,
        /// Scale: the map's zoom.
        scale: Option<u32>,
        /// Label: the place's name.
        label: &'m str,
    },
    /// `link`.
    Link {
        /// Title.
        title: &'m str,
        /// Description.
        description: &'m str,
        /// Url.
        url: &'m str,
    },
    /// `event`.
    Event(Event<'m>),
    /// A MsgType this crate does not know; its elements are in [`Incoming::fields`].
    Unknown {
        /// The MsgType.
        msg_type: &'m str,
    },
}

/// An event (MsgType `event`), by its Event element.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'m> {
    /// `subscribe`: the user followed the account; from a QR code with a scene, EventKey
    /// (`qrscene_…`) and Ticket are given.
    Subscribe {
        /// EventKey.
        event_key: Option<&'m str>,
        /// Ticket.
        ticket: Option<&'m str>,
    },
    /// `unsubscribe`: the user unfollowed the account.
    Unsubscribe,
    /// `SCAN`: a follower scanned a QR code with a scene.
    Scan {
        /// EventKey: the scene.
        event_key: &'m str,
        /// Ticket.
        ticket: Option<&'m str>,
    },
    /// `LOCATION`: the user's location, reported when they enter the conversation.
    Location {
        /// Latitude.
        latitude: Option<f64>,
        /// Longitude.
        longitude: Option<f64>,
        /// Precision.
        precision: Option<f64>,
    },
    /// `CLICK`: a menu button.
    Click {
        /// EventKey: the button's key.
        event_key: &'m str,
    },
    /// `VIEW`: a menu link.
    View {
        /// EventKey: the link's URL.
        event_key: &'m str,
        /// MenuId, when given.
        menu_id: Option<&'m str>,
    },
    /// `scancode_push`, `scancode_waitmsg`: a menu button that scans a code.
    ScanCode {
        /// Which of the two: `scancode_push` or `scancode_waitmsg`.
        event: &'m str,
        /// EventKey.
        event_key: &'m str,
        /// ScanCodeInfo/ScanType: `qrcode`, `barcode`, …
        scan_type: &'m str,
        /// ScanCodeInfo/ScanResult.
        scan_result: &'m str,
    },
    /// `pic_sysphoto`, `pic_photo_or_album`, `pic_weixin`: a menu button that sends pictures.
    Pictures {
        /// Which of the three.
        event: &'m str,
        /// EventKey.
        event_key: &'m str,
        /// SendPicsInfo/Count.
        count: Option<u32>,
        /// The PicMd5Sum of each SendPicsInfo/PicList/item.
        pic_md5_sums: Vec<&'m str>,
    },
    /// `location_select`: a menu button that sends a location.
    LocationSelect {
        /// EventKey.
        event_key: &'m str,
        /// SendLocationInfo/Location_X.
        location_x: Option<f64>,
        /// SendLocationInfo/Location_Y.
        location_y: Option<f64>,
        /// SendLocationInfo/Scale.
        scale: Option<u32>,
        /// SendLocationInfo/Label.
        label: &'m str,
        /// SendLocationInfo/Poiname, when given.
        poiname: Option<&'m str>,
    },
    /// An Event this crate does not know; its elements are in [`Incoming::fields`].
    Unknown {
        /// The Event.
        event: &'m str,
    },
}

impl<'a> Incoming<'a> {
    /// Parses a POST body with the default [`ParseOptions`].
    pub fn parse(body: &'a str) -> Result<Self, ParseError> {
        Incoming::parse_with(body, ParseOptions::new())
    }

    /// Parses a POST body.
    pub fn parse_with(body: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
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
        Parser::new(body).run()
    }

    /// ToUserName: the account the message was sent to.
    pub fn to_user_name(&self) -> &str {
        &self.to_user_name
    }

    /// FromUserName: the sender's OpenID.
    pub fn from_user_name(&self) -> &str {
        &self.from_user_name
    }

    /// CreateTime, in whole seconds since the Unix epoch.
    pub fn create_time(&self) -> u64 {
        self.create_time
    }

    /// MsgType as sent: `text`, `event`, or anything new.
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// MsgId; events have none.
    pub fn msg_id(&self) -> Option<u64> {
        self.msg_id
    }

    /// The key that identifies this delivery across the platform's retries.
    pub fn dedup_key(&self) -> DedupKey {
        match self.msg_id {
            Some(id) => DedupKey::MsgId(id),
            None => DedupKey::SenderAndTime {
                from_user_name: self.from_user_name.as_ref().into(),
                create_time: self.create_time,
            },
        }
    }

    /// The text of the first element named `name` other than the header, at any depth.
    ///
    /// ```
    /// let msg = reply_core::Incoming::parse(
    ///     "<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
    ///      <MsgType>new_type</MsgType><Colour>blue</Colour></xml>",
    /// )?;
    /// assert_eq!(msg.field("Colour"), Some("blue"));
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.name == name).map(|f| f.value.as_ref())
    }

    /// Every element without children other than the header, in document order, as (name, text).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().map(|f| (f.name.as_ref(), f.value.as_ref()))
    }

    fn text(&self, name: &str) -> &str {
        self.field(name).unwrap_or("")
    }

    fn number<N: std::str::FromStr>(&self, name: &str) -> Option<N> {
        self.field(name).and_then(|v| v.trim().parse().ok())
    }

    /// Typed access to the body. Borrows from the message; allocates only the list of picture
    /// checksums of a pictures event.
    pub fn message(&self) -> Message<'_> {
        match self.msg_type() {
            "text" => Message::Text { content: self.text("Content") },
            "image" => Message::Image { pic_url: self.text("PicUrl"), media_id: self.text("MediaId") },
            "voice" => Message::Voice {
                media_id: self.text("MediaId"),
                format: self.text("Format"),
                recognition: self.field("Recognition"),
            },
            "video" => Message::Video { media_id: self.text("MediaId"), thumb_media_id: self.text("ThumbMediaId") },
            "shortvideo" => {
                Message::ShortVideo { media_id: self.text("MediaId"), thumb_media_id: self.text("ThumbMediaId") }
            }
            "location" => Message::Location {
                location_x: self.number("Location_X"),
                location_y: self.number("Location_Y"),
                scale: self.number("Scale"),
                label: self.text("Label"),
            },
            "link" => Message::Link {
                title: self.text("Title"),
                description: self.text("Description"),
                url: self.text("Url"),
            },
            "event" => Message::Event(self.event()),
            other => Message::Unknown { msg_type: other },
        }
    }

    fn event(&self) -> Event<'_> {
        let event = self.text("Event");
        let key = self.text("EventKey");
        let is = |name: &str| event.eq_ignore_ascii_case(name);
        if is("subscribe") {
            Event::Subscribe {
                event_key: self.field("EventKey").filter(|k| !k.is_empty()),
                ticket: self.field("Ticket"),
            }
        } else if is("unsubscribe") {
            Event::Unsubscribe
        } else if is("SCAN") {
            Event::Scan { event_key: key, ticket: self.field("Ticket") }
        } else if is("LOCATION") {
            Event::Location {
                latitude: self.number("Latitude"),
                longitude: self.number("Longitude"),
                precision: self.number("Precision"),
            }
        } else if is("CLICK") {
            Event::Click { event_key: key }
        } else if is("VIEW") {
            Event::View { event_key: key, menu_id: self.field("MenuId") }
        } else if is("scancode_push") || is("scancode_waitmsg") {
            Event::ScanCode {
                event,
                event_key: key,
                scan_type: self.text("ScanType"),
                scan_result: self.text("ScanResult"),
            }
        } else if is("pic_sysphoto") || is("pic_photo_or_album") || is("pic_weixin") {
            Event::Pictures {
                event,
                event_key: key,
                count: self.number("Count"),
                pic_md5_sums: self.fields().filter(|(name, _)| *name == "PicMd5Sum").map(|(_, v)| v).collect(),
            }
        } else if is("location_select") {
            Event::LocationSelect {
                event_key: key,
                location_x: self.number("Location_X"),
                location_y: self.number("Location_Y"),
                scale: self.number("Scale"),
                label: self.text("Label"),
                poiname: self.field("Poiname"),
            }
        } else {
            Event::Unknown { event }
        }
    }

    /// A text reply to this message: from its ToUserName to its FromUserName, created now.
    pub fn reply_text<'s>(&'s self, content: impl Into<Cow<'s, str>>) -> Text<'s> {
        Text::new(self.from_user_name(), self.to_user_name(), content)
    }

    /// An image reply to this message, with the uploaded image `media_id`.
    pub fn reply_image<'s>(&'s self, media_id: impl Into<Cow<'s, str>>) -> Image<'s> {
        Image::new(self.from_user_name(), self.to_user_name(), media_id)
    }

    /// A voice reply to this message, with the uploaded recording `media_id`.
    pub fn reply_voice<'s>(&'s self, media_id: impl Into<Cow<'s, str>>) -> Voice<'s> {
        Voice::new(self.from_user_name(), self.to_user_name(), media_id)
    }

    /// A video reply to this message, with the uploaded video `media_id`; set its title and
    /// description on the result.
    pub fn reply_video<'s>(&'s self, media_id: impl Into<Cow<'s, str>>) -> Video<'s> {
        Video::new(self.from_user_name(), self.to_user_name(), media_id)
    }

    /// A music reply to this message, whose thumbnail is the uploaded `thumb_media_id`; set its
    /// title, description and links on the result.
    pub fn reply_music<'s>(&'s self, thumb_media_id: impl Into<Cow<'s, str>>) -> Music<'s> {
        Music::new(self.from_user_name(), self.to_user_name(), thumb_media_id)
    }

    /// A news reply to this message.
    pub fn reply_news<'s>(&'s self, articles: Articles<Article<'s>>) -> News<'s> {
        News::new(self.from_user_name(), self.to_user_name(), articles)
    }

    /// The same message, owning all its text, to keep beyond the body's lifetime.
    pub fn into_owned(self) -> Incoming<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Incoming {
            to_user_name: own(self.to_user_name),
            from_user_name: own(self.from_user_name),
            create_time: self.create_time,
            msg_type: own(self.msg_type),
            msg_id: self.msg_id,
            fields: self.fields.into_iter().map(|f| Field { name: own(f.name), value: own(f.value) }).collect(),
        }
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
}

struct Parser<'a> {
    body: &'a str,
    reader: Reader<&'a [u8]>,
    /// The names of the open elements, borrowed from the body.
    open: [&'a str; MAX_DEPTH],
    depth: usize,
    leaf: Option<Leaf<'a>>,
    header: Header<'a>,
    fields: Vec<Field<'a>>,
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
    fn new(body: &'a str) -> Self {
        let mut reader = Reader::from_str(body);
        let config = reader.config_mut();
        // End tags are matched here, against `open`, so that a mismatch is reported with this
        // crate's reason and offset.
        config.check_end_names = false;
        config.trim_text(false);
        Parser {
            body,
            reader,
            open: [""; MAX_DEPTH],
            depth: 0,
            leaf: None,
            header: Header::default(),
            fields: Vec::with_capacity(8),
        }
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
        self.depth += 1;
        // Its parent, if it was a leaf so far, is not one.
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

    fn record(&mut self, name: &'a str, leaf: Leaf<'a>, top_level: bool) -> Result<(), ParseError> {
        let value = leaf.value.into_cow();
        let at = leaf.offset;
        if top_level {
            let twice = |name| ParseError::new(ParseErrorKind::DuplicateField(name), at);
            let number = |name: &'static str, value: &str| {
                value.trim().parse::<u64>().map_err(|_| ParseError::new(ParseErrorKind::InvalidNumber(name), at))
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
                _ => self.fields.push(Field { name: Cow::Borrowed(name), value }),
            }
        } else {
            self.fields.push(Field { name: Cow::Borrowed(name), value });
        }
        Ok(())
    }

    fn finish(self, closed_at: usize) -> Result<Incoming<'a>, ParseError> {
        let missing = |name| ParseError::new(ParseErrorKind::MissingField(name), closed_at);
        let Header { to_user_name, from_user_name, create_time, msg_type, msg_id } = self.header;
        Ok(Incoming {
            to_user_name: to_user_name.ok_or_else(|| missing("ToUserName"))?,
            from_user_name: from_user_name.ok_or_else(|| missing("FromUserName"))?,
            create_time: create_time.ok_or_else(|| missing("CreateTime"))?,
            msg_type: msg_type.ok_or_else(|| missing("MsgType"))?,
            msg_id,
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
