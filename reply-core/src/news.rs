//! News replies: articles, and the bounded lists that hold them.

use std::fmt;

use crate::Sink;
use crate::schema::MAX_ARTICLES;
use crate::sink::Room;

/// One article of a news reply: an `<item>` with Title, Description, PicUrl and Url, each
/// optional.
///
/// Implement it with `#[derive(NewsArticle)]` (from the `passive-reply` crate); [`Article`] is
/// the standard one.
///
/// [`Article`]: crate::Article
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a news article",
    label = "the items of `articles` must be news articles",
    note = "derive it with `#[derive(NewsArticle)]`, or use `passive_reply::Article`"
)]
pub trait NewsArticle {
    /// The exact number of bytes [`write_item`](NewsArticle::write_item) writes.
    fn item_len(&self) -> usize;

    /// Writes the whole `<item>…</item>` element. Called by the news reply that holds it, which
    /// has already reserved room for it.
    fn write_item<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error>;

    /// Scans the article's values once, for [`write_scanned_item`](NewsArticle::write_scanned_item):
    /// what the derive uses so that a news reply scans each value once. The default knows nothing
    /// and leaves the writing to `write_item`.
    #[doc(hidden)]
    #[inline]
    fn scan_item(&self) -> ItemScan<'_> {
        ItemScan { len: self.item_len(), ..ItemScan::EMPTY }
    }

    /// Writes the `<item>` that `scan`, this article's [`scan_item`](NewsArticle::scan_item), found.
    #[doc(hidden)]
    #[inline]
    fn write_scanned_item<S: Sink + ?Sized>(&self, sink: &mut S, scan: &ItemScan<'_>) -> Result<(), S::Error> {
        let _ = scan;
        self.write_item(sink)
    }

    /// The length of the `<item>` when none of its values needs escaping: the room
    /// [`write_item_in_room`](NewsArticle::write_item_in_room) is given. The default is
    /// `item_len`, the length `write_item` writes.
    #[doc(hidden)]
    #[inline]
    fn clean_item_len(&self) -> usize {
        self.item_len()
    }

    /// Writes the `<item>` into room its sink already had; false if a value needs escaping or the
    /// room is too small, and then the reply is written another way. The default writes it with
    /// `write_item`, escaping included.
    #[doc(hidden)]
    #[inline]
    fn write_item_in_room(&self, room: &mut Room<'_>) -> bool {
        self.write_item(room).is_ok()
    }
}

/// One scan of an article: the length of its `<item>`, and each value present, with whether it is
/// copied as it is. Not a public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ItemScan<'a> {
    /// The exact length of the `<item>`.
    pub len: usize,
    /// The article's text values, in the order its derive numbers them, each with whether it is
    /// copied as it is (its scan's `clean`).
    pub values: [Option<(&'a str, bool)>; ItemScan::VALUES],
}

impl ItemScan<'_> {
    /// No values, no length: what a list's scan holds before it scans.
    const EMPTY: Self = ItemScan { len: 0, values: [None; ItemScan::VALUES] };

    /// The most text values an article has: one per element of an `<item>` (Title,
    /// Description, PicUrl, Url).
    pub const VALUES: usize = crate::schema::ARTICLE.len();
}

/// One scan of a list's articles, kept from the length computed before writing to the writing:
/// on the stack, `MAX` of them at most. Not a public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct ItemsScan<'a, A, const MAX: usize> {
    articles: &'a [A],
    scans: [ItemScan<'a>; MAX],
    len: usize,
}

impl<'a, A: NewsArticle, const MAX: usize> ItemsScan<'a, A, MAX> {
    /// Scans each of `articles` once. A list that breaks `ArticleList`'s contract with more than
    /// `MAX` articles still has all of them written: those past `MAX` by `item_len` and
    /// `write_item`.
    #[inline]
    pub fn new(articles: &'a [A]) -> Self {
        // Filled where it is returned, not built aside and moved (a move of the whole array
        // was a call to memcpy per reply).
        let mut this = ItemsScan { articles, scans: [ItemScan::EMPTY; MAX], len: 0 };
        for (article, scan) in articles.iter().zip(&mut this.scans) {
            *scan = article.scan_item();
            this.len += scan.len;
        }
        for article in articles.iter().skip(MAX) {
            this.len += article.item_len();
        }
        this
    }

    /// Writes the `<item>`s.
    #[inline]
    fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        for (i, article) in self.articles.iter().enumerate() {
            match self.scans.get(i) {
                Some(scan) => article.write_scanned_item(sink, scan)?,
                None => article.write_item(sink)?,
            }
        }
        Ok(())
    }
}

// Without bounds, so that a list of items that are not articles is one diagnostic (the bound of
// `ArticleList::scan_items`), not one more per method.
impl<A, const MAX: usize> ItemsScan<'_, A, MAX> {
    /// The number of bytes the `<item>`s take.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a list holds at least one article.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }
}

/// A list of articles whose length is known, from its type, to be from 1 to `MAX`: the type of a
/// news reply's `articles` field.
///
/// Implemented for arrays `[A; N]` with 1 <= N <= MAX, for [`Articles<A, M>`](Articles) with
/// M <= MAX, and for references to them. An unbounded collection (`Vec`, a slice) can't be
/// one: the platform shows nothing for a news reply of more than ten articles, so the bound must
/// be checked before the reply is written. This is a trait bound, so `cargo check` reports a
/// list that can be too long, not only `cargo build`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of 1 to {MAX} articles",
    label = "a news reply carries 1 to {MAX} articles",
    note = "use an array `[A; N]` with 1 <= N <= {MAX}, or `Articles<A, {MAX}>`, a list that refuses more than {MAX} articles when it is built"
)]
pub trait ArticleList<const MAX: usize> {
    /// The article type.
    type Item: NewsArticle;

    /// The articles, from 1 to `MAX` of them.
    fn articles(&self) -> &[Self::Item];

    /// The number of bytes the articles' `<item>`s take.
    #[doc(hidden)]
    #[inline]
    fn items_len(&self) -> usize {
        self.articles().iter().map(NewsArticle::item_len).sum()
    }

    /// Scans the articles once, for a news reply's `write_to`: the scan gives the length of
    /// the `<item>`s, then writes them.
    #[doc(hidden)]
    #[inline]
    fn scan_items(&self) -> ItemsScan<'_, Self::Item, MAX> {
        ItemsScan::new(self.articles())
    }

    /// Writes the `<item>`s that `scan`, this list's [`scan_items`](ArticleList::scan_items), found.
    #[doc(hidden)]
    #[inline]
    fn write_scanned_items<S: Sink + ?Sized>(
        &self,
        scan: &ItemsScan<'_, Self::Item, MAX>,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        scan.write_to(sink)
    }

    /// The length of the `<item>`s when none of their values needs escaping.
    #[doc(hidden)]
    #[inline]
    fn clean_items_len(&self) -> usize {
        self.articles().iter().map(NewsArticle::clean_item_len).sum()
    }

    /// Writes the `<item>`s into room their sink already had; false if a value needs escaping
    /// or the room is too small.
    #[doc(hidden)]
    #[inline]
    fn write_items_in_room(&self, room: &mut Room<'_>) -> bool {
        // In code compiled for the CPU's vectors, so that each value is copied inline. (A loop,
        // not `Iterator::all`, whose closure is not inlined there: 2,562 -> 3,317 instructions
        // per news reply, `benches/instructions.sh`.)
        room.write_compiled(
            #[cfg_attr(not(debug_assertions), inline(always))]
            |room| {
                let mut written = true;
                for article in self.articles() {
                    if !article.write_item_in_room(room) {
                        written = false;
                        break;
                    }
                }
                written
            },
        )
    }
}

impl<L: ArticleList<MAX> + ?Sized, const MAX: usize> ArticleList<MAX> for &L {
    type Item = L::Item;

    #[inline]
    fn articles(&self) -> &[Self::Item] {
        (**self).articles()
    }
}

// One impl for each allowed pair (length, limit), so that the bound is checked by the trait
// solver, which `cargo check` runs, rather than by a constant evaluated only at code generation.
macro_rules! article_lists {
    ($($max:literal: $($n:literal)*;)*) => {$($(
        impl<A: NewsArticle> ArticleList<$max> for [A; $n] {
            type Item = A;

            #[inline]
            fn articles(&self) -> &[A] {
                self
            }
        }

        impl<A: NewsArticle> ArticleList<$max> for Articles<A, $n> {
            type Item = A;

            #[inline]
            fn articles(&self) -> &[A] {
                &self.items
            }
        }
    )*)*};
}

article_lists! {
    1: 1;
    2: 1 2;
    3: 1 2 3;
    4: 1 2 3 4;
    5: 1 2 3 4 5;
    6: 1 2 3 4 5 6;
    7: 1 2 3 4 5 6 7;
    8: 1 2 3 4 5 6 7 8;
    9: 1 2 3 4 5 6 7 8 9;
    10: 1 2 3 4 5 6 7 8 9 10;
}

/// A list of 1 to `MAX` articles (10 unless given), checked when it is built.
///
/// The type of `articles` for a news reply whose number of articles is known only at run time.
/// `MAX` can be at most 10, the platform's limit.
///
/// ```
/// use reply_core::{Article, Articles};
///
/// let one = Articles::new(Article::new().title("only"));
/// assert_eq!(one.len(), 1);
///
/// let titles = ["a", "b", "c"];
/// let list: Articles<Article> = titles.iter().map(|t| Article::new().title(*t)).collect::<Vec<_>>().try_into()?;
/// assert_eq!(list.len(), 3);
///
/// let too_many = vec![Article::new(); 11];
/// let err = Articles::<Article>::try_from(too_many).unwrap_err();
/// assert_eq!(err.to_string(), "a news reply carries 1 to 10 articles, and this list has 11");
/// assert_eq!(err.into_items().len(), 11); // nothing is lost
/// # Ok::<(), reply_core::ArticleCountError<Article>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Articles<A, const MAX: usize = MAX_ARTICLES> {
    items: Vec<A>,
}

impl<A> Articles<A> {
    /// A list of one article, that can grow to ten. For a lower limit, see
    /// [`bounded`](Articles::bounded).
    pub fn new(first: A) -> Self {
        Articles::bounded(first)
    }
}

impl<A, const MAX: usize> Articles<A, MAX> {
    const MAX_IS_ALLOWED: () =
        assert!(MAX >= 1 && MAX <= MAX_ARTICLES, "Articles<A, MAX> needs 1 <= MAX <= 10, the platform's limit");

    /// A list of one article, that can grow to `MAX`.
    ///
    /// ```
    /// use reply_core::{Article, Articles};
    ///
    /// let three_at_most = Articles::<_, 3>::bounded(Article::new().title("a"));
    /// assert_eq!(three_at_most.len(), 1);
    /// ```
    pub fn bounded(first: A) -> Self {
        let () = Self::MAX_IS_ALLOWED;
        Articles { items: vec![first] }
    }

    /// Appends `article`, or gives it back when the list already holds `MAX`.
    ///
    /// ```
    /// use reply_core::{Article, Articles};
    ///
    /// let mut list: Articles<Article, 2> = Articles::bounded(Article::new().title("a"));
    /// assert!(list.push(Article::new().title("b")).is_ok());
    /// let refused = list.push(Article::new().title("c")).unwrap_err();
    /// assert_eq!(refused.title.as_deref(), Some("c"));
    /// ```
    pub fn push(&mut self, article: A) -> Result<(), A> {
        if self.items.len() < MAX {
            self.items.push(article);
            Ok(())
        } else {
            Err(article)
        }
    }

    /// The number of articles, from 1 to `MAX`.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Always false: a list holds at least one article. Here for the convention.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The articles.
    pub fn as_slice(&self) -> &[A] {
        &self.items
    }

    /// The articles, to change them in place (the count can't change).
    pub fn as_mut_slice(&mut self) -> &mut [A] {
        &mut self.items
    }

    /// The articles in order.
    pub fn iter(&self) -> std::slice::Iter<'_, A> {
        self.items.iter()
    }

    /// Gives the articles back.
    pub fn into_vec(self) -> Vec<A> {
        self.items
    }

    /// Wraps `items`, which came out of an `Articles<_, MAX>` and so holds 1 to `MAX`.
    pub(crate) fn from_vec_unchecked(items: Vec<A>) -> Self {
        debug_assert!((1..=MAX).contains(&items.len()));
        Articles { items }
    }
}

impl<A, const MAX: usize> TryFrom<Vec<A>> for Articles<A, MAX> {
    type Error = ArticleCountError<A>;

    /// Takes the articles if there are 1 to `MAX` of them; otherwise gives them back in the error.
    fn try_from(items: Vec<A>) -> Result<Self, Self::Error> {
        let () = Self::MAX_IS_ALLOWED;
        if (1..=MAX).contains(&items.len()) {
            Ok(Articles { items })
        } else {
            Err(ArticleCountError { max: MAX, items })
        }
    }
}

impl<'a, A, const MAX: usize> IntoIterator for &'a Articles<A, MAX> {
    type Item = &'a A;
    type IntoIter = std::slice::Iter<'a, A>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<A, const MAX: usize> IntoIterator for Articles<A, MAX> {
    type Item = A;
    type IntoIter = std::vec::IntoIter<A>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// A list of articles was empty or longer than allowed. It holds the articles, so nothing is lost.
#[derive(Clone, PartialEq, Eq)]
pub struct ArticleCountError<A> {
    max: usize,
    items: Vec<A>,
}

impl<A> ArticleCountError<A> {
    /// How many articles the list had.
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// How many it may have at most.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Gives the articles back.
    pub fn into_items(self) -> Vec<A> {
        self.items
    }
}

impl<A> fmt::Debug for ArticleCountError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArticleCountError").field("count", &self.count()).field("max", &self.max).finish()
    }
}

impl<A> fmt::Display for ArticleCountError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a news reply carries 1 to {} articles, and this list has {}", self.max, self.count())
    }
}

impl<A> std::error::Error for ArticleCountError<A> {}
