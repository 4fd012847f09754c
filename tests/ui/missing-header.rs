use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text)]
struct Reply<'a> {
    content: &'a str,
}

fn main() {}
