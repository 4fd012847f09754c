// A list of articles gives its articles and nothing else.
use passive_reply::{Article, ArticleList};

struct List(Vec<Article<'static>>);

impl ArticleList<10> for List {
    type Item = Article<'static>;

    fn articles(&self) -> &[Article<'static>] {
        &self.0
    }

    fn clean_items_len(&self) -> usize {
        0
    }
}

fn main() {}
