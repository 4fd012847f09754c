//! Article lists that are within the limit compile and build: arrays of 1 and 10, a named const,
//! a const generic used with an allowed length, a tightened limit, and `Articles<A, N>`.

use passive_reply::{Articles, NewsArticle, PassiveReply};

#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
}

const TEN: usize = 10;

#[derive(PassiveReply)]
#[reply(news)]
struct One<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; 1],
}

#[derive(PassiveReply)]
#[reply(news)]
struct Ten<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; TEN],
}

#[derive(PassiveReply)]
#[reply(news)]
struct Generic<'a, const N: usize> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; N],
}

#[derive(PassiveReply)]
#[reply(news, max_articles = 3)]
struct Three<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: Articles<Post<'a>, 3>,
}

fn main() {
    let post = || Post { title: "t" };
    let one = One { to_user_name: "u", from_user_name: "a", create_time: 1, articles: [post()] };
    let ten = Ten { to_user_name: "u", from_user_name: "a", create_time: 1, articles: std::array::from_fn(|_| post()) };
    let four = Generic { to_user_name: "u", from_user_name: "a", create_time: 1, articles: [post(), post(), post(), post()] };
    let three = Three { to_user_name: "u", from_user_name: "a", create_time: 1, articles: Articles::bounded(post()) };
    assert!(one.to_xml().contains("<ArticleCount>1</ArticleCount>"));
    assert!(ten.to_xml().contains("<ArticleCount>10</ArticleCount>"));
    assert!(four.to_xml().contains("<ArticleCount>4</ArticleCount>"));
    assert!(three.to_xml().contains("<ArticleCount>1</ArticleCount>"));
}
