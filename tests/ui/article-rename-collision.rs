use passive_reply::NewsArticle;

#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
    #[reply(rename = "Title")]
    headline: &'a str,
}

fn main() {}
