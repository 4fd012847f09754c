//! The ratios the speed targets of `BENCHMARKS.md` are stated in, each taken in one process with
//! the two sides interleaved: rounds of a few thousand calls of one, then of the other (the
//! order swapped every round), and the median of the rounds' ratios. On a shared VM whose speed
//! drifts by a third from one second to the next, `cargo bench --bench emit` times the two sides
//! seconds apart and its ratios move with the drift (1.38x, 0.87x and 1.72x for the same two
//! functions in three runs); here both sides of a ratio see the same machine.
//!
//! `cargo bench -p passive-reply-benches --bench ratios [-- rounds]` (default 400 rounds).

use std::hint::black_box;
use std::time::Instant;

use passive_reply::PassiveReply;

// The long and hostile texts are for the other benchmarks.
#[allow(dead_code)]
mod payloads;

/// Nanoseconds per call of `f`, over `calls` calls.
fn time(calls: u32, f: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Prints `a`'s and `b`'s median time per call and the median of the rounds' ratios `a / b`.
fn ratio(name: &str, rounds: usize, calls: u32, mut a: impl FnMut(), mut b: impl FnMut()) {
    // Warm up: caches, branch predictors, the allocator's free lists.
    time(calls * 10, &mut a);
    time(calls * 10, &mut b);
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (x, y) = match round % 2 {
            0 => {
                let x = time(calls, &mut a);
                (x, time(calls, &mut b))
            }
            _ => {
                let y = time(calls, &mut b);
                (time(calls, &mut a), y)
            }
        };
        ta.push(x);
        tb.push(y);
        ratios.push(x / y);
    }
    let (ma, mb, mr) = (median(&mut ta), median(&mut tb), median(&mut ratios));
    println!("{name}: {ma:.1} ns / {mb:.1} ns, median of {rounds} rounds' ratios {mr:.2}x");
}

/// `reply` written into `buf`, emptied first: the derived `write_to` into a reused `Vec`.
fn write_reused(reply: &impl PassiveReply, buf: &mut Vec<u8>) {
    buf.clear();
    let Ok(()) = black_box(reply).write_to(buf);
    black_box(buf);
}

fn main() {
    let rounds = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(400);

    let short = payloads::short_text();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut reused = Vec::with_capacity(16 * 1024);
    ratio(
        "short text, to_xml / write_to reused Vec",
        rounds,
        2000,
        || drop(black_box(black_box(&short).to_xml())),
        || write_reused(&short, &mut buf),
    );
    // What stands between the two: an allocation of the reply's length and its free, alone.
    let len = short.to_xml().len();
    ratio(
        "short text, malloc and free of its length / write_to reused Vec",
        rounds,
        2000,
        || drop(black_box(String::with_capacity(black_box(len)))),
        || write_reused(&short, &mut buf),
    );

    let news = payloads::news();
    let expected = news.to_xml();
    let mut check = Vec::new();
    unchecked_news(&news, &mut check);
    assert_eq!(check, expected.as_bytes(), "the unchecked writer writes the same reply");
    ratio(
        "news, 10 articles, write_to reused Vec / memcpy of the known output",
        rounds,
        500,
        || write_reused(&news, &mut buf),
        || {
            reused.clear();
            reused.extend_from_slice(black_box(expected.as_bytes()));
            black_box(&reused);
        },
    );
    // What a writer of the same pieces costs with no check at all: each of the reply's pieces
    // (56 of static text and 44 values) appended as it is, no value looked at.
    ratio(
        "news, 10 articles, its pieces appended unchecked / memcpy of the known output",
        rounds,
        500,
        || {
            buf.clear();
            unchecked_news(black_box(&news), &mut buf);
            black_box(&buf);
        },
        || {
            reused.clear();
            reused.extend_from_slice(black_box(expected.as_bytes()));
            black_box(&reused);
        },
    );
}

/// The news reply's pieces appended one by one, as a writer that trusts its values would: what
/// writing them costs when no value is looked at, beside the derived writer, which checks each.
fn unchecked_news(d: &payloads::Digest, out: &mut Vec<u8>) {
    let mut put = |s: &str| out.extend_from_slice(s.as_bytes());
    put("<xml><ToUserName><![CDATA[");
    put(&d.to_user_name);
    put("]]></ToUserName><FromUserName><![CDATA[");
    put(&d.from_user_name);
    put("]]></FromUserName><CreateTime>");
    put(itoa(d.create_time, &mut [0; 20]));
    put("</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>");
    put(itoa(d.articles.item.len() as u64, &mut [0; 20]));
    put("</ArticleCount><Articles>");
    for a in &d.articles.item {
        put("<item><Title><![CDATA[");
        put(&a.title);
        put("]]></Title><Description><![CDATA[");
        put(&a.description);
        put("]]></Description><PicUrl><![CDATA[");
        put(&a.pic_url);
        put("]]></PicUrl><Url><![CDATA[");
        put(&a.url);
        put("]]></Url></item>");
    }
    put("</Articles></xml>");
}

/// `n` in decimal, in `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("digits")
}
