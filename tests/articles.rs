//! News articles in the cases the derive doesn't make: an article implemented by hand, a list
//! that breaks its bound, and a text value that changes between calls.

use std::cell::Cell;

use passive_reply::{Article, ArticleList, Articles, News, NewsArticle, PassiveReply, SliceSink, TextValue};

mod common;
use common::parse;

/// An article implemented by hand, without the derive: a title and nothing else.
struct Handmade {
    title: &'static str,
}

impl NewsArticle for Handmade {
    fn title(&self) -> Option<&str> {
        Some(self.title)
    }
}

#[derive(PassiveReply)]
#[reply(news)]
struct HandmadeNews {
    to_user_name: &'static str,
    from_user_name: &'static str,
    create_time: u64,
    articles: [Handmade; 2],
}

fn handmade(first: &'static str, second: &'static str) -> HandmadeNews {
    HandmadeNews {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        articles: [Handmade { title: first }, Handmade { title: second }],
    }
}

/// The standard message with the same titles, which tests/golden.rs holds to the seed.
fn standard(first: &str, second: &str) -> String {
    let mut articles = Articles::new(Article::new().title(first));
    articles.push(Article::new().title(second)).unwrap();
    News::new("toUser", "fromUser", articles).with_create_time(12345678).to_xml()
}

#[test]
fn a_handmade_article_is_written_like_a_derived_one() {
    let reply = handmade("title1", "title");
    let expected = standard("title1", "title");
    let mut buf = Vec::new();
    reply.write_to(&mut buf).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), expected);
    let mut roomy = Vec::with_capacity(4096);
    reply.write_to(&mut roomy).unwrap();
    assert_eq!(String::from_utf8(roomy).unwrap(), expected);
    assert_eq!(reply.to_xml(), expected);
    assert_eq!(reply.encoded_len(), expected.len());
}

#[test]
fn a_handmade_article_is_escaped() {
    // It gives values; the reply writes them, and escapes them, whatever they hold.
    let reply = handmade("a]]><b>", "\u{1}\u{FFFF}");
    let expected = standard("a]]><b>", "\u{1}\u{FFFF}");
    assert!(expected.contains("<Title><![CDATA[a]]]]><![CDATA[><b>]]></Title>"), "{expected}");
    assert!(expected.contains("<Title><![CDATA[\u{FFFD}\u{FFFD}]]></Title>"), "{expected}");
    assert_eq!(reply.to_xml(), expected);
    let mut exact = vec![0u8; expected.len()];
    let mut sink = SliceSink::new(&mut exact);
    reply.write_to(&mut sink).unwrap();
    assert_eq!(sink.as_str(), expected);
    let titles: Vec<_> = parse(&expected).into_iter().filter(|(path, _)| path == "xml/Articles/item/Title").collect();
    assert_eq!(titles.len(), 2);
    assert_eq!(titles[0].1.as_deref(), Some("a]]><b>"));
}

/// A list that breaks `ArticleList`'s contract: it claims at most 10 and gives 12.
struct Overfull(Vec<Article<'static>>);

impl ArticleList<10> for Overfull {
    type Item = Article<'static>;

    fn articles(&self) -> &[Article<'static>] {
        &self.0
    }
}

#[derive(PassiveReply)]
#[reply(news)]
struct OverfullNews {
    to_user_name: &'static str,
    from_user_name: &'static str,
    create_time: u64,
    articles: Overfull,
}

#[test]
fn a_list_longer_than_its_bound_is_written_whole_and_measured_exactly() {
    let titles: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let articles = titles.iter().map(|t| Article::new().title(t.clone())).collect();
    let reply =
        OverfullNews { to_user_name: "to", from_user_name: "from", create_time: 1, articles: Overfull(articles) };

    let xml = reply.to_xml();
    assert_eq!(xml.matches("<item>").count(), 12);
    assert!(xml.contains("<ArticleCount>12</ArticleCount>"));
    for t in &titles {
        assert!(xml.contains(&format!("<Title><![CDATA[{t}]]></Title>")), "{t}");
    }
    assert_eq!(reply.encoded_len(), xml.len());
    // A buffer of exactly the length holds it: the reservation counted the articles past 10.
    let mut exact = vec![0u8; xml.len()];
    let mut sink = SliceSink::new(&mut exact);
    reply.write_to(&mut sink).unwrap();
    assert_eq!(sink.as_str(), xml);
    // And so does room a buffer already has.
    let mut roomy = String::with_capacity(xml.len());
    reply.write_to(&mut roomy).unwrap();
    assert_eq!(roomy, xml);
}

/// A text value that is different each time it is asked: clean, then `]]>`, then clean...
struct Flickering(Cell<u32>);

impl TextValue for Flickering {
    fn as_text(&self) -> &str {
        let n = self.0.get();
        self.0.set(n + 1);
        if n.is_multiple_of(2) { "clean" } else { "x]]>y" }
    }
}

#[derive(NewsArticle)]
struct FlickeringArticle {
    title: Flickering,
    description: Option<Flickering>,
}

#[derive(PassiveReply)]
#[reply(news)]
struct FlickeringNews {
    to_user_name: Flickering,
    from_user_name: &'static str,
    create_time: u64,
    articles: [FlickeringArticle; 2],
}

#[test]
fn a_value_that_changes_between_calls_is_still_escaped() {
    let flicker = || Flickering(Cell::new(0));
    let article = || FlickeringArticle { title: flicker(), description: Some(flicker()) };
    let reply = FlickeringNews {
        to_user_name: flicker(),
        from_user_name: "from",
        create_time: 1,
        articles: [article(), article()],
    };
    // Without room (grown to the length the values gave when they were counted, then written
    // with what they give then) and with room, in turn.
    for round in 0..8 {
        let mut buf = if round % 2 == 0 { Vec::new() } else { Vec::with_capacity(4096) };
        reply.write_to(&mut buf).unwrap();
        let xml = String::from_utf8(buf).unwrap();
        for (path, text) in parse(&xml) {
            if matches!(path.as_str(), "xml/ToUserName" | "xml/Articles/item/Title" | "xml/Articles/item/Description") {
                let text = text.unwrap_or_default();
                assert!(text == "clean" || text == "x]]>y", "round {round}: {path} read back as {text:?} in {xml}");
            }
        }
        // to_xml too, which writes through the same emitter.
        parse(&reply.to_xml());
    }
}
