//! Derives through `#[reply(crate = reexport_framework::reply)]`. This crate's manifest does not
//! name passive-reply, so the generated code can only reach the runtime through that path.

use reexport_framework::reply::{self, Articles, NewsArticle, PassiveReply};

/// A text reply.
#[derive(PassiveReply)]
#[reply(text, crate = reexport_framework::reply)]
pub struct Hello<'a> {
    /// ToUserName.
    pub to_user_name: &'a str,
    /// FromUserName.
    pub from_user_name: &'a str,
    /// CreateTime.
    pub create_time: u32,
    /// Content.
    pub content: &'a str,
}

/// A text reply, the path written in serde's string form.
#[derive(PassiveReply)]
#[reply(text, crate = "reexport_framework::reply")]
pub struct Quoted<'a> {
    /// ToUserName.
    pub to_user_name: &'a str,
    /// FromUserName.
    pub from_user_name: &'a str,
    /// CreateTime.
    pub create_time: u32,
    /// Content.
    pub content: &'a str,
}

/// An article.
#[derive(NewsArticle)]
#[reply(crate = reexport_framework::reply)]
pub struct Post<'a> {
    /// Title.
    pub title: &'a str,
}

/// A news reply.
#[derive(PassiveReply)]
#[reply(news, crate = reexport_framework::reply)]
pub struct Digest<'a> {
    /// ToUserName.
    pub to_user_name: &'a str,
    /// FromUserName.
    pub from_user_name: &'a str,
    /// CreateTime.
    pub create_time: u64,
    /// Articles.
    pub articles: Articles<Post<'a>>,
}

/// Either.
#[derive(PassiveReply)]
#[reply(crate = reexport_framework::reply)]
pub enum Answer<'a> {
    /// Text.
    Hello(Hello<'a>),
    /// News.
    Digest(Digest<'a>),
    /// Nothing.
    Nothing(reply::Empty),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_through_the_reexport() {
        let hello = Answer::Hello(Hello { to_user_name: "u", from_user_name: "a", create_time: 7, content: "hi" });
        assert_eq!(
            hello.to_xml(),
            "<xml><ToUserName><![CDATA[u]]></ToUserName><FromUserName><![CDATA[a]]></FromUserName>\
             <CreateTime>7</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
        );
        let digest = Answer::Digest(Digest {
            to_user_name: "u",
            from_user_name: "a",
            create_time: 7,
            articles: Articles::new(Post { title: "t" }),
        });
        assert_eq!(
            digest.to_xml(),
            "<xml><ToUserName><![CDATA[u]]></ToUserName><FromUserName><![CDATA[a]]></FromUserName>\
             <CreateTime>7</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount>\
             <Articles><item><Title><![CDATA[t]]></Title></item></Articles></xml>"
        );
        assert_eq!(Answer::Nothing(reply::Empty).to_xml(), "");
    }
}
