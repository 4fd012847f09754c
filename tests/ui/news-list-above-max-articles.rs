use passive_reply::PassiveReply;
#[derive(passive_reply::NewsArticle)]
struct Post<'a> {
    title: &'a str,
    url: &'a str,
}

#[derive(PassiveReply)]
#[reply(news, max_articles = 3)]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: passive_reply::Articles<Post<'a>>,
}

fn main() {}
