//! Typed access to a delivery's body: [`Message`] by MsgType, [`Event`] by Event.

use super::message::Incoming;

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

impl Incoming<'_> {
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
}
