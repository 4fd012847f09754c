//! The platform's documented events and device messages, typed: one sample of each, written from
//! the platform's documented formats (its element names, nesting and sample values; the header is
//! the same for every one), and what each reads as, written by hand.

use passive_reply::{Beacon, CopyrightCheck, CopyrightCheckItem, Event, Incoming, Message, RawElement, SubscribeMsg};

#[macro_use]
mod common;

/// An event delivery with `body` after its Event element.
fn event(event: &str, body: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
         <CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{body}</xml>"
    )
}

fn typed(body: &str) -> Event<'_> {
    // Leaked: the typed event borrows from the message, which the tests compare after.
    let msg = Box::leak(Box::new(Incoming::parse(body).unwrap_or_else(|e| panic!("{e}: {body}"))));
    match msg.message() {
        Message::Event(event) => event,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn mass_send_job_finish() {
    let body = event(
        "MASSSENDJOBFINISH",
        "<MsgID>1000001625</MsgID><Status><![CDATA[err(30003)]]></Status><TotalCount>0</TotalCount>\
         <FilterCount>0</FilterCount><SentCount>0</SentCount><ErrorCount>0</ErrorCount>\
         <CopyrightCheckResult><Count>2</Count><ResultList>\
         <item><ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState>\
         <OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl><OriginalArticleType>1</OriginalArticleType>\
         <CanReprint>1</CanReprint><NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource></item>\
         <item><ArticleIdx>2</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState>\
         <OriginalArticleUrl><![CDATA[Url_2]]></OriginalArticleUrl><OriginalArticleType>1</OriginalArticleType>\
         <CanReprint>1</CanReprint><NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource></item>\
         </ResultList><CheckState>2</CheckState></CopyrightCheckResult>\
         <ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx><ArticleUrl><![CDATA[Url]]></ArticleUrl></item></ResultList></ArticleUrlResult>",
    );
    // The items' fields, in order (the structs are non-exhaustive: the platform adds fields).
    let fields = |i: &CopyrightCheckItem<'_>| {
        (
            i.article_idx,
            i.user_declare_state,
            i.audit_state,
            i.original_article_url.to_owned(),
            i.original_article_type,
            (i.can_reprint, i.need_replace_content, i.need_show_reprint_source),
        )
    };
    let item =
        |idx, url: &str| (Some(idx), Some(0), Some(2), url.to_owned(), Some(1), (Some(true), Some(true), Some(true)));
    let Event::MassSendJobFinish {
        msg_id,
        status,
        total_count,
        filter_count,
        sent_count,
        error_count,
        copyright_check: Some(check),
        ..
    } = typed(&body)
    else {
        panic!("{body}")
    };
    assert_eq!((msg_id, status), (Some(1000001625), "err(30003)"));
    assert_eq!((total_count, filter_count, sent_count, error_count), (Some(0), Some(0), Some(0), Some(0)));
    let check: CopyrightCheck<'_> = check;
    assert_eq!((check.count, check.check_state), (Some(2), Some(2)));
    let results: Vec<_> = check.results.iter().map(fields).collect();
    assert_eq!(results, [item(1, "Url_1"), item(2, "Url_2")]);
    // MsgID is the message's id too: the mass send's retries share a key.
    let msg = Incoming::parse(&body).unwrap();
    assert_eq!(msg.msg_id(), Some(1000001625));
    // Raw access keeps the nesting: the two ResultLists are told apart by their paths.
    assert_eq!(msg.field_at("ArticleUrlResult/ResultList/item/ArticleUrl"), Some("Url"));
    let urls: Vec<_> =
        msg.elements("CopyrightCheckResult/ResultList/item").map(|item| item.field("OriginalArticleUrl")).collect();
    assert_eq!(urls, [Some("Url_1"), Some("Url_2")]);
}

#[test]
fn template_send_job_finish() {
    for status in ["success", "failed:user block", "failed: system failed"] {
        let body =
            event("TEMPLATESENDJOBFINISH", &format!("<MsgID>200163836</MsgID><Status><![CDATA[{status}]]></Status>"));
        assert_is!(typed(&body), Event::TemplateSendJobFinish { msg_id: Some(200163836), status: status });
    }
}

#[test]
fn customer_service_sessions() {
    let create = event("kf_create_session", "<KfAccount><![CDATA[test1@test]]></KfAccount>");
    assert_is!(typed(&create), Event::KfCreateSession { kf_account: "test1@test" });
    let close = event("kf_close_session", "<KfAccount><![CDATA[test1@test]]></KfAccount>");
    assert_is!(typed(&close), Event::KfCloseSession { kf_account: "test1@test" });
    let switch = event(
        "kf_switch_session",
        "<FromKfAccount><![CDATA[test1@test]]></FromKfAccount><ToKfAccount><![CDATA[test2@test]]></ToKfAccount>",
    );
    assert_is!(typed(&switch), Event::KfSwitchSession { from_kf_account: "test1@test", to_kf_account: "test2@test" });
}

/// A subscription's fields, in order: TemplateId, SubscribeStatusString, PopupScene, MsgID,
/// ErrorCode, ErrorStatus.
type Subscription<'a> = (&'a str, Option<&'a str>, Option<u32>, Option<u64>, Option<i64>, Option<&'a str>);

fn subscriptions<'a>(list: &[SubscribeMsg<'a>]) -> Vec<Subscription<'a>> {
    list.iter()
        .map(|s| (s.template_id, s.subscribe_status, s.popup_scene, s.msg_id, s.error_code, s.error_status))
        .collect()
}

#[test]
fn subscription_messages() {
    let popup = event(
        "subscribe_msg_popup_event",
        "<SubscribeMsgPopupEvent>\
         <List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\
         <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>\
         <List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\
         <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene></List>\
         </SubscribeMsgPopupEvent>",
    );
    let Event::SubscribeMsgPopup { list, .. } = typed(&popup) else { panic!("{popup}") };
    assert_eq!(
        subscriptions(&list),
        [
            ("VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", Some("accept"), Some(2), None, None, None),
            ("9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", Some("reject"), Some(2), None, None, None),
        ]
    );
    let change = event(
        "subscribe_msg_change_event",
        "<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\
         <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent>",
    );
    let Event::SubscribeMsgChange { list, .. } = typed(&change) else { panic!("{change}") };
    assert_eq!(
        subscriptions(&list),
        [("VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", Some("reject"), None, None, None, None)]
    );
    let sent = event(
        "subscribe_msg_sent_event",
        "<SubscribeMsgSentEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\
         <MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>\
         </SubscribeMsgSentEvent>",
    );
    let Event::SubscribeMsgSent { list, .. } = typed(&sent) else { panic!("{sent}") };
    assert_eq!(
        subscriptions(&list),
        [(
            "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc",
            None,
            None,
            Some(1700827132819554304),
            Some(0),
            Some("success")
        )]
    );
    // A MsgID inside a List is that message's, not the delivery's.
    assert_eq!(Incoming::parse(&sent).unwrap().msg_id(), None);
}

#[test]
fn verification() {
    let at = "<ExpiredTime>1442401156</ExpiredTime>";
    assert_is!(
        typed(&event("qualification_verify_success", at)),
        Event::QualificationVerifySuccess { expired_time: Some(1442401156) }
    );
    assert_is!(
        typed(&event("naming_verify_success", at)),
        Event::NamingVerifySuccess { expired_time: Some(1442401156) }
    );
    assert_is!(typed(&event("annual_renew", at)), Event::AnnualRenew { expired_time: Some(1442401156) });
    assert_is!(typed(&event("verify_expired", at)), Event::VerifyExpired { expired_time: Some(1442401156) });
    let failed = "<FailTime>1442401122</FailTime><FailReason><![CDATA[by time]]></FailReason>";
    assert_is!(
        typed(&event("qualification_verify_fail", failed)),
        Event::QualificationVerifyFail { fail_time: Some(1442401122), fail_reason: "by time" }
    );
    assert_is!(
        typed(&event("naming_verify_fail", failed)),
        Event::NamingVerifyFail { fail_time: Some(1442401122), fail_reason: "by time" }
    );
}

#[test]
fn shop_wifi_and_beacons() {
    let order = event(
        "merchant_order",
        "<OrderId><![CDATA[test_order_id]]></OrderId><OrderStatus>2</OrderStatus>\
         <ProductId><![CDATA[test_product_id]]></ProductId><SkuInfo><![CDATA[10001:1000012;10002:100021]]></SkuInfo>",
    );
    assert_is!(
        typed(&order),
        Event::MerchantOrder {
            order_id: "test_order_id",
            order_status: Some(2),
            product_id: "test_product_id",
            sku_info: "10001:1000012;10002:100021",
        }
    );
    let wifi = event(
        "WifiConnected",
        "<ConnectTime>0</ConnectTime><ExpireTime>0</ExpireTime><VendorId><![CDATA[3001224419]]></VendorId>\
         <ShopId><![CDATA[PlaceId]]></ShopId><DeviceNo><![CDATA[DeviceNo]]></DeviceNo>",
    );
    // The spelling some samples use for the shop (PlaceId) is read too.
    for wifi in [wifi.clone(), wifi.replace("ShopId", "PlaceId")] {
        assert_is!(
            typed(&wifi),
            Event::WifiConnected {
                connect_time: Some(0),
                expire_time: Some(0),
                vendor_id: "3001224419",
                shop_id: "PlaceId",
                device_no: "DeviceNo",
            },
            "{wifi}"
        );
    }
    let shake = event(
        "ShakearoundUserShake",
        "<ChosenBeacon><Uuid><![CDATA[uuid]]></Uuid><Major>5</Major><Minor>7</Minor><Distance>0.057</Distance></ChosenBeacon>\
         <AroundBeacons>\
         <AroundBeacon><Uuid><![CDATA[uuid]]></Uuid><Major>6</Major><Minor>8</Minor><Distance>166.816</Distance></AroundBeacon>\
         <AroundBeacon><Uuid><![CDATA[uuid]]></Uuid><Major>9</Major><Minor>11</Minor><Distance>15.013</Distance></AroundBeacon>\
         </AroundBeacons>",
    );
    let fields = |b: &Beacon<'_>| (b.uuid.to_owned(), b.major, b.minor, b.distance);
    let beacon = |major, minor, distance| ("uuid".to_owned(), Some(major), Some(minor), Some(distance));
    let Event::ShakearoundUserShake { chosen_beacon: Some(chosen), around_beacons, .. } = typed(&shake) else {
        panic!("{shake}")
    };
    assert_eq!(fields(&chosen), beacon(5, 7, 0.057));
    assert_eq!(around_beacons.iter().map(fields).collect::<Vec<_>>(), [beacon(6, 8, 166.816), beacon(9, 11, 15.013)]);
    let msg = Incoming::parse(&shake).unwrap();
    assert_eq!(msg.field_at("ChosenBeacon/Major"), Some("5"));
    assert_eq!(msg.field("Major"), Some("5"), "by name alone, the first at any depth");
    let around: Vec<Vec<(&str, &str)>> = msg
        .elements("AroundBeacons/AroundBeacon")
        .map(|beacon| beacon.children().map(|c: RawElement<'_>| (c.name(), c.text())).collect())
        .collect();
    assert_eq!(
        around,
        [
            [("Uuid", "uuid"), ("Major", "6"), ("Minor", "8"), ("Distance", "166.816")],
            [("Uuid", "uuid"), ("Major", "9"), ("Minor", "11"), ("Distance", "15.013")],
        ]
    );
}

#[test]
fn invoices() {
    let authorize = event(
        "user_authorize_invoice",
        "<SuccOrderId><![CDATA[1202933957956]]></SuccOrderId><FailOrderId><![CDATA[]]></FailOrderId>\
         <AppId><![CDATA[wx1234567887654321]]></AppId><Source><![CDATA[web]]></Source>",
    );
    assert_is!(
        typed(&authorize),
        Event::UserAuthorizeInvoice {
            succ_order_id: "1202933957956",
            fail_order_id: "",
            app_id: "wx1234567887654321",
            source: "web",
        }
    );
    let status = event(
        "update_invoice_status",
        "<Status>INVOICE_REIMBURSE_INIT</Status><CardId><![CDATA[cardid]]></CardId><Code><![CDATA[code]]></Code>",
    );
    assert_is!(
        typed(&status),
        Event::UpdateInvoiceStatus { status: "INVOICE_REIMBURSE_INIT", card_id: "cardid", code: "code" }
    );
    let title = event(
        "submit_invoice_title",
        "<title><![CDATA[xxx]]></title><phone><![CDATA[xxx]]></phone><tax_no><![CDATA[xxx]]></tax_no>\
         <addr><![CDATA[xxx]]></addr><bank_type><![CDATA[xxx]]></bank_type><bank_no><![CDATA[xxx]]></bank_no>\
         <attach><![CDATA[xxx]]></attach><title_type><![CDATA[InvoiceUserTitleBusinessType]]></title_type>",
    );
    assert_is!(
        typed(&title),
        Event::SubmitInvoiceTitle {
            title: "xxx",
            phone: Some("xxx"),
            tax_no: Some("xxx"),
            addr: Some("xxx"),
            bank_type: Some("xxx"),
            bank_no: Some("xxx"),
            attach: Some("xxx"),
            title_type: "InvoiceUserTitleBusinessType",
        }
    );
}

#[test]
fn cards() {
    let card = "<CardId><![CDATA[pFS7Fjg8kV1IdDz01r4SQwMkuCKc]]></CardId>";
    let code = "<UserCardCode><![CDATA[12312312]]></UserCardCode>";
    let id = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc";
    assert_is!(
        typed(&event("card_pass_check", &format!("{card}<RefuseReason><![CDATA[非法代制]]></RefuseReason>"))),
        Event::CardPassCheck { card_id: id, refuse_reason: Some("非法代制") }
    );
    assert_is!(
        typed(&event("card_not_pass_check", &format!("{card}<RefuseReason><![CDATA[非法代制]]></RefuseReason>"))),
        Event::CardNotPassCheck { card_id: id, refuse_reason: Some("非法代制") }
    );
    let get = event(
        "user_get_card",
        &format!(
            "{card}<IsGiveByFriend>1</IsGiveByFriend>{code}<FriendUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG9]]></FriendUserName>\
             <OuterId>0</OuterId><OldUserCardCode><![CDATA[12312311]]></OldUserCardCode><OuterStr><![CDATA[12b]]></OuterStr>\
             <IsRestoreMemberCard>0</IsRestoreMemberCard><IsRecommendByFriend>0</IsRecommendByFriend>\
             <UnionId>o6_bmasdasdsad6_2sgVt7hMZOPfL</UnionId>"
        ),
    );
    assert_is!(
        typed(&get),
        Event::UserGetCard {
            card_id: id,
            user_card_code: "12312312",
            is_give_by_friend: Some(true),
            friend_user_name: Some("oia2TjuEGTNoeX76QEjQNrcURxG9"),
            outer_id: Some(0),
            outer_str: Some("12b"),
            old_user_card_code: Some("12312311"),
            is_restore_member_card: Some(false),
            is_recommend_by_friend: Some(false),
            union_id: Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"),
        }
    );
    assert_is!(
        typed(&event("user_del_card", &format!("{card}{code}"))),
        Event::UserDelCard { card_id: id, user_card_code: "12312312" }
    );
    let consume = event(
        "user_consume_card",
        &format!(
            "{card}{code}<ConsumeSource><![CDATA[FROM_API]]></ConsumeSource><LocationName><![CDATA[]]></LocationName>\
             <StaffOpenId><![CDATA[oFS7Fjl0WsZ9AMZqrI80nbIq8xrA]]></StaffOpenId><VerifyCode><![CDATA[]]></VerifyCode>\
             <RemarkAmount><![CDATA[]]></RemarkAmount><OuterStr><![CDATA[xxxxx]]></OuterStr>"
        ),
    );
    assert_is!(
        typed(&consume),
        Event::UserConsumeCard {
            card_id: id,
            user_card_code: "12312312",
            consume_source: "FROM_API",
            location_name: Some(""),
            staff_open_id: Some("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"),
            verify_code: Some(""),
            remark_amount: Some(""),
            outer_str: Some("xxxxx"),
        }
    );
    assert_is!(
        typed(&event("user_view_card", &format!("{card}{code}<OuterStr><![CDATA[12b]]></OuterStr>"))),
        Event::UserViewCard { card_id: id, user_card_code: "12312312", outer_str: Some("12b") }
    );
    assert_is!(
        typed(&event("user_enter_session_from_card", &format!("{card}{code}"))),
        Event::UserEnterSessionFromCard { card_id: id, user_card_code: "12312312" }
    );
    assert_is!(
        typed(&event(
            "card_sku_remind",
            &format!("{card}<Detail><![CDATA[the card's quantity is equal to 0]]></Detail>")
        )),
        Event::CardSkuRemind { card_id: id, detail: "the card's quantity is equal to 0" }
    );
}

#[test]
fn menus_into_mini_programs() {
    let view = event("view_miniprogram", "<EventKey><![CDATA[pages/index/index]]></EventKey><MenuId>MENUID</MenuId>");
    assert_is!(typed(&view), Event::ViewMiniprogram { event_key: "pages/index/index", menu_id: Some("MENUID") });
}

/// The device messages (the hardware platform): their own MsgTypes, Content base64-decoded.
#[test]
fn device_messages() {
    let text = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[device_text]]></MsgType><DeviceType><![CDATA[gh_d3e07d51b513]]></DeviceType>\
        <DeviceID><![CDATA[dev1234abcd]]></DeviceID><Content><![CDATA[aGVsbG8=]]></Content><SessionID>9394</SessionID>\
        <MsgID>66588610</MsgID><OpenID><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></OpenID></xml>";
    let msg = Incoming::parse(text).unwrap();
    assert_eq!(msg.msg_id(), Some(66588610));
    assert_is!(
        msg.message(),
        Message::DeviceText {
            device_type: "gh_d3e07d51b513",
            device_id: "dev1234abcd",
            session_id: "9394",
            open_id: "oia2TjuEGTNoeX76QEjQNrcURxG8",
            content: Some(b"hello".to_vec()),
        }
    );
    let not_base64 = text.replace("aGVsbG8=", "not base64!");
    let msg = Incoming::parse(&not_base64).unwrap();
    let Message::DeviceText { content, .. } = msg.message() else { panic!() };
    assert_eq!((content, msg.field("Content")), (None, Some("not base64!")));

    let bind = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[device_event]]></MsgType><Event><![CDATA[bind]]></Event>\
        <DeviceType><![CDATA[gh_d3e07d51b513]]></DeviceType><DeviceID><![CDATA[dev1234abcd]]></DeviceID>\
        <Content><![CDATA[]]></Content><SessionID>9394</SessionID><OpenID><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></OpenID></xml>";
    assert_is!(
        Incoming::parse(bind).unwrap().message(),
        Message::DeviceEvent {
            event: "bind",
            device_type: "gh_d3e07d51b513",
            device_id: "dev1234abcd",
            session_id: Some("9394"),
            open_id: "oia2TjuEGTNoeX76QEjQNrcURxG8",
            content: Some(Vec::new()),
            op_type: None,
        }
    );
    let status = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[device_event]]></MsgType><Event><![CDATA[subscribe_status]]></Event>\
        <DeviceType><![CDATA[gh_d3e07d51b513]]></DeviceType><DeviceID><![CDATA[dev1234abcd]]></DeviceID><OpType>1</OpType>\
        <OpenID><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></OpenID></xml>";
    assert_is!(
        Incoming::parse(status).unwrap().message(),
        Message::DeviceEvent {
            event: "subscribe_status",
            device_type: "gh_d3e07d51b513",
            device_id: "dev1234abcd",
            session_id: None,
            open_id: "oia2TjuEGTNoeX76QEjQNrcURxG8",
            content: None,
            op_type: Some(1),
        }
    );
}

/// Event names match as sent, whatever the case the platform's documents give them in (peers
/// lower-case them all); anything else stays `Unknown`.
#[test]
fn names_and_the_unknown() {
    let lower = event("masssendjobfinish", "<MsgID>1</MsgID><Status>send success</Status>");
    assert!(matches!(typed(&lower), Event::MassSendJobFinish { msg_id: Some(1), status: "send success", .. }));
    let wifi = event("wificonnected", "<VendorId>1</VendorId>");
    assert!(matches!(typed(&wifi), Event::WifiConnected { vendor_id: "1", .. }));
    assert_is!(typed(&event("something_new", "<A>1</A>")), Event::Unknown { event: "something_new" });
}

/// MsgID when the message has a MsgId too: MsgId is the message's id; a MsgID that is not a number
/// is a field and no id.
#[test]
fn msg_id_spellings() {
    let both = event("TEMPLATESENDJOBFINISH", "<MsgId>7</MsgId><MsgID>8</MsgID>");
    let msg = Incoming::parse(&both).unwrap();
    assert_eq!((msg.msg_id(), msg.field("MsgID")), (Some(7), Some("8")));
    let text = event("TEMPLATESENDJOBFINISH", "<MsgID>not a number</MsgID>");
    let msg = Incoming::parse(&text).unwrap();
    assert_eq!((msg.msg_id(), msg.field("MsgID")), (None, Some("not a number")));
}
