//! What `#[derive(PassiveReply)]` and `#[derive(NewsArticle)]` generate calls to. Not a public
//! API: its items may change in any release.

pub use crate::news::{ArticleList, NewsArticle};
pub use crate::reply::PassiveReply;
pub use crate::sink::Sink;
pub use crate::value::{CreateTime, TextValue};

use crate::cdata;
use crate::value::{DecimalBuf, UnixSeconds};

#[inline]
pub fn text_len<T: TextValue + ?Sized>(value: &T) -> usize {
    cdata::escaped_len(value.as_text())
}

#[inline]
pub fn write_text<S: Sink + ?Sized, T: TextValue + ?Sized>(sink: &mut S, value: &T) -> Result<(), S::Error> {
    cdata::write_escaped(sink, value.as_text())
}

#[inline]
pub fn create_time_len<T: CreateTime + ?Sized>(value: &T) -> usize {
    value.unix_seconds().decimal_len()
}

#[inline]
pub fn write_create_time<S: Sink + ?Sized, T: CreateTime + ?Sized>(sink: &mut S, value: &T) -> Result<(), S::Error> {
    sink.write_str(value.unix_seconds().decimal(&mut DecimalBuf::new()))
}

#[inline]
pub fn article_count_len<const MAX: usize, L: ArticleList<MAX> + ?Sized>(list: &L) -> usize {
    UnixSeconds::from_u64(list.articles().len() as u64).decimal_len()
}

#[inline]
pub fn write_article_count<const MAX: usize, S: Sink + ?Sized, L: ArticleList<MAX> + ?Sized>(
    sink: &mut S,
    list: &L,
) -> Result<(), S::Error> {
    sink.write_str(DecimalBuf::new().format(false, list.articles().len() as u64))
}

#[inline]
pub fn items_len<const MAX: usize, L: ArticleList<MAX> + ?Sized>(list: &L) -> usize {
    list.articles().iter().map(NewsArticle::item_len).sum()
}

#[inline]
pub fn write_items<const MAX: usize, S: Sink + ?Sized, L: ArticleList<MAX> + ?Sized>(
    sink: &mut S,
    list: &L,
) -> Result<(), S::Error> {
    for article in list.articles() {
        article.write_item(sink)?;
    }
    Ok(())
}
