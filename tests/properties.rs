//! Properties of every emitted reply, for arbitrary values: it parses as XML; its elements are
//! exactly those the platform's schema gives for the kind, in order; every value reads back as
//! given (after the replacement of forbidden characters); and `encoded_len()` is the number of
//! bytes written, for every sink.

mod common;
use common::{Node, parse, read_back};
use std::collections::HashMap;

use passive_reply::schema::{self, Element, Value};
use passive_reply::{
    Article, Articles, FmtSink, Image, IoSink, Music, News, PassiveReply, SliceSink, Text, TransferCustomerService,
    Video, Voice,
};
use proptest::prelude::*;

/// A string weighted towards what breaks CDATA and XML: `]`, `>`, `]]>`, every C0 control,
/// U+FFFE/U+FFFF, astral characters, and Chinese text.
fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => Just("]".to_string()),
        3 => Just(">".to_string()),
        3 => Just("]]>".to_string()),
        3 => (0u8..0x20).prop_map(|b| char::from(b).to_string()),
        2 => prop_oneof![Just("\u{FFFE}".to_string()), Just("\u{FFFF}".to_string())],
        2 => (0x10000u32..=0x10FFFF).prop_filter_map("a char", char::from_u32).prop_map(String::from),
        2 => "[你好，。！？a-z<&\"' ]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// The elements the schema gives for `kind`, with `values` (by element name) for the given ones
/// and `items` for a news reply's articles, in the platform's order.
fn expected(kind: &str, values: &HashMap<&str, String>, items: &[HashMap<&str, String>]) -> Vec<Node> {
    fn walk(
        elements: &[Element],
        parent: &str,
        kind: &str,
        values: &HashMap<&str, String>,
        items: &[HashMap<&str, String>],
        out: &mut Vec<Node>,
    ) {
        for element in elements {
            let path = format!("{parent}/{}", element.name);
            match element.value {
                Value::Text | Value::CreateTime => {
                    if let Some(v) = values.get(element.name) {
                        out.push((path, Some(read_back(v))));
                    }
                }
                Value::MsgType => out.push((path, Some(kind.to_string()))),
                Value::ArticleCount => out.push((path, Some(items.len().to_string()))),
                Value::Items(children) => {
                    out.push((path.clone(), None));
                    for item in items {
                        let item_path = format!("{path}/{}", schema::ITEM);
                        out.push((item_path.clone(), None));
                        walk(children, &item_path, kind, item, &[], out);
                    }
                }
                Value::Group(children) => {
                    let mut inner = Vec::new();
                    walk(children, &path, kind, values, items, &mut inner);
                    if !inner.is_empty() {
                        out.push((path, None));
                        out.append(&mut inner);
                    }
                }
            }
        }
    }
    let kind_schema = schema::kind(kind).unwrap();
    let mut out = vec![(schema::ROOT.to_string(), None)];
    let elements: Vec<Element> = kind_schema.elements().copied().collect();
    walk(&elements, schema::ROOT, kind, values, items, &mut out);
    out
}

/// Writes `reply` into every kind of sink and checks each against `to_xml()` and `encoded_len()`.
fn check_sinks(reply: &impl PassiveReply) -> String {
    let xml = reply.to_xml();
    let len = reply.encoded_len();
    assert_eq!(xml.len(), len, "to_xml");

    let mut vec = Vec::new();
    reply.write_to(&mut vec).unwrap();
    assert_eq!(vec, xml.as_bytes(), "Vec<u8>");

    let mut reused = b"previous reply".to_vec();
    reused.clear();
    reply.write_to(&mut reused).unwrap();
    assert_eq!(reused, xml.as_bytes(), "reused Vec<u8>");

    let mut string = String::new();
    reply.write_to(&mut string).unwrap();
    assert_eq!(string, xml, "String");

    // With room already there, the reply is copied straight into it (and written the other way
    // when a value needs escaping): after what the buffer holds, which is kept.
    let mut roomy = Vec::with_capacity(len + 64);
    roomy.extend_from_slice(b"kept");
    reply.write_to(&mut roomy).unwrap();
    assert_eq!((&roomy[..4], &roomy[4..]), (&b"kept"[..], xml.as_bytes()), "Vec<u8> with room");
    let mut exact_room = String::with_capacity(len);
    reply.write_to(&mut exact_room).unwrap();
    assert_eq!(exact_room, xml, "String with exactly the room");
    // With too little room, the pass into it stops where the room ends, and the reply is
    // written again into room grown for it: what the buffer held before is kept, and nothing of
    // the pass that stopped shows.
    let mut short_room = Vec::with_capacity(4 + len / 2);
    short_room.extend_from_slice(b"kept");
    reply.write_to(&mut short_room).unwrap();
    assert_eq!((&short_room[..4], &short_room[4..]), (&b"kept"[..], xml.as_bytes()), "Vec<u8> with half the room");
    let mut one_short = String::with_capacity(len.saturating_sub(1));
    reply.write_to(&mut one_short).unwrap();
    assert_eq!(one_short, xml, "String one byte short of the room");

    let mut exact = vec![0u8; len];
    let mut slice = SliceSink::new(&mut exact);
    reply.write_to(&mut slice).unwrap();
    assert_eq!((slice.len(), slice.remaining()), (len, 0));
    assert_eq!(exact, xml.as_bytes(), "SliceSink");

    let mut io = IoSink::new(Vec::new());
    reply.write_to(&mut io).unwrap();
    assert_eq!(io.into_inner(), xml.as_bytes(), "IoSink");

    let mut fmt = FmtSink::new(String::new());
    reply.write_to(&mut fmt).unwrap();
    assert_eq!(fmt.into_inner(), xml, "FmtSink");

    #[cfg(feature = "bytes")]
    {
        let mut bytes = bytes::BytesMut::new();
        reply.write_to(&mut bytes).unwrap();
        assert_eq!(&bytes[..], xml.as_bytes(), "BytesMut");
    }

    let boxed: Box<dyn passive_reply::DynReply + '_> = Box::new(reply);
    assert_eq!(boxed.encoded_len(), len);
    assert_eq!(boxed.to_xml(), xml, "BoxedReply");

    assert!(
        !xml.chars()
            .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')),
        "a forbidden character was written: {xml:?}"
    );
    xml
}

fn check(reply: &impl PassiveReply, kind: &str, values: &HashMap<&str, String>, items: &[HashMap<&str, String>]) {
    let xml = check_sinks(reply);
    assert_eq!(parse(&xml), expected(kind, values, items), "{xml:?}");
}

fn header(to: &str, from: &str, time: u64) -> HashMap<&'static str, String> {
    HashMap::from([
        ("ToUserName", to.to_string()),
        ("FromUserName", from.to_string()),
        ("CreateTime", time.to_string()),
    ])
}

fn optional(values: &mut HashMap<&'static str, String>, name: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        values.insert(name, v.clone());
    }
}

fn article() -> impl Strategy<Value = [Option<String>; 4]> {
    [prop::option::of(value()), prop::option::of(value()), prop::option::of(value()), prop::option::of(value())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text(to in value(), from in value(), time in any::<u64>(), content in value()) {
        let reply = Text::new(to.as_str(), from.as_str(), content.as_str()).with_create_time(time);
        let mut values = header(&to, &from, time);
        values.insert("Content", content.clone());
        check(&reply, "text", &values, &[]);
    }

    #[test]
    fn image_and_voice(to in value(), from in value(), time in any::<u64>(), media in value()) {
        let mut values = header(&to, &from, time);
        values.insert("MediaId", media.clone());
        check(&Image::new(to.as_str(), from.as_str(), media.as_str()).with_create_time(time), "image", &values, &[]);
        check(&Voice::new(to.as_str(), from.as_str(), media.as_str()).with_create_time(time), "voice", &values, &[]);
    }

    #[test]
    fn video(
        to in value(), from in value(), time in any::<u64>(), media in value(),
        title in prop::option::of(value()), description in prop::option::of(value()),
    ) {
        let mut reply = Video::new(to.as_str(), from.as_str(), media.as_str()).with_create_time(time);
        reply.title = title.clone().map(Into::into);
        reply.description = description.clone().map(Into::into);
        let mut values = header(&to, &from, time);
        values.insert("MediaId", media.clone());
        optional(&mut values, "Title", &title);
        optional(&mut values, "Description", &description);
        check(&reply, "video", &values, &[]);
    }

    #[test]
    fn music(
        to in value(), from in value(), time in any::<u64>(), thumb in value(),
        title in prop::option::of(value()), description in prop::option::of(value()),
        music_url in prop::option::of(value()), hq_music_url in prop::option::of(value()),
    ) {
        let mut reply = Music::new(to.as_str(), from.as_str(), thumb.as_str()).with_create_time(time);
        reply.title = title.clone().map(Into::into);
        reply.description = description.clone().map(Into::into);
        reply.music_url = music_url.clone().map(Into::into);
        reply.hq_music_url = hq_music_url.clone().map(Into::into);
        let mut values = header(&to, &from, time);
        values.insert("ThumbMediaId", thumb.clone());
        optional(&mut values, "Title", &title);
        optional(&mut values, "Description", &description);
        optional(&mut values, "MusicUrl", &music_url);
        optional(&mut values, "HQMusicUrl", &hq_music_url);
        check(&reply, "music", &values, &[]);
    }

    #[test]
    fn news(to in value(), from in value(), time in any::<u64>(), articles in prop::collection::vec(article(), 1..=10)) {
        let list: Vec<Article> = articles
            .iter()
            .map(|[title, description, pic_url, url]| Article {
                title: title.as_deref().map(Into::into),
                description: description.as_deref().map(Into::into),
                pic_url: pic_url.as_deref().map(Into::into),
                url: url.as_deref().map(Into::into),
            })
            .collect();
        let reply = News::new(to.as_str(), from.as_str(), Articles::try_from(list).unwrap()).with_create_time(time);
        let items: Vec<HashMap<&str, String>> = articles
            .iter()
            .map(|[title, description, pic_url, url]| {
                let mut item = HashMap::new();
                optional(&mut item, "Title", title);
                optional(&mut item, "Description", description);
                optional(&mut item, "PicUrl", pic_url);
                optional(&mut item, "Url", url);
                item
            })
            .collect();
        check(&reply, "news", &header(&to, &from, time), &items);
    }

    #[test]
    fn transfer_customer_service(to in value(), from in value(), time in any::<u64>(), kf in prop::option::of(value())) {
        let mut reply = TransferCustomerService::new(to.as_str(), from.as_str()).with_create_time(time);
        reply.kf_account = kf.clone().map(Into::into);
        let mut values = header(&to, &from, time);
        optional(&mut values, "KfAccount", &kf);
        check(&reply, "transfer_customer_service", &values, &[]);
    }

    #[test]
    fn escaping_alone(s in value()) {
        let mut out = String::new();
        passive_reply::cdata::write_escaped(&mut out, &s).unwrap();
        prop_assert_eq!(out.len(), passive_reply::cdata::escaped_len(&s));
        let section = format!("<v><![CDATA[{out}]]></v>");
        prop_assert_eq!(parse(&section), vec![("v".to_string(), Some(read_back(&s)))]);
    }
}
