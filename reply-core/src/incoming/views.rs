//! Typed access to a delivery's body: [`Message`] by MsgType, [`Event`] by Event.

use super::message::{Incoming, RawElement};

/// Typed access to a message's body, by MsgType (and Event, for events).
///
/// Text fields the platform always sends are `&str` (empty if a delivery leaves one out);
/// optional ones are `Option<&str>`; numbers are `None` when absent or not numbers, and the raw
/// text is still in [`Incoming::field`].
///
/// New kinds, and new fields of a kind, come in minor releases: the enum and each of its
/// struct-like variants are `#[non_exhaustive]`, so a `match` has a `_` arm and a pattern ends
/// with `..` (`Message::Text { content, .. }`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'m> {
    /// `text`.
    #[non_exhaustive]
    Text {
        /// Content.
        content: &'m str,
    },
    /// `image`.
    #[non_exhaustive]
    Image {
        /// PicUrl.
        pic_url: &'m str,
        /// MediaId.
        media_id: &'m str,
    },
    /// `voice`.
    #[non_exhaustive]
    Voice {
        /// MediaId.
        media_id: &'m str,
        /// Format: amr, speex, …
        format: &'m str,
        /// Recognition: the speech as text, when recognition is on.
        recognition: Option<&'m str>,
    },
    /// `video`.
    #[non_exhaustive]
    Video {
        /// MediaId.
        media_id: &'m str,
        /// ThumbMediaId.
        thumb_media_id: &'m str,
    },
    /// `shortvideo`.
    #[non_exhaustive]
    ShortVideo {
        /// MediaId.
        media_id: &'m str,
        /// ThumbMediaId.
        thumb_media_id: &'m str,
    },
    /// `location`.
    #[non_exhaustive]
    Location {
        /// Location_X: latitude.
        location_x: Option<f64>,
        /// Location_Y: longitude.
        location_y: Option<f64>,
        /// Scale: the map's zoom.
        scale: Option<u32>,
        /// Label: the place's name.
        label: &'m str,
    },
    /// `link`.
    #[non_exhaustive]
    Link {
        /// Title.
        title: &'m str,
        /// Description.
        description: &'m str,
        /// Url.
        url: &'m str,
    },
    /// `event`.
    Event(Event<'m>),
    /// `device_text`: a message from a device (the hardware platform).
    #[non_exhaustive]
    DeviceText {
        /// DeviceType.
        device_type: &'m str,
        /// DeviceID.
        device_id: &'m str,
        /// SessionID.
        session_id: &'m str,
        /// OpenID: the user.
        open_id: &'m str,
        /// Content, base64-decoded; `None` when it is not base64 (its text is in
        /// [`Incoming::field`]).
        content: Option<Vec<u8>>,
    },
    /// `device_event`: a device was bound or unbound (`bind`, `unbind`), or a user subscribed to
    /// its status (`subscribe_status`, `unsubscribe_status`).
    #[non_exhaustive]
    DeviceEvent {
        /// Event.
        event: &'m str,
        /// DeviceType.
        device_type: &'m str,
        /// DeviceID.
        device_id: &'m str,
        /// SessionID, when given.
        session_id: Option<&'m str>,
        /// OpenID: the user.
        open_id: &'m str,
        /// Content, base64-decoded, when given and base64.
        content: Option<Vec<u8>>,
        /// OpType, for the status events.
        op_type: Option<u32>,
    },
    /// A MsgType this crate does not know; its elements are in [`Incoming::fields`].
    #[non_exhaustive]
    Unknown {
        /// The MsgType.
        msg_type: &'m str,
    },
}

/// An event (MsgType `event`), by its Event element.
///
/// Like [`Message`], the enum and its struct-like variants are `#[non_exhaustive]`: patterns end
/// with `..` (`Event::Click { event_key, .. }`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'m> {
    /// `subscribe`: the user followed the account; from a QR code with a scene, EventKey
    /// (`qrscene_…`) and Ticket are given.
    #[non_exhaustive]
    Subscribe {
        /// EventKey.
        event_key: Option<&'m str>,
        /// Ticket.
        ticket: Option<&'m str>,
    },
    /// `unsubscribe`: the user unfollowed the account.
    Unsubscribe,
    /// `SCAN`: a follower scanned a QR code with a scene.
    #[non_exhaustive]
    Scan {
        /// EventKey: the scene.
        event_key: &'m str,
        /// Ticket.
        ticket: Option<&'m str>,
    },
    /// `LOCATION`: the user's location, reported when they enter the conversation.
    #[non_exhaustive]
    Location {
        /// Latitude.
        latitude: Option<f64>,
        /// Longitude.
        longitude: Option<f64>,
        /// Precision.
        precision: Option<f64>,
    },
    /// `CLICK`: a menu button.
    #[non_exhaustive]
    Click {
        /// EventKey: the button's key.
        event_key: &'m str,
    },
    /// `VIEW`: a menu link.
    #[non_exhaustive]
    View {
        /// EventKey: the link's URL.
        event_key: &'m str,
        /// MenuId, when given.
        menu_id: Option<&'m str>,
    },
    /// `scancode_push`, `scancode_waitmsg`: a menu button that scans a code.
    #[non_exhaustive]
    ScanCode {
        /// Which of the two: `scancode_push` or `scancode_waitmsg`.
        event: &'m str,
        /// EventKey.
        event_key: &'m str,
        /// ScanCodeInfo/ScanType: `qrcode`, `barcode`, …
        scan_type: &'m str,
        /// ScanCodeInfo/ScanResult.
        scan_result: &'m str,
    },
    /// `pic_sysphoto`, `pic_photo_or_album`, `pic_weixin`: a menu button that sends pictures.
    #[non_exhaustive]
    Pictures {
        /// Which of the three.
        event: &'m str,
        /// EventKey.
        event_key: &'m str,
        /// SendPicsInfo/Count.
        count: Option<u32>,
        /// The PicMd5Sum of each SendPicsInfo/PicList/item.
        pic_md5_sums: Vec<&'m str>,
    },
    /// `location_select`: a menu button that sends a location.
    #[non_exhaustive]
    LocationSelect {
        /// EventKey.
        event_key: &'m str,
        /// SendLocationInfo/Location_X.
        location_x: Option<f64>,
        /// SendLocationInfo/Location_Y.
        location_y: Option<f64>,
        /// SendLocationInfo/Scale.
        scale: Option<u32>,
        /// SendLocationInfo/Label.
        label: &'m str,
        /// SendLocationInfo/Poiname, when given.
        poiname: Option<&'m str>,
    },
    /// `view_miniprogram`: a menu button that opens a mini program.
    #[non_exhaustive]
    ViewMiniprogram {
        /// EventKey: the mini program's page path.
        event_key: &'m str,
        /// MenuId, when given.
        menu_id: Option<&'m str>,
    },
    /// `MASSSENDJOBFINISH`: a mass send finished.
    #[non_exhaustive]
    MassSendJobFinish {
        /// MsgID: the mass send's id (also [`Incoming::msg_id`]).
        msg_id: Option<u64>,
        /// Status: `send success`, `send fail`, `err(num)`.
        status: &'m str,
        /// TotalCount: the users targeted.
        total_count: Option<u64>,
        /// FilterCount: those it was sent to after filtering.
        filter_count: Option<u64>,
        /// SentCount: those it reached.
        sent_count: Option<u64>,
        /// ErrorCount: those it failed to reach.
        error_count: Option<u64>,
        /// CopyrightCheckResult: the originality check, when the send had one.
        copyright_check: Option<CopyrightCheck<'m>>,
    },
    /// `TEMPLATESENDJOBFINISH`: a template message was delivered, or not.
    #[non_exhaustive]
    TemplateSendJobFinish {
        /// MsgID: the template message's id (also [`Incoming::msg_id`]).
        msg_id: Option<u64>,
        /// Status: `success`, `failed:user block`, `failed: system failed`.
        status: &'m str,
    },
    /// `kf_create_session`: a customer-service agent took the conversation.
    #[non_exhaustive]
    KfCreateSession {
        /// KfAccount: the agent.
        kf_account: &'m str,
    },
    /// `kf_close_session`: a customer-service agent closed the conversation.
    #[non_exhaustive]
    KfCloseSession {
        /// KfAccount: the agent.
        kf_account: &'m str,
    },
    /// `kf_switch_session`: the conversation went from one agent to another.
    #[non_exhaustive]
    KfSwitchSession {
        /// FromKfAccount.
        from_kf_account: &'m str,
        /// ToKfAccount.
        to_kf_account: &'m str,
    },
    /// `subscribe_msg_popup_event`: the user answered the subscription pop-up, a `List` per
    /// template.
    #[non_exhaustive]
    SubscribeMsgPopup {
        /// Each SubscribeMsgPopupEvent/List.
        list: Vec<SubscribeMsg<'m>>,
    },
    /// `subscribe_msg_change_event`: the user changed a subscription in the settings.
    #[non_exhaustive]
    SubscribeMsgChange {
        /// Each SubscribeMsgChangeEvent/List.
        list: Vec<SubscribeMsg<'m>>,
    },
    /// `subscribe_msg_sent_event`: a subscription message was sent.
    #[non_exhaustive]
    SubscribeMsgSent {
        /// Each SubscribeMsgSentEvent/List.
        list: Vec<SubscribeMsg<'m>>,
    },
    /// `qualification_verify_success`: the account's qualification was verified.
    #[non_exhaustive]
    QualificationVerifySuccess {
        /// ExpiredTime: when it expires, in seconds since the Unix epoch.
        expired_time: Option<u64>,
    },
    /// `qualification_verify_fail`.
    #[non_exhaustive]
    QualificationVerifyFail {
        /// FailTime, in seconds since the Unix epoch.
        fail_time: Option<u64>,
        /// FailReason.
        fail_reason: &'m str,
    },
    /// `naming_verify_success`: the account's name was verified.
    #[non_exhaustive]
    NamingVerifySuccess {
        /// ExpiredTime, in seconds since the Unix epoch.
        expired_time: Option<u64>,
    },
    /// `naming_verify_fail`.
    #[non_exhaustive]
    NamingVerifyFail {
        /// FailTime, in seconds since the Unix epoch.
        fail_time: Option<u64>,
        /// FailReason.
        fail_reason: &'m str,
    },
    /// `annual_renew`: the yearly verification is due.
    #[non_exhaustive]
    AnnualRenew {
        /// ExpiredTime, in seconds since the Unix epoch.
        expired_time: Option<u64>,
    },
    /// `verify_expired`: the verification expired.
    #[non_exhaustive]
    VerifyExpired {
        /// ExpiredTime, in seconds since the Unix epoch.
        expired_time: Option<u64>,
    },
    /// `merchant_order`: an order in the account's shop was paid.
    #[non_exhaustive]
    MerchantOrder {
        /// OrderId.
        order_id: &'m str,
        /// OrderStatus.
        order_status: Option<u32>,
        /// ProductId.
        product_id: &'m str,
        /// SkuInfo.
        sku_info: &'m str,
    },
    /// `WifiConnected`: the user connected to the account's Wi-Fi.
    #[non_exhaustive]
    WifiConnected {
        /// ConnectTime, in seconds since the Unix epoch.
        connect_time: Option<u64>,
        /// ExpireTime, in seconds since the Unix epoch.
        expire_time: Option<u64>,
        /// VendorId.
        vendor_id: &'m str,
        /// ShopId (the place's id; PlaceId in some of the platform's samples, read too).
        shop_id: &'m str,
        /// DeviceNo.
        device_no: &'m str,
    },
    /// `ShakearoundUserShake`: the user shook the phone near the account's beacons.
    #[non_exhaustive]
    ShakearoundUserShake {
        /// ChosenBeacon: the nearest.
        chosen_beacon: Option<Beacon<'m>>,
        /// Each AroundBeacons/AroundBeacon.
        around_beacons: Vec<Beacon<'m>>,
    },
    /// `user_authorize_invoice`: the user authorised an invoice.
    #[non_exhaustive]
    UserAuthorizeInvoice {
        /// SuccOrderId.
        succ_order_id: &'m str,
        /// FailOrderId.
        fail_order_id: &'m str,
        /// AppId.
        app_id: &'m str,
        /// Source: `app`, `web`, `wxa`, `wap`.
        source: &'m str,
    },
    /// `update_invoice_status`: an invoice's reimbursement status changed.
    #[non_exhaustive]
    UpdateInvoiceStatus {
        /// Status: `INVOICE_REIMBURSE_INIT`, `INVOICE_REIMBURSE_LOCK`, …
        status: &'m str,
        /// CardId.
        card_id: &'m str,
        /// Code.
        code: &'m str,
    },
    /// `submit_invoice_title`: the user submitted an invoice title.
    #[non_exhaustive]
    SubmitInvoiceTitle {
        /// title.
        title: &'m str,
        /// phone.
        phone: Option<&'m str>,
        /// tax_no.
        tax_no: Option<&'m str>,
        /// addr.
        addr: Option<&'m str>,
        /// bank_type.
        bank_type: Option<&'m str>,
        /// bank_no.
        bank_no: Option<&'m str>,
        /// attach.
        attach: Option<&'m str>,
        /// title_type: `InvoiceUserTitleBusinessType` or `InvoiceUserTitlePersonType`.
        title_type: &'m str,
    },
    /// `card_pass_check`: a card passed review.
    #[non_exhaustive]
    CardPassCheck {
        /// CardId.
        card_id: &'m str,
        /// RefuseReason, when given.
        refuse_reason: Option<&'m str>,
    },
    /// `card_not_pass_check`: a card failed review.
    #[non_exhaustive]
    CardNotPassCheck {
        /// CardId.
        card_id: &'m str,
        /// RefuseReason.
        refuse_reason: Option<&'m str>,
    },
    /// `user_get_card`: the user took a card.
    #[non_exhaustive]
    UserGetCard {
        /// CardId.
        card_id: &'m str,
        /// UserCardCode.
        user_card_code: &'m str,
        /// IsGiveByFriend: whether a friend gave it.
        is_give_by_friend: Option<bool>,
        /// FriendUserName: the friend, when one gave it.
        friend_user_name: Option<&'m str>,
        /// OuterId: the channel's number.
        outer_id: Option<i64>,
        /// OuterStr: the channel's value.
        outer_str: Option<&'m str>,
        /// OldUserCardCode: the code it replaced, when a friend gave it.
        old_user_card_code: Option<&'m str>,
        /// IsRestoreMemberCard.
        is_restore_member_card: Option<bool>,
        /// IsRecommendByFriend.
        is_recommend_by_friend: Option<bool>,
        /// UnionId.
        union_id: Option<&'m str>,
    },
    /// `user_del_card`: the user deleted a card.
    #[non_exhaustive]
    UserDelCard {
        /// CardId.
        card_id: &'m str,
        /// UserCardCode.
        user_card_code: &'m str,
    },
    /// `user_consume_card`: a card was used.
    #[non_exhaustive]
    UserConsumeCard {
        /// CardId.
        card_id: &'m str,
        /// UserCardCode.
        user_card_code: &'m str,
        /// ConsumeSource: `FROM_API`, `FROM_MOBILE_HELPER`, …
        consume_source: &'m str,
        /// LocationName, when given.
        location_name: Option<&'m str>,
        /// StaffOpenId, when given.
        staff_open_id: Option<&'m str>,
        /// VerifyCode, when given.
        verify_code: Option<&'m str>,
        /// RemarkAmount, when given.
        remark_amount: Option<&'m str>,
        /// OuterStr, when given.
        outer_str: Option<&'m str>,
    },
    /// `user_view_card`: the user opened a member card.
    #[non_exhaustive]
    UserViewCard {
        /// CardId.
        card_id: &'m str,
        /// UserCardCode.
        user_card_code: &'m str,
        /// OuterStr, when given.
        outer_str: Option<&'m str>,
    },
    /// `user_enter_session_from_card`: the user came to the conversation from a card.
    #[non_exhaustive]
    UserEnterSessionFromCard {
        /// CardId.
        card_id: &'m str,
        /// UserCardCode.
        user_card_code: &'m str,
    },
    /// `card_sku_remind`: a card's stock is low.
    #[non_exhaustive]
    CardSkuRemind {
        /// CardId.
        card_id: &'m str,
        /// Detail.
        detail: &'m str,
    },
    /// An Event this crate does not know; its elements are in [`Incoming::fields`].
    #[non_exhaustive]
    Unknown {
        /// The Event.
        event: &'m str,
    },
}

/// CopyrightCheckResult of a [`Event::MassSendJobFinish`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyrightCheck<'m> {
    /// Count: how many articles were checked.
    pub count: Option<u32>,
    /// CheckState: 1 not reprinted, 2 reprinted and allowed (the send goes on), 3 reprinted and
    /// refused (the send stops).
    pub check_state: Option<u32>,
    /// Each ResultList/item.
    pub results: Vec<CopyrightCheckItem<'m>>,
}

/// One article's originality check: a ResultList/item of a [`CopyrightCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyrightCheckItem<'m> {
    /// ArticleIdx: the article, from 1.
    pub article_idx: Option<u32>,
    /// UserDeclareState: whether the account declared it original.
    pub user_declare_state: Option<u32>,
    /// AuditState: the check's verdict.
    pub audit_state: Option<u32>,
    /// OriginalArticleUrl: the original it was found to copy.
    pub original_article_url: &'m str,
    /// OriginalArticleType.
    pub original_article_type: Option<u32>,
    /// CanReprint: whether the original allows reprints.
    pub can_reprint: Option<bool>,
    /// NeedReplaceContent: whether the reprint replaces the content with the original's.
    pub need_replace_content: Option<bool>,
    /// NeedShowReprintSource: whether the source must be shown.
    pub need_show_reprint_source: Option<bool>,
}

/// One template of a subscription event: a `List` element.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeMsg<'m> {
    /// TemplateId.
    pub template_id: &'m str,
    /// SubscribeStatusString: `accept` or `reject` (pop-up and change events).
    pub subscribe_status: Option<&'m str>,
    /// PopupScene: 1 a payment, 2 a function, 3 a message (pop-up events).
    pub popup_scene: Option<u32>,
    /// MsgID: the message sent (sent events).
    pub msg_id: Option<u64>,
    /// ErrorCode: 0 for success (sent events).
    pub error_code: Option<i64>,
    /// ErrorStatus: `success`, `failed:user refuse`, … (sent events).
    pub error_status: Option<&'m str>,
}

/// A beacon of a [`Event::ShakearoundUserShake`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Beacon<'m> {
    /// Uuid.
    pub uuid: &'m str,
    /// Major.
    pub major: Option<u32>,
    /// Minor.
    pub minor: Option<u32>,
    /// Distance, in metres.
    pub distance: Option<f64>,
}

/// A number from an element's text: `None` when absent or not a number.
fn number<N: std::str::FromStr>(text: Option<&str>) -> Option<N> {
    text.and_then(|v| v.trim().parse().ok())
}

/// A flag from an element's text: `0` false, `1` true, anything else `None`.
fn flag(text: Option<&str>) -> Option<bool> {
    match text.map(str::trim) {
        Some("0") => Some(false),
        Some("1") => Some(true),
        _ => None,
    }
}

impl<'m> SubscribeMsg<'m> {
    fn of(list: RawElement<'m>) -> Self {
        SubscribeMsg {
            template_id: list.field("TemplateId").unwrap_or(""),
            subscribe_status: list.field("SubscribeStatusString"),
            popup_scene: number(list.field("PopupScene")),
            msg_id: number(list.field("MsgID")),
            error_code: number(list.field("ErrorCode")),
            error_status: list.field("ErrorStatus"),
        }
    }
}

impl<'m> Beacon<'m> {
    fn of(beacon: RawElement<'m>) -> Self {
        Beacon {
            uuid: beacon.field("Uuid").unwrap_or(""),
            major: number(beacon.field("Major")),
            minor: number(beacon.field("Minor")),
            distance: number(beacon.field("Distance")),
        }
    }
}

/// The kinds of message the platform sends, one per MsgType (the one place that spells them):
/// what [`Incoming::message`] tells apart and [`Incoming::kind`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MsgKind {
    /// `text`.
    Text,
    /// `image`.
    Image,
    /// `voice`.
    Voice,
    /// `video`.
    Video,
    /// `shortvideo`.
    ShortVideo,
    /// `location`.
    Location,
    /// `link`.
    Link,
    /// `event`: any event.
    Event,
    /// `device_text`.
    DeviceText,
    /// `device_event`.
    DeviceEvent,
}

/// Each kind and its MsgType, in the enum's order: the one place that spells them.
const SPELLINGS: [(MsgKind, &str); 10] = [
    (MsgKind::Text, "text"),
    (MsgKind::Image, "image"),
    (MsgKind::Voice, "voice"),
    (MsgKind::Video, "video"),
    (MsgKind::ShortVideo, "shortvideo"),
    (MsgKind::Location, "location"),
    (MsgKind::Link, "link"),
    (MsgKind::Event, "event"),
    (MsgKind::DeviceText, "device_text"),
    (MsgKind::DeviceEvent, "device_event"),
];

// `as_str` finds a kind's spelling by its place: each kind stands at its own.
const _: () = {
    let mut i = 0;
    while i < SPELLINGS.len() {
        assert!(SPELLINGS[i].0 as usize == i, "SPELLINGS is in the enum's order");
        i += 1;
    }
};

impl MsgKind {
    /// The kind whose MsgType is `msg_type`, spelled as the platform spells it; `None` for one
    /// this crate doesn't know.
    pub fn of(msg_type: &str) -> Option<MsgKind> {
        SPELLINGS.iter().find(|(_, spelling)| *spelling == msg_type).map(|&(kind, _)| kind)
    }

    /// The MsgType of this kind, as the platform spells it: what [`of`](MsgKind::of) reads.
    ///
    /// ```
    /// use reply_core::MsgKind;
    ///
    /// assert_eq!(MsgKind::ShortVideo.as_str(), "shortvideo");
    /// assert_eq!(MsgKind::of(MsgKind::Event.as_str()), Some(MsgKind::Event));
    /// ```
    pub fn as_str(self) -> &'static str {
        SPELLINGS[self as usize].1
    }
}

impl Incoming<'_> {
    /// The text of the first element without children named `name`, or "" when there is none.
    pub(crate) fn text(&self, name: &str) -> &str {
        self.field(name).unwrap_or("")
    }

    fn number<N: std::str::FromStr>(&self, name: &str) -> Option<N> {
        number(self.field(name))
    }

    fn base64(&self, name: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(self.field(name)?.trim()).ok()
    }

    /// Typed access to the body. Borrows from the message; allocates only the list of picture
    /// checksums of a pictures event.
    pub fn message(&self) -> Message<'_> {
        let Some(kind) = self.kind() else { return Message::Unknown { msg_type: self.msg_type() } };
        match kind {
            MsgKind::Text => Message::Text { content: self.text("Content") },
            MsgKind::Image => Message::Image { pic_url: self.text("PicUrl"), media_id: self.text("MediaId") },
            MsgKind::Voice => Message::Voice {
                media_id: self.text("MediaId"),
                format: self.text("Format"),
                recognition: self.field("Recognition"),
            },
            MsgKind::Video => {
                Message::Video { media_id: self.text("MediaId"), thumb_media_id: self.text("ThumbMediaId") }
            }
            MsgKind::ShortVideo => {
                Message::ShortVideo { media_id: self.text("MediaId"), thumb_media_id: self.text("ThumbMediaId") }
            }
            MsgKind::Location => Message::Location {
                location_x: self.number("Location_X"),
                location_y: self.number("Location_Y"),
                scale: self.number("Scale"),
                label: self.text("Label"),
            },
            MsgKind::Link => Message::Link {
                title: self.text("Title"),
                description: self.text("Description"),
                url: self.text("Url"),
            },
            MsgKind::Event => Message::Event(self.read_event()),
            MsgKind::DeviceText => Message::DeviceText {
                device_type: self.text("DeviceType"),
                device_id: self.text("DeviceID"),
                session_id: self.text("SessionID"),
                open_id: self.text("OpenID"),
                content: self.base64("Content"),
            },
            MsgKind::DeviceEvent => Message::DeviceEvent {
                event: self.text("Event"),
                device_type: self.text("DeviceType"),
                device_id: self.text("DeviceID"),
                session_id: self.field("SessionID"),
                open_id: self.text("OpenID"),
                content: self.base64("Content"),
                op_type: self.number("OpType"),
            },
        }
    }

    /// The kind of message, by its MsgType: what [`message`](Incoming::message) tells apart, and
    /// what the router's kinds match; `None` for a MsgType this crate doesn't know.
    ///
    /// ```
    /// use reply_core::{Incoming, MsgKind};
    ///
    /// let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>shortvideo</MsgType></xml>";
    /// assert_eq!(Incoming::parse(body)?.kind(), Some(MsgKind::ShortVideo));
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn kind(&self) -> Option<MsgKind> {
        MsgKind::of(self.msg_type())
    }

    /// Whether this is an event (MsgType `event`) named `name`, whatever the case of its Event:
    /// the rule [`event`](Incoming::event) reads events by, for routers and filters to share.
    ///
    /// ```
    /// use reply_core::Incoming;
    ///
    /// let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>scan</Event></xml>";
    /// let msg = Incoming::parse(body)?;
    /// assert!(msg.is_event("SCAN"));
    /// assert!(!msg.is_event("subscribe"));
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn is_event(&self, name: &str) -> bool {
        self.kind() == Some(MsgKind::Event) && self.field("Event").is_some_and(|event| same_event(event, name))
    }

    /// The event, typed, when this is one (MsgType `event`): what [`message`](Incoming::message)
    /// holds in [`Message::Event`].
    ///
    /// ```
    /// use reply_core::{Event, Incoming};
    ///
    /// let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>\
    ///     <EventKey>menu_1</EventKey></xml>";
    /// let msg = Incoming::parse(body)?;
    /// assert!(matches!(msg.event(), Some(Event::Click { event_key: "menu_1", .. })));
    /// # Ok::<(), reply_core::ParseError>(())
    /// ```
    pub fn event(&self) -> Option<Event<'_>> {
        (self.kind() == Some(MsgKind::Event)).then(|| self.read_event())
    }

    /// The Event element, typed, whatever MsgType says: for a caller that has checked it is an
    /// event (the router's event routes). Not a public API.
    #[doc(hidden)]
    pub fn read_event(&self) -> Event<'_> {
        let event = self.text("Event");
        let key = self.text("EventKey");
        let is = |name: &str| same_event(event, name);
        if is("subscribe") {
            Event::Subscribe {
                event_key: self.field("EventKey").filter(|k| !k.is_empty()),
                ticket: self.field("Ticket"),
            }
        } else if is("unsubscribe") {
            Event::Unsubscribe
        } else if is("SCAN") {
            Event::Scan { event_key: key, ticket: self.field("Ticket") }
        } else if is("LOCATION") {
            Event::Location {
                latitude: self.number("Latitude"),
                longitude: self.number("Longitude"),
                precision: self.number("Precision"),
            }
        } else if is("CLICK") {
            Event::Click { event_key: key }
        } else if is("VIEW") {
            Event::View { event_key: key, menu_id: self.field("MenuId") }
        } else if is("scancode_push") || is("scancode_waitmsg") {
            Event::ScanCode {
                event,
                event_key: key,
                scan_type: self.text("ScanType"),
                scan_result: self.text("ScanResult"),
            }
        } else if is("pic_sysphoto") || is("pic_photo_or_album") || is("pic_weixin") {
            Event::Pictures {
                event,
                event_key: key,
                count: self.number("Count"),
                pic_md5_sums: self.fields().filter(|(name, _)| *name == "PicMd5Sum").map(|(_, v)| v).collect(),
            }
        } else if is("location_select") {
            Event::LocationSelect {
                event_key: key,
                location_x: self.number("Location_X"),
                location_y: self.number("Location_Y"),
                scale: self.number("Scale"),
                label: self.text("Label"),
                poiname: self.field("Poiname"),
            }
        } else {
            self.documented_event(event).unwrap_or(Event::Unknown { event })
        }
    }

    /// The events beyond the menu and the follower's: mass and template sends, customer service,
    /// subscriptions, verification, shop, Wi-Fi, beacons, invoices, cards, mini programs.
    fn documented_event<'s>(&'s self, event: &'s str) -> Option<Event<'s>> {
        let is = |name: &str| same_event(event, name);
        let card_id = || self.text("CardId");
        let user_card_code = || self.text("UserCardCode");
        let subscriptions = |path| self.elements(path).map(SubscribeMsg::of).collect();
        Some(if is("view_miniprogram") {
            Event::ViewMiniprogram { event_key: self.text("EventKey"), menu_id: self.field("MenuId") }
        } else if is("MASSSENDJOBFINISH") {
            Event::MassSendJobFinish {
                msg_id: self.number("MsgID"),
                status: self.text("Status"),
                total_count: self.number("TotalCount"),
                filter_count: self.number("FilterCount"),
                sent_count: self.number("SentCount"),
                error_count: self.number("ErrorCount"),
                copyright_check: self.elements("CopyrightCheckResult").next().map(|check| CopyrightCheck {
                    count: number(check.field_at("Count")),
                    check_state: number(check.field_at("CheckState")),
                    results: check
                        .elements("ResultList/item")
                        .map(|item| CopyrightCheckItem {
                            article_idx: number(item.field("ArticleIdx")),
                            user_declare_state: number(item.field("UserDeclareState")),
                            audit_state: number(item.field("AuditState")),
                            original_article_url: item.field("OriginalArticleUrl").unwrap_or(""),
                            original_article_type: number(item.field("OriginalArticleType")),
                            can_reprint: flag(item.field("CanReprint")),
                            need_replace_content: flag(item.field("NeedReplaceContent")),
                            need_show_reprint_source: flag(item.field("NeedShowReprintSource")),
                        })
                        .collect(),
                }),
            }
        } else if is("TEMPLATESENDJOBFINISH") {
            Event::TemplateSendJobFinish { msg_id: self.number("MsgID"), status: self.text("Status") }
        } else if is("kf_create_session") {
            Event::KfCreateSession { kf_account: self.text("KfAccount") }
        } else if is("kf_close_session") {
            Event::KfCloseSession { kf_account: self.text("KfAccount") }
        } else if is("kf_switch_session") {
            Event::KfSwitchSession {
                from_kf_account: self.text("FromKfAccount"),
                to_kf_account: self.text("ToKfAccount"),
            }
        } else if is("subscribe_msg_popup_event") {
            Event::SubscribeMsgPopup { list: subscriptions("SubscribeMsgPopupEvent/List") }
        } else if is("subscribe_msg_change_event") {
            Event::SubscribeMsgChange { list: subscriptions("SubscribeMsgChangeEvent/List") }
        } else if is("subscribe_msg_sent_event") {
            Event::SubscribeMsgSent { list: subscriptions("SubscribeMsgSentEvent/List") }
        } else if is("qualification_verify_success") {
            Event::QualificationVerifySuccess { expired_time: self.number("ExpiredTime") }
        } else if is("qualification_verify_fail") {
            Event::QualificationVerifyFail { fail_time: self.number("FailTime"), fail_reason: self.text("FailReason") }
        } else if is("naming_verify_success") {
            Event::NamingVerifySuccess { expired_time: self.number("ExpiredTime") }
        } else if is("naming_verify_fail") {
            Event::NamingVerifyFail { fail_time: self.number("FailTime"), fail_reason: self.text("FailReason") }
        } else if is("annual_renew") {
            Event::AnnualRenew { expired_time: self.number("ExpiredTime") }
        } else if is("verify_expired") {
            Event::VerifyExpired { expired_time: self.number("ExpiredTime") }
        } else if is("merchant_order") {
            Event::MerchantOrder {
                order_id: self.text("OrderId"),
                order_status: self.number("OrderStatus"),
                product_id: self.text("ProductId"),
                sku_info: self.text("SkuInfo"),
            }
        } else if is("WifiConnected") {
            Event::WifiConnected {
                connect_time: self.number("ConnectTime"),
                expire_time: self.number("ExpireTime"),
                vendor_id: self.text("VendorId"),
                shop_id: self.field("ShopId").or_else(|| self.field("PlaceId")).unwrap_or(""),
                device_no: self.text("DeviceNo"),
            }
        } else if is("ShakearoundUserShake") {
            Event::ShakearoundUserShake {
                chosen_beacon: self.elements("ChosenBeacon").next().map(Beacon::of),
                around_beacons: self.elements("AroundBeacons/AroundBeacon").map(Beacon::of).collect(),
            }
        } else if is("user_authorize_invoice") {
            Event::UserAuthorizeInvoice {
                succ_order_id: self.text("SuccOrderId"),
                fail_order_id: self.text("FailOrderId"),
                app_id: self.text("AppId"),
                source: self.text("Source"),
            }
        } else if is("update_invoice_status") {
            Event::UpdateInvoiceStatus { status: self.text("Status"), card_id: card_id(), code: self.text("Code") }
        } else if is("submit_invoice_title") {
            Event::SubmitInvoiceTitle {
                title: self.text("title"),
                phone: self.field("phone"),
                tax_no: self.field("tax_no"),
                addr: self.field("addr"),
                bank_type: self.field("bank_type"),
                bank_no: self.field("bank_no"),
                attach: self.field("attach"),
                title_type: self.text("title_type"),
            }
        } else if is("card_pass_check") {
            Event::CardPassCheck { card_id: card_id(), refuse_reason: self.field("RefuseReason") }
        } else if is("card_not_pass_check") {
            Event::CardNotPassCheck { card_id: card_id(), refuse_reason: self.field("RefuseReason") }
        } else if is("user_get_card") {
            Event::UserGetCard {
                card_id: card_id(),
                user_card_code: user_card_code(),
                is_give_by_friend: flag(self.field("IsGiveByFriend")),
                friend_user_name: self.field("FriendUserName").filter(|f| !f.is_empty()),
                outer_id: self.number("OuterId"),
                outer_str: self.field("OuterStr"),
                old_user_card_code: self.field("OldUserCardCode").filter(|c| !c.is_empty()),
                is_restore_member_card: flag(self.field("IsRestoreMemberCard")),
                is_recommend_by_friend: flag(self.field("IsRecommendByFriend")),
                union_id: self.field("UnionId"),
            }
        } else if is("user_del_card") {
            Event::UserDelCard { card_id: card_id(), user_card_code: user_card_code() }
        } else if is("user_consume_card") {
            Event::UserConsumeCard {
                card_id: card_id(),
                user_card_code: user_card_code(),
                consume_source: self.text("ConsumeSource"),
                location_name: self.field("LocationName"),
                staff_open_id: self.field("StaffOpenId"),
                verify_code: self.field("VerifyCode"),
                remark_amount: self.field("RemarkAmount"),
                outer_str: self.field("OuterStr"),
            }
        } else if is("user_view_card") {
            Event::UserViewCard {
                card_id: card_id(),
                user_card_code: user_card_code(),
                outer_str: self.field("OuterStr"),
            }
        } else if is("user_enter_session_from_card") {
            Event::UserEnterSessionFromCard { card_id: card_id(), user_card_code: user_card_code() }
        } else if is("card_sku_remind") {
            Event::CardSkuRemind { card_id: card_id(), detail: self.text("Detail") }
        } else {
            return None;
        })
    }
}

/// Whether Event `event` is the event `name`: the platform writes some names in capitals
/// (`CLICK`) and some not (`subscribe`), and a name is read whatever its case.
#[inline]
fn same_event(event: &str, name: &str) -> bool {
    event.eq_ignore_ascii_case(name)
}
