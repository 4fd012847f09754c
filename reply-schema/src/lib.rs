//! The platform's passive-reply message schema, as data.
//!
//! This is the one place where the platform's tables live: which kinds of reply exist, which
//! elements each carries, in which order, and which of them are required. `reply-derive` reads
//! it while it expands `#[derive(PassiveReply)]`, so the generated emitter follows it; `reply-core`
//! reads it at run time (for the article limit, and its tests check every emitted message against
//! it). Applications do not depend on this crate directly: it is re-exported as
//! `passive_reply::schema`.
//!
//! ```
//! use reply_schema::{kind, Presence, Value};
//!
//! let music = kind("music").unwrap();
//! assert_eq!(music.msg_type, "music");
//! let Value::Group(children) = music.body[0].value else { unreachable!() };
//! let names: Vec<&str> = children.iter().map(|e| e.name).collect();
//! assert_eq!(names, ["Title", "Description", "MusicUrl", "HQMusicUrl", "ThumbMediaId"]);
//! assert_eq!(children[4].presence, Presence::Required);
//! ```
#![forbid(unsafe_code)]
#![no_std]

/// The most articles one news reply may carry. The platform's page: "图文消息个数,限制为10条以内"
/// (at most 10), and "如果图文数超过10,则将会无响应" (more than 10 and nothing is shown).
pub const MAX_ARTICLES: usize = 10;

/// The tag of the document's root element.
pub const ROOT: &str = "xml";

/// The tag of one article inside `<Articles>`.
pub const ITEM: &str = "item";

/// Whether an element must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// The platform refuses a message without it.
    Required,
    /// May be left out; a group made only of optional elements is left out when all of them are.
    Optional,
}

/// What an element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// A string, written as a CDATA section.
    Text,
    /// Whole seconds since the Unix epoch, written as a decimal integer.
    CreateTime,
    /// The kind's name, written as CDATA. It comes from the kind, never from a field.
    MsgType,
    /// The number of articles, written as a decimal integer. It is computed from the articles,
    /// never given by a field.
    ArticleCount,
    /// Child elements, in this order.
    Group(&'static [Element]),
    /// One `<item>` element per article, each holding these children in this order.
    Items(&'static [Element]),
}

/// One element of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Element {
    /// The element's tag, as the platform spells it: `ToUserName`, `HQMusicUrl`.
    pub name: &'static str,
    /// The name of the struct field that maps to it by default: `to_user_name`, `hq_music_url`.
    pub field: &'static str,
    /// Whether it must be present.
    pub presence: Presence,
    /// What it holds.
    pub value: Value,
    /// Its key in the customer-service message's JSON (the platform's `message/custom/send`), where
    /// it has one: `content`, `media_id`, `hqmusicurl`. `ToUserName` is `touser` and `MsgType`
    /// `msgtype`; the sender and the time have none (the API knows them), and neither has the
    /// article count.
    pub json: Option<&'static str>,
}

impl Element {
    /// Whether a struct field gives this element's value (false for `MsgType`, `ArticleCount`
    /// and groups, which are derived).
    pub const fn is_given(&self) -> bool {
        matches!(self.value, Value::Text | Value::CreateTime | Value::Items(_))
    }
}

/// One kind of passive reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind {
    /// The word that names it in `#[reply(...)]`, and the value of its `MsgType` element.
    pub msg_type: &'static str,
    /// The elements that follow the [`HEADER`], in emission order.
    pub body: &'static [Element],
    /// Whether the customer-service message API can send it: every kind but
    /// `transfer_customer_service`, which only a passive reply can carry.
    pub customer_service: bool,
}

impl Kind {
    /// Every top-level element of this kind, header first, in emission order.
    pub fn elements(&self) -> impl Iterator<Item = &'static Element> + '_ {
        HEADER.iter().chain(self.body.iter())
    }
}

const fn text(name: &'static str, field: &'static str, json: &'static str, presence: Presence) -> Element {
    let json = if json.is_empty() { None } else { Some(json) };
    Element { name, field, presence, value: Value::Text, json }
}

const fn group(name: &'static str, field: &'static str, children: &'static [Element]) -> Element {
    // A group is required exactly when one of its children is.
    let mut presence = Presence::Optional;
    let mut i = 0;
    while i < children.len() {
        if let Presence::Required = children[i].presence {
            presence = Presence::Required;
        }
        i += 1;
    }
    Element { name, field, presence, value: Value::Group(children), json: None }
}

use Presence::{Optional, Required};

/// The elements every kind starts with, in order.
pub const HEADER: &[Element] = &[
    text("ToUserName", "to_user_name", "touser", Required),
    text("FromUserName", "from_user_name", "", Required),
    Element { name: "CreateTime", field: "create_time", presence: Required, value: Value::CreateTime, json: None },
    Element { name: "MsgType", field: "msg_type", presence: Required, value: Value::MsgType, json: Some("msgtype") },
];

/// The children of one news `<item>`, in order; all optional.
pub const ARTICLE: &[Element] = &[
    text("Title", "title", "title", Optional),
    text("Description", "description", "description", Optional),
    text("PicUrl", "pic_url", "picurl", Optional),
    text("Url", "url", "url", Optional),
];

/// Every kind of passive reply, with its body in emission order.
///
/// Text, image, voice and news follow the platform's page; video, music and
/// transfer_customer_service follow the element order fixed in the project's API contract.
pub const KINDS: &[Kind] = &[
    Kind { msg_type: "text", body: &[text("Content", "content", "content", Required)], customer_service: true },
    Kind {
        msg_type: "image",
        body: &[group("Image", "image", &[text("MediaId", "media_id", "media_id", Required)])],
        customer_service: true,
    },
    Kind {
        msg_type: "voice",
        body: &[group("Voice", "voice", &[text("MediaId", "media_id", "media_id", Required)])],
        customer_service: true,
    },
    Kind {
        msg_type: "video",
        body: &[group(
            "Video",
            "video",
            &[
                text("MediaId", "media_id", "media_id", Required),
                text("Title", "title", "title", Optional),
                text("Description", "description", "description", Optional),
            ],
        )],
        customer_service: true,
    },
    Kind {
        msg_type: "music",
        body: &[group(
            "Music",
            "music",
            &[
                text("Title", "title", "title", Optional),
                text("Description", "description", "description", Optional),
                text("MusicUrl", "music_url", "musicurl", Optional),
                text("HQMusicUrl", "hq_music_url", "hqmusicurl", Optional),
                text("ThumbMediaId", "thumb_media_id", "thumb_media_id", Required),
            ],
        )],
        customer_service: true,
    },
    Kind {
        msg_type: "news",
        body: &[
            Element {
                name: "ArticleCount",
                field: "article_count",
                presence: Required,
                value: Value::ArticleCount,
                json: None,
            },
            Element {
                name: "Articles",
                field: "articles",
                presence: Required,
                value: Value::Items(ARTICLE),
                json: Some("articles"),
            },
        ],
        customer_service: true,
    },
    Kind {
        msg_type: "transfer_customer_service",
        body: &[group("TransInfo", "trans_info", &[text("KfAccount", "kf_account", "", Optional)])],
        customer_service: false,
    },
];

/// The kind whose `MsgType` is `msg_type`.
///
/// ```
/// assert!(reply_schema::kind("text").is_some());
/// assert!(reply_schema::kind("txt").is_none());
/// ```
pub fn kind(msg_type: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.msg_type == msg_type)
}

/// Every element that a struct field of `kind` may map to, at any depth, with the path of
/// groups above it (empty for top-level elements). News items are not included: their children
/// belong to `#[derive(NewsArticle)]`, see [`ARTICLE`].
pub fn given_elements(kind: &Kind) -> impl Iterator<Item = &'static Element> + '_ {
    kind.elements().flat_map(|e| {
        let children: &'static [Element] = match e.value {
            Value::Group(children) => children,
            _ => &[],
        };
        core::iter::once(e).filter(|e| e.is_given()).chain(children.iter())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_optional_elements_have_one_element() {
        // reply-derive writes an all-optional group exactly when its one element is present; a
        // group of several optional elements would need a condition over all of them.
        for kind in KINDS {
            for element in kind.elements() {
                if let Value::Group(children) = element.value
                    && element.presence == Presence::Optional
                {
                    assert_eq!(children.len(), 1, "{}: {}", kind.msg_type, element.name);
                }
            }
        }
    }

    #[test]
    fn field_names_are_the_element_names_in_snake_case() {
        extern crate std;
        use std::string::String;

        for kind in KINDS {
            for element in given_elements(kind).chain(ARTICLE.iter()) {
                let expected: String = match element.name {
                    // An acronym stays one word.
                    "HQMusicUrl" => "hq_music_url".into(),
                    name => name
                        .char_indices()
                        .flat_map(|(i, c)| {
                            let gap = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                            gap.into_iter().chain(core::iter::once(c.to_ascii_lowercase()))
                        })
                        .collect(),
                };
                assert_eq!(element.field, expected, "{}", element.name);
            }
        }
    }

    /// What the derive's JSON lowering counts on: in a kind the API can send, every given element
    /// has a key and at least one of them is required, so it writes that one first and each
    /// optional one after it with a comma; the header's keys are `touser` and `msgtype`.
    #[test]
    fn customer_service_keys() {
        let header: [Option<&str>; 4] = [HEADER[0].json, HEADER[1].json, HEADER[2].json, HEADER[3].json];
        assert_eq!(header, [Some("touser"), None, None, Some("msgtype")]);
        for kind in KINDS.iter().filter(|k| k.customer_service) {
            let body = given_elements(kind).skip(3);
            let (mut keys, mut required) = (0, 0);
            for element in body {
                assert!(element.json.is_some(), "{}: {}", kind.msg_type, element.name);
                keys += 1;
                required += usize::from(element.presence == Presence::Required);
            }
            assert!(keys > 0 && required > 0, "{}", kind.msg_type);
        }
        assert!(ARTICLE.iter().all(|e| e.json.is_some()));
        let not_sent: [&str; 1] = ["transfer_customer_service"];
        assert!(KINDS.iter().all(|k| k.customer_service != not_sent.contains(&k.msg_type)));
    }

    #[test]
    fn header_and_msg_type() {
        assert_eq!(KINDS.len(), 7);
        for kind in KINDS {
            let names: [&str; 4] = [HEADER[0].name, HEADER[1].name, HEADER[2].name, HEADER[3].name];
            assert_eq!(names, ["ToUserName", "FromUserName", "CreateTime", "MsgType"]);
            assert!(kind.elements().take(4).all(|e| e.presence == Presence::Required));
        }
    }
}
