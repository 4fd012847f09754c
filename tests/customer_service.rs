//! The customer-service message form of every reply: the JSON body of the platform's
//! `message/custom/send`, which sends a reply that missed the five seconds.
//!
//! The expected bodies are written by hand, one per kind. The platform documents an example body
//! per kind (as every SDK copies it; `DOCUMENTED_*` below, with the example's placeholders); a test
//! checks that ours read as the same JSON once given the same values (keys in another order are
//! the same object). Then a property test: every value, whatever its characters, reads back
//! through `serde_json` as written, with the XML's rule for what the platform refuses (U+FFFD).

use std::borrow::Cow;

use passive_reply::{
    Article, Articles, BoxedReply, Empty, Image, Music, News, NewsArticle, PassiveReply, Text, TransferCustomerService,
    Video, Voice,
};
use proptest::prelude::*;
use serde_json::{Value, json};

mod common;
// What a value reads as once sent either way: the characters the platform refuses replaced by
// U+FFFD, as in the XML.
use common::read_back;

// The platform's documented examples (customer-service messages, "发送消息"), with their
// placeholders. Video's `thumb_media_id` is left out: a passive video reply has no thumbnail to give.
const DOCUMENTED_TEXT: &str = r#"{"touser":"OPENID","msgtype":"text","text":{"content":"Hello World"}}"#;
const DOCUMENTED_IMAGE: &str = r#"{"touser":"OPENID","msgtype":"image","image":{"media_id":"MEDIA_ID"}}"#;
const DOCUMENTED_VOICE: &str = r#"{"touser":"OPENID","msgtype":"voice","voice":{"media_id":"MEDIA_ID"}}"#;
const DOCUMENTED_VIDEO: &str = r#"{"touser":"OPENID","msgtype":"video","video":{"media_id":"MEDIA_ID","title":"TITLE","description":"DESCRIPTION"}}"#;
const DOCUMENTED_MUSIC: &str = r#"{"touser":"OPENID","msgtype":"music","music":{"title":"MUSIC_TITLE","description":"MUSIC_DESCRIPTION","musicurl":"MUSIC_URL","hqmusicurl":"HQ_MUSIC_URL","thumb_media_id":"THUMB_MEDIA_ID"}}"#;
const DOCUMENTED_NEWS: &str = r#"{"touser":"OPENID","msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"}]}}"#;

// Ours, by hand: the values always there first (in the schema's order), then the optional ones
// that are there (a field that is an `Option`).
const TEXT: &str = r#"{"touser":"OPENID","msgtype":"text","text":{"content":"Hello World"}}"#;
const IMAGE: &str = r#"{"touser":"OPENID","msgtype":"image","image":{"media_id":"MEDIA_ID"}}"#;
const VOICE: &str = r#"{"touser":"OPENID","msgtype":"voice","voice":{"media_id":"MEDIA_ID"}}"#;
const VIDEO: &str = r#"{"touser":"OPENID","msgtype":"video","video":{"media_id":"MEDIA_ID","title":"TITLE","description":"DESCRIPTION"}}"#;
const VIDEO_BARE: &str = r#"{"touser":"OPENID","msgtype":"video","video":{"media_id":"MEDIA_ID"}}"#;
const MUSIC: &str = r#"{"touser":"OPENID","msgtype":"music","music":{"thumb_media_id":"THUMB_MEDIA_ID","title":"MUSIC_TITLE","description":"MUSIC_DESCRIPTION","musicurl":"MUSIC_URL","hqmusicurl":"HQ_MUSIC_URL"}}"#;
const MUSIC_BARE: &str = r#"{"touser":"OPENID","msgtype":"music","music":{"thumb_media_id":"THUMB_MEDIA_ID"}}"#;
const NEWS: &str = r#"{"touser":"OPENID","msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"}]}}"#;
const NEWS_TWO: &str = r#"{"touser":"OPENID","msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"},{"url":"URL2"}]}}"#;

/// The body, checked three ways: its length is the one announced, `to_customer_service` and
/// `write_customer_service` into another sink agree, and it is `expected`.
fn assert_body(reply: &impl PassiveReply, expected: &str) {
    let body = reply.to_customer_service().expect("a kind the API can send");
    assert_eq!(body, expected);
    assert_eq!(reply.customer_service_len(), Some(expected.len()));
    let mut bytes = Vec::new();
    reply.write_customer_service(&mut bytes).unwrap();
    assert_eq!(bytes, expected.as_bytes());
    let mut formatted = String::new();
    reply.write_customer_service(&mut passive_reply::FmtSink::new(&mut formatted)).unwrap();
    assert_eq!(formatted, expected);
}

fn same_json(a: &str, b: &str) {
    let (a, b): (Value, Value) = (serde_json::from_str(a).unwrap(), serde_json::from_str(b).unwrap());
    assert_eq!(a, b);
}

#[test]
fn ours_are_the_documented_bodies() {
    same_json(TEXT, DOCUMENTED_TEXT);
    same_json(IMAGE, DOCUMENTED_IMAGE);
    same_json(VOICE, DOCUMENTED_VOICE);
    same_json(VIDEO, DOCUMENTED_VIDEO);
    same_json(MUSIC, DOCUMENTED_MUSIC);
    same_json(NEWS, DOCUMENTED_NEWS);
}

#[test]
fn standard_messages() {
    assert_body(&Text::new("OPENID", "gh", "Hello World").with_create_time(1), TEXT);
    assert_body(&Image::new("OPENID", "gh", "MEDIA_ID"), IMAGE);
    assert_body(&Voice::new("OPENID", "gh", "MEDIA_ID"), VOICE);
    assert_body(&Video::new("OPENID", "gh", "MEDIA_ID").title("TITLE").description("DESCRIPTION"), VIDEO);
    assert_body(&Video::new("OPENID", "gh", "MEDIA_ID"), VIDEO_BARE);
    let music = Music::new("OPENID", "gh", "THUMB_MEDIA_ID")
        .title("MUSIC_TITLE")
        .description("MUSIC_DESCRIPTION")
        .music_url("MUSIC_URL")
        .hq_music_url("HQ_MUSIC_URL");
    assert_body(&music, MUSIC);
    assert_body(&Music::new("OPENID", "gh", "THUMB_MEDIA_ID"), MUSIC_BARE);
    let happy = Article::new().title("Happy Day").description("Is Really A Happy Day").url("URL").pic_url("PIC_URL");
    assert_body(&News::new("OPENID", "gh", Articles::new(happy.clone())), NEWS);
    let mut two = Articles::new(happy);
    two.push(Article::new().url("URL2")).unwrap();
    assert_body(&News::new("OPENID", "gh", two), NEWS_TWO);
}

/// A fixed buffer one byte too small is refused before anything is written; one of the exact
/// length takes the whole body.
#[test]
fn fixed_buffers() {
    let reply = Text::new("OPENID", "gh", "needs \"escaping\"\u{1}");
    let len = reply.customer_service_len().unwrap();
    let mut small = vec![0u8; len - 1];
    assert!(reply.write_customer_service(&mut passive_reply::SliceSink::new(&mut small)).is_err());
    assert!(small.iter().all(|&b| b == 0), "untouched");
    let mut exact = vec![0u8; len];
    reply.write_customer_service(&mut passive_reply::SliceSink::new(&mut exact)).unwrap();
    assert_eq!(exact, reply.to_customer_service().unwrap().as_bytes());
}

#[test]
fn replies_without_a_customer_service_form() {
    let transfer = TransferCustomerService::new("OPENID", "gh").kf_account("test1@test");
    assert_eq!(transfer.customer_service_len(), None);
    assert_eq!(transfer.to_customer_service(), None);
    assert_eq!(Empty.to_customer_service(), None);
    let mut out = Vec::new();
    transfer.write_customer_service(&mut out).unwrap();
    assert!(out.is_empty(), "writes nothing");
}

/// The derive writes the form from the struct's own fields, whatever their types and order,
/// renamed and optional ones included.
#[derive(PassiveReply)]
#[reply(music)]
struct Song {
    thumb_media_id: String,
    #[reply(rename = "Title")]
    name: &'static str,
    music_url: Option<Cow<'static, str>>,
    hq_music_url: Option<String>,
    create_time: u64,
    from_user_name: Box<str>,
    to_user_name: String,
}

#[derive(NewsArticle)]
struct Story {
    title: String,
    url: Option<String>,
}

#[derive(PassiveReply)]
#[reply(news)]
struct Digest {
    to_user_name: &'static str,
    from_user_name: &'static str,
    create_time: u64,
    articles: [Story; 2],
}

#[derive(PassiveReply)]
enum Answer {
    Song(Song),
    Digest(Digest),
    Transfer(TransferCustomerService<'static>),
    Nothing(Empty),
}

#[test]
fn derived_structs_and_enums() {
    let song = || Song {
        thumb_media_id: "T".into(),
        name: "N",
        music_url: None,
        hq_music_url: Some("H".into()),
        create_time: 1,
        from_user_name: "gh".into(),
        to_user_name: "OPENID".into(),
    };
    let song_body =
        r#"{"touser":"OPENID","msgtype":"music","music":{"title":"N","thumb_media_id":"T","hqmusicurl":"H"}}"#;
    assert_body(&song(), song_body);
    let digest = || Digest {
        to_user_name: "OPENID",
        from_user_name: "gh",
        create_time: 1,
        articles: [Story { title: "a".into(), url: Some("u".into()) }, Story { title: "b".into(), url: None }],
    };
    let digest_body =
        r#"{"touser":"OPENID","msgtype":"news","news":{"articles":[{"title":"a","url":"u"},{"title":"b"}]}}"#;
    assert_body(&digest(), digest_body);
    assert_body(&Answer::Song(song()), song_body);
    assert_body(&Answer::Digest(digest()), digest_body);
    assert_eq!(Answer::Transfer(TransferCustomerService::new("OPENID", "gh")).to_customer_service(), None);
    assert_eq!(Answer::Nothing(Empty).to_customer_service(), None);
    // Boxed, and through references: the same body.
    let boxed: BoxedReply<'static> = Answer::Song(song()).boxed();
    assert_body(&boxed, song_body);
    assert_body(&&boxed, song_body);
    assert_eq!(Empty.boxed().customer_service_len(), None);
}

#[test]
fn escaping() {
    let reply = Text::new("o\"u", "gh", "a\"b\\c\n\t\r\u{1}\u{7F}\u{2028}\u{2029}\u{FFFF}😀</xml>]]>");
    let expected = concat!(
        r#"{"touser":"o\"u","msgtype":"text","text":{"content":"a\"b\\c\n\t\r"#,
        "\u{FFFD}\u{7F}",
        r"\u2028\u2029",
        "\u{FFFD}😀</xml>]]>\"}}"
    );
    assert_body(&reply, expected);
}

/// A string weighted towards what breaks JSON: quotes, backslashes, every C0 control, U+2028 and
/// U+2029, U+FFFE/U+FFFF, astral characters, and Chinese text.
fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => Just("\"".to_string()),
        3 => Just("\\".to_string()),
        2 => Just("\\u0041".to_string()),
        3 => (0u8..0x20).prop_map(|b| char::from(b).to_string()),
        2 => prop_oneof![Just("\u{2028}".to_string()), Just("\u{2029}".to_string())],
        2 => prop_oneof![Just("\u{FFFE}".to_string()), Just("\u{FFFF}".to_string())],
        2 => (0x10000u32..=0x10FFFF).prop_filter_map("a char", char::from_u32).prop_map(String::from),
        2 => "[你好，。！？a-z<&'/ ]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn read(reply: &impl PassiveReply) -> Value {
    let body = reply.to_customer_service().unwrap();
    assert_eq!(reply.customer_service_len(), Some(body.len()));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_reads_back(to in value(), content in value()) {
        let reply = Text::new(to.as_str(), "gh", content.as_str());
        let expected = json!({"touser": read_back(&to), "msgtype": "text", "text": {"content": read_back(&content)}});
        prop_assert_eq!(read(&reply), expected);
    }

    #[test]
    fn image_voice_and_video_read_back(
        to in value(),
        media in value(),
        title in prop::option::of(value()),
        description in prop::option::of(value()),
    ) {
        let media_only = json!({"media_id": read_back(&media)});
        let image = Image::new(to.as_str(), "gh", media.as_str());
        prop_assert_eq!(read(&image), json!({"touser": read_back(&to), "msgtype": "image", "image": media_only}));
        let voice = Voice::new(to.as_str(), "gh", media.as_str());
        prop_assert_eq!(read(&voice), json!({"touser": read_back(&to), "msgtype": "voice", "voice": media_only}));
        let mut video = Video::new(to.as_str(), "gh", media.as_str());
        let mut object = json!({"media_id": read_back(&media)});
        if let Some(title) = &title {
            video = video.title(title.as_str());
            object["title"] = read_back(title).into();
        }
        if let Some(description) = &description {
            video = video.description(description.as_str());
            object["description"] = read_back(description).into();
        }
        prop_assert_eq!(read(&video), json!({"touser": read_back(&to), "msgtype": "video", "video": object}));
    }

    #[test]
    fn music_reads_back(
        to in value(),
        thumb in value(),
        title in prop::option::of(value()),
        hq in prop::option::of(value()),
    ) {
        let mut reply = Music::new(to.as_str(), "gh", thumb.as_str());
        let mut music = json!({"thumb_media_id": read_back(&thumb)});
        if let Some(title) = &title {
            reply = reply.title(title.as_str());
            music["title"] = read_back(title).into();
        }
        if let Some(hq) = &hq {
            reply = reply.hq_music_url(hq.as_str());
            music["hqmusicurl"] = read_back(hq).into();
        }
        prop_assert_eq!(read(&reply), json!({"touser": read_back(&to), "msgtype": "music", "music": music}));
    }

    #[test]
    fn news_reads_back(
        articles in prop::collection::vec(
            [prop::option::of(value()), prop::option::of(value()), prop::option::of(value()), prop::option::of(value())],
            1..=10,
        ),
    ) {
        let mut list: Option<Articles<Article<'_>>> = None;
        let mut expected = Vec::new();
        for [title, description, pic_url, url] in &articles {
            let mut article = Article::new();
            let mut object = serde_json::Map::new();
            for (key, value) in [("title", title), ("description", description), ("picurl", pic_url), ("url", url)] {
                let Some(value) = value else { continue };
                article = match key {
                    "title" => article.title(value.as_str()),
                    "description" => article.description(value.as_str()),
                    "picurl" => article.pic_url(value.as_str()),
                    _ => article.url(value.as_str()),
                };
                object.insert(key.into(), read_back(value).into());
            }
            match &mut list {
                None => list = Some(Articles::new(article)),
                Some(list) => list.push(article).unwrap(),
            }
            expected.push(Value::Object(object));
        }
        let reply = News::new("OPENID", "gh", list.unwrap());
        prop_assert_eq!(read(&reply), json!({"touser": "OPENID", "msgtype": "news", "news": {"articles": expected}}));
    }
}
