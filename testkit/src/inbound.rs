//! What a user sends, as typed values: [`Inbound`].

use std::fmt::Write as _;

/// One element of a message below `<xml>`: its path (names joined by `/`, for the elements inside
/// others: `ScanCodeInfo/ScanType`) and its text, in CDATA or (a number) as it is.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    path: String,
    value: String,
    number: bool,
}

/// A message or event as a user's action makes the platform send it, built from typed values:
/// [`Inbound::text`], [`Inbound::click`], … or [`Inbound::event`] and [`field`](Inbound::field)s
/// for any other. Who sends it and to which account, when, and its MsgId are filled in by the
/// [`Platform`](crate::Platform) that delivers it, unless set here.
///
/// ```
/// use passive_reply_test::Inbound;
///
/// let xml = Inbound::text("hello").from("oAlice").to_xml("gh_account", 1_700_000_000, Some(42));
/// let msg = passive_reply::Incoming::parse(&xml).unwrap();
/// assert_eq!((msg.from_user_name(), msg.field("Content"), msg.msg_id()), ("oAlice", Some("hello"), Some(42)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    msg_type: String,
    elements: Vec<Element>,
    from: Option<String>,
    create_time: Option<u64>,
    msg_id: Option<u64>,
    /// Whether it carries a MsgId: messages do, events don't.
    has_msg_id: bool,
}

impl Inbound {
    /// A message of `msg_type` with no elements yet (a MsgType this crate doesn't know, say).
    pub fn message(msg_type: impl Into<String>) -> Inbound {
        Inbound {
            msg_type: msg_type.into(),
            elements: Vec::new(),
            from: None,
            create_time: None,
            msg_id: None,
            has_msg_id: true,
        }
    }

    /// An event named `event` (the Event element: `subscribe`, `CLICK`, …), with no other
    /// elements yet: add them with [`field`](Inbound::field) and [`number`](Inbound::number).
    pub fn event(event: impl Into<String>) -> Inbound {
        let mut inbound = Inbound::message("event");
        inbound.has_msg_id = false;
        inbound.field("Event", event)
    }

    /// A text: `Content`.
    pub fn text(content: impl Into<String>) -> Inbound {
        Inbound::message("text").field("Content", content)
    }

    /// An image: `PicUrl`, `MediaId`.
    pub fn image(pic_url: impl Into<String>, media_id: impl Into<String>) -> Inbound {
        Inbound::message("image").field("PicUrl", pic_url).field("MediaId", media_id)
    }

    /// A voice message: `MediaId`, `Format` (`amr`, `speex`, …). Speech recognition's text is
    /// [`recognition`](Inbound::recognition).
    pub fn voice(media_id: impl Into<String>, format: impl Into<String>) -> Inbound {
        Inbound::message("voice").field("MediaId", media_id).field("Format", format)
    }

    /// A voice message's `Recognition`: the speech as text.
    pub fn recognition(self, text: impl Into<String>) -> Inbound {
        self.field("Recognition", text)
    }

    /// A video: `MediaId`, `ThumbMediaId`.
    pub fn video(media_id: impl Into<String>, thumb_media_id: impl Into<String>) -> Inbound {
        Inbound::message("video").field("MediaId", media_id).field("ThumbMediaId", thumb_media_id)
    }

    /// A short video: `MediaId`, `ThumbMediaId`.
    pub fn short_video(media_id: impl Into<String>, thumb_media_id: impl Into<String>) -> Inbound {
        Inbound::message("shortvideo").field("MediaId", media_id).field("ThumbMediaId", thumb_media_id)
    }

    /// A location: `Location_X` (latitude), `Location_Y` (longitude), `Scale`, `Label`.
    pub fn location(latitude: f64, longitude: f64, scale: u32, label: impl Into<String>) -> Inbound {
        Inbound::message("location")
            .number("Location_X", latitude)
            .number("Location_Y", longitude)
            .number("Scale", scale)
            .field("Label", label)
    }

    /// A link: `Title`, `Description`, `Url`.
    pub fn link(title: impl Into<String>, description: impl Into<String>, url: impl Into<String>) -> Inbound {
        Inbound::message("link").field("Title", title).field("Description", description).field("Url", url)
    }

    /// Event `subscribe`: the user followed the account.
    pub fn subscribe() -> Inbound {
        Inbound::event("subscribe")
    }

    /// Event `subscribe` from a QR code with a scene: `EventKey` `qrscene_{scene}`, `Ticket`.
    pub fn subscribe_from_qr(scene: &str, ticket: impl Into<String>) -> Inbound {
        Inbound::event("subscribe").field("EventKey", format!("qrscene_{scene}")).field("Ticket", ticket)
    }

    /// Event `unsubscribe`.
    pub fn unsubscribe() -> Inbound {
        Inbound::event("unsubscribe")
    }

    /// Event `SCAN`: a follower scanned a QR code with a scene: `EventKey` (the scene), `Ticket`.
    pub fn scan(scene: impl Into<String>, ticket: impl Into<String>) -> Inbound {
        Inbound::event("SCAN").field("EventKey", scene).field("Ticket", ticket)
    }

    /// Event `LOCATION`: `Latitude`, `Longitude`, `Precision`.
    pub fn location_report(latitude: f64, longitude: f64, precision: f64) -> Inbound {
        Inbound::event("LOCATION")
            .number("Latitude", latitude)
            .number("Longitude", longitude)
            .number("Precision", precision)
    }

    /// Event `CLICK`: a menu button, `EventKey`.
    pub fn click(key: impl Into<String>) -> Inbound {
        Inbound::event("CLICK").field("EventKey", key)
    }

    /// Event `VIEW`: a menu link, `EventKey` (its URL).
    pub fn view(url: impl Into<String>) -> Inbound {
        Inbound::event("VIEW").field("EventKey", url)
    }

    /// Event `scancode_push` (or, `wait`, `scancode_waitmsg`): `EventKey`, and
    /// `ScanCodeInfo/ScanType`, `ScanCodeInfo/ScanResult`.
    pub fn scan_code(
        wait: bool,
        key: impl Into<String>,
        scan_type: impl Into<String>,
        result: impl Into<String>,
    ) -> Inbound {
        Inbound::event(if wait { "scancode_waitmsg" } else { "scancode_push" })
            .field("EventKey", key)
            .field("ScanCodeInfo/ScanType", scan_type)
            .field("ScanCodeInfo/ScanResult", result)
    }

    /// Event `pic_sysphoto`, `pic_photo_or_album` or `pic_weixin` (`event`): `EventKey`, and
    /// `SendPicsInfo/Count` and one `SendPicsInfo/PicList/item/PicMd5Sum` per picture.
    pub fn pictures(event: impl Into<String>, key: impl Into<String>, md5_sums: &[&str]) -> Inbound {
        let mut inbound = Inbound::event(event).field("EventKey", key).number("SendPicsInfo/Count", md5_sums.len());
        for sum in md5_sums {
            inbound = inbound.field("SendPicsInfo/PicList/item/PicMd5Sum", *sum);
        }
        inbound
    }

    /// Event `location_select`: `EventKey`, and `SendLocationInfo/` `Location_X`, `Location_Y`,
    /// `Scale`, `Label`, `Poiname`.
    pub fn location_select(
        key: impl Into<String>,
        latitude: f64,
        longitude: f64,
        scale: u32,
        label: impl Into<String>,
        poiname: impl Into<String>,
    ) -> Inbound {
        Inbound::event("location_select")
            .field("EventKey", key)
            .number("SendLocationInfo/Location_X", latitude)
            .number("SendLocationInfo/Location_Y", longitude)
            .number("SendLocationInfo/Scale", scale)
            .field("SendLocationInfo/Label", label)
            .field("SendLocationInfo/Poiname", poiname)
    }

    /// Event `view_miniprogram`: `EventKey` (the page's path), `MenuId`.
    pub fn view_miniprogram(path: impl Into<String>, menu_id: impl Into<String>) -> Inbound {
        Inbound::event("view_miniprogram").field("EventKey", path).field("MenuId", menu_id)
    }

    /// One more element, its text in CDATA: `name` is its path below `<xml>` (`Content`,
    /// `ScanCodeInfo/ScanType`). An element at the same path as the one just before starts a new
    /// innermost parent (`PicList/item/PicMd5Sum` twice makes two `item`s).
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Inbound {
        self.elements.push(Element { path: name.into(), value: value.into(), number: false });
        self
    }

    /// One more element whose text is a number, written as it is (no CDATA), as the platform
    /// writes numbers.
    #[must_use]
    pub fn number(mut self, name: impl Into<String>, value: impl std::fmt::Display) -> Inbound {
        self.elements.push(Element { path: name.into(), value: value.to_string(), number: true });
        self
    }

    /// Who sends it (FromUserName: the user's OpenID); else the platform's user.
    #[must_use]
    pub fn from(mut self, open_id: impl Into<String>) -> Inbound {
        self.from = Some(open_id.into());
        self
    }

    /// Its CreateTime; else when it is delivered.
    #[must_use]
    pub fn create_time(mut self, create_time: u64) -> Inbound {
        self.create_time = Some(create_time);
        self
    }

    /// Its MsgId (messages have one; events don't, unless given here); else the platform's next.
    #[must_use]
    pub fn msg_id(mut self, msg_id: u64) -> Inbound {
        self.msg_id = Some(msg_id);
        self.has_msg_id = true;
        self
    }

    /// The MsgType.
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// The sender set with [`from`](Inbound::from).
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// Whether it carries a MsgId (a message, or an event given one).
    pub fn has_msg_id(&self) -> bool {
        self.has_msg_id
    }

    /// The XML the platform sends, to `account` (ToUserName), from the sender (or `oUser`), at
    /// the CreateTime given or `now`, with the MsgId given or `msg_id` (for a message).
    pub fn to_xml(&self, account: &str, now: u64, msg_id: Option<u64>) -> String {
        let mut xml = String::with_capacity(256);
        let from = self.from.as_deref().unwrap_or(crate::DEFAULT_USER);
        let create_time = self.create_time.unwrap_or(now);
        let _ = write!(
            xml,
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType>",
            cdata(account),
            cdata(from),
            cdata(&self.msg_type)
        );
        let mut open: Vec<&str> = Vec::new();
        let mut last: Option<&str> = None;
        for element in &self.elements {
            let names: Vec<&str> = element.path.split('/').collect();
            let (leaf, parents) = names.split_last().expect("split gives one name at least");
            // How many of the open parents this element shares; one fewer when it repeats the
            // element just before (a new `item`).
            let mut shared = open.iter().zip(parents).take_while(|(a, b)| a == b).count();
            if last == Some(element.path.as_str()) && !parents.is_empty() {
                shared = shared.min(parents.len() - 1);
            }
            while open.len() > shared {
                let _ = write!(xml, "</{}>", open.pop().expect("longer than shared"));
            }
            for parent in &parents[shared..] {
                let _ = write!(xml, "<{parent}>");
                open.push(parent);
            }
            match element.number {
                true => {
                    let _ = write!(xml, "<{leaf}>{}</{leaf}>", element.value);
                }
                false => {
                    let _ = write!(xml, "<{leaf}>{}</{leaf}>", cdata(&element.value));
                }
            }
            last = Some(&element.path);
        }
        while let Some(parent) = open.pop() {
            let _ = write!(xml, "</{parent}>");
        }
        if let Some(id) = self.msg_id.or(msg_id.filter(|_| self.has_msg_id)) {
            let _ = write!(xml, "<MsgId>{id}</MsgId>");
        }
        xml.push_str("</xml>");
        xml
    }
}

/// `value` in CDATA, split where it holds `]]>`.
pub(crate) fn cdata(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 12);
    out.push_str("<![CDATA[");
    let Ok(()) = passive_reply::cdata::write_escaped(&mut out, value);
    out.push_str("]]>");
    out
}
