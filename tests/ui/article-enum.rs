use passive_reply::NewsArticle;

#[derive(NewsArticle)]
enum Post {
    A,
}

fn main() {}
