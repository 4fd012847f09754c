use passive_reply::{Empty, PassiveReply, Text};

#[derive(PassiveReply)]
enum Answer<'a> {
    Say(Text<'a>),
    Both(Text<'a>, Empty),
    Named { reply: Text<'a> },
    Nothing,
}

fn main() {}
