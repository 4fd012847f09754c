use passive_reply::NewsArticle;

#[derive(NewsArticle)]
struct Post {
    title: u64,
    url: Option<Vec<u8>>,
}

fn main() {}
