use passive_reply::NewsArticle;

#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
    link: &'a str,
    pic: Option<&'a str>,
}

fn main() {}
