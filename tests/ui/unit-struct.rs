use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text)]
struct Nothing;

fn main() {}
