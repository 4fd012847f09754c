//! The model of a delivery: its header, the rest of its elements as named fields, and the
//! replies that answer it.

use std::borrow::Cow;

use crate::messages::{Article, Image, Music, News, Text, Video, Voice};
use crate::news::Articles;

/// One element of a message other than the header, with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) value: Cow<'a, str>,
}

/// A message or event the platform delivered, parsed from its POST body.
///
/// It borrows from the body wherever a value needs no unescaping (CDATA, and text without
/// entity references). The header (ToUserName, FromUserName, CreateTime, MsgType, MsgId) has
/// accessors; [`message`](Incoming::message) gives typed access to the rest; every other element,
/// known or not, stays reachable through [`field`](Incoming::field) and [`fields`](Incoming::fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub(super) to_user_name: Cow<'a, str>,
    pub(super) from_user_name: Cow<'a, str>,
    pub(super) create_time: u64,
    pub(super) msg_type: Cow<'a, str>,
    pub(super) msg_id: Option<u64>,
    pub(super) fields: Vec<Field<'a>>,
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

impl<'a> Incoming<'a> {
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
