//! Safe mode, held to the platform's own worked example (`tests/data/crypto-vector.json`, copied
//! verbatim from the platform's message encryption guide) and to round trips of every length.

use passive_reply::crypto::{CryptoErrorKind, KeyUsed, MessageCrypto, msg_signature};
use passive_reply::{Empty, Incoming, PassiveReply, Text};
use proptest::prelude::*;
use serde_json::Value;

mod common;

fn vector(id: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("data/crypto-vector.json")).unwrap();
    let vectors = all["vectors"].as_array().unwrap();
    vectors.iter().find(|v| v["id"] == id).cloned().unwrap()
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_else(|| panic!("{key}"))
}

fn crypto_of(v: &Value) -> MessageCrypto {
    MessageCrypto::new(text(v, "token"), text(v, "encoding_aes_key"), text(v, "app_id")).unwrap()
}

#[test]
fn the_platforms_delivery_is_verified_decrypted_and_encrypted_again_byte_for_byte() {
    let v = vector("official-doc-safe-mode-decrypt");
    let crypto = crypto_of(&v);
    let (signature, timestamp, nonce) = (text(&v, "msg_signature"), text(&v, "timestamp"), text(&v, "nonce"));
    let xml = crypto.decrypt_delivery(signature, timestamp, nonce, text(&v, "body")).unwrap();
    assert_eq!(xml, text(&v["derived"], "plaintext"));
    let msg = Incoming::parse(&xml).unwrap();
    let expected = &v["expected_fields"];
    assert_eq!(msg.to_user_name(), text(expected, "ToUserName"));
    assert_eq!(msg.msg_type(), text(expected, "MsgType"));
    assert_eq!(msg.field("Event"), Some(text(expected, "Event")));
    assert_eq!(msg.field("debug_str"), Some(text(expected, "debug_str")));

    // Its random bytes (ASCII "1205899eaf019bbd"), and the same plaintext: the same ciphertext.
    let random: [u8; 16] = hex(text(&v["derived"], "random_hex")).try_into().unwrap();
    let encrypt = crypto.encrypt_with_random(random, &xml);
    assert_eq!(encrypt, text(&v["derived"], "encrypt"));
    assert_eq!(msg_signature(text(&v, "token"), timestamp, nonce, &encrypt), signature);

    // The signature in uppercase hex is the same number; one digit off is not.
    assert_eq!(crypto.verify(&signature.to_ascii_uppercase(), timestamp, nonce, &encrypt), Ok(()));
    let off = format!("{}d", &signature[..39]);
    assert_ne!(off, signature);
    assert_eq!(crypto.verify(&off, timestamp, nonce, &encrypt).unwrap_err().kind(), CryptoErrorKind::BadSignature);
}

#[test]
fn the_platforms_reply_is_encrypted_and_signed_as_published() {
    let v = vector("official-doc-safe-mode-reply");
    let crypto = crypto_of(&v);
    let random: [u8; 16] = text(&v, "random").as_bytes().try_into().unwrap();
    let encrypt = crypto.encrypt_with_random(random, text(&v, "plaintext"));
    assert_eq!(encrypt, text(&v, "encrypt"));
    let (timestamp, nonce) = (text(&v, "reply_timestamp"), text(&v, "reply_nonce"));
    assert_eq!(msg_signature(text(&v, "token"), timestamp, nonce, &encrypt), text(&v, "reply_msg_signature"));
    assert_eq!(crypto.decrypt(&encrypt).unwrap(), text(&v, "plaintext"));

    // Any reply, in its envelope, in the platform's order, signed over what it says.
    let reply = Text::new("oUser", "gh_account", "你好 ]]> \u{1}").with_create_time(1713424427);
    let envelope = crypto.envelope(KeyUsed::Current, random, &reply, timestamp, nonce).unwrap();
    let paths: Vec<String> = common::parse(&envelope).into_iter().map(|(path, _)| path).collect();
    assert_eq!(paths, ["xml", "xml/Encrypt", "xml/MsgSignature", "xml/TimeStamp", "xml/Nonce"], "{envelope}");
    let field = |name| common::envelope_field(&envelope, name);
    let (encrypt, signature) = (&field("Encrypt"), field("MsgSignature"));
    assert_eq!((field("TimeStamp").as_str(), field("Nonce").as_str()), (timestamp, nonce));
    assert_eq!(signature, msg_signature(text(&v, "token"), timestamp, nonce, encrypt));
    assert_eq!(crypto.decrypt(encrypt).unwrap(), reply.to_xml());
    assert_eq!(encrypt, &crypto.encrypt_with_random(random, &reply.to_xml()));

    // The empty reply stays empty.
    assert_eq!(crypto.encrypt_reply(&Empty, timestamp, nonce), "");
}

/// Whatever the timestamp holds (the endpoint takes only digits; the function takes any text),
/// the envelope stays well-formed: no `]]>`, markup or forbidden character reaches it as it came,
/// and its length is counted right.
#[test]
fn a_timestamp_that_is_not_digits_cannot_break_the_envelope() {
    let v = vector("official-doc-safe-mode-reply");
    let crypto = crypto_of(&v);
    let reply = Text::new("oUser", "gh_account", "hi").with_create_time(1);
    for (timestamp, written, read) in [
        ("1]]>2", "1]]&gt;2", "1]]>2"),
        ("1\u{0}2", "1\u{FFFD}2", "1\u{FFFD}2"),
        ("<a>&b", "&lt;a&gt;&amp;b", "<a>&b"),
        ("\u{FFFF}时\t", "\u{FFFD}时\t", "\u{FFFD}时\t"),
        ("1713424427", "1713424427", "1713424427"),
    ] {
        let envelope = crypto.envelope(KeyUsed::Current, [7; 16], &reply, timestamp, "n]]>").unwrap();
        assert!(envelope.contains(&format!("<TimeStamp>{written}</TimeStamp>")), "{envelope}");
        assert!(envelope.ends_with("<Nonce><![CDATA[n]]]]><![CDATA[>]]></Nonce></xml>"), "{envelope}");
        assert_eq!(crypto.envelope_len(reply.encoded_len(), timestamp, "n]]>"), envelope.len());
        // Well-formed, and read back as written (a forbidden character as U+FFFD).
        assert_eq!(common::envelope_field(&envelope, "TimeStamp"), read);
        assert_eq!(common::envelope_field(&envelope, "Nonce"), "n]]>");
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OTHER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn body(encrypt: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_account]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
}

#[test]
fn keys_and_app_ids_are_checked_when_made() {
    // The platform's sample key has bits after its 32 bytes in its last character: taken.
    assert!(MessageCrypto::new("t", KEY, "wx0123456789abcdef").is_ok());
    for key in ["", "short", &KEY[..42], &format!("{KEY}A"), "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!", "测试"] {
        assert_eq!(MessageCrypto::new("t", key, "wx1").unwrap_err().kind(), CryptoErrorKind::BadKey, "{key:?}");
    }
    for app_id in ["", "wx 1", "wx<1>", &"w".repeat(65), "微信"] {
        assert_eq!(MessageCrypto::new("t", KEY, app_id).unwrap_err().kind(), CryptoErrorKind::BadAppId, "{app_id:?}");
    }
}

#[test]
fn every_refusal_says_which_check_failed() {
    let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
    let kind = |encrypt: &str| crypto.decrypt(encrypt).unwrap_err().kind();
    assert_eq!(kind("not base64!"), CryptoErrorKind::BadBase64);
    assert_eq!(kind(""), CryptoErrorKind::BadLength);
    assert_eq!(kind("AAAA"), CryptoErrorKind::BadLength); // 3 bytes
    let sixteen = "AAAAAAAAAAAAAAAAAAAAAA==";
    assert_eq!(kind(sixteen), CryptoErrorKind::BadLength); // one AES block, not a 32-byte one
    // Another account's AppID.
    let other = MessageCrypto::new("token", KEY, "wxffffffffffffffff").unwrap();
    assert_eq!(kind(&other.encrypt("<xml/>")), CryptoErrorKind::WrongAppId);
    // Another key: its padding doesn't come out (or, once in a while, its length doesn't).
    let stranger = MessageCrypto::new("token", OTHER_KEY, "wx0123456789abcdef").unwrap();
    let wrong = kind(&stranger.encrypt("<xml/>"));
    assert!(matches!(wrong, CryptoErrorKind::BadPadding | CryptoErrorKind::BadLength), "{wrong:?}");
    // Plaintexts made by hand with the right key, each broken one way.
    let sealed = |plaintext: &[u8]| seal(KEY, plaintext);
    let good = plaintext_of(b"<xml/>", b"wx0123456789abcdef", None);
    assert_eq!(crypto.decrypt(&sealed(&good)).unwrap(), "<xml/>");
    assert_eq!(kind(&sealed(&plaintext_of(b"\xFF\xFE", b"wx0123456789abcdef", None))), CryptoErrorKind::NotUtf8);
    let mut beyond = good.clone();
    beyond[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    assert_eq!(kind(&sealed(&beyond)), CryptoErrorKind::BadLength);
    let mut huge = good.clone();
    huge[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(kind(&sealed(&huge)), CryptoErrorKind::BadLength);
    // Pad values outside 1 to 32, and pad bytes that don't all agree (no peer checks those).
    for (pad, bytes) in [(0u8, vec![0u8; 32]), (33, vec![33; 32]), (3, vec![7, 3, 3])] {
        let broken = plaintext_of(b"<xml/>", b"wx0123456789abcdef", Some(&bytes));
        assert_eq!(kind(&sealed(&broken)), CryptoErrorKind::BadPadding, "pad {pad}: {bytes:?}");
    }
    // No <Encrypt>, or no XML.
    let delivery = |body: &str| crypto.decrypt_delivery("x", "1", "n", body).unwrap_err().kind();
    assert_eq!(delivery("<xml><ToUserName>a</ToUserName></xml>"), CryptoErrorKind::NoEncrypt);
    assert_eq!(delivery("not xml at all <"), CryptoErrorKind::NoEncrypt);
    assert_eq!(delivery("<xml><a><Encrypt>deeper</Encrypt></a></xml>"), CryptoErrorKind::NoEncrypt);
    assert_eq!(delivery(&body("AAAA")), CryptoErrorKind::BadSignature);
}

/// 16 random bytes, the length, `message` and `app_id`, padded to 32 with `pad` (the right
/// padding when `None`).
fn plaintext_of(message: &[u8], app_id: &[u8], pad: Option<&[u8]>) -> Vec<u8> {
    let mut plaintext = vec![7u8; 16];
    plaintext.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plaintext.extend_from_slice(message);
    plaintext.extend_from_slice(app_id);
    match pad {
        Some(bytes) => {
            // Filled up to the block before the broken tail.
            let fill = (32 - (plaintext.len() + bytes.len()) % 32) % 32;
            plaintext.extend(std::iter::repeat_n(b'x', fill));
            plaintext.extend_from_slice(bytes);
        }
        None => {
            let pad = 32 - plaintext.len() % 32;
            plaintext.extend(std::iter::repeat_n(pad as u8, pad));
        }
    }
    plaintext
}

/// `plaintext` (already a whole number of 32-byte blocks) encrypted with `key` as the platform
/// does, with the AES and CBC crates directly: an independent encryption to decrypt.
fn seal(key: &str, plaintext: &[u8]) -> String {
    use aes::cipher::{Array, BlockModeEncrypt, KeyIvInit};
    use base64::Engine;
    let key_bytes = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
    .decode(format!("{key}="))
    .unwrap();
    let (key, iv): ([u8; 32], [u8; 16]) = (key_bytes[..].try_into().unwrap(), key_bytes[..16].try_into().unwrap());
    let mut blocks = plaintext.to_vec();
    let (chunks, rest) = Array::slice_as_chunks_mut(&mut blocks);
    assert!(rest.is_empty());
    cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt_blocks(chunks);
    base64::engine::general_purpose::STANDARD.encode(&blocks)
}

#[test]
fn a_previous_key_is_taken_and_the_reply_uses_it() {
    let old = MessageCrypto::new("token", OTHER_KEY, "wx0123456789abcdef").unwrap();
    let rotated = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap().with_previous_key(OTHER_KEY).unwrap();
    let current_only = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
    let encrypt = old.encrypt("<xml>old</xml>");
    let signature = msg_signature("token", "1", "n", &encrypt);
    let (xml, used) = rotated.decrypt_delivery_with_key(&signature, "1", "n", &body(&encrypt)).unwrap();
    assert_eq!((xml.as_str(), used), ("<xml>old</xml>", KeyUsed::Previous));
    assert!(current_only.decrypt_delivery(&signature, "1", "n", &body(&encrypt)).is_err());
    // The reply, with the key that decrypted the delivery: the old one reads it.
    let envelope = rotated.encrypt_reply_with_key(used, &Text::new("u", "a", "hi").with_create_time(1), "1", "n");
    let encrypt = common::envelope_field(&envelope, "Encrypt");
    assert!(old.decrypt(&encrypt).is_ok());
    assert!(current_only.decrypt(&encrypt).is_err());
    // And one encrypted with the current key, with the current one.
    let new = rotated.encrypt("<xml>new</xml>");
    assert_eq!(rotated.decrypt_with_key(&new).unwrap().1, KeyUsed::Current);
}

/// Every length from 0 to 3,000 bytes, and so every pad value from 1 to 32, each many times.
#[test]
fn every_length_and_every_pad_value_round_trip() {
    let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
    let mut pads = [0usize; 33];
    for len in 0..=3000 {
        let message: String = "被动回复a"
            .chars()
            .cycle()
            .scan(0, |n, c| {
                *n += c.len_utf8();
                (*n <= len).then_some(c)
            })
            .collect();
        let message = format!("{message}{}", "b".repeat(len - message.len()));
        let encrypt = crypto.encrypt_with_random([len as u8; 16], &message);
        assert_eq!(crypto.decrypt(&encrypt).unwrap(), message, "{len} bytes");
        // 16 random, 4 of length, the message, 18 of AppID, then the pad to 32.
        let pad = 32 - (16 + 4 + len + 18) % 32;
        pads[pad] += 1;
        let ciphertext_len =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &encrypt).unwrap().len();
        assert_eq!(ciphertext_len, 16 + 4 + len + 18 + pad, "{len} bytes");
    }
    assert!(pads[1..].iter().all(|&n| n > 90), "{pads:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every length 0 to 3,000 bytes (so every pad value 1 to 32) of any text: encrypted, then
    /// decrypted, it comes back.
    #[test]
    fn round_trips(
        message in prop::collection::vec(any::<char>(), 0..1000).prop_map(String::from_iter),
        ascii in 0usize..=3000,
        random in any::<[u8; 16]>(),
    ) {
        let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
        for message in [message, "a".repeat(ascii)] {
            let encrypt = crypto.encrypt_with_random(random, &message);
            prop_assert_eq!(crypto.decrypt(&encrypt).unwrap(), message);
        }
    }

    /// Any one byte changed, in the Encrypt text, the msg_signature or the AppID, and the
    /// delivery is refused: CBC alone doesn't notice a changed byte, the signature does.
    #[test]
    fn any_changed_byte_is_refused(
        message in prop::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter),
        at in any::<prop::sample::Index>(),
        to in 0u8..128,
    ) {
        let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
        let encrypt = crypto.encrypt(&message);
        let signature = msg_signature("token", "1715943329", "n1", &encrypt);
        prop_assert_eq!(crypto.decrypt_delivery(&signature, "1715943329", "n1", &body(&encrypt)).unwrap(), message);
        let changed = |s: &str| {
            let mut bytes = s.as_bytes().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i] == to { to ^ 1 } else { to };
            String::from_utf8(bytes).unwrap()
        };
        // The signature is a hex number, taken in either case: a byte of it changed to the same
        // digit in the other case is the same signature, so the change here is to another digit.
        let changed_digit = |s: &str| {
            let mut bytes = s.as_bytes().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i].eq_ignore_ascii_case(&to) { to ^ 0x40 } else { to };
            String::from_utf8(bytes).unwrap()
        };
        prop_assert!(crypto.decrypt_delivery(&signature, "1715943329", "n1", &body(&changed(&encrypt))).is_err());
        prop_assert!(crypto.decrypt_delivery(&changed_digit(&signature), "1715943329", "n1", &body(&encrypt)).is_err());
        let other = MessageCrypto::new("token", KEY, changed("wx0123456789abcdef").as_str());
        if let Ok(other) = other {
            prop_assert_eq!(
                other.decrypt_delivery(&signature, "1715943329", "n1", &body(&encrypt)).unwrap_err().kind(),
                CryptoErrorKind::WrongAppId
            );
        }
    }
}

#[test]
fn compatible_mode_takes_what_encrypt_says() {
    let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
    let encrypt = crypto.encrypt("<xml><Content>signed</Content></xml>");
    let signature = msg_signature("token", "1", "n", &encrypt);
    // The plaintext elements beside it are not signed: they say something else, and are ignored.
    let compatible = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>text</MsgType><Content>forged</Content><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    assert_eq!(
        crypto.decrypt_delivery(&signature, "1", "n", &compatible).unwrap(),
        "<xml><Content>signed</Content></xml>"
    );
}

/// A reply written by hand, piece by piece (reserving first or not), a boxed one, and one that
/// writes only empty pieces: each envelope holds exactly what `to_xml` gives, and the one that
/// writes nothing stays empty.
#[test]
fn replies_written_by_hand_are_sealed_as_written() {
    struct Pieces(&'static [&'static str], bool);
    impl PassiveReply for Pieces {
        fn encoded_len(&self) -> usize {
            self.0.iter().map(|piece| piece.len()).sum()
        }
        fn write_to<S: passive_reply::Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
            if self.1 {
                sink.reserve(self.encoded_len())?;
            }
            self.0.iter().try_for_each(|piece| sink.write_str(piece))
        }
    }
    let crypto = MessageCrypto::new("token", KEY, "wx0123456789abcdef").unwrap();
    let open = |envelope: &str| crypto.decrypt(&common::envelope_field(envelope, "Encrypt")).unwrap();
    let long: &'static str = "长".repeat(300).leak();
    let pieces: &'static [&'static str] = vec!["", "<xml>", long, "", "<a>b</a>", "</xml>"].leak();
    for reserves in [false, true] {
        let reply = Pieces(pieces, reserves);
        let envelope = crypto.envelope(KeyUsed::Current, [1; 16], &reply, "1", "n").unwrap();
        assert_eq!(open(&envelope), reply.to_xml());
        let boxed = reply.boxed();
        assert_eq!(open(&crypto.envelope(KeyUsed::Current, [1; 16], &boxed, "1", "n").unwrap()), boxed.to_xml());
        let nothing = Pieces(&["", ""], reserves);
        assert_eq!(crypto.envelope(KeyUsed::Current, [1; 16], &nothing, "1", "n").unwrap(), "");
    }
}
