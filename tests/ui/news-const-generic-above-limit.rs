use passive_reply::{NewsArticle, PassiveReply};

#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
}

#[derive(PassiveReply)]
#[reply(news)]
struct Digest<'a, const N: usize> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; N],
}

fn answer(reply: &impl PassiveReply) -> String {
    reply.to_xml()
}

fn main() {
    let posts: [Post; 11] = std::array::from_fn(|_| Post { title: "t" });
    let digest = Digest { to_user_name: "u", from_user_name: "a", create_time: 1, articles: posts };
    answer(&digest);
}
