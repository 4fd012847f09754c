//! The one scan per article of a news reply (`NewsArticle::scan_item`, `ArticleList::scan_items`)
//! in the cases the derive doesn't make: an article implemented by hand, a list that breaks its
//! contract, and a text value that changes between calls.

use std::cell::Cell;

use passive_reply::{Article, ArticleList, Articles, News, NewsArticle, PassiveReply, Sink, SliceSink, TextValue};

mod common;
use common::parse;

/// An article implemented by hand, without the derive: only `item_len` and `write_item`.
struct Handmade {
    title: &'static str,
}

impl NewsArticle for Handmade {
    fn item_len(&self) -> usize {
        "<item><Title><![CDATA[".len() + self.title.len() + "]]></Title></item>".len()
    }

    fn write_item<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        sink.write_str("<item><Title><![CDATA[")?;
        sink.write_str(self.title)?;
        sink.write_str("]]></Title></item>")
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

#[test]
fn a_handmade_article_is_written_by_its_own_methods() {
    let reply = HandmadeNews {
        to_user_name: "toUser",
        from_user_name: "fromUser",
        create_time: 12345678,
        articles: [Handmade { title: "title1" }, Handmade { title: "title" }],
    };
    // The standard message with the same titles, which tests/golden.rs holds to the seed.
    let mut articles = Articles::new(Article::new().title("title1"));
    articles.push(Article::new().title("title")).unwrap();
    let standard = News::new("toUser", "fromUser", articles).with_create_time(12345678).to_xml();

    let mut buf = Vec::new();
    reply.write_to(&mut buf).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), standard);
    // Into room the buffer already has: the handmade article writes itself into it.
    let mut roomy = Vec::with_capacity(4096);
    reply.write_to(&mut roomy).unwrap();
    assert_eq!(String::from_utf8(roomy).unwrap(), standard);
    assert_eq!(reply.to_xml(), standard);
    assert_eq!(reply.encoded_len(), standard.len());
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
    // Without room (scanned first) and with room (checked as copied; an article's values are
    // read once for its length and again to be written), in turn.
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
