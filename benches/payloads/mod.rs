//! The payloads of the benchmarks, shared by `emit.rs` (criterion, time) and
//! `instructions.rs` (a loop for callgrind, instruction counts): the same structs and values.

use std::borrow::Cow;

use passive_reply::{NewsArticle, PassiveReply};
use serde::Serialize;

#[derive(PassiveReply, Serialize)]
#[reply(text)]
#[serde(rename = "xml")]
pub struct Hello<'a> {
    #[serde(rename = "ToUserName")]
    pub to_user_name: &'a str,
    #[serde(rename = "FromUserName")]
    pub from_user_name: &'a str,
    #[serde(rename = "CreateTime")]
    pub create_time: u64,
    #[reply(skip)]
    #[serde(rename = "MsgType")]
    pub msg_type: &'static str,
    #[serde(rename = "Content")]
    pub content: Cow<'a, str>,
}

pub fn hello(content: String) -> Hello<'static> {
    Hello {
        to_user_name: "oUser_1a2b3c4d5e6f7g8h9i0j",
        from_user_name: "gh_0123456789ab",
        create_time: 1_700_000_000,
        msg_type: "text",
        content: Cow::Owned(content),
    }
}

/// ~240 bytes out: a short Chinese answer.
pub fn short_text() -> Hello<'static> {
    hello("您好，您的订单已发货，预计明天送达。".to_string())
}

/// 4 KB of Chinese, with fullwidth punctuation.
pub fn long_text() -> Hello<'static> {
    let sentence = "被动回复消息在五秒内返回，超时则回复空串；图文消息最多十条！可以吗？（可以）";
    let mut content = String::new();
    while content.len() < 4096 {
        content.push_str(sentence);
    }
    hello(content)
}

/// 6 KB of Chinese, a fullwidth punctuation mark every twenty characters (each starts with the
/// byte EF, as U+FFFE and U+FFFF do).
pub fn long_text_6k() -> Hello<'static> {
    let characters: Vec<char> =
        "被动回复消息在五秒内返回超时则回复空串图文消息最多十条公众号的服务器收到用户发送的消息后".chars().collect();
    let marks = ['，', '。', '！', '？', '；', '：', '、', '（', '）'];
    let mut content = String::new();
    let mut i = 0;
    while content.len() < 6 * 1024 {
        content.push(characters[i % characters.len()]);
        i += 1;
        if i % 20 == 0 {
            content.push(marks[(i / 20) % marks.len()]);
        }
    }
    hello(content)
}

/// Dense with what must be escaped: `]]>`, C0 controls, U+FFFF.
pub fn hostile_text() -> Hello<'static> {
    let mut content = String::new();
    while content.len() < 1024 {
        content.push_str("a]]>b\u{1}c\u{FFFF}d]]]>\u{0}e<f>&g;");
    }
    hello(content)
}

#[derive(NewsArticle, Serialize, Clone)]
pub struct Post {
    #[serde(rename = "Title")]
    pub title: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "PicUrl")]
    pub pic_url: String,
    #[serde(rename = "Url")]
    pub url: String,
}

#[derive(PassiveReply, Serialize)]
#[reply(news)]
#[serde(rename = "xml")]
pub struct Digest {
    #[serde(rename = "ToUserName")]
    pub to_user_name: String,
    #[serde(rename = "FromUserName")]
    pub from_user_name: String,
    #[serde(rename = "CreateTime")]
    pub create_time: u64,
    #[reply(skip)]
    #[serde(rename = "MsgType")]
    pub msg_type: &'static str,
    #[reply(skip)]
    #[serde(rename = "ArticleCount")]
    pub article_count: usize,
    #[serde(rename = "Articles")]
    pub articles: Items,
}

/// The articles, as serde sees them (`<Articles><item>…</item>…</Articles>`) and as the derive
/// sees them (a list of ten).
#[derive(Serialize)]
pub struct Items {
    pub item: [Post; 10],
}

impl passive_reply::ArticleList<10> for Items {
    type Item = Post;

    fn articles(&self) -> &[Post] {
        &self.item
    }
}

/// Ten articles, ~3 KB out.
pub fn news() -> Digest {
    let item = std::array::from_fn(|i| Post {
        title: format!("第{}条：本周精选文章标题", i + 1),
        description: "这是一段图文消息的描述，用来测试十条图文的回复。".to_string(),
        pic_url: format!("https://mmbiz.example.com/pic/{i}.jpg"),
        url: format!("https://mp.example.com/s/article-{i}"),
    });
    Digest {
        to_user_name: "oUser_1a2b3c4d5e6f7g8h9i0j".into(),
        from_user_name: "gh_0123456789ab".into(),
        create_time: 1_700_000_000,
        msg_type: "news",
        article_count: 10,
        articles: Items { item },
    }
}

/// An inbound text message as the platform delivers it: what the parse benchmarks read.
pub const INBOUND: &str = "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUser_1a2b3c4d5e6f7g8h9i0j]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好，请问我的订单什么时候发货？]]></Content><MsgId>23456789012345678</MsgId></xml>";
