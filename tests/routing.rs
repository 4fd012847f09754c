//! The router: what each route matches, in which order, what its handler gets, the state, the
//! middleware, and the router served by an endpoint over loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use passive_reply::axum::Endpoint;
use passive_reply::router::{Key, Msg, Next, Router, State, kind};
use passive_reply::{BoxedReply, Empty, Event, Incoming, PassiveReply, Text};

mod common;
use common::http::{TOKEN, request, serve, signed_query, text_delivery};

fn text(content: &str) -> Incoming<'static> {
    Incoming::parse(&text_delivery(1, content)).unwrap().into_owned()
}

fn event(event: &str, key: &str) -> Incoming<'static> {
    let body = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>event</MsgType><Event>{event}</Event><EventKey>{key}</EventKey></xml>"
    );
    Incoming::parse(&body).unwrap().into_owned()
}

fn image() -> Incoming<'static> {
    let body = "<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1</CreateTime>\
        <MsgType>image</MsgType><PicUrl>http://p</PicUrl><MediaId>m1</MediaId><MsgId>2</MsgId></xml>";
    Incoming::parse(body).unwrap().into_owned()
}

/// A handler that answers with its name, so the test sees which route ran.
fn named(name: &'static str) -> impl Fn(Incoming<'static>) -> std::future::Ready<Text<'static>> + Clone {
    move |msg| std::future::ready(Text::new(msg.from_user_name().to_owned(), "gh", name).with_create_time(1))
}

/// The text content of a reply, or "" for the empty reply.
async fn answered(
    handler: &impl Fn(Incoming<'static>) -> passive_reply::router::ReplyFuture,
    msg: Incoming<'static>,
) -> String {
    let xml = handler(msg).await.to_xml();
    match xml.split_once("<Content><![CDATA[") {
        Some((_, rest)) => rest.split_once("]]>").unwrap().0.to_owned(),
        None => {
            assert!(xml.is_empty(), "{xml}");
            String::new()
        }
    }
}

async fn content_echo(msg: Msg<kind::Text>) -> Text<'static> {
    msg.reply_text(format!("echo {}", msg.content())).with_create_time(1).into_owned()
}

async fn clicked(msg: Msg<kind::Event>) -> Option<Text<'static>> {
    let Event::Click { event_key, .. } = msg.event() else { return None };
    Some(msg.reply_text(format!("clicked {event_key}")).with_create_time(1).into_owned())
}

async fn image_id(msg: Msg<kind::Image>) -> Text<'static> {
    msg.reply_text(format!("image {} at {}", msg.media_id(), msg.pic_url())).with_create_time(1).into_owned()
}

#[tokio::test]
async fn routes_match_in_the_order_they_were_added() {
    let handler = Router::new()
        .text("help", named("help"))
        .text_prefix("help ", named("help with"))
        .text_regex(regex::Regex::new(r"^order \d+$").unwrap(), named("order"))
        .event("subscribe", named("subscribed"))
        .event_key(Key::exact("MENU_A"), named("menu a"))
        .event_key(Key::prefix("qrscene_"), named("scene"))
        .event("CLICK", clicked)
        .on::<kind::Image, _, _>(image_id)
        .msg_type("new_type", named("new type"))
        .on::<kind::Text, _, _>(content_echo)
        .fallback(named("fallback"))
        .into_handler();
    let cases = [
        (text("help"), "help"),
        (text("help me"), "help with"),
        (text("helpless"), "echo helpless"),
        (text("order 42"), "order"),
        (text("order 42!"), "echo order 42!"),
        // First match: a subscribe with a scene goes to the subscribe route, added first.
        (event("subscribe", "qrscene_7"), "subscribed"),
        (event("SCAN", "qrscene_7"), "scene"),
        (event("CLICK", "MENU_A"), "menu a"),
        (event("click", "MENU_B"), "clicked MENU_B"),
        (event("VIEW", "https://x"), "fallback"),
        (image(), "image m1 at http://p"),
    ];
    for (msg, expected) in cases {
        let shown = format!("{:?} {:?}", msg.msg_type(), msg.fields().collect::<Vec<_>>());
        assert_eq!(answered(&handler, msg).await, expected, "{shown}");
    }
    let new_type = Incoming::parse(
        "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>new_type</MsgType></xml>",
    )
    .unwrap()
    .into_owned();
    assert_eq!(answered(&handler, new_type).await, "new type");
}

async fn followed(msg: Msg<kind::Subscribe>) -> Text<'static> {
    let from = msg.scene().unwrap_or("search");
    msg.reply_text(format!("followed from {from}, ticket {:?}", msg.ticket())).with_create_time(1).into_owned()
}

async fn button(msg: Msg<kind::Click>) -> Text<'static> {
    msg.reply_text(format!("button {}", msg.event_key())).with_create_time(1).into_owned()
}

/// Routes by event kind give their handlers that event's accessors.
#[tokio::test]
async fn event_kinds() {
    let handler = Router::new().on::<kind::Subscribe, _, _>(followed).on::<kind::Click, _, _>(button).into_handler();
    assert_eq!(answered(&handler, event("subscribe", "qrscene_42")).await, "followed from 42, ticket None");
    assert_eq!(answered(&handler, event("subscribe", "")).await, "followed from search, ticket None");
    assert_eq!(answered(&handler, event("CLICK", "V1001_TODAY_MUSIC")).await, "button V1001_TODAY_MUSIC");
    assert_eq!(answered(&handler, event("SCAN", "7")).await, "", "no route for it");
}

#[tokio::test]
async fn without_a_fallback_or_with_none_the_reply_is_empty() {
    let handler = Router::new().event("CLICK", clicked).into_handler();
    assert_eq!(answered(&handler, text("anything")).await, "");
    // A handler's `None` is the empty reply too.
    let handler = Router::new().on::<kind::Event, _, _>(clicked).into_handler();
    assert_eq!(answered(&handler, event("VIEW", "x")).await, "");
}

#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

async fn count(State(counter): State<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    let n = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
    msg.reply_text(format!("{n}")).with_create_time(1).into_owned()
}

#[tokio::test]
async fn handlers_share_the_state() {
    let counter = Counter(Arc::default());
    let handler = Router::with_state(counter.clone()).on::<kind::Text, _, _>(count).into_handler();
    for expected in ["1", "2", "3"] {
        assert_eq!(answered(&handler, text("x")).await, expected);
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn middleware_wraps_the_routes_first_added_outermost() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let outer = {
        let log = log.clone();
        move |msg: Incoming<'static>, next: Next| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!("outer in {}", msg.from_user_name()));
                let reply = next.run(msg).await;
                log.lock().unwrap().push(format!("outer out {}", reply.encoded_len() > 0));
                reply
            }
        }
    };
    async fn blacklist(msg: Incoming<'static>, next: Next) -> BoxedReply<'static> {
        if msg.field("Content") == Some("spam") {
            return Empty.boxed();
        }
        next.run(msg).await
    }
    let handler = Router::new().on::<kind::Text, _, _>(content_echo).layer(outer).layer(blacklist).into_handler();
    assert_eq!(answered(&handler, text("hi")).await, "echo hi");
    assert_eq!(answered(&handler, text("spam")).await, "");
    assert_eq!(*log.lock().unwrap(), ["outer in oUser", "outer out true", "outer in oUser", "outer out false"]);
}

/// The router is the endpoint's handler: served over loopback, with the retry guard in front.
#[tokio::test]
async fn an_endpoint_serves_a_router() {
    let app = Endpoint::new(TOKEN, Router::new().on::<kind::Text, _, _>(content_echo).into_handler()).into_router();
    let addr = serve(app).await;
    let reply = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(5, "routed")).await;
    assert!(reply.body.contains("<Content><![CDATA[echo routed]]></Content>"), "{}", reply.body);
}

/// `kind::Video` matches what its documentation says: `video` and `shortvideo`, nothing else.
#[tokio::test]
async fn the_video_kind_takes_short_videos_too() {
    let handler = Router::new().on::<kind::Video, _, _>(named("video")).fallback(named("other")).into_handler();
    let of = |msg_type: &str| {
        let body = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>{msg_type}</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>3</MsgId></xml>"
        );
        Incoming::parse(&body).unwrap().into_owned()
    };
    assert_eq!(answered(&handler, of("video")).await, "video");
    assert_eq!(answered(&handler, of("shortvideo")).await, "video");
    assert_eq!(answered(&handler, of("videos")).await, "other");
    assert_eq!(answered(&handler, of("image")).await, "other");
}
