//! The derived `write_to` of one payload in a loop, for counting instructions with callgrind,
//! which, unlike time on this VM, gives the same figure from one run to the next:
//! `bash benches/instructions.sh` prints the instructions per reply of each payload.
//!
//! Run alone: `cargo bench -p passive-reply-benches --bench instructions -- <short|long|long6|hostile|news|parse> <count> [sse2]
//! [to_xml] [slice]` (`sse2`: with the 16-lane vectors forced, as on a CPU without AVX2; `to_xml`:
//! each reply by `to_xml`, its allocation and its free included, instead of into a reused `Vec`;
//! `slice`: into a fixed buffer, `SliceSink`, the piece-by-piece path of every sink but `Vec<u8>`
//! and `String`). `parse`: `Incoming::parse` of an inbound text message instead of a reply.

use std::hint::black_box;

use passive_reply::PassiveReply;

mod payloads;

fn write_many(reply: &impl PassiveReply, count: usize) {
    let to_xml = std::env::args().any(|a| a == "to_xml");
    let slice = std::env::args().any(|a| a == "slice");
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut fixed = vec![0u8; 64 * 1024];
    for _ in 0..count {
        if slice {
            let mut sink = passive_reply::SliceSink::new(&mut fixed);
            black_box(reply).write_to(&mut sink).expect("64 KiB holds every payload");
            black_box(sink.as_bytes());
            continue;
        }
        if to_xml {
            black_box(black_box(reply).to_xml());
            continue;
        }
        buf.clear();
        let Ok(()) = black_box(reply).write_to(&mut buf);
        black_box(&buf);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let count = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10_000);
    passive_reply::__private::force_narrow_vectors(args.iter().any(|a| a == "sse2"));
    match args.first().map(String::as_str) {
        Some("short") => write_many(&payloads::short_text(), count),
        Some("long") => write_many(&payloads::long_text(), count),
        Some("long6") => write_many(&payloads::long_text_6k(), count),
        Some("hostile") => write_many(&payloads::hostile_text(), count),
        Some("news") => write_many(&payloads::news(), count),
        Some("parse") => {
            // The inbound text message of `emit.rs`'s parse benchmark, parsed `count` times.
            for _ in 0..count {
                black_box(passive_reply::Incoming::parse(black_box(payloads::INBOUND)).expect("a valid message"));
            }
        }
        _ => eprintln!("usage: instructions <short|long|long6|hostile|news|parse> [count] [sse2]"),
    }
}
