use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(music)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    thumb_media: &'a str,
}

fn main() {}
