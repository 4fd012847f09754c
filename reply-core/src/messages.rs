//! The standard messages, one per kind, each defined with `#[derive(PassiveReply)]` itself.
//!
//! Every text field is a `Cow<'a, str>`, so a message can borrow from the request it answers or
//! own its strings. Constructors take anything that converts into one (`&str`, `String`) and set
//! CreateTime to the current time; `with_create_time` sets another.

use std::borrow::Cow;

use reply_derive::{NewsArticle, PassiveReply};

use crate::news::Articles;
use crate::value::now;

macro_rules! with_create_time {
    () => {
        /// Sets CreateTime, in whole seconds since the Unix epoch.
        #[must_use]
        pub fn with_create_time(mut self, seconds: u64) -> Self {
            self.create_time = seconds;
            self
        }
    };
}

/// `into_owned` for a message whose text fields are `$cow: Cow` and `$optional: Option<Cow>`.
macro_rules! into_owned {
    ($name:ident { $($cow:ident),* ; $($optional:ident),* }) => {
        impl $name<'_> {
            /// The same message, owning its text, so that it can outlive what it borrowed from
            /// (a handler that replies from an async block returns one of these).
            pub fn into_owned(self) -> $name<'static> {
                $name {
                    create_time: self.create_time,
                    $($cow: Cow::Owned(self.$cow.into_owned()),)*
                    $($optional: self.$optional.map(|v| Cow::Owned(v.into_owned())),)*
                }
            }
        }
    };
}

macro_rules! optional_setters {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: impl Into<Cow<'a, str>>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}

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

/// One article of a [`News`] reply: Title, Description, PicUrl and Url, each optional.
///
/// ```
/// use reply_core::Article;
///
/// let article = Article::new()
///     .title("Rust 1.95")
///     .description("What's new")
///     .pic_url("https://example.com/cover.png")
///     .url("https://example.com/post");
/// assert_eq!(article.title.as_deref(), Some("Rust 1.95"));
/// ```
#[derive(NewsArticle, Debug, Clone, Default, PartialEq, Eq, Hash)]
#[reply(crate = crate)]
pub struct Article<'a> {
    /// The headline.
    pub title: Option<Cow<'a, str>>,
    /// The summary under it.
    pub description: Option<Cow<'a, str>>,
    /// The picture: JPG or PNG; 360×200 shows best for the first article, 200×200 for the others.
    pub pic_url: Option<Cow<'a, str>>,
    /// Where a tap on the article goes.
    pub url: Option<Cow<'a, str>>,
}

impl<'a> Article<'a> {
    /// An article with no element set.
    pub fn new() -> Self {
        Article::default()
    }

    optional_setters! {
        /// Sets Title.
        title;
        /// Sets Description.
        description;
        /// Sets PicUrl.
        pic_url;
        /// Sets Url.
        url;
    }

    /// The same article, owning its text.
    pub fn into_owned(self) -> Article<'static> {
        let own = |v: Option<Cow<'_, str>>| v.map(|v| Cow::Owned(v.into_owned()));
        Article {
            title: own(self.title),
            description: own(self.description),
            pic_url: own(self.pic_url),
            url: own(self.url),
        }
    }
}

/// A news reply: 1 to 10 articles, the first shown large.
///
/// ```
/// use reply_core::{Article, Articles, News, PassiveReply};
///
/// let mut articles = Articles::new(Article::new().title("First"));
/// articles.push(Article::new().title("Second")).unwrap();
/// let reply = News::new("toUser", "fromUser", articles).with_create_time(1);
/// let xml = reply.to_xml();
/// assert!(xml.contains("<ArticleCount>2</ArticleCount><Articles><item><Title><![CDATA[First]]></Title></item>"));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(news, crate = crate)]
pub struct News<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The articles; ArticleCount is their number.
    pub articles: Articles<Article<'a>>,
}

impl<'a> News<'a> {
    /// A news reply with `articles`, created now.
    pub fn new(
        to_user_name: impl Into<Cow<'a, str>>,
        from_user_name: impl Into<Cow<'a, str>>,
        articles: Articles<Article<'a>>,
    ) -> Self {
        News { to_user_name: to_user_name.into(), from_user_name: from_user_name.into(), create_time: now(), articles }
    }

    with_create_time!();

    /// The same message, owning its text.
    pub fn into_owned(self) -> News<'static> {
        let articles = self.articles.into_vec().into_iter().map(Article::into_owned).collect::<Vec<_>>();
        News {
            to_user_name: Cow::Owned(self.to_user_name.into_owned()),
            from_user_name: Cow::Owned(self.from_user_name.into_owned()),
            create_time: self.create_time,
            articles: Articles::from_vec_unchecked(articles),
        }
    }
}

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
