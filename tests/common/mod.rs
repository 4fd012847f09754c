//! What more than one test file needs.

/// The value a parser reads back from an emitted element: every character XML forbids replaced
/// by U+FFFD, everything else as given.
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
