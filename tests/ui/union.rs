use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text)]
union Hello {
    content: u32,
}

fn main() {}
