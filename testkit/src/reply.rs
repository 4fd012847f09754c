//! The reply reader: a passive reply's XML back into typed values.

use passive_reply::Incoming;

/// A passive reply, read back: who it is to and from, when, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// ToUserName: the user.
    pub to: String,
    /// FromUserName: the account.
    pub from: String,
    /// CreateTime.
    pub create_time: u64,
    /// What it says.
    pub body: ReplyBody,
}

/// What a reply says, by its MsgType.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplyBody {
    /// `text`.
    Text {
        /// Content.
        content: String,
    },
    /// `image`.
    Image {
        /// Image/MediaId.
        media_id: String,
    },
    /// `voice`.
    Voice {
        /// Voice/MediaId.
        media_id: String,
    },
    /// `video`.
    Video {
        /// Video/MediaId.
        media_id: String,
        /// Video/Title.
        title: Option<String>,
        /// Video/Description.
        description: Option<String>,
    },
    /// `music`.
    Music {
        /// Music/Title.
        title: Option<String>,
        /// Music/Description.
        description: Option<String>,
        /// Music/MusicUrl.
        music_url: Option<String>,
        /// Music/HQMusicUrl.
        hq_music_url: Option<String>,
        /// Music/ThumbMediaId.
        thumb_media_id: String,
    },
    /// `news`: its articles, in order.
    News(Vec<ReadArticle>),
    /// `transfer_customer_service`: the conversation handed to the customer-service staff.
    TransferCustomerService {
        /// TransInfo/KfAccount: the one staff account, when named.
        kf_account: Option<String>,
    },
    /// Any other MsgType, with its elements (those without children) as they came.
    Other {
        /// MsgType.
        msg_type: String,
        /// Every element's (name, text) below the header.
        fields: Vec<(String, String)>,
    },
}

/// One article of a news reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadArticle {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// PicUrl.
    pub pic_url: Option<String>,
    /// Url.
    pub url: Option<String>,
}

/// Why a reply doesn't read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub(crate) String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

impl Reply {
    /// Reads a reply's XML (plaintext: [`Answer::reply`](crate::Answer::reply) opens an
    /// encrypted one first). `Ok(None)` for the platform's empty replies, `""` and `success`.
    ///
    /// ```
    /// use passive_reply::{PassiveReply, Text};
    /// use passive_reply_test::{Reply, ReplyBody};
    ///
    /// let reply = Reply::read(&Text::new("oAlice", "gh_account", "hi").with_create_time(1).to_xml())?.unwrap();
    /// assert_eq!(reply.body, ReplyBody::Text { content: "hi".into() });
    /// assert_eq!((reply.to.as_str(), reply.from.as_str()), ("oAlice", "gh_account"));
    /// assert_eq!(Reply::read("success")?, None);
    /// # Ok::<(), passive_reply_test::ReadError>(())
    /// ```
    pub fn read(xml: &str) -> Result<Option<Reply>, ReadError> {
        if xml.is_empty() || xml == "success" {
            return Ok(None);
        }
        let msg = Incoming::parse(xml).map_err(|e| ReadError(format!("not a reply ({e}): {xml:?}")))?;
        let text = |path: &str| msg.field_at(path).map(str::to_owned);
        let required = |path: &str| {
            msg.field_at(path)
                .map(str::to_owned)
                .ok_or_else(|| ReadError(format!("a {} reply without {path}: {xml:?}", msg.msg_type())))
        };
        let body = match msg.msg_type() {
            "text" => ReplyBody::Text { content: required("Content")? },
            "image" => ReplyBody::Image { media_id: required("Image/MediaId")? },
            "voice" => ReplyBody::Voice { media_id: required("Voice/MediaId")? },
            "video" => ReplyBody::Video {
                media_id: required("Video/MediaId")?,
                title: text("Video/Title"),
                description: text("Video/Description"),
            },
            "music" => ReplyBody::Music {
                title: text("Music/Title"),
                description: text("Music/Description"),
                music_url: text("Music/MusicUrl"),
                hq_music_url: text("Music/HQMusicUrl"),
                thumb_media_id: required("Music/ThumbMediaId")?,
            },
            "news" => {
                let articles: Vec<ReadArticle> = msg
                    .elements("Articles/item")
                    .map(|item| ReadArticle {
                        title: item.field("Title").map(str::to_owned),
                        description: item.field("Description").map(str::to_owned),
                        pic_url: item.field("PicUrl").map(str::to_owned),
                        url: item.field("Url").map(str::to_owned),
                    })
                    .collect();
                let count = required("ArticleCount")?;
                if count != articles.len().to_string() {
                    return Err(ReadError(format!(
                        "a news reply whose ArticleCount, {count}, is not its {} articles: {xml:?}",
                        articles.len()
                    )));
                }
                ReplyBody::News(articles)
            }
            "transfer_customer_service" => {
                ReplyBody::TransferCustomerService { kf_account: text("TransInfo/KfAccount") }
            }
            other => ReplyBody::Other {
                msg_type: other.to_owned(),
                fields: msg.fields().map(|(name, value)| (name.to_owned(), value.to_owned())).collect(),
            },
        };
        Ok(Some(Reply {
            to: msg.to_user_name().to_owned(),
            from: msg.from_user_name().to_owned(),
            create_time: msg.create_time(),
            body,
        }))
    }

    /// The Content of a text reply; `None` for any other kind.
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            ReplyBody::Text { content } => Some(content),
            _ => None,
        }
    }
}
