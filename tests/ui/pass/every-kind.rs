//! One struct of every kind, with every value type the contract names, compiles and builds.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use passive_reply::{Empty, NewsArticle, PassiveReply};

#[derive(PassiveReply)]
#[reply(text)]
struct Text<'a> {
    to_user_name: String,
    from_user_name: Box<str>,
    create_time: u32,
    content: Cow<'a, str>,
}

#[derive(PassiveReply)]
#[reply(image)]
struct Image {
    to_user_name: Rc<str>,
    from_user_name: Arc<str>,
    create_time: i64,
    media_id: String,
}

#[derive(PassiveReply)]
#[reply(voice)]
struct Voice<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: SystemTime,
    media_id: &'a String,
}

#[derive(PassiveReply)]
#[reply(video)]
struct Video<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    media_id: &'a str,
    title: Option<String>,
    description: &'a str,
}

#[derive(PassiveReply)]
#[reply(music)]
struct Music<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: &'a u64,
    hq_music_url: Option<Cow<'a, str>>,
    thumb_media_id: &'a str,
}

#[derive(NewsArticle)]
struct Post {
    #[reply(rename = "Title")]
    headline: String,
    #[reply(skip)]
    _id: u64,
}

#[derive(PassiveReply)]
#[reply(news, max_articles = 8)]
struct News<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: &'a [Post; 8],
}

#[derive(PassiveReply)]
#[reply(transfer_customer_service)]
struct Transfer<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    kf_account: Option<&'a str>,
}

#[derive(PassiveReply)]
enum Any<'a> {
    Text(Text<'a>),
    Image(Image),
    Voice(Voice<'a>),
    Video(Video<'a>),
    Music(Music<'a>),
    News(News<'a>),
    Transfer(Transfer<'a>),
    Empty(Empty),
}

fn main() {
    let posts: [Post; 8] = std::array::from_fn(|i| Post { headline: i.to_string(), _id: i as u64 });
    let news = Any::News(News { to_user_name: "u", from_user_name: "a", create_time: 1, articles: &posts });
    assert!(news.to_xml().contains("<ArticleCount>8</ArticleCount>"));
    let replies = [
        Any::Text(Text { to_user_name: "u".into(), from_user_name: "a".into(), create_time: 1, content: "c".into() }),
        Any::Image(Image { to_user_name: "u".into(), from_user_name: "a".into(), create_time: -1, media_id: "m".into() }),
        Any::Empty(Empty),
    ];
    for reply in &replies {
        assert_eq!(reply.to_xml().len(), reply.encoded_len());
    }
}
