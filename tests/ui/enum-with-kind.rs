use passive_reply::{PassiveReply, Text};

#[derive(PassiveReply)]
#[reply(text)]
enum Answer<'a> {
    Say(Text<'a>),
}

fn main() {}
