//! What more than one test file needs.

/// Asserts that a typed message or event (`Message`, `Event`) is the variant named, each field
/// listed equal to its value; `Message::Event(Event::…)` reaches through the event. Their
/// struct-like variants are `#[non_exhaustive]`: no crate but the core can build one to compare
/// with, and a pattern names the fields it checks. `$actual` is taken by value.
#[allow(unused_macros)] // not every test file that shares this module reads typed messages
macro_rules! assert_is {
    (@context) => { String::new() };
    (@context $($context:tt)+) => { format!(" ({})", format_args!($($context)+)) };
    ($actual:expr, $outer:ident :: $wrap:ident ( $($variant:ident)::+ { $($field:ident : $value:expr),* $(,)? } ) $(, $($context:tt)+)?) => {
        match $actual {
            $outer::$wrap(inner) => assert_is!(inner, $($variant)::+ { $($field: $value),* } $(, $($context)+)?),
            other => panic!("expected {}, got {other:?}{}", stringify!($outer::$wrap), assert_is!(@context $($($context)+)?)),
        }
    };
    ($actual:expr, $($variant:ident)::+ { $($field:ident : $value:expr),* $(,)? } $(, $($context:tt)+)?) => {{
        let context = assert_is!(@context $($($context)+)?);
        match $actual {
            $($variant)::+ { $($field,)* .. } => {
                $(assert_eq!($field, $value, "{}{context}", stringify!($field));)*
            }
            other => panic!("expected {}, got {other:?}{context}", stringify!($($variant)::+)),
        }
    }};
}

#[allow(dead_code)] // only the tests that run the example
pub mod example;
#[allow(dead_code)] // not every test file that shares this module serves
pub mod http;
#[allow(dead_code)] // only the cross-instance tests start Redis
pub mod redis_server;

/// The value a parser reads back from an emitted element: every character XML forbids replaced
/// by U+FFFD, everything else as given.
#[allow(dead_code)] // not every test file that shares this module reads values back
pub fn read_back(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            _ => c,
        })
        .collect()
}

use quick_xml::events::Event;

/// One element of a parsed document: its path from the root, and its text if it has no children.
pub type Node = (String, Option<String>);

/// Parses `xml` with quick-xml into its elements in document order; panics on XML that is not
/// well-formed.
#[allow(dead_code)] // not every test file that shares this module parses
pub fn parse(xml: &str) -> Vec<Node> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<(String, usize)> = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not XML ({e}): {xml:?}")) {
            Event::Start(start) => {
                let name = String::from_utf8(start.name().as_ref().to_vec()).unwrap();
                let path = match open.last() {
                    Some((parent, _)) => format!("{parent}/{name}"),
                    None => name,
                };
                open.push((path.clone(), nodes.len()));
                nodes.push((path, None));
            }
            Event::End(_) => {
                open.pop();
            }
            Event::CData(text) => {
                let (_, at) = open.last().expect("text inside an element");
                let text = String::from_utf8(text.into_inner().into_owned()).unwrap();
                nodes[*at].1.get_or_insert_with(String::new).push_str(&text);
            }
            Event::Text(text) => {
                let (_, at) = open.last().expect("text inside an element");
                let text = String::from_utf8(text.into_inner().into_owned()).unwrap();
                nodes[*at].1.get_or_insert_with(String::new).push_str(&text);
            }
            Event::GeneralRef(reference) => {
                let (_, at) = open.last().expect("a reference inside an element");
                let text = match reference.into_inner().as_ref() {
                    b"lt" => "<",
                    b"gt" => ">",
                    b"amp" => "&",
                    b"quot" => "\"",
                    b"apos" => "'",
                    other => panic!("an undefined entity {other:?} in {xml:?}"),
                };
                nodes[*at].1.get_or_insert_with(String::new).push_str(text);
            }
            Event::Eof => break,
            other => panic!("unexpected {other:?} in {xml:?}"),
        }
    }
    assert!(open.is_empty(), "unclosed elements in {xml:?}");
    nodes
}

/// The text of the element `name` (`Encrypt`, `MsgSignature`, `TimeStamp`, `Nonce`) of an
/// encrypted reply's envelope, read with [`parse`]; panics if it has none.
#[allow(dead_code)] // not every test file that shares this module reads envelopes
pub fn envelope_field(envelope: &str, name: &str) -> String {
    let path = format!("xml/{name}");
    parse(envelope)
        .into_iter()
        .find_map(|(at, text)| (at == path).then(|| text.unwrap_or_default()))
        .unwrap_or_else(|| panic!("no <{name}> in {envelope:?}"))
}
