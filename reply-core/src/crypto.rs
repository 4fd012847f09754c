//! Safe mode: the platform's encrypted deliveries and replies (feature `crypto`).
//!
//! An account on the platform chooses one of three message modes: plaintext, compatible (the
//! plaintext elements and their encryption, side by side) or safe (encrypted only), the one the
//! platform recommends. In the two encrypted modes, a delivery's body carries `<Encrypt>`, and
//! the reply must be an encrypted envelope. The algorithm is the platform's, which every peer
//! implements:
//!
//! - The account's EncodingAESKey is 43 characters of base64; with a `=` after it, it decodes to
//!   the 32 bytes of an AES-256 key, whose first 16 are the IV. (Most real keys have non-zero
//!   bits after their last byte, in their last character, which a strict decoder refuses: they
//!   are accepted here.)
//! - The plaintext is 16 random bytes, the message's length in bytes as a big-endian `u32`, the
//!   message, and the account's AppID; padded as PKCS#7 to a 32-byte block (a pad value of 1 to
//!   32, every pad byte that value); encrypted with AES-256-CBC; then base64 with padding.
//! - `msg_signature` is the hex SHA-1 of the token, the timestamp, the nonce and the encrypted
//!   text, sorted and joined.
//!
//! ```
//! use reply_core::crypto::{CryptoErrorKind, MessageCrypto};
//! use reply_core::{Incoming, PassiveReply, Text};
//!
//! let crypto = MessageCrypto::new("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "wx134c8103faa5a59e")?;
//!
//! // What the platform would send: a message, encrypted, signed.
//! let xml = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
//!     <CreateTime>1715943329</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>\
//!     <MsgId>1</MsgId></xml>";
//! let encrypt = crypto.encrypt_with_random(*b"0123456789abcdef", xml);
//! let (timestamp, nonce) = ("1715943329", "1590219412");
//! let msg_signature = reply_core::crypto::msg_signature("token", timestamp, nonce, &encrypt);
//! let body = format!("<xml><ToUserName><![CDATA[gh_account]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
//!
//! // What a server does with it.
//! let plain = crypto.decrypt_delivery(&msg_signature, timestamp, nonce, &body)?;
//! let msg = Incoming::parse(&plain)?;
//! let envelope = crypto.encrypt_reply(&msg.reply_text("hello"), timestamp, nonce);
//! assert!(envelope.starts_with("<xml><Encrypt><![CDATA["));
//!
//! // A forged signature is refused before anything is decrypted.
//! let err = crypto.decrypt_delivery("0000000000000000000000000000000000000000", timestamp, nonce, &body).unwrap_err();
//! assert_eq!(err.kind(), CryptoErrorKind::BadSignature);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::convert::Infallible;
use std::fmt;

use crate::cdata;
use crate::reply::PassiveReply;
use crate::signature::{hex_matches, hex_str, signature_hex};
use crate::sink::{Buffer, Frame, Sink, Token};
use aes::Aes256;
use aes::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use quick_xml::Reader;
use quick_xml::events::Event;

/// The length of an EncodingAESKey.
pub const ENCODING_AES_KEY_LEN: usize = 43;

/// The block the plaintext is padded to (PKCS#7 with the platform's block of 32 bytes, not AES's
/// 16).
const PAD_BLOCK: usize = 32;

/// The random bytes and the length before the message.
const HEADER: usize = 20;

/// The decoder of an EncodingAESKey: standard base64 that takes non-zero bits after the last byte
/// (most keys have them).
const KEY_BASE64: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

/// The platform's signature of an encrypted message: the hex SHA-1 of `token`, `timestamp`,
/// `nonce` and `encrypt`, sorted and joined.
///
/// ```
/// // The platform's worked example (its message encryption guide).
/// let encrypt = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
/// let signature = reply_core::crypto::msg_signature("AAAAA", "1713424427", "415670741", encrypt);
/// assert_eq!(signature, "03e0812039325c2712ef5f0f980fd14c70d6e307");
/// ```
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    hex_str(&signature_hex([token, timestamp, nonce, encrypt])).to_owned()
}

/// Which of an account's keys: the one it has now, or the one before (while the platform still
/// uses it, after the account changed its EncodingAESKey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUsed {
    /// The key the account has now.
    Current,
    /// The key it had before.
    Previous,
}

/// An AES-256 key and its IV, the key's first 16 bytes.
#[derive(Clone)]
struct Key([u8; 32]);

impl Key {
    fn parse(encoding_aes_key: &str) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::new(CryptoErrorKind::BadKey, reason);
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(bad("an EncodingAESKey is 43 characters"));
        }
        let mut padded = [b'='; ENCODING_AES_KEY_LEN + 1];
        padded[..ENCODING_AES_KEY_LEN].copy_from_slice(encoding_aes_key.as_bytes());
        let mut key = [0u8; 32];
        match KEY_BASE64.decode_slice(padded, &mut key) {
            Ok(32) => Ok(Key(key)),
            _ => Err(bad("an EncodingAESKey is base64 (letters, digits, `+` and `/`)")),
        }
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    /// Encrypts `blocks` in place with AES-256-CBC.
    fn encrypt(&self, blocks: &mut [u8]) {
        let (blocks, rest) = Array::slice_as_chunks_mut(blocks);
        debug_assert!(rest.is_empty());
        cbc::Encryptor::<Aes256>::new(&self.0.into(), &self.iv().into()).encrypt_blocks(blocks);
    }

    /// Decrypts `blocks` in place.
    fn decrypt(&self, blocks: &mut [u8]) {
        let (blocks, rest) = Array::slice_as_chunks_mut(blocks);
        debug_assert!(rest.is_empty());
        cbc::Decryptor::<Aes256>::new(&self.0.into(), &self.iv().into()).decrypt_blocks(blocks);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// An account's safe-mode settings: its token, its EncodingAESKey (and the one before it, while
/// the platform still uses it) and its AppID. Verifies, decrypts and encrypts as the platform
/// does; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct MessageCrypto {
    token: Box<str>,
    app_id: Box<str>,
    current: Key,
    previous: Option<Key>,
}

impl MessageCrypto {
    /// The settings of an account: its `token`, its 43-character `encoding_aes_key` and its
    /// `app_id`. A key that is not 43 characters of base64 is [`BadKey`](CryptoErrorKind::BadKey);
    /// an AppID that is empty, longer than 64 bytes or not ASCII letters, digits and `_` is
    /// [`BadAppId`](CryptoErrorKind::BadAppId).
    ///
    /// ```
    /// use reply_core::crypto::{CryptoErrorKind, MessageCrypto};
    ///
    /// // The platform's own sample key, whose last character has bits after the 32 bytes.
    /// assert!(MessageCrypto::new("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef").is_ok());
    /// let err = MessageCrypto::new("token", "too short", "wx0123456789abcdef").unwrap_err();
    /// assert_eq!(err.kind(), CryptoErrorKind::BadKey);
    /// ```
    pub fn new(
        token: impl Into<String>,
        encoding_aes_key: &str,
        app_id: impl Into<String>,
    ) -> Result<Self, CryptoError> {
        let app_id = app_id.into();
        let well_formed =
            !app_id.is_empty() && app_id.len() <= 64 && app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Err(CryptoError::new(
                CryptoErrorKind::BadAppId,
                "an AppID is 1 to 64 ASCII letters, digits and `_`",
            ));
        }
        Ok(MessageCrypto {
            token: token.into().into(),
            app_id: app_id.into(),
            current: Key::parse(encoding_aes_key)?,
            previous: None,
        })
    }

    /// Also accepts deliveries encrypted with `encoding_aes_key`, the account's key before it
    /// changed it: the platform lets both be used for a while. A reply is encrypted with the key
    /// that decrypted its delivery.
    ///
    /// ```
    /// use reply_core::crypto::{KeyUsed, MessageCrypto};
    ///
    /// let old = MessageCrypto::new("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "wx0123456789abcdef")?;
    /// let new = MessageCrypto::new("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?
    ///     .with_previous_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")?;
    /// let encrypt = old.encrypt_with_random([7; 16], "<xml></xml>");
    /// assert_eq!(new.decrypt_with_key(&encrypt)?, ("<xml></xml>".to_string(), KeyUsed::Previous));
    /// # Ok::<(), reply_core::crypto::CryptoError>(())
    /// ```
    pub fn with_previous_key(mut self, encoding_aes_key: &str) -> Result<Self, CryptoError> {
        self.previous = Some(Key::parse(encoding_aes_key)?);
        Ok(self)
    }

    /// The account's AppID.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The account's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn key(&self, used: KeyUsed) -> &Key {
        match (used, &self.previous) {
            (KeyUsed::Previous, Some(previous)) => previous,
            _ => &self.current,
        }
    }

    /// Checks `msg_signature` against the signature of `timestamp`, `nonce` and `encrypt` (the
    /// text of `<Encrypt>`), in constant time.
    pub fn verify(&self, msg_signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Result<(), CryptoError> {
        match hex_matches(&signature_hex([&self.token, timestamp, nonce, encrypt]), msg_signature) {
            true => Ok(()),
            false => Err(CryptoError::new(CryptoErrorKind::BadSignature, "msg_signature does not match")),
        }
    }

    /// Decrypts `encrypt`, the text of `<Encrypt>`, and checks the AppID inside: the message.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        self.decrypt_with_key(encrypt).map(|(xml, _)| xml)
    }

    /// [`decrypt`](MessageCrypto::decrypt), and which key did it: the current one, or the
    /// previous one when it is set and the current one fails.
    pub fn decrypt_with_key(&self, encrypt: &str) -> Result<(String, KeyUsed), CryptoError> {
        let ciphertext = decode_ciphertext(encrypt)?;
        let Some(previous) = &self.previous else {
            return self.open(&self.current, ciphertext).map(|xml| (xml, KeyUsed::Current));
        };
        match self.open(&self.current, ciphertext.clone()) {
            Ok(xml) => Ok((xml, KeyUsed::Current)),
            // What the current key's failure said, if the previous one fails too.
            Err(e) => self.open(previous, ciphertext).map(|xml| (xml, KeyUsed::Previous)).map_err(|_| e),
        }
    }

    /// A delivery, as it came: its query's `msg_signature`, `timestamp` and `nonce`, and its
    /// body in safe or compatible mode. The signature is checked first, then the message is
    /// decrypted and its AppID checked. In compatible mode the plaintext elements beside
    /// `<Encrypt>` are not signed, so they are ignored: the message is what `<Encrypt>` holds.
    pub fn decrypt_delivery(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<String, CryptoError> {
        self.decrypt_delivery_with_key(msg_signature, timestamp, nonce, body).map(|(xml, _)| xml)
    }

    /// [`decrypt_delivery`](MessageCrypto::decrypt_delivery), and which key did it, to encrypt
    /// the reply with ([`encrypt_reply_with_key`](MessageCrypto::encrypt_reply_with_key)).
    pub fn decrypt_delivery_with_key(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<(String, KeyUsed), CryptoError> {
        let encrypt = encrypt_element(body)?;
        self.verify(msg_signature, timestamp, nonce, &encrypt)?;
        self.decrypt_with_key(&encrypt)
    }

    /// The plaintext of `ciphertext` (decoded, a whole number of 32-byte blocks), decrypted in
    /// place with `key`: the message, after its padding, length and AppID are checked.
    fn open(&self, key: &Key, mut ciphertext: Vec<u8>) -> Result<String, CryptoError> {
        key.decrypt(&mut ciphertext);
        let pad = usize::from(*ciphertext.last().unwrap_or(&0));
        let bad_padding = |reason| CryptoError::new(CryptoErrorKind::BadPadding, reason);
        if !(1..=PAD_BLOCK).contains(&pad) {
            return Err(bad_padding("the pad value is outside 1 to 32"));
        }
        let unpadded = ciphertext.len() - pad;
        if ciphertext[unpadded..].iter().any(|&b| usize::from(b) != pad) {
            return Err(bad_padding("the pad bytes are not all the pad value"));
        }
        let bad_length = |reason| CryptoError::new(CryptoErrorKind::BadLength, reason);
        let Some(length) = ciphertext.get(16..HEADER) else {
            return Err(bad_length("the plaintext is shorter than its header"));
        };
        // Checked against what is there before anything is sized by it.
        let declared = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let end = HEADER.checked_add(declared).filter(|&end| end <= unpadded);
        let Some(end) = end else {
            return Err(bad_length("the message's length is beyond the plaintext"));
        };
        if ciphertext[end..unpadded] != *self.app_id.as_bytes() {
            return Err(CryptoError::new(CryptoErrorKind::WrongAppId, "the message is for another AppID"));
        }
        ciphertext.truncate(end);
        ciphertext.drain(..HEADER);
        String::from_utf8(ciphertext)
            .map_err(|_| CryptoError::new(CryptoErrorKind::NotUtf8, "the message is not UTF-8"))
    }

    /// `xml` encrypted, with 16 random bytes from the operating system: the text of `<Encrypt>`.
    ///
    /// # Panics
    /// If the operating system can't give random bytes ([`try_encrypt`](MessageCrypto::try_encrypt)
    /// says so instead).
    pub fn encrypt(&self, xml: &str) -> String {
        self.try_encrypt(xml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`encrypt`](MessageCrypto::encrypt), or [`NoRandom`](CryptoErrorKind::NoRandom).
    pub fn try_encrypt(&self, xml: &str) -> Result<String, CryptoError> {
        Ok(self.encrypt_with_random(random()?, xml))
    }

    /// `xml` encrypted with `random` as its 16 random bytes: for tests and known answers.
    pub fn encrypt_with_random(&self, random: [u8; 16], xml: &str) -> String {
        let mut plaintext = Vec::with_capacity(padded_len(HEADER + xml.len() + self.app_id.len()));
        plaintext.extend_from_slice(&[0; HEADER]);
        plaintext.extend_from_slice(xml.as_bytes());
        let mut encrypt = String::new();
        self.seal(KeyUsed::Current, random, &mut plaintext, &mut encrypt);
        encrypt
    }

    /// Pads and encrypts `plaintext` (its header's room, then the message), with the header
    /// filled in, and appends it to `out` as base64.
    fn seal(&self, key: KeyUsed, random: [u8; 16], plaintext: &mut Vec<u8>, out: &mut String) {
        let length = (plaintext.len() - HEADER) as u32;
        plaintext[..16].copy_from_slice(&random);
        plaintext[16..HEADER].copy_from_slice(&length.to_be_bytes());
        plaintext.extend_from_slice(self.app_id.as_bytes());
        let pad = PAD_BLOCK - plaintext.len() % PAD_BLOCK;
        plaintext.resize(plaintext.len() + pad, pad as u8);
        self.key(key).encrypt(plaintext);
        STANDARD.encode_string(&plaintext[..], out);
    }

    /// `reply` in its encrypted envelope, with fresh random bytes: `<Encrypt>`, `<MsgSignature>`
    /// (over `timestamp` and `nonce`, which are written too), `<TimeStamp>`, `<Nonce>`. The empty
    /// reply stays empty: zero bytes, the platform's "no reply", not an encrypted empty string.
    ///
    /// # Panics
    /// If the operating system can't give random bytes
    /// ([`try_encrypt_reply_with_key`](MessageCrypto::try_encrypt_reply_with_key) says so
    /// instead).
    pub fn encrypt_reply<R: PassiveReply + ?Sized>(&self, reply: &R, timestamp: &str, nonce: &str) -> String {
        self.try_encrypt_reply_with_key(KeyUsed::Current, reply, timestamp, nonce).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`encrypt_reply`](MessageCrypto::encrypt_reply) with the key that decrypted the delivery.
    pub fn encrypt_reply_with_key<R: PassiveReply + ?Sized>(
        &self,
        key: KeyUsed,
        reply: &R,
        timestamp: &str,
        nonce: &str,
    ) -> String {
        self.try_encrypt_reply_with_key(key, reply, timestamp, nonce).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`encrypt_reply_with_key`](MessageCrypto::encrypt_reply_with_key), or
    /// [`NoRandom`](CryptoErrorKind::NoRandom).
    pub fn try_encrypt_reply_with_key<R: PassiveReply + ?Sized>(
        &self,
        key: KeyUsed,
        reply: &R,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, CryptoError> {
        self.envelope(key, random()?, reply, timestamp, nonce)
    }

    /// The envelope of `reply` with `random` as its random bytes: two allocations, the plaintext
    /// (the reply written straight into it after the room of its header, then encrypted in
    /// place) and the envelope (the ciphertext's base64 written straight into it). The plaintext
    /// is sized as `to_xml` sizes a reply: one more allocation when escaping lengthens it.
    pub fn envelope<R: PassiveReply + ?Sized>(
        &self,
        key: KeyUsed,
        random: [u8; 16],
        reply: &R,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, CryptoError> {
        let mut plaintext = Plaintext { bytes: Vec::new(), after: self.app_id.len() + PAD_BLOCK };
        let Ok(()) = reply.write_to(&mut plaintext);
        if plaintext.bytes.is_empty() {
            return Ok(String::new());
        }
        Ok(self.seal_envelope(key, random, plaintext.bytes, timestamp, nonce))
    }

    /// The length of the envelope of a reply of `len` bytes (zero for zero).
    pub fn envelope_len(&self, len: usize, timestamp: &str, nonce: &str) -> usize {
        match len {
            0 => 0,
            _ => {
                ENVELOPE_STATIC
                    + padded_len(HEADER + len + self.app_id.len()).div_ceil(3) * 4
                    + text_len(timestamp)
                    + cdata::escaped_len(nonce)
            }
        }
    }

    /// The envelope of `plaintext`, its header's room and a reply: encrypted in place, its
    /// base64 written straight into the envelope.
    fn seal_envelope(
        &self,
        key: KeyUsed,
        random: [u8; 16],
        mut plaintext: Vec<u8>,
        timestamp: &str,
        nonce: &str,
    ) -> String {
        let mut envelope = String::with_capacity(self.envelope_len(plaintext.len() - HEADER, timestamp, nonce));
        envelope.push_str(BEFORE);
        self.seal(key, random, &mut plaintext, &mut envelope);
        let signature = signature_hex([&self.token, timestamp, nonce, &envelope[BEFORE.len()..]]);
        envelope.push_str(SIGNATURE);
        envelope.push_str(hex_str(&signature));
        envelope.push_str(TIMESTAMP);
        write_text(&mut envelope, timestamp);
        envelope.push_str(NONCE);
        let Ok(()) = cdata::write_escaped(&mut envelope, nonce);
        envelope.push_str(AFTER);
        envelope
    }
}

/// The sink a reply is written into for its envelope: the plaintext, which starts, once the reply
/// writes anything, with the room of its header, and keeps `after` bytes of room past the reply
/// for the AppID and the padding. The reply's length is not counted first: a derived reply is
/// written into room of its length as it would be without escaping, grown only if escaping
/// needs more (as `to_xml` does).
struct Plaintext {
    bytes: Vec<u8>,
    after: usize,
}

impl Plaintext {
    fn buffer(&mut self) -> Buffer<'_> {
        Buffer::framed(&mut self.bytes, Frame { before: HEADER, after: self.after })
    }
}

impl Sink for Plaintext {
    type Error = Infallible;

    fn reserve(&mut self, additional: usize) -> Result<(), Infallible> {
        self.buffer().reserve(additional)
    }

    fn write_str(&mut self, s: &str) -> Result<(), Infallible> {
        self.buffer().write_str(s)
    }

    fn buffer(&mut self, _: Token) -> Option<Buffer<'_>> {
        Some(Plaintext::buffer(self))
    }
}

/// The static text of an envelope, and its signature.
const ENVELOPE_STATIC: usize = BEFORE.len() + SIGNATURE.len() + 40 + TIMESTAMP.len() + NONCE.len() + AFTER.len();
const BEFORE: &str = "<xml><Encrypt><![CDATA[";
const SIGNATURE: &str = "]]></Encrypt><MsgSignature><![CDATA[";
const TIMESTAMP: &str = "]]></MsgSignature><TimeStamp>";
const NONCE: &str = "</TimeStamp><Nonce><![CDATA[";
const AFTER: &str = "]]></Nonce></xml>";

/// The length of `len` bytes padded to the platform's block.
fn padded_len(len: usize) -> usize {
    (len / PAD_BLOCK + 1) * PAD_BLOCK
}

/// How a character of `s` is written as the text of an element: `<`, `&` and `>` as references
/// (so a `]]>` can't stand in text, where XML forbids it), a character XML forbids as U+FFFD, as
/// CDATA writes it; anything else as it is.
fn text_piece(c: char, utf8: &mut [u8; 4]) -> &str {
    match c {
        '<' => "&lt;",
        '&' => "&amp;",
        '>' => "&gt;",
        '\t' | '\n' | '\r' => c.encode_utf8(utf8),
        '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => "\u{FFFD}",
        c => c.encode_utf8(utf8),
    }
}

/// The length of `s` written as the text of an element.
fn text_len(s: &str) -> usize {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.len();
    }
    s.chars().map(|c| text_piece(c, &mut [0; 4]).len()).sum()
}

/// Writes `s` as the text of an element. (A timestamp is digits, and the endpoint refuses any
/// other; this keeps any other text from being read as markup or making the envelope ill-formed.)
fn write_text(out: &mut String, s: &str) {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return out.push_str(s);
    }
    for c in s.chars() {
        out.push_str(text_piece(c, &mut [0; 4]));
    }
}

/// 16 random bytes from the operating system.
fn random() -> Result<[u8; 16], CryptoError> {
    let mut bytes = [0; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| CryptoError::new(CryptoErrorKind::NoRandom, "the operating system gave no random bytes"))?;
    Ok(bytes)
}

/// The base64 text of `<Encrypt>`, decoded: a whole number of the platform's 32-byte blocks, of
/// at least one.
fn decode_ciphertext(encrypt: &str) -> Result<Vec<u8>, CryptoError> {
    let bytes = STANDARD
        .decode(encrypt.trim())
        .map_err(|_| CryptoError::new(CryptoErrorKind::BadBase64, "<Encrypt> is not base64"))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(PAD_BLOCK) {
        return Err(CryptoError::new(
            CryptoErrorKind::BadLength,
            "the ciphertext is not a whole number of 32-byte blocks",
        ));
    }
    Ok(bytes)
}

/// The text of the `<Encrypt>` element of a delivery's body (safe or compatible mode).
pub(crate) fn encrypt_element(body: &str) -> Result<String, CryptoError> {
    let none = |reason| CryptoError::new(CryptoErrorKind::NoEncrypt, reason);
    if body.len() > crate::incoming::DEFAULT_MAX_BODY_LEN {
        return Err(none("the body is longer than 1 MiB"));
    }
    let mut reader = Reader::from_str(body);
    let mut depth = 0usize;
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                depth += 1;
                if depth > crate::incoming::MAX_DEPTH {
                    return Err(none("elements nest too deep"));
                }
                inside = depth == 2 && start.name().as_ref() == b"Encrypt";
            }
            Ok(Event::End(_)) => {
                if inside {
                    return Ok(text);
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::CData(cdata)) if inside => {
                text.push_str(std::str::from_utf8(&cdata).map_err(|_| none("<Encrypt> is not UTF-8"))?);
            }
            Ok(Event::Text(t)) if inside => {
                text.push_str(&t.decode().map_err(|_| none("<Encrypt> is not UTF-8"))?);
            }
            Ok(Event::DocType(_)) => return Err(none("the body declares a DTD")),
            Ok(Event::Eof) => return Err(none("the body has no <Encrypt> element")),
            Ok(_) => {}
            Err(_) => return Err(none("the body is not well-formed XML")),
        }
    }
}

/// Why a delivery couldn't be opened, or a key or AppID was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError {
    kind: CryptoErrorKind,
    reason: &'static str,
}

/// What [`CryptoError`] refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoErrorKind {
    /// The EncodingAESKey is not 43 characters of base64.
    BadKey,
    /// The AppID is empty, too long, or not ASCII letters, digits and `_`.
    BadAppId,
    /// `msg_signature` is not the signature of the timestamp, nonce and `<Encrypt>`.
    BadSignature,
    /// `<Encrypt>` is not base64.
    BadBase64,
    /// The ciphertext is not a whole number of 32-byte blocks, or the plaintext is too short for
    /// its header or for the length it declares.
    BadLength,
    /// The padding is not PKCS#7 to 32 bytes: a pad value outside 1 to 32, or pad bytes that are
    /// not all that value (what a wrong key gives, mostly).
    BadPadding,
    /// The AppID inside is another account's.
    WrongAppId,
    /// The message is not UTF-8.
    NotUtf8,
    /// The body has no `<Encrypt>` element, or is not XML.
    NoEncrypt,
    /// The operating system gave no random bytes to encrypt with.
    NoRandom,
}

impl CryptoError {
    fn new(kind: CryptoErrorKind, reason: &'static str) -> Self {
        CryptoError { kind, reason }
    }

    /// What was refused.
    pub fn kind(&self) -> CryptoErrorKind {
        self.kind
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for CryptoError {}
