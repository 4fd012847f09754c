//! A fixed buffer that is too small: an error, and not a byte written, inside it or past it.

use passive_reply::{Article, Articles, News, PassiveReply, SliceSink, Text};

fn check(reply: &impl PassiveReply) {
    let len = reply.encoded_len();
    const GUARD: usize = 64;
    for short_by in [1, 2, len / 2, len] {
        // The sink gets the first `len - short_by` bytes; the guard after them must stay 0xAA.
        let mut memory = vec![0x55u8; len - short_by + GUARD];
        memory[len - short_by..].fill(0xAA);
        let (inside, guard) = memory.split_at_mut(len - short_by);
        let err = reply.write_to(&mut SliceSink::new(inside)).unwrap_err();
        assert_eq!((err.needed(), err.available()), (len, len - short_by));
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert!(inside.iter().all(|&b| b == 0x55), "a byte inside the buffer was written");
        assert!(guard.iter().all(|&b| b == 0xAA), "a byte past the buffer's end was written");
    }
    // One byte more than needed: written, with one byte left.
    let mut roomy = vec![0u8; len + 1];
    let mut sink = SliceSink::new(&mut roomy);
    reply.write_to(&mut sink).unwrap();
    assert_eq!(sink.remaining(), 1);
    assert_eq!(sink.as_str(), reply.to_xml());
}

#[test]
fn one_byte_too_small_writes_nothing() {
    check(&Text::new("toUser", "fromUser", "你好]]>").with_create_time(12345678));
    let articles: Articles<Article> = vec![Article::new().title("标题").url("u"); 10].try_into().unwrap();
    check(&News::new("toUser", "fromUser", articles).with_create_time(12345678));
}

#[test]
fn a_sink_without_reserve_still_stops_at_the_end() {
    // Writing piece by piece (as a hand-written reply that skips `reserve` would) refuses the
    // piece that does not fit, and writes nothing past the end.
    let mut memory = [0u8; 12];
    let (inside, guard) = memory.split_at_mut(8);
    let mut sink = SliceSink::new(inside);
    passive_reply::Sink::write_str(&mut sink, "<xml>").unwrap();
    let err = passive_reply::Sink::write_str(&mut sink, "<Content>").unwrap_err();
    assert_eq!((err.needed(), err.available()), (9, 3));
    assert_eq!(sink.as_str(), "<xml>");
    assert_eq!(guard, [0u8; 4]);
}
