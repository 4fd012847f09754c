use passive_reply::{PassiveReply, Text};

#[derive(PassiveReply)]
enum Answer<'a> {
    Say(Text<'a>),
    Raw(String),
}

fn main() {}
