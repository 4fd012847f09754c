use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text, crate = "my framework::reply")]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    content: &'a str,
}

fn main() {}
