//! The model of a delivery: its header, the rest of its elements as named fields, and the
//! replies that answer it.

use std::borrow::Cow;
use std::sync::Arc;

use crate::messages::{Image, Music, Text, Video, Voice};
use crate::news::{Article, Articles, News};
use crate::value::DecimalBuf;

/// One element of a message other than the header (and the root), in document order: its name,
/// its depth (1 for a child of the root), whether it has children, and its text if it has none.
/// The children of an element are the elements after it that are deeper than it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) value: Cow<'a, str>,
    pub(super) depth: u8,
    pub(super) leaf: bool,
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

/// The key that identifies a delivery across the platform's retries: equal for every try of one
/// delivery, different for any two deliveries.
///
/// [`Incoming::dedup_key`] gives the default, which is collision-free where the platform's own
/// rule is not:
///
/// - a message: its account (ToUserName), FromUserName and MsgId. MsgIds have been seen to
///   repeat across users, so the sender is part of the key.
/// - an event (no MsgId): its account, FromUserName, CreateTime, Event and EventKey. Two events
///   from one user in the same second (a `subscribe` and a `SCAN`, a `LOCATION` and a `CLICK`)
///   are two deliveries; a retry is the same body, so it still matches.
///
/// [`Incoming::seed_dedup_key`] is the platform's documented rule (MsgId, otherwise FromUserName
/// and CreateTime), and [`DedupKey::new`] makes a key of the application's own (for
/// `axum::Endpoint::dedup_key`). Every key carries the account it
/// was delivered to, so two accounts that share a store never share a key.
///
/// ```
/// use reply_core::{DedupKey, Incoming};
///
/// let event = |event: &str, key: &str| {
///     format!("<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
///         <MsgType>event</MsgType><Event>{event}</Event><EventKey>{key}</EventKey></xml>")
/// };
/// let (subscribe, scan) = (event("subscribe", "qrscene_7"), event("SCAN", "7"));
/// let (subscribe, scan) = (Incoming::parse(&subscribe)?, Incoming::parse(&scan)?);
/// // Same sender, same second: two deliveries by default, one by the platform's rule.
/// assert_ne!(subscribe.dedup_key(), scan.dedup_key());
/// assert_eq!(subscribe.seed_dedup_key(), scan.seed_dedup_key());
/// // A key of the application's own, in the account's namespace.
/// assert_eq!(DedupKey::new("gh", "order-42"), DedupKey::new("gh", "order-42"));
/// assert_ne!(DedupKey::new("gh", "order-42"), DedupKey::new("gh2", "order-42"));
/// # Ok::<(), reply_core::ParseError>(())
/// ```
///
/// A key is one allocation, shared by its clones; its [bytes](DedupKey::as_bytes) an unambiguous text (every
/// variable-length part is prefixed with its length) that a shared store uses as it is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey(Arc<[u8]>);

/// One part of a [`DedupKey`]'s text.
enum Part<'a> {
    /// Text whose length is written before it, so whatever it holds can't run into the next part.
    Text(&'a str),
    Number(u64),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Text(text) => decimal_len(text.len() as u64) + 1 + text.len(),
            Part::Number(n) => decimal_len(*n),
        }
    }
}

fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

impl DedupKey {
    /// A key of the application's own: `key` in the namespace of `account` (the ToUserName the
    /// delivery came to). Never equal to a key the crate makes.
    pub fn new(account: &str, key: &str) -> Self {
        DedupKey::from_parts(b'c', &[Part::Text(account), Part::Text(key)])
    }

    /// The key's bytes: a tag (`m` a message, `e` an event, `i` and `t` the platform's rule, `c`
    /// the application's; an endpoint puts `s:` before the tag of a delivery that came
    /// encrypted), then its parts separated by `:`, each text preceded by its length.
    ///
    /// ```
    /// let key = reply_core::DedupKey::new("gh", "a:b");
    /// assert_eq!(key.as_bytes(), b"c:2:gh:3:a:b");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A key read back from where it was kept: the [`as_bytes`](DedupKey::as_bytes) of a key
    /// (a store that records keys, and gives them back).
    ///
    /// ```
    /// let key = reply_core::DedupKey::new("gh", "1");
    /// assert_eq!(reply_core::DedupKey::from_bytes(key.as_bytes()), key);
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> DedupKey {
        DedupKey(bytes.into())
    }

    /// The key of the same delivery when it came encrypted: tag `s:` before the key's own bytes,
    /// so a plaintext delivery (which anyone holding a captured query could send) can never share
    /// a reply with an encrypted one. An endpoint keys every encrypted delivery this way.
    ///
    /// ```
    /// let key = reply_core::DedupKey::new("gh", "1");
    /// assert_eq!(key.encrypted().as_bytes(), b"s:c:2:gh:1:1");
    /// assert_ne!(key.encrypted(), key);
    /// ```
    #[must_use]
    pub fn encrypted(&self) -> DedupKey {
        DedupKey([b"s:".as_slice(), &self.0].concat().into())
    }

    /// The key of the same delivery when it came to `account`, one of several accounts one
    /// server answers (the name in its URL's path): `a:`, the name after its length, then the
    /// key's own bytes. Two accounts sharing a store never share a reply, whatever their
    /// deliveries hold. An endpoint built with [`account`] keys every delivery this way.
    ///
    /// [`account`]: https://docs.rs/passive-reply/latest/passive_reply/endpoint/struct.Endpoint.html#method.account
    ///
    /// ```
    /// let key = reply_core::DedupKey::new("gh", "1");
    /// assert_eq!(key.for_account("shop").as_bytes(), b"a:4:shop:c:2:gh:1:1");
    /// assert_ne!(key.for_account("shop"), key.for_account("shop2"));
    /// ```
    #[must_use]
    pub fn for_account(&self, account: &str) -> DedupKey {
        let mut buf = DecimalBuf::new();
        let len = decimal(&mut buf, account.len() as u64);
        DedupKey([b"a:".as_slice(), len, b":", account.as_bytes(), b":", &self.0].concat().into())
    }

    /// The key written once, into an allocation of exactly its length (shared by its clones:
    /// a store keeps the key without copying it). Written on the stack first, unless it is long.
    fn from_parts(tag: u8, parts: &[Part<'_>]) -> Self {
        const ON_STACK: usize = 192;
        let len = 1 + parts.iter().map(|part| 1 + part.len()).sum::<usize>();
        if len <= ON_STACK {
            let mut bytes = [0u8; ON_STACK];
            write_parts(&mut bytes[..len], tag, parts);
            DedupKey(Arc::from(&bytes[..len]))
        } else {
            let mut bytes = vec![0u8; len];
            write_parts(&mut bytes, tag, parts);
            DedupKey(Arc::from(bytes))
        }
    }
}

/// Writes a key's tag and parts into `out`, which is exactly their length.
fn write_parts(out: &mut [u8], tag: u8, parts: &[Part<'_>]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let mut buf = DecimalBuf::new();
    put(&[tag]);
    for part in parts {
        put(b":");
        match part {
            Part::Text(text) => {
                put(decimal(&mut buf, text.len() as u64));
                put(b":");
                put(text.as_bytes());
            }
            Part::Number(n) => put(decimal(&mut buf, *n)),
        }
    }
    debug_assert_eq!(at, out.len(), "a key's length is counted as it is written");
}

/// A number's decimal digits, written into `buf`.
fn decimal(buf: &mut DecimalBuf, n: u64) -> &[u8] {
    buf.format_bytes(false, n)
}

impl std::fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DedupKey({:?})", String::from_utf8_lossy(&self.0))
    }
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

    /// The key that identifies this delivery across the platform's retries, by the default rule:
    /// account, FromUserName and MsgId for a message; account, FromUserName, CreateTime, Event and
    /// EventKey for an event. See [`DedupKey`].
    pub fn dedup_key(&self) -> DedupKey {
        let (account, from) = (Part::Text(&self.to_user_name), Part::Text(&self.from_user_name));
        match self.msg_id {
            Some(id) => DedupKey::from_parts(b'm', &[account, from, Part::Number(id)]),
            None => {
                let event = Part::Text(self.field("Event").unwrap_or(""));
                let event_key = Part::Text(self.field("EventKey").unwrap_or(""));
                DedupKey::from_parts(b'e', &[account, from, Part::Number(self.create_time), event, event_key])
            }
        }
    }

    /// The key by the platform's documented rule: MsgId when the message has one, otherwise
    /// FromUserName and CreateTime (in the account's namespace). Two events from one user in the
    /// same second share it, so the second is taken for a retry of the first: prefer
    /// [`dedup_key`](Incoming::dedup_key) unless another system must agree with this rule.
    pub fn seed_dedup_key(&self) -> DedupKey {
        let account = Part::Text(&self.to_user_name);
        match self.msg_id {
            Some(id) => DedupKey::from_parts(b'i', &[account, Part::Number(id)]),
            None => {
                DedupKey::from_parts(b't', &[account, Part::Text(&self.from_user_name), Part::Number(self.create_time)])
            }
        }
    }

    /// The text of the first element without children named `name` other than the header, at
    /// any depth.
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
        self.fields.iter().find(|f| f.leaf && f.name == name).map(|f| f.value.as_ref())
    }

    /// Every element without children other than the header, in document order, as (name, text).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().filter(|f| f.leaf).map(|f| (f.name.as_ref(), f.value.as_ref()))
    }

    /// The text of the first element at `path` (names from below the root, joined by `/`) that
    /// has no children.
    ///
    /// ```
    /// let msg = reply_core::Incoming::parse(
    ///     "<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
    ///      <MsgType>event</MsgType><Event>ShakearoundUserShake</Event>\
    ///      <ChosenBeacon><Uuid>u1</Uuid><Major>1</Major></ChosenBeacon>\
    ///      <AroundBeacons><AroundBeacon><Uuid>u2</Uuid></AroundBeacon><AroundBeacon><Uuid>u3</Uuid></AroundBeacon></AroundBeacons>\
    ///      </xml>",
    /// )?;
    /// assert_eq!(msg.field_at("ChosenBeacon/Uuid"), Some("u1"));
    /// assert_eq!(msg.field_at("Uuid"), None, "not at the top");
    /// let around: Vec<_> = msg.elements("AroundBeacons/AroundBeacon").map(|b| b.field("Uuid")).collect();
    /// assert_eq!(around, [Some("u2"), Some("u3")]);
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn field_at(&self, path: &str) -> Option<&str> {
        RawElement::at(&self.fields, 0, path).find(|e| e.field.leaf).map(|e| e.text())
    }

    /// Every element at `path` (names from below the root, joined by `/`), in document order,
    /// each with its children: repeated elements (`item`, `List`, `AroundBeacon`) one by one.
    pub fn elements<'s>(&'s self, path: &'s str) -> impl Iterator<Item = RawElement<'s>> + 's {
        RawElement::at(&self.fields, 0, path)
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

    /// A text reply to this message, which it consumes: its two addresses move into the reply
    /// instead of being copied. What a handler given an `Incoming<'static>` returns, when it
    /// needs nothing more of the message, with no allocation: `msg.reply_text(..).into_owned()`
    /// copies both addresses, and the message's own are dropped.
    ///
    /// ```
    /// use reply_core::{Incoming, Message, PassiveReply, Text};
    ///
    /// fn answer(msg: Incoming<'static>) -> Text<'static> {
    ///     // What the reply needs of the message, taken first: the message is moved below.
    ///     let content = match msg.message() {
    ///         Message::Text { content, .. } => format!("you said: {content}"),
    ///         _ => String::from("send me some text"),
    ///     };
    ///     msg.into_reply_text(content)
    /// }
    ///
    /// let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
    ///             <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    /// let reply = answer(Incoming::parse(body)?.into_owned());
    /// assert_eq!((reply.to_user_name.as_ref(), reply.from_user_name.as_ref()), ("u", "gh"));
    /// assert_eq!(reply.content, "you said: hi");
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn into_reply_text(self, content: impl Into<Cow<'a, str>>) -> Text<'a> {
        Text::new(self.from_user_name, self.to_user_name, content)
    }

    /// An image reply to this message, which it consumes (its addresses moved, not copied: see
    /// [`into_reply_text`](Incoming::into_reply_text)).
    pub fn into_reply_image(self, media_id: impl Into<Cow<'a, str>>) -> Image<'a> {
        Image::new(self.from_user_name, self.to_user_name, media_id)
    }

    /// A voice reply to this message, which it consumes (see [`into_reply_text`](Incoming::into_reply_text)).
    pub fn into_reply_voice(self, media_id: impl Into<Cow<'a, str>>) -> Voice<'a> {
        Voice::new(self.from_user_name, self.to_user_name, media_id)
    }

    /// A video reply to this message, which it consumes (see [`into_reply_text`](Incoming::into_reply_text)).
    pub fn into_reply_video(self, media_id: impl Into<Cow<'a, str>>) -> Video<'a> {
        Video::new(self.from_user_name, self.to_user_name, media_id)
    }

    /// A music reply to this message, which it consumes (see [`into_reply_text`](Incoming::into_reply_text)).
    pub fn into_reply_music(self, thumb_media_id: impl Into<Cow<'a, str>>) -> Music<'a> {
        Music::new(self.from_user_name, self.to_user_name, thumb_media_id)
    }

    /// A news reply to this message, which it consumes (see [`into_reply_text`](Incoming::into_reply_text)).
    pub fn into_reply_news(self, articles: Articles<Article<'a>>) -> News<'a> {
        News::new(self.from_user_name, self.to_user_name, articles)
    }

    /// The same message, owning all its text, to keep beyond the body's lifetime.
    pub fn into_owned(self) -> Incoming<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Incoming {
            to_user_name: own(self.to_user_name),
            from_user_name: own(self.from_user_name),
            create_time: self.create_time,
            // A kind this crate knows keeps its static spelling: one allocation fewer.
            msg_type: match super::MsgKind::of(&self.msg_type) {
                Some(kind) => Cow::Borrowed(kind.as_str()),
                None => own(self.msg_type),
            },
            msg_id: self.msg_id,
            // So does a field the platform commonly sends: one allocation fewer a field.
            fields: self
                .fields
                .into_iter()
                .map(|f| Field {
                    name: static_name(&f.name).map_or_else(|| own(f.name), Cow::Borrowed),
                    value: own(f.value),
                    ..f
                })
                .collect(),
        }
    }
}

/// The static spelling of `name` if it is one of the fields the platform commonly sends (those
/// of its messages and of its most frequent events), for [`Incoming::into_owned`] to keep
/// instead of a copy.
fn static_name(name: &str) -> Option<&'static str> {
    macro_rules! names {
        ($($name:literal)*) => {
            match name {
                $($name => Some($name),)*
                _ => None,
            }
        };
    }
    names!(
        "Content" "MsgDataId" "Idx" "PicUrl" "MediaId" "Format" "Recognition" "ThumbMediaId"
        "Location_X" "Location_Y" "Scale" "Label" "Title" "Description" "Url" "Event" "EventKey"
        "Ticket" "Latitude" "Longitude" "Precision" "MenuId" "MsgID" "Status"
    )
}

/// One element of a delivery below its root, with its children: what [`Incoming::elements`] and
/// [`RawElement::elements`] give, for raw access that keeps the nesting.
#[derive(Debug, Clone, Copy)]
pub struct RawElement<'m> {
    /// The element itself.
    field: &'m Field<'m>,
    /// The elements after it in document order, its children among them first.
    after: &'m [Field<'m>],
}

impl<'m> RawElement<'m> {
    /// The elements at `path` below the elements of `all` that are deeper than `depth` (a run of
    /// siblings and their descendants, in document order).
    fn at<'p>(all: &'m [Field<'m>], depth: u8, path: &'p str) -> impl Iterator<Item = RawElement<'m>> + 'p
    where
        'm: 'p,
    {
        let want = path.split('/').count();
        // The names of the open elements, by depth below `depth`.
        let mut open: [&str; super::MAX_DEPTH] = [""; super::MAX_DEPTH];
        all.iter().enumerate().filter_map(move |(i, field)| {
            let level = usize::from(field.depth - depth);
            if level == 0 || level > open.len() {
                return None;
            }
            open[level - 1] = &field.name;
            let matches = level == want && path.split('/').zip(&open[..level]).all(|(a, b)| a == *b);
            matches.then(|| RawElement { field, after: &all[i + 1..] })
        })
    }

    /// Its children and their descendants.
    fn inside(&self) -> &'m [Field<'m>] {
        let end = self.after.iter().position(|f| f.depth <= self.field.depth).unwrap_or(self.after.len());
        &self.after[..end]
    }

    /// Its name.
    pub fn name(&self) -> &'m str {
        &self.field.name
    }

    /// Its text; empty for an element with children.
    pub fn text(&self) -> &'m str {
        if self.field.leaf { &self.field.value } else { "" }
    }

    /// The text of its first descendant without children named `name`.
    pub fn field(&self, name: &str) -> Option<&'m str> {
        self.inside().iter().find(|f| f.leaf && f.name == name).map(|f| &*f.value)
    }

    /// The text of the first element at `path` below it that has no children.
    pub fn field_at(&self, path: &str) -> Option<&'m str> {
        RawElement::at(self.inside(), self.field.depth, path).find(|e| e.field.leaf).map(|e| e.text())
    }

    /// Every element at `path` below it, in document order, each with its children.
    pub fn elements<'p>(&self, path: &'p str) -> impl Iterator<Item = RawElement<'m>> + 'p
    where
        'm: 'p,
    {
        RawElement::at(self.inside(), self.field.depth, path)
    }

    /// Its children, in document order.
    pub fn children(&self) -> impl Iterator<Item = RawElement<'m>> + 'm {
        let (inside, depth) = (self.inside(), self.field.depth);
        inside
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.depth == depth + 1)
            .map(move |(i, field)| RawElement { field, after: &inside[i + 1..] })
    }
}

#[cfg(test)]
mod tests {
    use super::{DedupKey, Part};

    /// Every number and length is written as `format!` writes it, whatever its count of digits
    /// (the key's length is counted before it is written, by `ilog10`).
    #[test]
    fn a_key_writes_its_numbers_and_lengths_in_decimal() {
        let long = "x".repeat(123);
        for n in [0, 7, 10, 99, 100, 12_345_678, 99_999_999, 100_000_000, 1_234_567_890_123_456, u64::MAX] {
            let key = DedupKey::from_parts(b'm', &[Part::Text("gh"), Part::Text(&long), Part::Number(n)]);
            assert_eq!(key.as_bytes(), format!("m:2:gh:123:{long}:{n}").as_bytes());
        }
        let longer = "y".repeat(1000);
        let key = DedupKey::from_parts(b'c', &[Part::Text(&longer), Part::Number(u64::MAX)]);
        assert_eq!(key.as_bytes(), format!("c:1000:{longer}:{}", u64::MAX).as_bytes());
        assert_eq!(key.for_account("shop").as_bytes(), format!("a:4:shop:c:1000:{longer}:{}", u64::MAX).as_bytes());
    }
}
