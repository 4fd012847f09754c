//! Many accounts on one server: [`Accounts`], an endpoint per account, chosen by the URL's path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use reply_core::{Incoming, PassiveReply};

use super::{Answer, Endpoint};
use crate::serve::{MemoryStore, ReplyStore};

/// The longest account name: a name is a path segment, checked before anything is looked up.
pub const MAX_ACCOUNT_NAME: usize = 64;

/// How long a resolver may take before the request is answered 503: by default, a second.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Finds the endpoint of an account by its name: the application's, so that accounts can live in
/// a database and change without a restart.
type Resolver<H, S> =
    Arc<dyn Fn(&str) -> Pin<Box<dyn Future<Output = Option<Arc<Endpoint<H, S>>>> + Send>> + Send + Sync>;

/// Many official accounts served by one server, each with its own [`Endpoint`] (its token, its
/// safe-mode key, its strictness, its handler, its late replies), chosen by the last segment of
/// the request's path: mounted at `/wx/{account}`, a delivery to `/wx/shop` is `shop`'s.
///
/// A request for a name that is not an account's (or not a name: more than
/// [`MAX_ACCOUNT_NAME`] bytes, or anything but ASCII letters, digits, `_`, `-` and `.`) is
/// answered 404 before its body is read. A known account's endpoint then checks the query with
/// that account's token only, so a delivery signed for one account is refused (403) on
/// another's path. Each endpoint is named after its account ([`Endpoint::account`]), which puts
/// its deliveries' retry-guard keys in the account's namespace: the accounts can share one store
/// (one Redis for all), and the same MsgId sent to two accounts is answered twice, once each.
///
/// Accounts are fixed ([`account`](Accounts::account)), found at run time by a
/// [`resolver`](Accounts::resolver), or both (the fixed first). The handler learns the account
/// from what it was built with: build each endpoint's handler around its account's name.
///
/// ```
/// use std::sync::Arc;
/// use reply_serve::endpoint::{Accounts, Endpoint};
/// use reply_serve::serve::RetryGuard;
/// use reply_core::{BoxedReply, Incoming, PassiveReply, Text};
///
/// /// The handler of one account: it knows which, because it was made for it.
/// fn answer(account: Arc<str>) -> impl Fn(Incoming<'static>) -> std::future::Ready<BoxedReply<'static>> + Clone {
///     move |msg: Incoming<'static>| {
///         let text = format!("{account} got your message");
///         std::future::ready(Text::new(msg.from_user_name(), msg.to_user_name(), text).into_owned().boxed())
///     }
/// }
///
/// // One guard, one store, for every account.
/// let guard = RetryGuard::new();
/// let accounts = Accounts::new()
///     .account("shop", Endpoint::new("shop-token", answer("shop".into())).retry_guard(guard.clone()))
///     .account("news", Endpoint::new("news-token", answer("news".into())).retry_guard(guard));
/// let service = accounts.into_service(); // tower: serve it at /{account} or /wx/{account}
/// # let _ = service;
/// ```
pub struct Accounts<H, S = MemoryStore> {
    fixed: HashMap<Box<str>, Arc<Endpoint<H, S>>>,
    resolver: Option<Resolver<H, S>>,
    resolve_timeout: Duration,
    name_in: fn(&str) -> &str,
}

impl<H, S> std::fmt::Debug for Accounts<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("fixed", &self.fixed.keys().collect::<Vec<_>>())
            .field("resolver", &self.resolver.is_some())
            .field("resolve_timeout", &self.resolve_timeout)
            .finish_non_exhaustive()
    }
}

impl<H, S> Default for Accounts<H, S> {
    fn default() -> Self {
        Accounts {
            fixed: HashMap::new(),
            resolver: None,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            name_in: last_segment,
        }
    }
}

/// Whether `name` can be an account's name: 1 to [`MAX_ACCOUNT_NAME`] ASCII letters, digits,
/// `_`, `-` and `.` (an AppID, a `gh_` id and a slug all are).
pub fn is_account_name(name: &str) -> bool {
    (1..=MAX_ACCOUNT_NAME).contains(&name.len())
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The account a request's path names by default: its last segment (a trailing `/` ignored).
pub fn last_segment(path: &str) -> &str {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.rsplit('/').next().unwrap_or("")
}

fn no_account() -> Answer {
    crate::serve::observe::refused("account");
    Answer::plain(StatusCode::NOT_FOUND, "no such account\n")
}

impl<H, S> Accounts<H, S> {
    /// No account yet.
    pub fn new() -> Self {
        Accounts::default()
    }

    /// Serves `endpoint` as the account `name`, named so ([`Endpoint::account`]).
    ///
    /// # Panics
    /// If `name` is not an account's name ([`is_account_name`]): a mistake in the program's
    /// configuration, found when it starts.
    #[must_use]
    pub fn account(mut self, name: &str, endpoint: Endpoint<H, S>) -> Self {
        assert!(is_account_name(name), "{name:?} is not an account name (1 to 64 of A-Z a-z 0-9 _ - .)");
        self.fixed.insert(name.into(), Arc::new(endpoint.account(name)));
        self
    }

    /// Finds the accounts that are not fixed: `resolve(name)` gives the endpoint of the account
    /// `name`, or `None` (404). Called for every request to a name that is well formed and not
    /// fixed, before anything in the request is authenticated: keep it cheap (a cache in front of
    /// the database), since anyone can ask for any name. It has
    /// [`resolve_timeout`](Accounts::resolve_timeout) to answer (503 after). The endpoint it
    /// gives must have been named after the account ([`Endpoint::account`]); one that wasn't is
    /// not used (500), so that no two accounts share retry-guard keys by mistake.
    #[must_use]
    pub fn resolver<F, Fut>(mut self, resolve: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Arc<Endpoint<H, S>>>> + Send + 'static,
    {
        self.resolver = Some(Arc::new(move |name: &str| Box::pin(resolve(name.to_owned()))));
        self
    }

    /// Where the account's name is in a request's path: by default [`last_segment`] (`/wx/shop`
    /// is `shop`); for the third-party platform's `/{appid}/callback`, the segment before
    /// `callback`. What it gives is checked as a name before anything else.
    #[must_use]
    pub fn account_from_path(mut self, name_in: fn(&str) -> &str) -> Self {
        self.name_in = name_in;
        self
    }

    /// How long the resolver may take ([`DEFAULT_RESOLVE_TIMEOUT`], a second).
    #[must_use]
    pub fn resolve_timeout(mut self, timeout: Duration) -> Self {
        self.resolve_timeout = timeout;
        self
    }

    /// The endpoint of the account `name`: fixed, or from the resolver. `Err` is the answer to
    /// send: 404 for a name that isn't an account's, 503 when the resolver took too long, 500
    /// when it gave an endpoint not named after the account.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled, as every future of this
    /// crate that keeps a deadline.
    pub async fn endpoint(&self, name: &str) -> Result<Arc<Endpoint<H, S>>, Answer> {
        if !is_account_name(name) {
            return Err(no_account());
        }
        if let Some(endpoint) = self.fixed.get(name) {
            return Ok(endpoint.clone());
        }
        let Some(resolve) = &self.resolver else { return Err(no_account()) };
        match tokio::time::timeout(self.resolve_timeout, resolve(name)).await {
            Ok(Some(endpoint)) if endpoint.account_name() == Some(name) => Ok(endpoint),
            Ok(Some(_)) => {
                tracing::error!(
                    "the resolver gave account {name:?} an endpoint not named after it (Endpoint::account)"
                );
                Err(Answer::plain(StatusCode::INTERNAL_SERVER_ERROR, "the account is misconfigured\n"))
            }
            Ok(None) => Err(no_account()),
            Err(_) => {
                Err(Answer::plain(StatusCode::SERVICE_UNAVAILABLE, "the account could not be looked up in time\n"))
            }
        }
    }
}

impl<H, S, Fut, R> Accounts<H, S>
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    /// Answers one request for the account `name` (the path's last segment, for a framework that
    /// routes itself), given its method, query and body: [`Endpoint::respond`] of that account.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn respond(&self, name: &str, method: &Method, query: Option<&str>, body: Bytes) -> Answer {
        match self.endpoint(name).await {
            Ok(endpoint) => endpoint.respond(method, query, body).await,
            Err(answer) => answer,
        }
    }

    /// The accounts as a `tower::Service<http::Request<B>>`: the account is the last segment of
    /// the request's path. Cheap to clone.
    pub fn into_service(self) -> AccountsService<H, S> {
        AccountsService(Arc::new(self))
    }
}

/// [`Accounts`] as a `tower::Service<http::Request<B>>`: [`Accounts::into_service`].
pub struct AccountsService<H, S = MemoryStore>(Arc<Accounts<H, S>>);

impl<H, S> std::fmt::Debug for AccountsService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AccountsService").field(&self.0).finish()
    }
}

impl<H, S> Clone for AccountsService<H, S> {
    fn clone(&self) -> Self {
        AccountsService(self.0.clone())
    }
}

impl<B, H, S, Fut, R> tower_service::Service<http::Request<B>> for AccountsService<H, S>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let accounts = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let answer = match accounts.endpoint((accounts.name_in)(parts.uri.path())).await {
                // The account's query checked with its token before the body is read.
                Ok(endpoint) => endpoint.respond_reading(&parts.method, parts.uri.query(), body).await,
                Err(answer) => answer,
            };
            Ok(answer.into_response())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for name in ["shop", "gh_3f2a", "wx1234567890abcdef", "a.b-c_d", &"a".repeat(64)] {
            assert!(is_account_name(name), "{name}");
        }
        for name in ["", ".", "..", "a/b", "a b", "商店", "a%2Fb", &"a".repeat(65)] {
            assert!(!is_account_name(name), "{name}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(last_segment("/shop"), "shop");
        assert_eq!(last_segment("/wx/shop"), "shop");
        assert_eq!(last_segment("/wx/shop/"), "shop");
        assert_eq!(last_segment("/"), "");
        assert_eq!(last_segment(""), "");
    }
}
