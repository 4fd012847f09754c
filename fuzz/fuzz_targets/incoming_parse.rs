//! `Incoming::parse` on any input: it returns, never panics, and whatever it accepts can be
//! answered, and the answer parses back with the addresses swapped. The raw access by path walks
//! every element and its children without panicking. Its two readers agree: the plain one reads
//! what quick-xml reads the same, and the answer is quick-xml's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passive_reply::{Incoming, PassiveReply};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let options = passive_reply::ParseOptions::new();
    let by_quick_xml = passive_reply::__private::parse_by_quick_xml(body, options);
    assert_eq!(Incoming::parse(body), by_quick_xml);
    if let Some(plain) = passive_reply::__private::parse_plainly(body, options) {
        assert_eq!(Ok(plain), by_quick_xml);
    }
    match Incoming::parse(body) {
        Ok(msg) => {
            let _ = (msg.message(), msg.dedup_key(), msg.seed_dedup_key(), msg.fields().count(), msg.msg_id());
            // Top-level elements by path, and from each, its children, their children, and so on.
            if let Some((first, _)) = msg.fields().next() {
                let mut stack: Vec<passive_reply::RawElement<'_>> = msg.elements(first).collect();
                let _ = msg.field_at(first);
                while let Some(element) = stack.pop() {
                    let _ = (element.name(), element.text(), element.field(first), element.field_at(first));
                    stack.extend(element.children());
                }
            }
            let reply = msg.reply_text(msg.field("Content").unwrap_or("ok")).to_xml();
            let back = Incoming::parse(&reply).expect("a reply parses");
            assert_eq!(back.to_user_name(), msg.from_user_name().replace(is_forbidden, "\u{FFFD}"));
            assert_eq!(back.from_user_name(), msg.to_user_name().replace(is_forbidden, "\u{FFFD}"));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}
