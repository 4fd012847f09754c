//! Safe mode's cost: a reply in its encrypted envelope (`MessageCrypto::envelope`: the reply
//! written into the plaintext, encrypted in place, its base64 written into the envelope, signed)
//! against two baselines on a plaintext already built: what the same AES, CBC and base64 crates
//! take to encrypt and encode it (copied into a buffer first), and that plus the SHA-1 of the
//! signature, which the platform computes over the base64 text and every envelope needs.
//! `cargo bench --features crypto --bench crypto`; BENCHMARKS.md has the figures.

use std::hint::black_box;
use std::time::Duration;

use aes::cipher::{Array, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use passive_reply::PassiveReply;
use passive_reply::crypto::{KeyUsed, MessageCrypto};
use sha1::{Digest, Sha1};

// Shared with the other benchmarks; this one uses two of them.
#[allow(dead_code)]
mod payloads;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx0123456789abcdef";

/// The plaintext the platform's algorithm encrypts for `xml`: 16 random bytes, the length, the
/// message, the AppID, PKCS#7 padding to 32 bytes.
fn plaintext(xml: &[u8]) -> Vec<u8> {
    let mut plaintext = vec![7u8; 16];
    plaintext.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plaintext.extend_from_slice(xml);
    plaintext.extend_from_slice(APP_ID.as_bytes());
    let pad = 32 - plaintext.len() % 32;
    plaintext.extend(std::iter::repeat_n(pad as u8, pad));
    plaintext
}

fn payload(c: &mut Criterion, name: &str, reply: &impl PassiveReply) {
    let crypto = MessageCrypto::new("token", KEY, APP_ID).unwrap();
    let key: [u8; 32] = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
    .decode(format!("{KEY}="))
    .unwrap()
    .try_into()
    .unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let xml = reply.to_xml();
    let built = plaintext(xml.as_bytes());

    // The envelope holds what the baseline makes.
    let envelope = crypto.envelope(KeyUsed::Current, [7; 16], reply, "1713424427", "415670741").unwrap();
    // The baseline: the plaintext copied into a buffer, encrypted in place, its base64 written.
    let encrypt = |buf: &mut Vec<u8>, out: &mut String| {
        buf.copy_from_slice(black_box(&built));
        let (blocks, _) = Array::slice_as_chunks_mut(buf);
        cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt_blocks(blocks);
        out.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&buf, out);
    };
    let (mut buf, mut out) = (built.clone(), String::new());
    encrypt(&mut buf, &mut out);
    assert!(envelope.contains(&out));
    assert!(envelope.contains(&passive_reply::crypto::msg_signature("token", "1713424427", "415670741", &out)));

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(xml.len() as u64));
    group.bench_function("envelope (reply written, encrypted, encoded, signed)", |b| {
        b.iter(|| black_box(crypto.envelope(KeyUsed::Current, [7; 16], black_box(reply), "1713424427", "415670741")))
    });
    group.bench_function("baseline: AES-256-CBC and base64 of the plaintext already built", |b| {
        b.iter(|| {
            encrypt(&mut buf, &mut out);
            black_box(&out);
        })
    });
    group.bench_function("baseline and the signature's SHA-1 over the base64", |b| {
        b.iter(|| {
            encrypt(&mut buf, &mut out);
            let mut parts = ["token", "1713424427", "415670741", out.as_str()];
            parts.sort_unstable();
            let mut hash = Sha1::new();
            for part in parts {
                hash.update(part.as_bytes());
            }
            black_box(hash.finalize());
            black_box(&out);
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    payload(c, "encrypted short text", &payloads::short_text());
    payload(c, "encrypted news, 10 articles", &payloads::news());
}

// The macro defines a public function that has no place for documentation.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = crypto;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
    }
}
criterion_main!(group::crypto);
