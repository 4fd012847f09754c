//! Golden tests: the platform's own examples, built through derived user structs, byte for byte.
//!
//! The expected strings are written by hand. For text, image, voice and news they are the
//! seed page's examples with the whitespace between tags removed; `SEED_*` below are those
//! examples copied verbatim from the page, and `hand_written_expectations_are_the_seed` checks the
//! hand-written strings against them. Video, music and transfer_customer_service follow the element
//! order in API.md (the seed page has no example of them).

use std::borrow::Cow;
use std::sync::Arc;

use passive_reply::{
    Article, Articles, Empty, Image, Music, News, NewsArticle, PassiveReply, Text, TransferCustomerService, Video,
    Voice,
};

// Verbatim from seed/passive-reply-messages.txt.
const SEED_TEXT: &str = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> <FromUserName><![CDATA[fromUser]]></FromUserName> <CreateTime>12345678</CreateTime> <MsgType><![CDATA[text]]></MsgType> <Content><![CDATA[你好]]></Content> </xml>";
const SEED_IMAGE: &str = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> <FromUserName><![CDATA[fromUser]]></FromUserName> <CreateTime>12345678</CreateTime> <MsgType><![CDATA[image]]></MsgType> <Image> <MediaId><![CDATA[media_id]]></MediaId> </Image> </xml>";
const SEED_VOICE: &str = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> <FromUserName><![CDATA[fromUser]]></FromUserName> <CreateTime>12345678</CreateTime> <MsgType><![CDATA[voice]]></MsgType> <Voice> <MediaId><![CDATA[media_id]]></MediaId> </Voice> </xml>";
const SEED_NEWS: &str = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> <FromUserName><![CDATA[fromUser]]></FromUserName> <CreateTime>12345678</CreateTime> <MsgType><![CDATA[news]]></MsgType> <ArticleCount>2</ArticleCount> <Articles> <item> <Title><![CDATA[title1]]></Title> <Description><![CDATA[description1]]></Description> <PicUrl><![CDATA[picurl]]></PicUrl> <Url><![CDATA[url]]></Url> </item> <item> <Title><![CDATA[title]]></Title> <Description><![CDATA[description]]></Description> <PicUrl><![CDATA[picurl]]></PicUrl> <Url><![CDATA[url]]></Url> </item> </Articles> </xml>";

// By hand: the seed's examples without the whitespace between tags.
const TEXT: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>";
const IMAGE: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[media_id]]></MediaId></Image></xml>";
const VOICE: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[media_id]]></MediaId></Voice></xml>";
const NEWS: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>2</ArticleCount><Articles><item><Title><![CDATA[title1]]></Title><Description><![CDATA[description1]]></Description><PicUrl><![CDATA[picurl]]></PicUrl><Url><![CDATA[url]]></Url></item><item><Title><![CDATA[title]]></Title><Description><![CDATA[description]]></Description><PicUrl><![CDATA[picurl]]></PicUrl><Url><![CDATA[url]]></Url></item></Articles></xml>";

// By hand, in API.md's element order.
const HEADER: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime>";
const VIDEO_FULL: &str = "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_id]]></MediaId><Title><![CDATA[title]]></Title><Description><![CDATA[description]]></Description></Video></xml>";
const VIDEO_BARE: &str =
    "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_id]]></MediaId></Video></xml>";
const VIDEO_DESCRIPTION_ONLY: &str = "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_id]]></MediaId><Description><![CDATA[description]]></Description></Video></xml>";
const MUSIC_FULL: &str = "<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[TITLE]]></Title><Description><![CDATA[DESCRIPTION]]></Description><MusicUrl><![CDATA[MUSIC_Url]]></MusicUrl><HQMusicUrl><![CDATA[HQ_MUSIC_Url]]></HQMusicUrl><ThumbMediaId><![CDATA[media_id]]></ThumbMediaId></Music></xml>";
const MUSIC_BARE: &str =
    "<MsgType><![CDATA[music]]></MsgType><Music><ThumbMediaId><![CDATA[media_id]]></ThumbMediaId></Music></xml>";
const MUSIC_URLS_ONLY: &str = "<MsgType><![CDATA[music]]></MsgType><Music><MusicUrl><![CDATA[MUSIC_Url]]></MusicUrl><HQMusicUrl><![CDATA[HQ_MUSIC_Url]]></HQMusicUrl><ThumbMediaId><![CDATA[media_id]]></ThumbMediaId></Music></xml>";
const TRANSFER_ANY: &str = "<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>";
const TRANSFER_ONE: &str = "<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo><KfAccount><![CDATA[test1@test]]></KfAccount></TransInfo></xml>";

/// Removes the whitespace that stands between two tags.
fn without_whitespace_between_tags(xml: &str) -> String {
    let mut out = String::new();
    for (i, piece) in xml.split('>').enumerate() {
        if i > 0 {
            out.push('>');
        }
        let after_tag = if i > 0 { piece.trim_start() } else { piece };
        out.push_str(if after_tag.starts_with('<') || after_tag.is_empty() { after_tag } else { piece });
    }
    out
}

fn assert_emits(reply: &impl PassiveReply, expected: &str) {
    let xml = reply.to_xml();
    assert_eq!(xml, expected);
    assert_eq!(reply.encoded_len(), expected.len());
}

#[test]
fn hand_written_expectations_are_the_seed() {
    assert_eq!(without_whitespace_between_tags(SEED_TEXT), TEXT);
    assert_eq!(without_whitespace_between_tags(SEED_IMAGE), IMAGE);
    assert_eq!(without_whitespace_between_tags(SEED_VOICE), VOICE);
    assert_eq!(without_whitespace_between_tags(SEED_NEWS), NEWS);
}

#[derive(PassiveReply)]
#[reply(text)]
struct Hello<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    content: Cow<'a, str>,
}

#[test]
fn text() {
    let hello =
        Hello { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, content: "你好".into() };
    assert_emits(&hello, TEXT);
    assert_emits(&Text::new("toUser", "fromUser", "你好").with_create_time(12345678), TEXT);
}

/// Fields in another order than the platform's, of other text and time types, with a renamed
/// and a skipped field: the output is still the platform's.
#[derive(PassiveReply)]
#[reply(text)]
struct Shuffled {
    #[reply(rename = "Content")]
    greeting: Box<str>,
    #[reply(skip)]
    #[allow(dead_code)]
    internal_note: Vec<u8>,
    create_time: u32,
    from_user_name: Arc<str>,
    to_user_name: String,
}

#[test]
fn text_from_shuffled_renamed_and_skipped_fields() {
    let reply = Shuffled {
        greeting: "你好".into(),
        internal_note: vec![1, 2, 3],
        create_time: 12345678,
        from_user_name: "fromUser".into(),
        to_user_name: "toUser".into(),
    };
    assert_emits(&reply, TEXT);
}

#[test]
fn create_time_is_whole_seconds_from_a_system_time() {
    #[derive(PassiveReply)]
    #[reply(text)]
    struct At {
        to_user_name: &'static str,
        from_user_name: &'static str,
        create_time: std::time::SystemTime,
        content: &'static str,
    }
    let at = At {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(12_345_678_999),
        content: "你好",
    };
    assert_emits(&at, TEXT);
}

#[derive(PassiveReply)]
#[reply(image)]
struct Picture<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: i64,
    media_id: &'a str,
}

#[test]
fn image() {
    let reply =
        Picture { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, media_id: "media_id" };
    assert_emits(&reply, IMAGE);
    assert_emits(&Image::new("toUser", "fromUser", "media_id").with_create_time(12345678), IMAGE);
}

#[derive(PassiveReply)]
#[reply(voice)]
struct Recording {
    to_user_name: String,
    from_user_name: String,
    create_time: u64,
    media_id: String,
}

#[test]
fn voice() {
    let reply = Recording {
        to_user_name: "toUser".into(),
        from_user_name: "fromUser".into(),
        create_time: 12345678,
        media_id: "media_id".into(),
    };
    assert_emits(&reply, VOICE);
    assert_emits(&Voice::new("toUser", "fromUser", "media_id").with_create_time(12345678), VOICE);
}

#[derive(NewsArticle, Clone)]
struct Post<'a> {
    title: &'a str,
    description: Option<&'a str>,
    pic_url: Option<String>,
    url: &'a str,
}

#[derive(PassiveReply)]
#[reply(news)]
struct Digest<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; 2],
}

#[test]
fn news() {
    let posts = [
        Post { title: "title1", description: Some("description1"), pic_url: Some("picurl".into()), url: "url" },
        Post { title: "title", description: Some("description"), pic_url: Some("picurl".into()), url: "url" },
    ];
    let reply =
        Digest { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, articles: posts.clone() };
    assert_emits(&reply, NEWS);

    // The same through a run-time list, and through the standard messages.
    #[derive(PassiveReply)]
    #[reply(news)]
    struct Listed<'a> {
        to_user_name: &'a str,
        from_user_name: &'a str,
        create_time: u64,
        articles: Articles<Post<'a>>,
    }
    let listed = Listed {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        articles: posts.to_vec().try_into().unwrap(),
    };
    assert_emits(&listed, NEWS);

    let mut articles =
        Articles::new(Article::new().title("title1").description("description1").pic_url("picurl").url("url"));
    articles.push(Article::new().title("title").description("description").pic_url("picurl").url("url")).unwrap();
    assert_emits(&News::new("toUser", "fromUser", articles).with_create_time(12345678), NEWS);
}

#[test]
fn news_article_leaves_out_absent_elements_and_counts_items() {
    let bare = Post { title: "t", description: None, pic_url: None, url: "u" };
    #[derive(PassiveReply)]
    #[reply(news, max_articles = 3)]
    struct Three<'a> {
        to_user_name: &'a str,
        from_user_name: &'a str,
        create_time: u64,
        articles: &'a [Post<'a>; 3],
    }
    let posts = [bare.clone(), bare.clone(), bare];
    let reply = Three { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, articles: &posts };
    let item = "<item><Title><![CDATA[t]]></Title><Url><![CDATA[u]]></Url></item>";
    let expected = format!(
        "{HEADER}<MsgType><![CDATA[news]]></MsgType><ArticleCount>3</ArticleCount><Articles>{item}{item}{item}</Articles></xml>"
    );
    assert_emits(&reply, &expected);
}

#[test]
fn ten_articles_count_as_two_digits() {
    let articles: Articles<Article> = vec![Article::new().url("u"); 10].try_into().unwrap();
    let reply = News::new("toUser", "fromUser", articles).with_create_time(12345678);
    let item = "<item><Url><![CDATA[u]]></Url></item>";
    let expected = format!(
        "{HEADER}<MsgType><![CDATA[news]]></MsgType><ArticleCount>10</ArticleCount><Articles>{}</Articles></xml>",
        item.repeat(10)
    );
    assert_emits(&reply, &expected);
}

#[derive(PassiveReply)]
#[reply(video)]
struct Clip<'a> {
    description: Option<&'a str>,
    title: Option<&'a str>,
    media_id: &'a str,
    create_time: u64,
    from_user_name: &'a str,
    to_user_name: &'a str,
}

#[test]
fn video() {
    let clip = |title, description| Clip {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        media_id: "media_id",
        title,
        description,
    };
    assert_emits(&clip(Some("title"), Some("description")), &format!("{HEADER}{VIDEO_FULL}"));
    assert_emits(&clip(None, None), &format!("{HEADER}{VIDEO_BARE}"));
    assert_emits(&clip(None, Some("description")), &format!("{HEADER}{VIDEO_DESCRIPTION_ONLY}"));

    let standard = Video::new("toUser", "fromUser", "media_id").with_create_time(12345678);
    assert_emits(&standard, &format!("{HEADER}{VIDEO_BARE}"));
    assert_emits(&standard.title("title").description("description"), &format!("{HEADER}{VIDEO_FULL}"));

    // An optional element may also have no field at all.
    #[derive(PassiveReply)]
    #[reply(video)]
    struct MediaOnly {
        to_user_name: &'static str,
        from_user_name: &'static str,
        create_time: u64,
        media_id: &'static str,
    }
    let media_only =
        MediaOnly { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, media_id: "media_id" };
    assert_emits(&media_only, &format!("{HEADER}{VIDEO_BARE}"));
}

#[derive(PassiveReply)]
#[reply(music)]
struct Song {
    to_user_name: &'static str,
    from_user_name: &'static str,
    create_time: u64,
    thumb_media_id: &'static str,
    hq_music_url: Option<&'static str>,
    music_url: Option<&'static str>,
    description: Option<&'static str>,
    title: Option<&'static str>,
}

#[test]
fn music() {
    let song = |title, description, music_url, hq_music_url| Song {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        thumb_media_id: "media_id",
        hq_music_url,
        music_url,
        description,
        title,
    };
    assert_emits(
        &song(Some("TITLE"), Some("DESCRIPTION"), Some("MUSIC_Url"), Some("HQ_MUSIC_Url")),
        &format!("{HEADER}{MUSIC_FULL}"),
    );
    assert_emits(&song(None, None, None, None), &format!("{HEADER}{MUSIC_BARE}"));
    assert_emits(&song(None, None, Some("MUSIC_Url"), Some("HQ_MUSIC_Url")), &format!("{HEADER}{MUSIC_URLS_ONLY}"));

    let standard = Music::new("toUser", "fromUser", "media_id").with_create_time(12345678);
    assert_emits(&standard, &format!("{HEADER}{MUSIC_BARE}"));
    let full = standard.title("TITLE").description("DESCRIPTION").music_url("MUSIC_Url").hq_music_url("HQ_MUSIC_Url");
    assert_emits(&full, &format!("{HEADER}{MUSIC_FULL}"));
}

#[test]
fn transfer_customer_service() {
    let any = TransferCustomerService::new("toUser", "fromUser").with_create_time(12345678);
    assert_emits(&any, &format!("{HEADER}{TRANSFER_ANY}"));
    assert_emits(&any.kf_account("test1@test"), &format!("{HEADER}{TRANSFER_ONE}"));
}

#[test]
fn escaping_in_every_value() {
    let reply = Hello {
        to_user_name: "to]]>User",
        from_user_name: "from\u{0}User",
        create_time: 12345678,
        content: "a\u{FFFF}]]]>b".into(),
    };
    let expected = "<xml><ToUserName><![CDATA[to]]]]><![CDATA[>User]]></ToUserName>\
        <FromUserName><![CDATA[from\u{FFFD}User]]></FromUserName><CreateTime>12345678</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a\u{FFFD}]]]]]><![CDATA[>b]]></Content></xml>";
    assert_emits(&reply, expected);
}

/// A generic reply: `T` is used by a field and gets a bound; `U` is used only by a skipped field
/// and gets none, so a `Vec<u8>` (not text) is accepted for it.
#[derive(PassiveReply)]
#[reply(text)]
struct Generic<'a, T, U> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    content: T,
    #[reply(skip)]
    #[allow(dead_code)]
    state: U,
}

#[test]
fn generics_bound_only_what_is_written() {
    let reply = Generic {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        content: String::from("你好"),
        state: vec![0u8],
    };
    assert_emits(&reply, TEXT);
}

#[derive(PassiveReply)]
enum Answer<'a> {
    Greeting(Hello<'a>),
    Digest(Digest<'a>),
    Boxed(Box<Text<'a>>),
    Nothing(Empty),
}

#[test]
fn an_enum_writes_the_reply_it_holds() {
    let hello =
        Hello { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, content: "你好".into() };
    assert_emits(&Answer::Greeting(hello), TEXT);
    let boxed = Answer::Boxed(Box::new(Text::new("toUser", "fromUser", "你好").with_create_time(12345678)));
    assert_emits(&boxed, TEXT);
    assert_emits(&Answer::Nothing(Empty), "");
    let post = Post { title: "title1", description: Some("description1"), pic_url: Some("picurl".into()), url: "url" };
    let second = Post { title: "title", description: Some("description"), ..post.clone() };
    let digest =
        Digest { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, articles: [post, second] };
    assert_emits(&Answer::Digest(digest), NEWS);
}

#[test]
fn boxed_replies_of_any_type() {
    let replies: Vec<passive_reply::BoxedReply> = vec![
        Text::new("toUser", "fromUser", "你好").with_create_time(12345678).boxed(),
        Image::new("toUser", "fromUser", "media_id").with_create_time(12345678).boxed(),
        Empty.boxed(),
    ];
    for (reply, expected) in replies.iter().zip([TEXT, IMAGE, ""]) {
        assert_emits(reply, expected);
        let mut slice = [0u8; 300];
        let mut sink = passive_reply::SliceSink::new(&mut slice);
        reply.write_to(&mut sink).unwrap();
        assert_eq!(sink.as_str(), expected);
    }
    // The sink's own error comes back through the type-erased path.
    let mut small = [0u8; 10];
    let err = replies[0].write_to(&mut passive_reply::SliceSink::new(&mut small)).unwrap_err();
    assert_eq!((err.needed(), err.available()), (TEXT.len(), 10));
}
