use passive_reply::PassiveReply;
#[derive(passive_reply::NewsArticle)]
struct Post<'a> {
    title: &'a str,
    url: &'a str,
}

#[derive(PassiveReply)]
#[reply(news)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; 11],
}

fn main() {}
