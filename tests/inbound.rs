//! Inbound messages: every type the platform sends, in the shapes real deliveries have, and every
//! way a body can be wrong.
//!
//! The samples follow the platform's documented formats for ordinary messages and event pushes;
//! the variations are those seen in deliveries: newlines and indentation between elements, values
//! as CDATA or as plain text, fields in another order, and elements this crate does not know.

use passive_reply::{Event, Incoming, Message, ParseErrorKind, ParseOptions, PassiveReply};

#[macro_use]
mod common;

/// Wraps body elements in a header, as the platform sends it (CDATA, newlines, indentation).
fn delivery(msg_type: &str, body: &str) -> String {
    format!(
        "<xml>\n  <ToUserName><![CDATA[gh_account]]></ToUserName>\n  <FromUserName><![CDATA[oUser]]></FromUserName>\n  \
         <CreateTime>1348831860</CreateTime>\n  <MsgType><![CDATA[{msg_type}]]></MsgType>\n{body}</xml>"
    )
}

fn event(name: &str, body: &str) -> String {
    delivery("event", &format!("  <Event><![CDATA[{name}]]></Event>\n{body}"))
}

fn parse(body: &str) -> Incoming<'_> {
    Incoming::parse(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn check_header(msg: &Incoming, msg_type: &str, msg_id: Option<u64>) {
    assert_eq!(msg.to_user_name(), "gh_account");
    assert_eq!(msg.from_user_name(), "oUser");
    assert_eq!(msg.create_time(), 1348831860);
    assert_eq!(msg.msg_type(), msg_type);
    assert_eq!(msg.msg_id(), msg_id);
}

/// What a case expects of the typed message its body reads as (`assert_is!`).
type MessageCheck = fn(Message<'_>);

/// What a case expects of the typed event its body reads as.
type EventCheck = fn(Event<'_>);

#[test]
fn ordinary_messages() {
    let cases: Vec<(String, &str, MessageCheck)> = vec![
        (
            delivery("text", "  <Content><![CDATA[this is a test]]></Content>\n  <MsgId>1234567890123456</MsgId>\n"),
            "text",
            |actual| assert_is!(actual, Message::Text { content: "this is a test" }),
        ),
        (
            // MsgDataId and Idx come with messages sent from an article; unknown here, kept.
            delivery(
                "text",
                "<Content><![CDATA[你好，世界！]]></Content><MsgId>1234567890123456</MsgId><MsgDataId>xxxx</MsgDataId><Idx>1</Idx>",
            ),
            "text",
            |actual| assert_is!(actual, Message::Text { content: "你好，世界！" }),
        ),
        (
            delivery(
                "text",
                "  <Content>a &lt;b&gt; &amp; &#x4F60;&#22909;</Content>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "text",
            |actual| assert_is!(actual, Message::Text { content: "a <b> & 你好" }),
        ),
        (
            delivery(
                "text",
                "  <Content><![CDATA[line one\nline two]]></Content>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "text",
            |actual| assert_is!(actual, Message::Text { content: "line one\nline two" }),
        ),
        (
            delivery("text", "  <Content><![CDATA[a]]]]><![CDATA[>b]]></Content>\n  <MsgId>1234567890123456</MsgId>\n"),
            "text",
            |actual| assert_is!(actual, Message::Text { content: "a]]>b" }),
        ),
        (
            delivery(
                "image",
                "  <PicUrl><![CDATA[http://mmbiz.example.com/pic]]></PicUrl>\n  <MediaId><![CDATA[media_id]]></MediaId>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "image",
            |actual| {
                assert_is!(actual, Message::Image { pic_url: "http://mmbiz.example.com/pic", media_id: "media_id" })
            },
        ),
        (
            delivery(
                "voice",
                "  <MediaId><![CDATA[media_id]]></MediaId>\n  <Format><![CDATA[amr]]></Format>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "voice",
            |actual| assert_is!(actual, Message::Voice { media_id: "media_id", format: "amr", recognition: None }),
        ),
        (
            delivery(
                "voice",
                "  <MediaId><![CDATA[media_id]]></MediaId>\n  <Format><![CDATA[speex]]></Format>\n  <Recognition><![CDATA[腾讯微信团队]]></Recognition>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "voice",
            |actual| {
                assert_is!(
                    actual,
                    Message::Voice { media_id: "media_id", format: "speex", recognition: Some("腾讯微信团队") }
                )
            },
        ),
        (
            delivery(
                "video",
                "  <MediaId><![CDATA[media_id]]></MediaId>\n  <ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "video",
            |actual| assert_is!(actual, Message::Video { media_id: "media_id", thumb_media_id: "thumb_media_id" }),
        ),
        (
            delivery(
                "shortvideo",
                "  <MediaId><![CDATA[media_id]]></MediaId>\n  <ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "shortvideo",
            |actual| assert_is!(actual, Message::ShortVideo { media_id: "media_id", thumb_media_id: "thumb_media_id" }),
        ),
        (
            delivery(
                "location",
                "  <Location_X>23.134521</Location_X>\n  <Location_Y>113.358803</Location_Y>\n  <Scale>20</Scale>\n  <Label><![CDATA[位置信息]]></Label>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "location",
            |actual| {
                assert_is!(
                    actual,
                    Message::Location {
                        location_x: Some(23.134521),
                        location_y: Some(113.358803),
                        scale: Some(20),
                        label: "位置信息",
                    }
                )
            },
        ),
        (
            delivery(
                "link",
                "  <Title><![CDATA[公众平台官网链接]]></Title>\n  <Description><![CDATA[公众平台官网链接]]></Description>\n  <Url><![CDATA[url]]></Url>\n  <MsgId>1234567890123456</MsgId>\n",
            ),
            "link",
            |actual| {
                assert_is!(
                    actual,
                    Message::Link {
                        title: "公众平台官网链接", description: "公众平台官网链接", url: "url"
                    }
                )
            },
        ),
    ];
    assert_eq!(cases.len(), 12);
    for (body, msg_type, expected) in &cases {
        let msg = parse(body);
        check_header(&msg, msg_type, Some(1234567890123456));
        expected(msg.message());
        // Written out by hand: tag m, then account, sender (each after its length) and MsgId.
        assert_eq!(msg.dedup_key().as_bytes(), b"m:10:gh_account:5:oUser:1234567890123456".as_slice());
        assert_eq!(msg.seed_dedup_key().as_bytes(), b"i:10:gh_account:1234567890123456".as_slice());
    }
}

#[test]
fn variations_of_the_same_message() {
    let bodies = [
        // All on one line, all CDATA.
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>1234567890123456</MsgId></xml>",
        // Plain text values, CRLF line ends, tabs.
        "<xml>\r\n\t<ToUserName>gh_account</ToUserName>\r\n\t<FromUserName>oUser</FromUserName>\r\n\t<CreateTime>1348831860</CreateTime>\r\n\t<MsgType>text</MsgType>\r\n\t<Content>hello</Content>\r\n\t<MsgId>1234567890123456</MsgId>\r\n</xml>\r\n",
        // Shuffled order, an XML declaration, a comment, an unknown element with children.
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><MsgId>1234567890123456</MsgId><!-- from the platform --><Content><![CDATA[hello]]></Content><Extra><Inner>x</Inner></Extra><MsgType>text</MsgType><CreateTime> 1348831860 </CreateTime><FromUserName><![CDATA[oUser]]></FromUserName><ToUserName>gh_account</ToUserName></xml>",
        // Surrounding whitespace and an unknown empty element.
        "\n\n  <xml> <ToUserName>gh_account</ToUserName> <FromUserName>oUser</FromUserName> <CreateTime>1348831860</CreateTime> <MsgType>text</MsgType> <Bizmsgmenuid/> <Content>hello</Content> <MsgId>1234567890123456</MsgId> </xml>  \n",
    ];
    for body in bodies {
        let msg = parse(body);
        check_header(&msg, "text", Some(1234567890123456));
        assert_is!(msg.message(), Message::Text { content: "hello" }, "{body}");
    }
    let extra = parse(bodies[2]);
    assert_eq!(extra.field("Inner"), Some("x"));
    assert_eq!(parse(bodies[3]).field("Bizmsgmenuid"), Some(""));
}

#[test]
fn events() {
    let cases: Vec<(String, EventCheck)> = vec![
        (event("subscribe", ""), |actual| assert_is!(actual, Event::Subscribe { event_key: None, ticket: None })),
        (event("subscribe", "  <EventKey><![CDATA[]]></EventKey>\n"), |actual| {
            assert_is!(actual, Event::Subscribe { event_key: None, ticket: None })
        }),
        (
            event(
                "subscribe",
                "  <EventKey><![CDATA[qrscene_123123]]></EventKey>\n  <Ticket><![CDATA[TICKET]]></Ticket>\n",
            ),
            |actual| assert_is!(actual, Event::Subscribe { event_key: Some("qrscene_123123"), ticket: Some("TICKET") }),
        ),
        (event("unsubscribe", ""), |actual| assert_eq!(actual, Event::Unsubscribe)),
        (
            event("SCAN", "  <EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n  <Ticket><![CDATA[TICKET]]></Ticket>\n"),
            |actual| assert_is!(actual, Event::Scan { event_key: "SCENE_VALUE", ticket: Some("TICKET") }),
        ),
        (
            event(
                "LOCATION",
                "  <Latitude>23.137466</Latitude>\n  <Longitude>113.352425</Longitude>\n  <Precision>119.385040</Precision>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::Location {
                        latitude: Some(23.137466),
                        longitude: Some(113.352425),
                        precision: Some(119.38504)
                    }
                )
            },
        ),
        (event("CLICK", "  <EventKey><![CDATA[EVENTKEY]]></EventKey>\n"), |actual| {
            assert_is!(actual, Event::Click { event_key: "EVENTKEY" })
        }),
        (event("VIEW", "  <EventKey><![CDATA[www.qq.com]]></EventKey>\n  <MenuId>MENUID</MenuId>\n"), |actual| {
            assert_is!(actual, Event::View { event_key: "www.qq.com", menu_id: Some("MENUID") })
        }),
        (event("VIEW", "<EventKey>www.qq.com</EventKey>"), |actual| {
            assert_is!(actual, Event::View { event_key: "www.qq.com", menu_id: None })
        }),
        (
            event(
                "scancode_push",
                "<EventKey><![CDATA[6]]></EventKey>\n<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[1]]></ScanResult>\n</ScanCodeInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::ScanCode { event: "scancode_push", event_key: "6", scan_type: "qrcode", scan_result: "1" }
                )
            },
        ),
        (
            event(
                "scancode_waitmsg",
                "<EventKey><![CDATA[6]]></EventKey>\n<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[2]]></ScanResult>\n</ScanCodeInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::ScanCode {
                        event: "scancode_waitmsg",
                        event_key: "6",
                        scan_type: "qrcode",
                        scan_result: "2"
                    }
                )
            },
        ),
        (
            event(
                "pic_sysphoto",
                "<EventKey><![CDATA[6]]></EventKey>\n<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::Pictures {
                        event: "pic_sysphoto",
                        event_key: "6",
                        count: Some(1),
                        pic_md5_sums: vec!["1b5f7c23b5bf75682a53e7b6d163e185"],
                    }
                )
            },
        ),
        (
            event(
                "pic_photo_or_album",
                "<EventKey><![CDATA[6]]></EventKey>\n<SendPicsInfo><Count>2</Count>\n<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>\n</item>\n<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::Pictures {
                        event: "pic_photo_or_album",
                        event_key: "6",
                        count: Some(2),
                        pic_md5_sums: vec!["5a75aaca956d97be686719218f275c6b", "1b5f7c23b5bf75682a53e7b6d163e185"],
                    }
                )
            },
        ),
        (
            event(
                "pic_weixin",
                "<EventKey><![CDATA[6]]></EventKey>\n<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::Pictures {
                        event: "pic_weixin",
                        event_key: "6",
                        count: Some(1),
                        pic_md5_sums: vec!["5a75aaca956d97be686719218f275c6b"],
                    }
                )
            },
        ),
        (
            event(
                "location_select",
                "<EventKey><![CDATA[6]]></EventKey>\n<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n<Location_Y><![CDATA[113]]></Location_Y>\n<Scale><![CDATA[15]]></Scale>\n<Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>\n<Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>\n",
            ),
            |actual| {
                assert_is!(
                    actual,
                    Event::LocationSelect {
                        event_key: "6",
                        location_x: Some(23.0),
                        location_y: Some(113.0),
                        scale: Some(15),
                        label: " 广州市海珠区客村艺苑路 106号",
                        poiname: Some(""),
                    }
                )
            },
        ),
        // Lower-case event names, as some deliveries have them.
        (event("click", "<EventKey>K</EventKey>"), |actual| assert_is!(actual, Event::Click { event_key: "K" })),
    ];
    assert_eq!(cases.len(), 16);
    for (body, expected) in &cases {
        let msg = parse(body);
        check_header(&msg, "event", None);
        let Message::Event(event) = msg.message() else { panic!("not an event: {body}") };
        expected(event);
        // The platform's rule: sender and time, the same for every event here.
        assert_eq!(msg.seed_dedup_key().as_bytes(), b"t:10:gh_account:5:oUser:1348831860".as_slice());
        // The default adds Event and EventKey: each of these events has its own key.
        let default = msg.dedup_key();
        let (event, event_key) = (msg.field("Event").unwrap(), msg.field("EventKey").unwrap_or(""));
        let expected =
            format!("e:10:gh_account:5:oUser:1348831860:{}:{event}:{}:{event_key}", event.len(), event_key.len());
        assert_eq!(default.as_bytes(), expected.as_bytes());
    }
}

#[test]
fn unknown_types_are_kept() {
    let body = delivery("miniprogrampage", "<Title>t</Title><AppId>wx123</AppId><MsgId>7</MsgId>");
    let msg = parse(&body);
    assert_is!(msg.message(), Message::Unknown { msg_type: "miniprogrampage" });
    assert_eq!(msg.fields().collect::<Vec<_>>(), [("Title", "t"), ("AppId", "wx123")]);
    assert_eq!(msg.msg_id(), Some(7));

    // An event this crate doesn't type (a card given to a friend; `user_get_card` is typed).
    let body = event("user_gifting_card", "<CardId><![CDATA[pFS7Fjg]]></CardId><IsReturnBack>0</IsReturnBack>");
    let msg = parse(&body);
    assert_is!(msg.message(), Message::Event(Event::Unknown { event: "user_gifting_card" }));
    assert_eq!(msg.field("CardId"), Some("pFS7Fjg"));
}

#[test]
fn values_borrow_from_the_body_unless_they_need_unescaping() {
    let body = delivery("text", "<Content><![CDATA[hello]]></Content><Plain>a &amp; b</Plain>");
    let msg = parse(&body);
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    let borrowed = |s: &str| range.contains(&(s.as_ptr() as usize));
    assert!(borrowed(msg.to_user_name()) && borrowed(msg.from_user_name()) && borrowed(msg.msg_type()));
    assert!(borrowed(msg.field("Content").unwrap()));
    assert_eq!(msg.field("Plain"), Some("a & b"));
    assert!(!borrowed(msg.field("Plain").unwrap()));
    // And owned, it outlives the body.
    let owned: Incoming<'static> = msg.clone().into_owned();
    drop(body);
    assert_eq!(owned.field("Content"), Some("hello"));
    assert_eq!(owned.msg_type(), "text");
    // A MsgType this crate doesn't know is kept as it came.
    let body = delivery("newkind", "<Content>hi</Content>");
    let owned = parse(&body).into_owned();
    drop(body);
    assert_eq!((owned.msg_type(), owned.kind()), ("newkind", None));
}

#[test]
fn each_kind_is_spelled_as_it_is_read() {
    let spellings =
        ["text", "image", "voice", "video", "shortvideo", "location", "link", "event", "device_text", "device_event"];
    for spelling in spellings {
        let kind = passive_reply::MsgKind::of(spelling).expect("a kind the crate knows");
        assert_eq!(kind.as_str(), spelling);
    }
}

#[test]
fn replies_swap_the_addresses() {
    let body = delivery("text", "<Content>hi</Content><MsgId>1</MsgId>");
    let msg = parse(&body);
    let before = passive_reply::now();
    let reply = msg.reply_text("hello back");
    let again = parse(Box::leak(reply.to_xml().into_boxed_str()));
    assert_eq!((again.to_user_name(), again.from_user_name()), ("oUser", "gh_account"));
    assert!(again.create_time() >= before && again.create_time() <= passive_reply::now());
    assert_is!(again.message(), Message::Text { content: "hello back" });

    for (xml, msg_type) in [
        (msg.reply_image("m").to_xml(), "image"),
        (msg.reply_voice("m").to_xml(), "voice"),
        (msg.reply_video("m").title("t").to_xml(), "video"),
        (msg.reply_music("thumb").to_xml(), "music"),
        (msg.reply_news(passive_reply::Articles::new(passive_reply::Article::new().title("t"))).to_xml(), "news"),
    ] {
        let parsed = Incoming::parse(&xml).unwrap();
        assert_eq!(
            (parsed.to_user_name(), parsed.from_user_name(), parsed.msg_type()),
            ("oUser", "gh_account", msg_type)
        );
    }
}

/// One case per way a body can be wrong, with the offset each is reported at.
#[test]
fn bad_bodies() {
    let header =
        "<ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>";
    let json = "  {\"ToUserName\": \"a\"}";
    let truncated = format!("<xml>{header}<Content><![CDATA[hel");
    let truncated_tag = format!("<xml>{header}<Content>hello</Con");
    let unclosed_root = format!("<xml>{header}");
    let missing = "<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
    let time = "<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1348831860000.5</CreateTime><MsgType>text</MsgType></xml>";
    let msg_id = format!("<xml>{header}<MsgId>12abc</MsgId></xml>");
    let twice = format!("<xml>{header}<FromUserName>v</FromUserName></xml>");
    let dtd = format!("<!DOCTYPE xml [<!ENTITY boom \"boom\">]><xml>{header}<Content>&boom;</Content></xml>");
    let entity = format!("<xml>{header}<Content>&boom;</Content></xml>");
    let mismatched = format!("<xml>{header}<Content>x</Title></xml>");
    let trailing = format!("<xml>{header}</xml><xml></xml>");
    let deep = format!("<xml>{header}{}{}</xml>", "<a>".repeat(16), "</a>".repeat(16));
    let cases: Vec<(&str, ParseErrorKind, usize)> = vec![
        ("", ParseErrorKind::Empty, 0),
        (" \n\t", ParseErrorKind::Empty, 0),
        ("hello", ParseErrorKind::NotXml("text outside the root element"), 0),
        (json, ParseErrorKind::Json, 2),
        ("[1, 2]", ParseErrorKind::Json, 0),
        (&truncated, ParseErrorKind::Truncated, truncated.len()),
        (&truncated_tag, ParseErrorKind::Truncated, truncated_tag.len()),
        (&unclosed_root, ParseErrorKind::Truncated, unclosed_root.len()),
        ("<root><ToUserName>a</ToUserName></root>", ParseErrorKind::WrongRoot, 0),
        (missing, ParseErrorKind::MissingField("FromUserName"), missing.len() - "</xml>".len()),
        (time, ParseErrorKind::InvalidNumber("CreateTime"), time.find("<CreateTime>").unwrap()),
        (&msg_id, ParseErrorKind::InvalidNumber("MsgId"), msg_id.find("<MsgId>").unwrap()),
        (&twice, ParseErrorKind::DuplicateField("FromUserName"), twice.rfind("<FromUserName>").unwrap()),
        (&dtd, ParseErrorKind::Dtd, 0),
        (&entity, ParseErrorKind::UnknownEntity, entity.find("&boom;").unwrap()),
        (
            &mismatched,
            ParseErrorKind::NotXml("an end tag does not match the element it closes"),
            mismatched.find("</Title>").unwrap(),
        ),
        (&trailing, ParseErrorKind::TrailingContent, trailing.len() - "<xml></xml>".len()),
        (&deep, ParseErrorKind::TooDeep, deep.find("<a>").unwrap() + 15 * 3),
    ];
    for (body, kind, offset) in cases {
        let err = Incoming::parse(body).expect_err(body);
        assert_eq!((err.kind(), err.offset()), (kind, offset), "{body:?}: {err}");
        assert!(err.to_string().ends_with(&format!("(at byte {offset})")), "{err}");
    }

    // Over the size cap: refused before it is read, at the cap.
    let big = format!("<xml>{header}<Content>{}</Content></xml>", "x".repeat(DEFAULT));
    let err = Incoming::parse(&big).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ParseErrorKind::TooLarge { limit: DEFAULT }, DEFAULT));
    let small = format!("<xml>{header}</xml>");
    let err = Incoming::parse_with(&small, ParseOptions::new().max_body_len(10)).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ParseErrorKind::TooLarge { limit: 10 }, 10));
    assert_eq!(err.to_string(), "the body is longer than 10 bytes (at byte 10)");
    assert!(Incoming::parse_with(&small, ParseOptions::new().max_body_len(small.len())).is_ok());
}

const DEFAULT: usize = passive_reply::DEFAULT_MAX_BODY_LEN;

#[test]
fn a_billion_laughs_is_refused_not_expanded() {
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content></xml>"#;
    let err = Incoming::parse(body).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ParseErrorKind::Dtd, body.find("<!DOCTYPE").unwrap()));
}

/// The cases peers' users reported: two events from one user in one second, and one MsgId sent
/// by two users. The default key tells them apart; a retry (the same body again, whitespace and
/// all) still gets the same key; the platform's rule, kept as `seed_dedup_key`, is what confused
/// them.
#[test]
fn dedup_keys_tell_apart_what_the_platforms_rule_confuses() {
    let subscribe = event("subscribe", "  <EventKey><![CDATA[qrscene_7]]></EventKey>\n  <Ticket>T</Ticket>\n");
    let scan = event("SCAN", "  <EventKey><![CDATA[7]]></EventKey>\n  <Ticket>T</Ticket>\n");
    let location = event("LOCATION", "  <Latitude>23.1</Latitude>\n  <Longitude>113.3</Longitude>\n");
    let click = event("CLICK", "  <EventKey><![CDATA[MENU_1]]></EventKey>\n");
    let text = |from: &str| {
        format!(
            "<xml><ToUserName>gh_account</ToUserName><FromUserName>{from}</FromUserName>\
             <CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>hi</Content>\
             <MsgId>6054768590064713728</MsgId></xml>"
        )
    };
    let (alice, bob) = (text("oAlice"), text("oBob"));
    let pairs = [(&subscribe, &scan), (&location, &click), (&alice, &bob)];
    for (first, second) in pairs {
        let (first, second) = (parse(first), parse(second));
        assert_ne!(first.dedup_key(), second.dedup_key(), "{first:?}");
        assert_eq!(
            first.seed_dedup_key(),
            second.seed_dedup_key(),
            "the platform's rule takes one for a retry of the other"
        );
    }
    for body in [&subscribe, &scan, &location, &click, &alice, &bob] {
        // A retry is the same body: the same key, by either rule.
        let copy = body.clone();
        let (first, retry) = (parse(body), parse(&copy));
        assert_eq!(first.dedup_key(), retry.dedup_key());
        assert_eq!(first.seed_dedup_key(), retry.seed_dedup_key());
        // And no rule's key equals another rule's.
        assert_ne!(first.dedup_key(), first.seed_dedup_key());
    }
    // The account is part of every key: the same user and MsgId sent to two accounts are two
    // deliveries (two accounts may share a store).
    let other_account = alice.replace("gh_account", "gh_other");
    assert_ne!(parse(&alice).dedup_key(), parse(&other_account).dedup_key());
    assert_ne!(parse(&alice).seed_dedup_key(), parse(&other_account).seed_dedup_key());
}
