//! The examples of `shared/API.md` ("Deriving a reply", "News and articles", "Enums", "Inbound
//! messages", "Safe mode"), as written there, so a change that breaks the public contract fails
//! here.

use std::borrow::Cow;

use passive_reply::{NewsArticle, PassiveReply};

#[derive(PassiveReply)]
#[reply(text)]
struct Hello<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    content: Cow<'a, str>,
}

#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
    description: Option<&'a str>,
    pic_url: Option<String>,
    url: &'a str,
}

#[derive(PassiveReply)]
#[reply(news)]
struct Digest<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; 3],
}

#[derive(PassiveReply)]
enum Answer<'a> {
    Greeting(Hello<'a>),
    Digest(Digest<'a>),
    Nothing(passive_reply::Empty),
}

#[test]
fn deriving_a_reply() {
    let hello =
        Hello { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, content: "你好".into() };
    let xml: String = hello.to_xml();
    // API.md: the seed's text example, with the whitespace between its tags removed.
    assert_eq!(
        xml,
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>"
    );
}

#[test]
fn news_and_enums() {
    let post = |title| Post { title, description: None, pic_url: Some("p".to_string()), url: "u" };
    let digest =
        Digest { to_user_name: "u", from_user_name: "a", create_time: 1, articles: [post("1"), post("2"), post("3")] };
    let item = |t: &str| {
        format!("<item><Title><![CDATA[{t}]]></Title><PicUrl><![CDATA[p]]></PicUrl><Url><![CDATA[u]]></Url></item>")
    };
    let expected = format!(
        "<xml><ToUserName><![CDATA[u]]></ToUserName><FromUserName><![CDATA[a]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>3</ArticleCount><Articles>{}{}{}</Articles></xml>",
        item("1"),
        item("2"),
        item("3")
    );
    assert_eq!(Answer::Digest(digest).to_xml(), expected);
    assert_eq!(Answer::Nothing(passive_reply::Empty).to_xml(), "");
    let hello = Hello { to_user_name: "u", from_user_name: "a", create_time: 1, content: Cow::Owned("x".into()) };
    assert!(Answer::Greeting(hello).to_xml().ends_with("<Content><![CDATA[x]]></Content></xml>"));
}

/// API.md: "`Articles::try_from(vec)` returns an error that says the count", written as it
/// is there, with no type annotation.
#[test]
fn articles_from_a_vec() {
    let post = |title| Post { title, description: None, pic_url: None, url: "u" };
    let Err(err) = passive_reply::Articles::try_from((0..11).map(|_| post("t")).collect::<Vec<_>>()) else {
        panic!("eleven articles were taken");
    };
    assert_eq!(err.to_string(), "a news reply carries 1 to 10 articles, and this list has 11");
    assert!(passive_reply::Articles::try_from(Vec::<Post>::new()).is_err());
    let Ok(three) = passive_reply::Articles::try_from(vec![post("1"), post("2"), post("3")]) else {
        panic!("three articles were refused");
    };
    assert_eq!(three.len(), 3);
}

/// API.md's trait, implemented by hand: the signature users write against.
#[test]
fn the_trait_can_be_implemented_by_hand() {
    struct Raw(&'static str);
    impl PassiveReply for Raw {
        fn encoded_len(&self) -> usize {
            self.0.len()
        }
        fn write_to<S: passive_reply::Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
            sink.reserve(self.0.len())?;
            sink.write_str(self.0)
        }
    }
    let raw = Raw("<xml></xml>");
    assert_eq!(raw.to_xml(), "<xml></xml>");
    // The provided methods of a reply implemented by hand: no customer-service message unless it
    // says (a derived reply's come from the trait's hidden methods, which a hand's don't set).
    assert_eq!((raw.customer_service_len(), raw.to_customer_service()), (None, None));
    let mut json = String::new();
    let Ok(()) = raw.write_customer_service(&mut json);
    assert!(json.is_empty());
    let boxed: Box<dyn passive_reply::DynReply> = Box::new(raw);
    assert_eq!(boxed.to_xml(), "<xml></xml>");
}

/// API.md's "Inbound messages", as written there.
#[test]
fn inbound_messages() -> Result<(), passive_reply::ParseError> {
    let body = "<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>\
        <MsgId>42</MsgId></xml>";
    let msg = passive_reply::Incoming::parse(body)?; // body: &str; borrows from it where it can
    let to: &str = msg.to_user_name();
    let from: &str = msg.from_user_name();
    let seconds: u64 = msg.create_time(); // whole seconds, an unsigned integer
    let kind: &str = msg.msg_type(); // &str, the raw MsgType value ("text", "event", or anything new)
    let id: Option<u64> = msg.msg_id();
    // API.md: "Clone + Eq + Hash: MsgId, or FromUserName + CreateTime (the seed's rule)". Since
    // issue 14 the seed's rule is `seed_dedup_key()`, and `dedup_key()` adds the sender to MsgId
    // (and Event and EventKey to events), which MsgIds repeated across users made necessary.
    let key = msg.dedup_key(); // Clone + Eq + Hash
    let reply = msg.reply_text("hi"); // a Text with the two addresses swapped and CreateTime now
    assert_eq!((to, from, seconds, kind, id), ("gh", "oUser", 1348831860, "text", Some(42)));
    assert_eq!(std::collections::HashSet::from([key.clone()]).len(), 1);
    assert_eq!(key.as_bytes(), b"m:2:gh:5:oUser:42");
    assert_eq!(msg.seed_dedup_key().as_bytes(), b"i:2:gh:42");
    assert_eq!((reply.to_user_name.as_ref(), reply.from_user_name.as_ref()), ("oUser", "gh"));
    Ok(())
}

/// API.md's "Safe mode", as written there, over the platform's worked example (its all-`A` key,
/// its delivery, its random bytes) from `tests/data/crypto-vector.json`.
#[test]
fn safe_mode() -> Result<(), Box<dyn std::error::Error>> {
    use passive_reply::crypto::{CryptoError, CryptoErrorKind, MessageCrypto};

    let vectors: serde_json::Value = serde_json::from_str(include_str!("data/crypto-vector.json"))?;
    let v = &vectors["vectors"][0];
    let field = |name: &str| v[name].as_str().unwrap();
    let (msg_signature, timestamp, nonce, body) =
        (field("msg_signature"), field("timestamp"), field("nonce"), field("body"));
    let encrypt = v["derived"]["encrypt"].as_str().unwrap();

    let crypto = MessageCrypto::new("AAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "wx134c8103faa5a59e")?;
    let xml: String = crypto.decrypt_delivery(msg_signature, timestamp, nonce, body)?;
    let msg = passive_reply::Incoming::parse(&xml)?;
    assert_eq!(msg.field("Event"), Some("debug_demo"));

    crypto.verify(msg_signature, timestamp, nonce, encrypt)?;
    let xml: String = crypto.decrypt(encrypt)?;
    let again: String = crypto.encrypt_with_random(*b"1205899eaf019bbd", &xml);
    assert_eq!(again, encrypt);
    let signature: String = passive_reply::crypto::msg_signature("AAAAA", timestamp, nonce, &again);
    assert_eq!(signature, msg_signature);

    let reply = msg.reply_text("hi");
    let envelope: String = crypto.encrypt_reply(&reply, timestamp, nonce);
    assert!(envelope.starts_with("<xml><Encrypt><![CDATA[") && envelope.ends_with("]]></Nonce></xml>"));
    assert_eq!(crypto.encrypt_reply(&passive_reply::Empty, timestamp, nonce), "");

    let err: CryptoError = crypto.decrypt("not base64!").unwrap_err();
    assert_eq!(err.kind(), CryptoErrorKind::BadBase64);
    Ok(())
}
