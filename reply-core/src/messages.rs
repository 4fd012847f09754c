//! The standard messages, one per kind, each defined with `#[derive(PassiveReply)]` itself.
//!
//! Every text field is a `Cow<'a, str>`, so a message can borrow from the request it answers or
//! own its strings. Constructors take anything that converts into one (`&str`, `String`) and set
//! CreateTime to the current time; `with_create_time` sets another.

use std::borrow::Cow;

use reply_derive::PassiveReply;

use crate::value::now;

/// A text reply: Content.
///
/// ```
/// use reply_core::{PassiveReply, Text};
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// assert_eq!(reply.to_xml(), concat!(
///     "<xml><ToUserName><![CDATA[toUser]]></ToUserName>",
///     "<FromUserName><![CDATA[fromUser]]></FromUserName>",
///     "<CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType>",
///     "<Content><![CDATA[你好]]></Content></xml>",
/// ));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(text, crate = crate)]
pub struct Text<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The text shown to the user; line breaks are shown as such.
    pub content: Cow<'a, str>,
}

impl<'a> Text<'a> {
    /// A text reply from `from_user_name` to `to_user_name`, created now.
    pub fn new(
        to_user_name: impl Into<Cow<'a, str>>,
        from_user_name: impl Into<Cow<'a, str>>,
        content: impl Into<Cow<'a, str>>,
    ) -> Self {
        Text {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time: now(),
            content: content.into(),
        }
    }

    with_create_time!();
}

into_owned!(Text { to_user_name, from_user_name, content; });

macro_rules! media_message {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
        #[reply($kind, crate = crate)]
        pub struct $name<'a> {
            /// The user's OpenID (the FromUserName of the message being answered).
            pub to_user_name: Cow<'a, str>,
            /// The account (the ToUserName of the message being answered).
            pub from_user_name: Cow<'a, str>,
            /// Whole seconds since the Unix epoch.
            pub create_time: u64,
            #[doc = concat!("The id of the ", $what, ", from uploading it to the platform.")]
            pub media_id: Cow<'a, str>,
        }

        impl<'a> $name<'a> {
            #[doc = concat!("A reply with the uploaded ", $what, " `media_id`, created now.")]
            pub fn new(
                to_user_name: impl Into<Cow<'a, str>>,
                from_user_name: impl Into<Cow<'a, str>>,
                media_id: impl Into<Cow<'a, str>>,
            ) -> Self {
                $name {
                    to_user_name: to_user_name.into(),
                    from_user_name: from_user_name.into(),
                    create_time: now(),
                    media_id: media_id.into(),
                }
            }

            with_create_time!();
        }

        into_owned!($name { to_user_name, from_user_name, media_id; });
    };
}

media_message! {
    /// An image reply: Image/MediaId.
    ///
    /// ```
    /// use reply_core::{Image, PassiveReply};
    ///
    /// let reply = Image::new("toUser", "fromUser", "media_id").with_create_time(12345678);
    /// assert!(reply.to_xml().ends_with(
    ///     "<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[media_id]]></MediaId></Image></xml>"
    /// ));
    /// ```
    Image, image, "image"
}

media_message! {
    /// A voice reply: Voice/MediaId.
    ///
    /// ```
    /// use reply_core::{PassiveReply, Voice};
    ///
    /// let reply = Voice::new("toUser", "fromUser", "media_id").with_create_time(12345678);
    /// assert!(reply.to_xml().ends_with(
    ///     "<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[media_id]]></MediaId></Voice></xml>"
    /// ));
    /// ```
    Voice, voice, "voice recording"
}

/// A video reply: Video/MediaId, and optionally Video/Title and Video/Description.
///
/// ```
/// use reply_core::{PassiveReply, Video};
///
/// let reply = Video::new("toUser", "fromUser", "media_id").title("Launch").with_create_time(1);
/// assert!(reply.to_xml().ends_with(
///     "<Video><MediaId><![CDATA[media_id]]></MediaId><Title><![CDATA[Launch]]></Title></Video></xml>"
/// ));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(video, crate = crate)]
pub struct Video<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The id of the video, from uploading it to the platform.
    pub media_id: Cow<'a, str>,
    /// The video's title.
    pub title: Option<Cow<'a, str>>,
    /// The video's description.
    pub description: Option<Cow<'a, str>>,
}

impl<'a> Video<'a> {
    /// A reply with the uploaded video `media_id`, created now.
    pub fn new(
        to_user_name: impl Into<Cow<'a, str>>,
        from_user_name: impl Into<Cow<'a, str>>,
        media_id: impl Into<Cow<'a, str>>,
    ) -> Self {
        Video {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time: now(),
            media_id: media_id.into(),
            title: None,
            description: None,
        }
    }

    with_create_time!();

    optional_setters! {
        /// Sets Video/Title.
        title;
        /// Sets Video/Description.
        description;
    }
}

into_owned!(Video { to_user_name, from_user_name, media_id; title, description });

/// A music reply: Music/ThumbMediaId, and optionally Music/Title, Music/Description,
/// Music/MusicUrl and Music/HQMusicUrl.
///
/// ```
/// use reply_core::{Music, PassiveReply};
///
/// let reply = Music::new("toUser", "fromUser", "thumb")
///     .title("Song")
///     .hq_music_url("https://example.com/song.flac")
///     .with_create_time(1);
/// assert!(reply.to_xml().ends_with(concat!(
///     "<Music><Title><![CDATA[Song]]></Title>",
///     "<HQMusicUrl><![CDATA[https://example.com/song.flac]]></HQMusicUrl>",
///     "<ThumbMediaId><![CDATA[thumb]]></ThumbMediaId></Music></xml>",
/// )));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(music, crate = crate)]
pub struct Music<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The title.
    pub title: Option<Cow<'a, str>>,
    /// The description.
    pub description: Option<Cow<'a, str>>,
    /// The link to the music.
    pub music_url: Option<Cow<'a, str>>,
    /// The link to a high-quality version, which the client prefers on Wi-Fi.
    pub hq_music_url: Option<Cow<'a, str>>,
    /// The id of the thumbnail, from uploading it to the platform.
    pub thumb_media_id: Cow<'a, str>,
}

impl<'a> Music<'a> {
    /// A music reply whose thumbnail is the uploaded `thumb_media_id`, created now.
    pub fn new(
        to_user_name: impl Into<Cow<'a, str>>,
        from_user_name: impl Into<Cow<'a, str>>,
        thumb_media_id: impl Into<Cow<'a, str>>,
    ) -> Self {
        Music {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time: now(),
            title: None,
            description: None,
            music_url: None,
            hq_music_url: None,
            thumb_media_id: thumb_media_id.into(),
        }
    }

    with_create_time!();

    optional_setters! {
        /// Sets Music/Title.
        title;
        /// Sets Music/Description.
        description;
        /// Sets Music/MusicUrl.
        music_url;
        /// Sets Music/HQMusicUrl.
        hq_music_url;
    }
}

into_owned!(Music { to_user_name, from_user_name, thumb_media_id; title, description, music_url, hq_music_url });

/// Hands the conversation to the customer-service system: TransInfo/KfAccount optionally names
/// the agent.
///
/// ```
/// use reply_core::{PassiveReply, TransferCustomerService};
///
/// let any_agent = TransferCustomerService::new("toUser", "fromUser").with_create_time(1);
/// assert!(any_agent.to_xml().ends_with("<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>"));
///
/// let one_agent = any_agent.kf_account("agent1@account");
/// assert!(one_agent.to_xml().ends_with(
///     "<TransInfo><KfAccount><![CDATA[agent1@account]]></KfAccount></TransInfo></xml>"
/// ));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(transfer_customer_service, crate = crate)]
pub struct TransferCustomerService<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The customer-service agent to hand to; any free agent when `None`.
    pub kf_account: Option<Cow<'a, str>>,
}

impl<'a> TransferCustomerService<'a> {
    /// Hands the conversation to any free agent, now.
    pub fn new(to_user_name: impl Into<Cow<'a, str>>, from_user_name: impl Into<Cow<'a, str>>) -> Self {
        TransferCustomerService {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time: now(),
            kf_account: None,
        }
    }

    with_create_time!();

    optional_setters! {
        /// Names the agent: TransInfo/KfAccount.
        kf_account;
    }
}

into_owned!(TransferCustomerService { to_user_name, from_user_name; kf_account });
