use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text)]
struct Hello<'a>(&'a str, &'a str, u64, &'a str);

fn main() {}
