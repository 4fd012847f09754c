//! The derived emitter against the ways replies are built elsewhere, on the same payloads (in
//! `payloads/`, shared with `instructions.rs`), in one run: `cargo bench -p passive-reply-benches --bench emit`.
//! BENCHMARKS.md has the figures and what each contender checks.
//!
//! Every contender's output is checked against the derived emitter's before it is measured
//! (equal, or equal as XML where a contender writes the same document differently), so no
//! contender is measured doing less than the work asked of it, beyond what BENCHMARKS.md says.

use std::borrow::Cow;
use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use passive_reply::{Incoming, PassiveReply};
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::se::{Serializer, TextFormat};
use serde::{Deserialize, Serialize};

mod payloads;

use payloads::{Digest, Hello, INBOUND, hostile_text, long_text, long_text_6k, news, short_text};

/// Measures `write` again with the 16-lane vectors (SSE2) forced, as on a CPU without AVX2.
fn sse2_forced(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, mut write: impl FnMut()) {
    passive_reply::__private::force_narrow_vectors(true);
    group.bench_function("derived: write_to reused Vec, SSE2 forced", |b| b.iter(&mut write));
    passive_reply::__private::force_narrow_vectors(false);
}

// ---------------------------------------------------------------------------------------------
// The contenders that write.

/// What most SDKs do: the template with the values pasted in, nothing escaped.
fn format_text(h: &Hello) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content></xml>",
        h.to_user_name, h.from_user_name, h.create_time, h.content
    )
}

fn format_news(d: &Digest) -> String {
    let mut items = String::new();
    for p in &d.articles.item {
        items.push_str(&format!(
            "<item><Title><![CDATA[{}]]></Title><Description><![CDATA[{}]]></Description><PicUrl><![CDATA[{}]]></PicUrl><Url><![CDATA[{}]]></Url></item>",
            p.title, p.description, p.pic_url, p.url
        ));
    }
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>{}</ArticleCount><Articles>{}</Articles></xml>",
        d.to_user_name,
        d.from_user_name,
        d.create_time,
        d.articles.item.len(),
        items
    )
}

type QxWriter<'b> = Writer<Cursor<&'b mut Vec<u8>>>;

fn qx_cdata(w: &mut QxWriter, name: &str, value: &str) {
    w.write_event(Event::Start(BytesStart::new(name))).unwrap();
    for piece in BytesCData::escaped(value) {
        w.write_event(Event::CData(piece)).unwrap();
    }
    w.write_event(Event::End(BytesEnd::new(name))).unwrap();
}

fn qx_number(w: &mut QxWriter, name: &str, value: u64) {
    w.write_event(Event::Start(BytesStart::new(name))).unwrap();
    w.write_event(Event::Text(BytesText::new(&value.to_string()))).unwrap();
    w.write_event(Event::End(BytesEnd::new(name))).unwrap();
}

/// quick-xml's `Writer`, event by event, with `BytesCData::escaped` (splits `]]>`, leaves
/// forbidden characters as they are).
fn quick_xml_writer_text(h: &Hello, buf: &mut Vec<u8>) {
    let mut w = Writer::new(Cursor::new(buf));
    w.write_event(Event::Start(BytesStart::new("xml"))).unwrap();
    qx_cdata(&mut w, "ToUserName", h.to_user_name);
    qx_cdata(&mut w, "FromUserName", h.from_user_name);
    qx_number(&mut w, "CreateTime", h.create_time);
    qx_cdata(&mut w, "MsgType", "text");
    qx_cdata(&mut w, "Content", &h.content);
    w.write_event(Event::End(BytesEnd::new("xml"))).unwrap();
}

fn quick_xml_writer_news(d: &Digest, buf: &mut Vec<u8>) {
    let mut w = Writer::new(Cursor::new(buf));
    w.write_event(Event::Start(BytesStart::new("xml"))).unwrap();
    qx_cdata(&mut w, "ToUserName", &d.to_user_name);
    qx_cdata(&mut w, "FromUserName", &d.from_user_name);
    qx_number(&mut w, "CreateTime", d.create_time);
    qx_cdata(&mut w, "MsgType", "news");
    qx_number(&mut w, "ArticleCount", d.articles.item.len() as u64);
    w.write_event(Event::Start(BytesStart::new("Articles"))).unwrap();
    for p in &d.articles.item {
        w.write_event(Event::Start(BytesStart::new("item"))).unwrap();
        qx_cdata(&mut w, "Title", &p.title);
        qx_cdata(&mut w, "Description", &p.description);
        qx_cdata(&mut w, "PicUrl", &p.pic_url);
        qx_cdata(&mut w, "Url", &p.url);
        w.write_event(Event::End(BytesEnd::new("item"))).unwrap();
    }
    w.write_event(Event::End(BytesEnd::new("Articles"))).unwrap();
    w.write_event(Event::End(BytesEnd::new("xml"))).unwrap();
}

/// quick-xml's serde serializer, text as CDATA.
fn quick_xml_serde<T: Serialize>(value: &T, out: &mut String) {
    let mut ser = Serializer::new(out);
    ser.text_format(TextFormat::CData);
    value.serialize(ser).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Parsing.

#[derive(Deserialize, Debug, PartialEq)]
struct SerdeIncoming<'a> {
    #[serde(rename = "ToUserName", borrow)]
    to_user_name: Cow<'a, str>,
    #[serde(rename = "FromUserName", borrow)]
    from_user_name: Cow<'a, str>,
    #[serde(rename = "CreateTime")]
    create_time: u64,
    #[serde(rename = "MsgType", borrow)]
    msg_type: Cow<'a, str>,
    #[serde(rename = "Content", borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(rename = "MsgId")]
    msg_id: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Checks that each contender writes what it is measured writing.

/// The elements of a document and their text, CDATA sections joined: equal for two documents
/// that say the same thing however they split CDATA or write a number.
fn elements(xml: &[u8]) -> Vec<(String, String)> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Start(s) => out.push((String::from_utf8(s.name().as_ref().to_vec()).unwrap(), String::new())),
            Event::CData(t) => out.last_mut().unwrap().1.push_str(std::str::from_utf8(&t).unwrap()),
            Event::Text(t) => out.last_mut().unwrap().1.push_str(std::str::from_utf8(&t).unwrap()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

fn check(name: &str, derived: &str, text_format: &str, writer: &[u8], serde: &str) {
    let same = elements(derived.as_bytes());
    if !derived.contains('\u{FFFD}') {
        // Hostile input: format! writes a broken document, which is the point of it.
        assert_eq!(text_format, derived, "{name}: format!");
    }
    let writer_elements = elements(writer);
    let serde_elements = elements(serde.as_bytes());
    if derived.contains('\u{FFFD}') {
        // quick-xml leaves forbidden characters in; the elements are the same otherwise.
        assert_eq!(writer_elements.len(), same.len(), "{name}: quick-xml Writer");
    } else {
        assert_eq!(writer_elements, same, "{name}: quick-xml Writer");
        assert_eq!(serde_elements, same, "{name}: quick-xml serde");
    }
}

// ---------------------------------------------------------------------------------------------

fn text_payload(c: &mut Criterion, name: &str, reply: &Hello) {
    let expected = reply.to_xml();
    let mut writer_out = Vec::new();
    quick_xml_writer_text(reply, &mut writer_out);
    let mut serde_out = String::new();
    quick_xml_serde(reply, &mut serde_out);
    check(name, &expected, &format_text(reply), &writer_out, &serde_out);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(expected.len() as u64));
    let mut buf = Vec::with_capacity(expected.len() * 2);
    let mut write = || {
        buf.clear();
        black_box(reply).write_to(&mut buf).unwrap();
        black_box(&buf);
    };
    group.bench_function("derived: write_to reused Vec", |b| b.iter(&mut write));
    sse2_forced(&mut group, &mut write);
    group.bench_function("derived: to_xml", |b| b.iter(|| black_box(black_box(reply).to_xml())));
    group.bench_function("memcpy of the known output", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(expected.as_bytes()));
            black_box(&buf);
        })
    });
    group.bench_function("format!", |b| b.iter(|| black_box(format_text(black_box(reply)))));
    let mut qx = Vec::with_capacity(expected.len() * 2);
    group.bench_function("quick-xml Writer", |b| {
        b.iter(|| {
            qx.clear();
            quick_xml_writer_text(black_box(reply), &mut qx);
            black_box(&qx);
        })
    });
    let mut out = String::with_capacity(expected.len() * 2);
    group.bench_function("quick-xml serde", |b| {
        b.iter(|| {
            out.clear();
            quick_xml_serde(black_box(reply), &mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn news_payload(c: &mut Criterion) {
    let name = "news, 10 articles";
    let reply = news();
    let expected = reply.to_xml();
    let mut writer_out = Vec::new();
    quick_xml_writer_news(&reply, &mut writer_out);
    let mut serde_out = String::new();
    quick_xml_serde(&reply, &mut serde_out);
    check(name, &expected, &format_news(&reply), &writer_out, &serde_out);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(expected.len() as u64));
    let mut buf = Vec::with_capacity(expected.len() * 2);
    let mut write = || {
        buf.clear();
        black_box(&reply).write_to(&mut buf).unwrap();
        black_box(&buf);
    };
    group.bench_function("derived: write_to reused Vec", |b| b.iter(&mut write));
    sse2_forced(&mut group, &mut write);
    group.bench_function("derived: to_xml", |b| b.iter(|| black_box(black_box(&reply).to_xml())));
    group.bench_function("memcpy of the known output", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(expected.as_bytes()));
            black_box(&buf);
        })
    });
    group.bench_function("format!", |b| b.iter(|| black_box(format_news(black_box(&reply)))));
    let mut qx = Vec::with_capacity(expected.len() * 2);
    group.bench_function("quick-xml Writer", |b| {
        b.iter(|| {
            qx.clear();
            quick_xml_writer_news(black_box(&reply), &mut qx);
            black_box(&qx);
        })
    });
    let mut out = String::with_capacity(expected.len() * 2);
    group.bench_function("quick-xml serde", |b| {
        b.iter(|| {
            out.clear();
            quick_xml_serde(black_box(&reply), &mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn parse_payload(c: &mut Criterion) {
    let ours = Incoming::parse(INBOUND).unwrap();
    let theirs: SerdeIncoming = quick_xml::de::from_str(INBOUND).unwrap();
    assert_eq!(
        (ours.to_user_name(), ours.from_user_name(), ours.create_time(), ours.msg_type(), ours.msg_id()),
        (&*theirs.to_user_name, &*theirs.from_user_name, theirs.create_time, &*theirs.msg_type, theirs.msg_id)
    );
    assert_eq!(ours.field("Content"), theirs.content.as_deref());

    let mut group = c.benchmark_group("parse an inbound text message");
    group.throughput(Throughput::Bytes(INBOUND.len() as u64));
    group.bench_function(BenchmarkId::from_parameter("Incoming::parse"), |b| {
        b.iter(|| black_box(Incoming::parse(black_box(INBOUND)).unwrap()))
    });
    group.bench_function(BenchmarkId::from_parameter("quick-xml serde"), |b| {
        b.iter(|| black_box(quick_xml::de::from_str::<SerdeIncoming>(black_box(INBOUND)).unwrap()))
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The customer-service form (the JSON a late reply is sent as) against serde_json writing the same
// object from structs with `#[derive(Serialize)]`, the way a hand-rolled late path would.

#[derive(Serialize)]
struct CsText<'a> {
    touser: &'a str,
    msgtype: &'static str,
    text: CsContent<'a>,
}

#[derive(Serialize)]
struct CsContent<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct CsNews<'a> {
    touser: &'a str,
    msgtype: &'static str,
    news: CsArticles<'a>,
}

#[derive(Serialize)]
struct CsArticles<'a> {
    articles: Vec<CsArticle<'a>>,
}

#[derive(Serialize)]
struct CsArticle<'a> {
    title: &'a str,
    description: &'a str,
    url: &'a str,
    picurl: &'a str,
}

fn customer_service<R: PassiveReply, T: Serialize>(c: &mut Criterion, name: &str, reply: &R, theirs: &T) {
    let ours = reply.to_customer_service().unwrap();
    let serde = serde_json::to_string(theirs).unwrap();
    let read = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
    assert_eq!(read(&ours), read(&serde), "{name}: the same object");

    let mut group = c.benchmark_group(format!("customer-service JSON, {name}"));
    group.throughput(Throughput::Bytes(ours.len() as u64));
    let mut buf = Vec::with_capacity(ours.len() * 2);
    group.bench_function("derived: write_customer_service reused Vec", |b| {
        b.iter(|| {
            buf.clear();
            black_box(reply).write_customer_service(&mut buf).unwrap();
            black_box(&buf);
        })
    });
    group.bench_function("derived: to_customer_service", |b| {
        b.iter(|| black_box(black_box(reply).to_customer_service()))
    });
    group.bench_function("serde_json::to_writer reused Vec", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(theirs)).unwrap();
            black_box(&buf);
        })
    });
    group.bench_function("serde_json::to_string", |b| b.iter(|| black_box(serde_json::to_string(black_box(theirs)))));
    group.finish();
}

fn customer_service_payloads(c: &mut Criterion) {
    for (name, hello) in [("short text", short_text()), ("4 KB text", long_text())] {
        let text = passive_reply::Text::new(hello.to_user_name, hello.from_user_name, hello.content.as_ref());
        let theirs =
            CsText { touser: hello.to_user_name, msgtype: "text", text: CsContent { content: &hello.content } };
        customer_service(c, name, &text, &theirs);
    }
    let digest = news();
    let theirs = CsNews {
        touser: &digest.to_user_name,
        msgtype: "news",
        news: CsArticles {
            articles: digest
                .articles
                .item
                .iter()
                .map(|p| CsArticle { title: &p.title, description: &p.description, url: &p.url, picurl: &p.pic_url })
                .collect(),
        },
    };
    customer_service(c, "news, 10 articles", &digest, &theirs);
}

fn benches(c: &mut Criterion) {
    text_payload(c, "short text", &short_text());
    text_payload(c, "4 KB text", &long_text());
    text_payload(c, "6 KB text", &long_text_6k());
    text_payload(c, "hostile text", &hostile_text());
    news_payload(c);
    parse_payload(c);
    customer_service_payloads(c);
}

// The macro defines a public function that has no place for documentation.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = emit;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
    }
}
criterion_main!(group::emit);
