//! The kit's own tests: every message and event it builds reads back as the crate's parser reads
//! the platform's; every reply kind reads back; safe and compatible deliveries are accepted by a
//! real endpoint and its encrypted replies opened; the retry schedule on virtual time; a URL over
//! a real socket; the late path recorded by the API double.

use std::time::Duration;

use passive_reply::crypto::MessageCrypto;
use passive_reply::endpoint::Endpoint;
use passive_reply::router::{Msg, Router, kind};
use passive_reply::serve::LateReplies;
use passive_reply::{
    Article, Articles, Event, Image, Incoming, Message, Music, News, PassiveReply, Text, TransferCustomerService,
    Video, Voice,
};
use passive_reply_test::api::{APP_ID, ApiDouble, SECRET};
use passive_reply_test::{Inbound, Mode, Platform, ReadArticle, Reply, ReplyBody, Runs, Service, Url};

const TOKEN: &str = "kit-token";
/// The platform's sample EncodingAESKey and an AppID.
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP: &str = "wx0123456789abcdef";

fn parsed(inbound: &Inbound) -> Incoming<'static> {
    let xml = inbound.to_xml("gh_account", 1_700_000_000, Some(7));
    Incoming::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}")).into_owned()
}

#[test]
fn every_message_kind_reads_back() {
    let msg = parsed(&Inbound::text("a ]]> b <c>").from("oAlice"));
    assert_eq!((msg.to_user_name(), msg.from_user_name(), msg.create_time()), ("gh_account", "oAlice", 1_700_000_000));
    assert_eq!(msg.msg_id(), Some(7));
    let Message::Text { content, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!(content, "a ]]> b <c>");

    let msg = parsed(&Inbound::image("http://p/1.jpg", "m1"));
    let Message::Image { pic_url, media_id, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!((pic_url, media_id), ("http://p/1.jpg", "m1"));

    let msg = parsed(&Inbound::voice("m2", "amr").recognition("你好"));
    let Message::Voice { media_id, format, recognition, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!((media_id, format, recognition), ("m2", "amr", Some("你好")));

    let msg = parsed(&Inbound::video("m3", "t3"));
    let Message::Video { media_id, thumb_media_id, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!((media_id, thumb_media_id), ("m3", "t3"));

    let msg = parsed(&Inbound::short_video("m4", "t4"));
    let Message::ShortVideo { media_id, thumb_media_id, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!((media_id, thumb_media_id), ("m4", "t4"));

    let msg = parsed(&Inbound::location(23.134521, 113.358803, 20, "广州"));
    let Message::Location { location_x, location_y, scale, label, .. } = msg.message() else {
        panic!("{:?}", msg.message())
    };
    assert_eq!((location_x, location_y, scale, label), (Some(23.134521), Some(113.358803), Some(20), "广州"));

    let msg = parsed(&Inbound::link("T", "D", "https://l"));
    let Message::Link { title, description, url, .. } = msg.message() else { panic!("{:?}", msg.message()) };
    assert_eq!((title, description, url), ("T", "D", "https://l"));

    let msg = parsed(&Inbound::message("new_kind").field("Colour", "blue"));
    assert!(matches!(msg.message(), Message::Unknown { msg_type: "new_kind", .. }));
    assert_eq!(msg.field("Colour"), Some("blue"));
}

fn read_event(inbound: &Inbound) -> Incoming<'static> {
    let msg = parsed(inbound);
    assert_eq!(msg.msg_id(), None, "events carry no MsgId");
    msg
}

#[test]
fn every_event_reads_back() {
    let msg = read_event(&Inbound::subscribe());
    assert!(matches!(msg.message(), Message::Event(Event::Subscribe { event_key: None, ticket: None, .. })));
    let msg = read_event(&Inbound::subscribe_from_qr("42", "TICKET"));
    let Message::Event(Event::Subscribe { event_key, ticket, .. }) = msg.message() else { panic!() };
    assert_eq!((event_key, ticket), (Some("qrscene_42"), Some("TICKET")));
    assert!(matches!(read_event(&Inbound::unsubscribe()).message(), Message::Event(Event::Unsubscribe)));
    let msg = read_event(&Inbound::scan("42", "TICKET"));
    let Message::Event(Event::Scan { event_key, ticket, .. }) = msg.message() else { panic!() };
    assert_eq!((event_key, ticket), ("42", Some("TICKET")));
    let msg = read_event(&Inbound::location_report(23.1, 113.3, 119.385));
    let Message::Event(Event::Location { latitude, longitude, precision, .. }) = msg.message() else { panic!() };
    assert_eq!((latitude, longitude, precision), (Some(23.1), Some(113.3), Some(119.385)));
    let msg = read_event(&Inbound::click("V1001_GOOD"));
    let Message::Event(Event::Click { event_key, .. }) = msg.message() else { panic!() };
    assert_eq!(event_key, "V1001_GOOD");
    let msg = read_event(&Inbound::view("https://www.qq.com/"));
    let Message::Event(Event::View { event_key, .. }) = msg.message() else { panic!() };
    assert_eq!(event_key, "https://www.qq.com/");
    for wait in [false, true] {
        let msg = read_event(&Inbound::scan_code(wait, "rselfmenu_0_1", "qrcode", "1"));
        let Message::Event(Event::ScanCode { event, event_key, scan_type, scan_result, .. }) = msg.message() else {
            panic!("{:?}", msg.message())
        };
        let name = if wait { "scancode_waitmsg" } else { "scancode_push" };
        assert_eq!((event, event_key, scan_type, scan_result), (name, "rselfmenu_0_1", "qrcode", "1"));
    }
    let msg =
        read_event(&Inbound::pictures("pic_weixin", "rselfmenu_1_2", &["5a75aaca956d97be686719218f275c6b", "0a9e5a"]));
    let Message::Event(Event::Pictures { event, event_key, count, pic_md5_sums, .. }) = msg.message() else {
        panic!("{:?}", msg.message())
    };
    assert_eq!((event, event_key, count), ("pic_weixin", "rselfmenu_1_2", Some(2)));
    assert_eq!(pic_md5_sums, ["5a75aaca956d97be686719218f275c6b", "0a9e5a"], "two items in PicList");
    let msg = read_event(&Inbound::location_select("rselfmenu_2_0", 23.0, 113.0, 15, "广州市海珠区", "Poi"));
    let Message::Event(Event::LocationSelect { event_key, location_x, location_y, scale, label, poiname, .. }) =
        msg.message()
    else {
        panic!("{:?}", msg.message())
    };
    assert_eq!(
        (event_key, location_x, location_y, scale, label, poiname),
        ("rselfmenu_2_0", Some(23.0), Some(113.0), Some(15), "广州市海珠区", Some("Poi"))
    );
    let msg = read_event(&Inbound::view_miniprogram("pages/index", "M1"));
    let Message::Event(Event::ViewMiniprogram { event_key, menu_id, .. }) = msg.message() else { panic!() };
    assert_eq!((event_key, menu_id), ("pages/index", Some("M1")));
    // Any other, from its elements.
    let msg = parsed(&Inbound::event("TEMPLATESENDJOBFINISH").number("MsgID", 200163836).field("Status", "success"));
    let Message::Event(Event::TemplateSendJobFinish { status, .. }) = msg.message() else {
        panic!("{:?}", msg.message())
    };
    assert_eq!(status, "success");
}

#[test]
fn every_reply_kind_reads_back() {
    let read = |reply: &dyn Fn() -> String| Reply::read(&reply()).unwrap().unwrap();
    let text = read(&|| Text::new("oAlice", "gh", "hi ]]> there").with_create_time(5).to_xml());
    assert_eq!(
        text,
        Reply {
            to: "oAlice".into(),
            from: "gh".into(),
            create_time: 5,
            body: ReplyBody::Text { content: "hi ]]> there".into() }
        }
    );
    assert_eq!(read(&|| Image::new("u", "gh", "m1").to_xml()).body, ReplyBody::Image { media_id: "m1".into() });
    assert_eq!(read(&|| Voice::new("u", "gh", "m2").to_xml()).body, ReplyBody::Voice { media_id: "m2".into() });
    assert_eq!(
        read(&|| Video::new("u", "gh", "m3").title("T").to_xml()).body,
        ReplyBody::Video { media_id: "m3".into(), title: Some("T".into()), description: None }
    );
    assert_eq!(
        read(&|| Music::new("u", "gh", "th").music_url("https://m").to_xml()).body,
        ReplyBody::Music {
            title: None,
            description: None,
            music_url: Some("https://m".into()),
            hq_music_url: None,
            thumb_media_id: "th".into()
        }
    );
    let news = || {
        let mut articles = Articles::new(Article::new().title("First").url("https://a"));
        articles.push(Article::new().title("Second").description("2").pic_url("https://p")).unwrap();
        News::new("u", "gh", articles).to_xml()
    };
    assert_eq!(
        read(&news).body,
        ReplyBody::News(vec![
            ReadArticle { title: Some("First".into()), url: Some("https://a".into()), ..ReadArticle::default() },
            ReadArticle {
                title: Some("Second".into()),
                description: Some("2".into()),
                pic_url: Some("https://p".into()),
                url: None
            },
        ])
    );
    assert_eq!(
        read(&|| TransferCustomerService::new("u", "gh").kf_account("kf1@gh").to_xml()).body,
        ReplyBody::TransferCustomerService { kf_account: Some("kf1@gh".into()) }
    );
    assert_eq!(Reply::read("").unwrap(), None);
    assert_eq!(Reply::read("success").unwrap(), None);
    assert!(Reply::read("<html>oops</html>").is_err());
    let miscounted = news().replace("<ArticleCount>2</ArticleCount>", "<ArticleCount>3</ArticleCount>");
    assert!(Reply::read(&miscounted).unwrap_err().to_string().contains("ArticleCount"));
}

async fn echo(msg: Msg<kind::Text>) -> Text<'static> {
    msg.reply_text(format!("echo {}", msg.content())).into_owned()
}

#[tokio::test]
async fn safe_and_compatible_deliveries_are_accepted_and_their_replies_opened() {
    let crypto = MessageCrypto::new(TOKEN, KEY, APP).unwrap();
    let endpoint = Endpoint::new(TOKEN, Router::new().on::<kind::Text, _, _>(echo).into_handler()).crypto(crypto);
    for platform in
        [Platform::new(TOKEN).safe_mode(KEY, APP).unwrap(), Platform::new(TOKEN).compatible_mode(KEY, APP).unwrap()]
    {
        let delivery = platform.delivery(&Inbound::text("secret").from("oAlice"));
        assert!(delivery.body.contains("<Encrypt>"), "{}", delivery.body);
        // The plaintext beside it in compatible mode only.
        assert_eq!(delivery.body.contains("secret"), platform.mode() == Mode::Compatible, "{}", delivery.body);
        assert!(delivery.query.contains("encrypt_type=aes&msg_signature="), "{}", delivery.query);
        let answer = platform.deliver(&endpoint, &delivery).await;
        assert!(answer.body().contains("<Encrypt>") && !answer.body().contains("echo"), "{}", answer.body());
        let reply = answer.assert_text("echo secret");
        assert_eq!((reply.to.as_str(), reply.from.as_str()), ("oAlice", "gh_account"));
    }
    // The endpoint refuses what another key encrypted, and plaintext in safe mode.
    let other = Platform::new(TOKEN).safe_mode("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", APP).unwrap();
    other.send(&endpoint, Inbound::text("x")).await.assert_refused(400);
    let plaintext = Platform::new(TOKEN).send(&endpoint, Inbound::text("x")).await;
    assert_ne!(plaintext.status(), 200);
    // A platform of another token: refused before anything else.
    Platform::new("another-token").send(&endpoint, Inbound::text("x")).await.assert_refused(403);
}

async fn slow(msg: Msg<kind::Text>) -> Text<'static> {
    let seconds: u64 = msg.content().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    msg.reply_text(format!("after {seconds} s")).into_owned()
}

#[tokio::test(start_paused = true)]
async fn the_retry_schedule_runs_on_virtual_time() {
    let real = std::time::Instant::now();
    let runs = Runs::new();
    // A budget longer than the platform waits: a slow handler's first try goes unanswered.
    let handler = runs.count(Router::new().on::<kind::Text, _, _>(slow).into_handler());
    let endpoint = Endpoint::new(TOKEN, handler).budget(Duration::from_secs(30));
    let platform = Platform::new(TOKEN);

    let tries = platform.send_with_retries(&endpoint, Inbound::text("7")).await;
    tries.assert_answered_on_try(2).assert_text("after 7 s");
    assert_eq!(tries.tries[1].at, Duration::from_secs(5));
    assert_eq!(runs.get(), 1, "the handler ran once over two tries");

    let tries = platform.send_with_retries(&endpoint, Inbound::text("3")).await;
    tries.assert_answered_on_try(1).assert_text("after 3 s");
    assert_eq!(runs.get(), 2);

    let tries = platform.send_with_retries(&endpoint, Inbound::text("20")).await;
    tries.assert_unanswered();
    assert_eq!(tries.tries.iter().map(|t| t.at.as_secs()).collect::<Vec<_>>(), [0, 5, 10]);
    assert_eq!(runs.get(), 3, "the handler ran once over three tries");

    // With the default budget, 4 s: the empty reply on the first try.
    let handler = runs.count(Router::new().on::<kind::Text, _, _>(slow).into_handler());
    let endpoint = Endpoint::new(TOKEN, handler);
    platform.send_with_retries(&endpoint, Inbound::text("9")).await.assert_answered_on_try(1).assert_empty();
    assert!(real.elapsed() < Duration::from_secs(2), "{:?} of real time", real.elapsed());
}

#[tokio::test]
async fn a_url_over_a_real_socket_and_a_tower_service_in_process() {
    let endpoint = Endpoint::new(TOKEN, Router::new().on::<kind::Text, _, _>(echo).into_handler());
    let router = passive_reply::axum::Endpoint::into_router(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = passive_reply::server::Server::new(listener);
    let addr = server.local_addr().unwrap();
    let app = router.clone();
    tokio::spawn(async move { server.serve(app).await.unwrap() });

    let platform = Platform::new(TOKEN);
    platform.send(&Url::from(addr), Inbound::text("over http")).await.assert_text("echo over http");
    // A URL with a query of its own: the platform's goes on after it.
    let url = Url::new(&format!("http://{addr}/?from=kit")).unwrap();
    platform.send(&url, Inbound::text("with a query")).await.assert_text("echo with a query");
    let nowhere = Url::new(&format!("http://{addr}/wechat")).unwrap();
    platform.send(&nowhere, Inbound::text("x")).await.assert_refused(404);
    platform.send(&Service::new(router, "/"), Inbound::text("in process")).await.assert_text("echo in process");
    assert!(Url::new("https://example.com/").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_late_path_is_recorded_by_the_api_double() {
    let api = ApiDouble::new();
    let base = api.serve().await;
    let client = passive_reply::client::Client::builder(APP_ID, SECRET).api_base(&base).build().unwrap();
    async fn slow_ms(msg: Msg<kind::Text>) -> Text<'static> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        msg.reply_text(format!("late {}", msg.content())).into_owned()
    }
    let endpoint = Endpoint::new(TOKEN, Router::new().on::<kind::Text, _, _>(slow_ms).into_handler())
        .budget(Duration::from_millis(100))
        .late_replies(LateReplies::new(client));
    let platform = Platform::new(TOKEN);
    platform.send(&endpoint, Inbound::text("hello").from("oAlice")).await.assert_empty();
    let sends = api.wait_for_sends(1, Duration::from_secs(5)).await;
    sends[0].assert_text("oAlice", "late hello");
    assert!(sends[0].accepted);
    assert_eq!(api.token_requests(), 1);
}
