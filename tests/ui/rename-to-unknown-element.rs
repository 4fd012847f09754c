use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    #[reply(rename = "Contnet")]
    body: &'a str,
}

fn main() {}
