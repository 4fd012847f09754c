//! Safe mode's way in, on any input: the envelope parser and `decrypt_delivery` on any body,
//! `decrypt` on any `<Encrypt>` text, and `decrypt` on any plaintext encrypted the platform's
//! way (so that the checks behind the cipher, of padding, length, AppID and UTF-8, are reached).
//! They return, never panic; what they accept agrees with the other paths and re-encrypts to
//! what came in.
//!
//! The first byte picks the path: 0 a body, 1 a plaintext, 2 an `<Encrypt>` text.
#![no_main]

use aes::cipher::{Array, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use passive_reply::crypto::{CryptoErrorKind, KeyUsed, MessageCrypto, msg_signature};

/// The platform's worked example's account (an all-`A` key: AES key and IV all zero), with a
/// previous key, so that rotation is on the way too.
const TOKEN: &str = "AAAAA";
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PREVIOUS: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx134c8103faa5a59e";
const TIMESTAMP: &str = "1715943329";
const NONCE: &str = "1590219412";

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, KEY, APP_ID).unwrap().with_previous_key(PREVIOUS).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&path, data)) = data.split_first() else { return };
    match path % 3 {
        0 => body(data),
        1 => plaintext(data),
        _ => encrypt_text(data),
    }
});

/// A delivery's body: `decrypt_delivery` refuses it for the parser's reason, or (signed over
/// the `<Encrypt>` text the parser reads) opens it as `decrypt` opens that text, and refuses
/// it with another signature.
fn body(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let crypto = crypto();
    let wrong = "0".repeat(40);
    match passive_reply::__private::encrypt_element(body) {
        Ok(encrypt) => {
            let signature = msg_signature(TOKEN, TIMESTAMP, NONCE, &encrypt);
            let opened = crypto.decrypt_delivery_with_key(&signature, TIMESTAMP, NONCE, body);
            assert_eq!(opened, crypto.decrypt_with_key(&encrypt));
            let refused = crypto.decrypt_delivery(&wrong, TIMESTAMP, NONCE, body).unwrap_err();
            assert_eq!(refused.kind(), CryptoErrorKind::BadSignature);
        }
        Err(e) => {
            assert_eq!(e.kind(), CryptoErrorKind::NoEncrypt);
            assert_eq!(crypto.decrypt_delivery(&wrong, TIMESTAMP, NONCE, body), Err(e));
            let _ = e.to_string();
        }
    }
}

/// Any plaintext (cut to whole 16-byte blocks), encrypted with the current key (or, when the
/// input's first byte is odd, the previous one) and base64-encoded: `decrypt` opens it only with
/// that key, and what it opens re-encrypts, with the same random bytes, to the same text.
fn plaintext(data: &[u8]) {
    let Some((&which, data)) = data.split_first() else { return };
    let mut blocks = data[..data.len() / 16 * 16].to_vec();
    let (used, key) = match which % 2 {
        0 => (KeyUsed::Current, KEY),
        _ => (KeyUsed::Previous, PREVIOUS),
    };
    let key: [u8; 32] = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
    .decode(format!("{key}="))
    .unwrap()
    .try_into()
    .unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let (chunks, _) = Array::slice_as_chunks_mut(&mut blocks);
    cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt_blocks(chunks);
    let encrypt = STANDARD.encode(&blocks);
    let crypto = crypto();
    match crypto.decrypt_with_key(&encrypt) {
        Ok((xml, key)) => {
            assert_eq!(key, used);
            let random: [u8; 16] = data[..16].try_into().unwrap();
            let again = match used {
                KeyUsed::Current => crypto.encrypt_with_random(random, &xml),
                KeyUsed::Previous => MessageCrypto::new(TOKEN, PREVIOUS, APP_ID).unwrap().encrypt_with_random(random, &xml),
                // `KeyUsed` is non-exhaustive; a key this target did not use can't be reported.
                other => panic!("decrypted with {other:?}, which this target never uses"),
            };
            assert_eq!(again, encrypt);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Any `<Encrypt>` text: `decrypt` returns.
fn encrypt_text(data: &[u8]) {
    let Ok(encrypt) = std::str::from_utf8(data) else { return };
    if let Err(e) = crypto().decrypt(encrypt) {
        let _ = e.to_string();
    }
}
