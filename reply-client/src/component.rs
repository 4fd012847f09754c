//! The third-party platform ("component"): its ticket, its own token, and the tokens of the
//! accounts that authorized it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use crate::{ApiAnswer, ApiError, ApiErrorKind, BuildError, Builder, Client, MemoryTokenStore, TokenMode, TokenStore};

/// How long a `component_verify_ticket` is kept: the platform pushes one every 10 minutes, and
/// each is good for 12 hours.
pub const DEFAULT_TICKET_LIFE: Duration = Duration::from_secs(12 * 60 * 60);

/// How long an authorizer's refresh token is kept without being used: it has no expiry of its
/// own (it lasts until the account withdraws its authorization), and each refresh keeps it again.
const REFRESH_TOKEN_LIFE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A third-party platform ("component") and the accounts that authorized it, as a client of the
/// platform's API: its `component_verify_ticket` (pushed by the platform every ten minutes,
/// [`set_ticket`](Component::set_ticket)), its `component_access_token` fetched with it, and for
/// each authorizer account a [`Client`] ([`authorizer`](Component::authorizer)) whose token comes
/// from `api_authorizer_token` with the account's refresh token.
///
/// Everything it keeps (the ticket, its token, the authorizers' tokens and refresh tokens) is
/// kept in its [`TokenStore`]: shared by the instances that use the same store (the serving
/// crate's `serve::RedisStore`), so a ticket pushed to one instance is used by all, one instance
/// fetches each token for all, and a restart loses nothing. Without one, a [`MemoryTokenStore`]
/// of its own: one instance, nothing kept past a restart. An application that keeps refresh tokens
/// in its own database gives a store of its own, or hands them in with
/// [`set_refresh_token`](Component::set_refresh_token).
///
/// ```no_run
/// use reply_client::Component;
/// use reply_core::Text;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let component = Component::builder("wx_component_appid", "component-secret").build()?;
/// component.set_ticket("ticket@@@pushed-by-the-platform").await?;
/// // An account authorized the component: its code, from the `authorized` notice or the redirect.
/// let authorization = component.query_auth("queryauthcode@@@abc").await?;
/// let account = component.authorizer(&authorization.authorizer_app_id);
/// account.send(&Text::new("oUser", "gh_account", "hello")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Component {
    /// The component's own client: its token is the `component_access_token`.
    client: Client,
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn TokenStore>,
    ticket_life: Duration,
    /// One client per authorizer, so that each one's token is fetched once however many wait.
    authorizers: Mutex<HashMap<Box<str>, Client>>,
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Component").field("app_id", &self.app_id()).finish_non_exhaustive()
    }
}

/// What `api_query_auth` gave for an authorization code: the account that authorized, and its
/// first token (kept, with its refresh token, for [`Component::authorizer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorization {
    /// The account's AppID.
    pub authorizer_app_id: String,
    /// Its access token.
    pub access_token: Arc<str>,
    /// How long the token lives.
    pub expires_in: Duration,
}

/// Settings of a [`Component`]: [`Component::builder`].
#[derive(Debug, Clone)]
pub struct ComponentBuilder {
    client: Builder,
    ticket_life: Duration,
}

impl ComponentBuilder {
    /// The API's base URL, as [`Builder::api_base`].
    #[must_use]
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.client = self.client.api_base(base);
        self
    }

    /// How long one request may take, as [`Builder::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = self.client.timeout(timeout);
        self
    }

    /// Retries, as [`Builder::retries`].
    #[must_use]
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.client = self.client.retries(retries, backoff);
        self
    }

    /// Where the ticket and the tokens are kept, shared with the other instances that use it.
    #[must_use]
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.client = self.client.token_store(store);
        self
    }

    /// How long a ticket is kept: [`DEFAULT_TICKET_LIFE`] (12 hours).
    #[must_use]
    pub fn ticket_life(mut self, life: Duration) -> Self {
        self.ticket_life = life;
        self
    }

    /// The component.
    pub fn build(self) -> Result<Component, BuildError> {
        let mut client = self.client;
        client.mode = TokenMode::Component;
        let store = client.store.clone().unwrap_or_else(|| Arc::new(MemoryTokenStore::new()));
        client.store = Some(store.clone());
        Ok(Component {
            client: client.build()?,
            shared: Arc::new(Shared { store, ticket_life: self.ticket_life, authorizers: Mutex::new(HashMap::new()) }),
        })
    }
}

impl Component {
    /// The settings of the component `app_id` with `app_secret` (its AppID and AppSecret on the
    /// open platform).
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<String>) -> ComponentBuilder {
        ComponentBuilder { client: Client::builder(app_id, app_secret), ticket_life: DEFAULT_TICKET_LIFE }
    }

    /// The component's AppID.
    pub fn app_id(&self) -> &str {
        self.client.app_id()
    }

    fn ticket_key(&self) -> String {
        ticket_key(self.app_id())
    }

    fn refresh_key(&self, authorizer_app_id: &str) -> String {
        format!("refresh:{}:{authorizer_app_id}", self.app_id())
    }

    /// Keeps the `component_verify_ticket` the platform pushed, for its life, in the store.
    pub async fn set_ticket(&self, ticket: &str) -> Result<(), crate::TokenStoreError> {
        self.shared.store.put(&self.ticket_key(), ticket, self.shared.ticket_life).await
    }

    /// The ticket kept, if there is one.
    pub async fn ticket(&self) -> Result<Option<Arc<str>>, crate::TokenStoreError> {
        Ok(self.shared.store.get(&self.ticket_key()).await?.map(|stored| stored.token))
    }

    /// The `component_access_token`: kept while fresh, otherwise fetched with the ticket, once
    /// for every instance that shares the store.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn access_token(&self) -> Result<Arc<str>, ApiError> {
        self.client.access_token().await
    }

    /// How many times the component's token was fetched by this instance (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.client.inner.refreshes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Exchanges an authorization code (from the `authorized` notice, or the redirect after the
    /// authorization page) for the account's tokens (`api_query_auth`): its token and refresh
    /// token are kept, and [`authorizer`](Component::authorizer) uses them.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn query_auth(&self, authorization_code: &str) -> Result<Authorization, ApiError> {
        let body = serde_json::json!({
            "component_appid": self.app_id(),
            "authorization_code": authorization_code,
        });
        let answer = self.call("/cgi-bin/component/api_query_auth", body).await?;
        let ApiAnswer::Token { token, expires_in, refresh, app_id: Some(app_id) } = answer else {
            return Err(ApiError::new(ApiErrorKind::BadResponse, None, "no authorization_info in the answer"));
        };
        let expires_in = Duration::from_secs(expires_in);
        let token: Arc<str> = token.into();
        let authorizer = self.authorizer(&app_id);
        if let Some(refresh) = refresh {
            self.keep_refresh_token(&app_id, &refresh).await;
        }
        // Kept for the account's client, and in the store for the other instances.
        authorizer.keep(token.clone(), expires_in, std::time::Instant::now());
        if let Err(e) = self.shared.store.put(&authorizer.inner.store_key, &token, expires_in).await {
            tracing::warn!("passive-reply: {e}; the authorizer's token was not kept for the other instances");
        }
        Ok(Authorization { authorizer_app_id: app_id.into(), access_token: token, expires_in })
    }

    /// The client of the authorizer account `app_id`: its token is refreshed through this
    /// component with the account's refresh token (kept by [`query_auth`](Component::query_auth)
    /// or [`set_refresh_token`](Component::set_refresh_token)); sends with it go to that
    /// account's users. The same client for the same account (clones share the token).
    pub fn authorizer(&self, app_id: &str) -> Client {
        let mut authorizers = self.shared.authorizers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = authorizers.get(app_id) {
            return client.clone();
        }
        let client = self.client.derived(app_id, TokenMode::Authorizer(self.clone()));
        authorizers.insert(app_id.into(), client.clone());
        client
    }

    /// Keeps `refresh_token` for the authorizer `app_id`: for an application that keeps refresh
    /// tokens in a place of its own, when it starts.
    pub async fn set_refresh_token(&self, app_id: &str, refresh_token: &str) -> Result<(), crate::TokenStoreError> {
        self.shared.store.put(&self.refresh_key(app_id), refresh_token, REFRESH_TOKEN_LIFE).await
    }

    /// The refresh token kept for the authorizer `app_id`.
    pub async fn refresh_token(&self, app_id: &str) -> Result<Option<Arc<str>>, crate::TokenStoreError> {
        Ok(self.shared.store.get(&self.refresh_key(app_id)).await?.map(|stored| stored.token))
    }

    /// Forgets what is kept for the authorizer `app_id` (its refresh token and its client): for
    /// the `unauthorized` notice.
    pub async fn forget(&self, app_id: &str) -> Result<(), crate::TokenStoreError> {
        self.shared.authorizers.lock().unwrap_or_else(PoisonError::into_inner).remove(app_id);
        let key = self.refresh_key(app_id);
        if let Some(kept) = self.shared.store.get(&key).await? {
            self.shared.store.expire(&key, &kept.token).await?;
        }
        Ok(())
    }

    async fn keep_refresh_token(&self, app_id: &str, refresh_token: &str) {
        if let Err(e) = self.set_refresh_token(app_id, refresh_token).await {
            tracing::warn!("passive-reply: {e}; the refresh token of {app_id} was not kept");
        }
    }

    /// `POST path?component_access_token=…` with `body`; a stale component token is refreshed
    /// and the call made once more.
    async fn call(&self, path: &str, body: serde_json::Value) -> Result<ApiAnswer, ApiError> {
        let body = Bytes::from(body.to_string());
        let mut refreshed = false;
        loop {
            let token = self.client.access_token().await?;
            let uri = self.client.uri(path, &[("component_access_token", &token)]);
            match self.client.request(Method::POST, uri, Some(body.clone()), true).await? {
                ApiAnswer::Error { code, .. } if crate::is_stale(code) && !refreshed => {
                    self.client.expire(&token).await;
                    refreshed = true;
                }
                ApiAnswer::Error { code, message } => {
                    let error = ApiError::from_code(code, &message, true);
                    crate::api_error(&error);
                    return Err(error);
                }
                answer => return Ok(answer),
            }
        }
    }

    /// An authorizer's new token (`api_authorizer_token`), its new refresh token kept.
    ///
    /// Boxed, and not an `async fn`: it asks the component's client for its token, whose fetch
    /// calls this for an authorizer; the box's declared type ends the cycle for the compiler.
    pub(crate) fn fetch_authorizer_token<'a>(
        &'a self,
        authorizer: &'a Client,
    ) -> crate::BoxFuture<'a, Result<ApiAnswer, ApiError>> {
        Box::pin(self.authorizer_token(authorizer.app_id()))
    }

    async fn authorizer_token(&self, app_id: &str) -> Result<ApiAnswer, ApiError> {
        let refresh = match self.refresh_token(app_id).await {
            Ok(Some(refresh)) => refresh,
            Ok(None) => {
                let message = format!(
                    "no refresh token is kept for {app_id}: exchange its authorization code first (Component::query_auth)"
                );
                return Err(ApiError::new(ApiErrorKind::Token, None, message));
            }
            Err(e) => return Err(ApiError::new(ApiErrorKind::Token, None, format!("the token store: {e}"))),
        };
        let body = serde_json::json!({
            "component_appid": self.app_id(),
            "authorizer_appid": app_id,
            "authorizer_refresh_token": &*refresh,
        });
        let answer = self.call("/cgi-bin/component/api_authorizer_token", body).await?;
        if let ApiAnswer::Token { refresh: Some(new), .. } = &answer
            && **new != *refresh
        {
            self.keep_refresh_token(app_id, new).await;
        }
        Ok(answer)
    }
}

/// Where the ticket of the component `app_id` is kept in its store.
fn ticket_key(app_id: &str) -> String {
    format!("ticket:{app_id}")
}

/// The component's token (`api_component_token`), with the ticket kept in its store.
pub(crate) async fn fetch_component_token(component: &Client) -> Result<ApiAnswer, ApiError> {
    let inner = &component.inner;
    let no_ticket = |why: String| ApiError::new(ApiErrorKind::Token, None, why);
    let Some(store) = &inner.store else { return Err(no_ticket("a component needs a store".into())) };
    let ticket = match store.get(&ticket_key(&inner.app_id)).await {
        Ok(Some(ticket)) => ticket.token,
        Ok(None) => {
            return Err(no_ticket(
                "no component_verify_ticket is kept yet: the platform pushes one every 10 minutes to the \
                 authorization-event URL"
                    .into(),
            ));
        }
        Err(e) => return Err(no_ticket(format!("the token store: {e}"))),
    };
    let body = serde_json::json!({
        "component_appid": &*inner.app_id,
        "component_appsecret": &*inner.secret,
        "component_verify_ticket": &*ticket,
    });
    let uri = component.uri("/cgi-bin/component/api_component_token", &[]);
    component.request(Method::POST, uri, Some(Bytes::from(body.to_string())), true).await
}
