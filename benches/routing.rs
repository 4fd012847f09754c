//! The router against the hand-written `match` it replaces, per delivery: the body parsed, the
//! message routed (or matched), the handler run, its reply written. Two deliveries: one that the
//! router's first route takes, one that only its last route (before the fallback) takes, after
//! eight that don't match. `cargo bench -p passive-reply-benches --bench routing` (BENCHMARKS.md has the figures).
//!
//! Instructions, which a shared machine doesn't blur: `bash benches/routing-instructions.sh` runs
//! the bench binary as `routing count N first|last router|match` under callgrind.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use passive_reply::router::{Key, Msg, Router, kind};
use passive_reply::{BoxedReply, Empty, Event, Incoming, Message, PassiveReply, Text};
use passive_reply_benches::ready;

fn reply(msg: &Incoming<'_>, text: &'static str) -> Text<'static> {
    Text::new(msg.from_user_name().to_owned(), msg.to_user_name().to_owned(), text).with_create_time(1)
}

async fn help(msg: Msg<kind::Text>) -> Text<'static> {
    reply(&msg, "help")
}
async fn menu(msg: Msg<kind::Event>) -> Text<'static> {
    reply(&msg, "menu")
}
async fn scene(msg: Msg<kind::Event>) -> Text<'static> {
    reply(&msg, "scene")
}
async fn welcome(msg: Msg<kind::Event>) -> Text<'static> {
    reply(&msg, "welcome")
}
async fn picture(msg: Msg<kind::Image>) -> Text<'static> {
    reply(&msg, "picture")
}
async fn echo(msg: Msg<kind::Text>) -> Text<'static> {
    let content = msg.content().to_owned();
    reply(&msg, "").with_content(content)
}
async fn nothing(_: Incoming<'static>) -> Empty {
    Empty
}

trait WithContent {
    fn with_content(self, content: String) -> Self;
}

impl WithContent for Text<'static> {
    fn with_content(mut self, content: String) -> Self {
        self.content = content.into();
        self
    }
}

/// The same application, written as one `match`.
async fn by_hand(msg: Incoming<'static>) -> BoxedReply<'static> {
    match msg.message() {
        Message::Text { content: "help", .. } => reply(&msg, "help").boxed(),
        Message::Text { content, .. } if content.starts_with("order ") => reply(&msg, "order").boxed(),
        Message::Event(Event::Subscribe { .. }) => reply(&msg, "welcome").boxed(),
        Message::Event(Event::Click { event_key: "MENU_A", .. }) => reply(&msg, "menu").boxed(),
        Message::Event(Event::Click { event_key: "MENU_B", .. }) => reply(&msg, "menu").boxed(),
        Message::Event(Event::Scan { event_key, .. }) if event_key.starts_with("qrscene_") => {
            reply(&msg, "scene").boxed()
        }
        Message::Image { .. } => reply(&msg, "picture").boxed(),
        Message::Event(Event::View { .. }) => reply(&msg, "menu").boxed(),
        Message::Text { content, .. } => {
            let content = content.to_owned();
            reply(&msg, "").with_content(content).boxed()
        }
        _ => Empty.boxed(),
    }
}

const HELP: &str = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
    <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[help]]></Content><MsgId>1</MsgId></xml>";
const CHAT: &str = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
    <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，请问今天营业吗？]]></Content><MsgId>2</MsgId></xml>";

/// The router of the benchmark, and the two deliveries by name.
fn router() -> impl Fn(Incoming<'static>) -> passive_reply::router::ReplyFuture {
    Router::new()
        .text("help", help)
        .text_prefix("order ", help)
        .event("subscribe", welcome)
        .event_key(Key::exact("MENU_A"), menu)
        .event_key(Key::exact("MENU_B"), menu)
        .event_key(Key::prefix("qrscene_"), scene)
        .on::<kind::Image, _, _>(picture)
        .event("VIEW", menu)
        .on::<kind::Text, _, _>(echo)
        .fallback(nothing)
        .into_handler()
}

fn benches(c: &mut Criterion) {
    let routed = router();
    for (name, body) in [("first route", HELP), ("last route", CHAT)] {
        let deliver_routed = || {
            let msg = Incoming::parse(black_box(body)).unwrap().into_owned();
            black_box(ready(routed(msg)).to_xml())
        };
        let deliver_by_hand = || {
            let msg = Incoming::parse(black_box(body)).unwrap().into_owned();
            black_box(ready(by_hand(msg)).to_xml())
        };
        assert_eq!(deliver_routed(), deliver_by_hand(), "the same reply both ways");
        let mut group = c.benchmark_group(format!("routing, {name}"));
        group.bench_function("hand-written match", |b| b.iter(deliver_by_hand));
        group.bench_function("router", |b| b.iter(deliver_routed));
        group.finish();
    }
}

// The macro defines a public function that has no place for documentation.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = routing;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
    }
}
fn main() {
    // `count N first|last router|match`: N deliveries, for callgrind; otherwise criterion.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [count, n, which, how] = args.as_slice()
        && count == "count"
    {
        let n: usize = n.parse().expect("a count");
        let body = if which == "first" { HELP } else { CHAT };
        let routed = router();
        for _ in 0..n {
            let msg = Incoming::parse(black_box(body)).unwrap().into_owned();
            let reply = if how == "router" { ready(routed(msg)) } else { ready(by_hand(msg)) };
            black_box(reply.to_xml());
        }
        return;
    }
    group::routing();
    Criterion::default().configure_from_args().final_summary();
}
