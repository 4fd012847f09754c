use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(music)]
struct Song<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    title: Option<&'a str>,
}

fn main() {
    // No follow-on "PassiveReply is not implemented" error: the derive left a stub impl.
    let song = Song { to_user_name: "u", from_user_name: "a", create_time: 1, title: None };
    let _ = song.to_xml();
}
