use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(image)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    media: &'a str,
}

fn main() {}
