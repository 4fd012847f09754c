use passive_reply::NewsArticle;

#[derive(NewsArticle)]
#[reply(news, max_articles = 3)]
struct Post<'a> {
    title: &'a str,
}

fn main() {}
