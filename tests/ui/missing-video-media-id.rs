use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(video)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    title: Option<&'a str>,
}

fn main() {}
