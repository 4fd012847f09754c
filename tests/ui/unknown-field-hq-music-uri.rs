use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(music)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    thumb_media_id: &'a str,
    hq_music_uri: Option<&'a str>,
}

fn main() {}
