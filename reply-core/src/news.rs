//! News replies: the standard one ([`News`]), its articles ([`Article`], or any [`NewsArticle`]),
//! and the bounded lists that hold them.

use std::borrow::Cow;
use std::fmt;

use reply_derive::{NewsArticle, PassiveReply};

use reply_schema::MAX_ARTICLES;

use crate::value::now;

/// One article of a news reply: an `<item>` with Title, Description, PicUrl and Url, each
/// optional. An article gives its values; the news reply that holds it writes the `<item>`, each
/// value escaped like every other ([`cdata`](crate::cdata)), in the platform's order.
///
/// Implement it with `#[derive(NewsArticle)]` (from the `passive-reply` crate); [`Article`] is
/// the standard one. By hand, give the values the article has; the others default to none:
///
/// ```
/// use reply_core::{Articles, NewsArticle, PassiveReply};
///
/// struct Headline(String);
///
/// impl NewsArticle for Headline {
///     fn title(&self) -> Option<&str> {
///         Some(&self.0)
///     }
/// }
///
/// #[derive(reply_derive::PassiveReply)] // `passive_reply::PassiveReply` in an application
/// #[reply(news, crate = reply_core)]
/// struct Headlines {
///     to_user_name: String,
///     from_user_name: String,
///     create_time: u64,
///     articles: Articles<Headline>,
/// }
///
/// let news = Headlines {
///     to_user_name: "toUser".into(),
///     from_user_name: "fromUser".into(),
///     create_time: 1,
///     articles: Articles::new(Headline("a ]]> b".into())),
/// };
/// assert!(news.to_xml().contains("<item><Title><![CDATA[a ]]]]><![CDATA[> b]]></Title></item>"));
/// ```
///
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a news article",
    label = "the items of `articles` must be news articles",
    note = "derive it with `#[derive(NewsArticle)]`, or use `passive_reply::Article`"
)]
pub trait NewsArticle {
    /// Title: the article's headline.
    #[inline]
    fn title(&self) -> Option<&str> {
        None
    }

    /// Description: the text shown under the title.
    #[inline]
    fn description(&self) -> Option<&str> {
        None
    }

    /// PicUrl: the picture's link (the platform shows JPG and PNG; 360×200 for a first article,
    /// 200×200 for the others).
    #[inline]
    fn pic_url(&self) -> Option<&str> {
        None
    }

    /// Url: where a tap on the article leads.
    #[inline]
    fn url(&self) -> Option<&str> {
        None
    }
}

/// One article of a [`News`] reply: Title, Description, PicUrl and Url, each optional.
///
/// ```
/// use reply_core::Article;
///
/// let article = Article::new()
///     .title("Rust 1.95")
///     .description("What's new")
///     .pic_url("https://example.com/cover.png")
///     .url("https://example.com/post");
/// assert_eq!(article.title.as_deref(), Some("Rust 1.95"));
/// ```
#[derive(NewsArticle, Debug, Clone, Default, PartialEq, Eq, Hash)]
#[reply(crate = crate)]
pub struct Article<'a> {
    /// The headline.
    pub title: Option<Cow<'a, str>>,
    /// The summary under it.
    pub description: Option<Cow<'a, str>>,
    /// The picture: JPG or PNG; 360×200 shows best for the first article, 200×200 for the others.
    pub pic_url: Option<Cow<'a, str>>,
    /// Where a tap on the article goes.
    pub url: Option<Cow<'a, str>>,
}

impl<'a> Article<'a> {
    /// An article with no element set.
    pub fn new() -> Self {
        Article::default()
    }

    optional_setters! {
        /// Sets Title.
        title;
        /// Sets Description.
        description;
        /// Sets PicUrl.
        pic_url;
        /// Sets Url.
        url;
    }

    /// The same article, owning its text.
    pub fn into_owned(self) -> Article<'static> {
        let own = |v: Option<Cow<'_, str>>| v.map(|v| Cow::Owned(v.into_owned()));
        Article {
            title: own(self.title),
            description: own(self.description),
            pic_url: own(self.pic_url),
            url: own(self.url),
        }
    }
}

/// A news reply: 1 to 10 articles, the first shown large.
///
/// ```
/// use reply_core::{Article, Articles, News, PassiveReply};
///
/// let mut articles = Articles::new(Article::new().title("First"));
/// articles.push(Article::new().title("Second")).unwrap();
/// let reply = News::new("toUser", "fromUser", articles).with_create_time(1);
/// let xml = reply.to_xml();
/// assert!(xml.contains("<ArticleCount>2</ArticleCount><Articles><item><Title><![CDATA[First]]></Title></item>"));
/// ```
#[derive(PassiveReply, Debug, Clone, PartialEq, Eq, Hash)]
#[reply(news, crate = crate)]
pub struct News<'a> {
    /// The user's OpenID (the FromUserName of the message being answered).
    pub to_user_name: Cow<'a, str>,
    /// The account (the ToUserName of the message being answered).
    pub from_user_name: Cow<'a, str>,
    /// Whole seconds since the Unix epoch.
    pub create_time: u64,
    /// The articles; ArticleCount is their number.
    pub articles: Articles<Article<'a>>,
}

impl<'a> News<'a> {
    /// A news reply with `articles`, created now.
    pub fn new(
        to_user_name: impl Into<Cow<'a, str>>,
        from_user_name: impl Into<Cow<'a, str>>,
        articles: Articles<Article<'a>>,
    ) -> Self {
        News { to_user_name: to_user_name.into(), from_user_name: from_user_name.into(), create_time: now(), articles }
    }

    with_create_time!();

    /// The same message, owning its text.
    pub fn into_owned(self) -> News<'static> {
        let articles = self.articles.into_vec().into_iter().map(Article::into_owned).collect::<Vec<_>>();
        News {
            to_user_name: Cow::Owned(self.to_user_name.into_owned()),
            from_user_name: Cow::Owned(self.from_user_name.into_owned()),
            create_time: self.create_time,
            articles: Articles::from_vec_unchecked(articles),
        }
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
///
/// A list of your own can implement it; a reply writes every article its
/// [`articles`](ArticleList::articles) gives, and counts them in ArticleCount, so keep to the bound.
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

    /// Takes the articles if there are 1 to 10 of them; otherwise gives them back in the error.
    /// What `TryFrom` does, here so that `Articles::try_from(vec)` needs no type annotation:
    /// a call of the trait's would have no limit to infer (a type's default parameters are not
    /// used for inference).
    ///
    /// ```
    /// use reply_core::{Article, Articles};
    ///
    /// assert!(Articles::try_from(vec![Article::new(); 11]).is_err());
    /// assert_eq!(Articles::try_from(vec![Article::new(); 10]).map(|list| list.len()), Ok(10));
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn try_from(items: Vec<A>) -> Result<Self, ArticleCountError<A>> {
        <Self as TryFrom<Vec<A>>>::try_from(items)
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
