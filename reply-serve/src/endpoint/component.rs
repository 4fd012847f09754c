//! A third-party platform ("component") serving the accounts that authorized it (feature
//! `component`).
//!
//! The platform talks to a component at two URLs, both signed with the component's token and
//! encrypted with its key (the AppID inside is the component's):
//!
//! - the **authorization-event URL** ([`Notices`]): the `component_verify_ticket` every ten
//!   minutes (kept in the component's store, shared by the instances, for its 12 hours) and the
//!   accounts' `authorized`, `updateauthorized` and `unauthorized` notices, handed to the
//!   application; each answered `success`;
//! - the **message URL**, `/{appid}/callback` ([`authorizers`]): every authorized account's
//!   deliveries, answered as a single account's are (the retry guard, the budget, the router),
//!   replies encrypted with the component's key, late replies sent with that account's token.
//!
//! [`release_test`] answers the platform's automated release test ("全网发布") on top of a
//! handler.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use reply_client::Component;
use reply_core::crypto::MessageCrypto;
use reply_core::{BoxedReply, ComponentNotice, Empty, Incoming, MsgKind, Notice, PassiveReply, Text};

use super::{
    Accounts, Answer, DEFAULT_BODY_TIMEOUT, DEFAULT_REPLAY_WINDOW, Endpoint, Signed, bad_request, forbidden, not_opened,
};

/// The longest notice body read: the platform's are a few hundred bytes.
pub const MAX_NOTICE_LEN: usize = 64 * 1024;

type NoticeHandler = Arc<dyn Fn(ComponentNotice<'static>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The component's authorization-event URL: the platform's notices, checked (the query's
/// signature and timestamp before the body is read; then `msg_signature`, the decryption with the
/// component's key, and the AppID inside), kept or handed on, and answered `success`.
///
/// The ticket is kept in the [`Component`]'s store before `success` goes out (a store that fails:
/// 503, and the platform pushes again); an `unauthorized` account's refresh token is forgotten.
/// Every notice, the ticket's included, is then handed to [`on_notice`](Notices::on_notice) in a
/// task of its own, so that a slow application doesn't hold the answer: an `authorized` account's
/// code is for [`Component::query_auth`].
///
/// ```no_run
/// use reply_client::Component;
/// use reply_core::Notice;
/// use reply_core::crypto::MessageCrypto;
/// use reply_serve::endpoint::component::Notices;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let component = Component::builder("wx_component", "component-secret").build()?;
/// let crypto = MessageCrypto::new("component-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx_component")?;
/// let notices = Notices::new(component.clone(), crypto).on_notice(move |notice| {
///     let component = component.clone();
///     async move {
///         if let Notice::Authorized { authorization_code, .. } = notice.notice() {
///             let _ = component.query_auth(authorization_code).await;
///         }
///     }
/// });
/// let service = notices.into_service(); // tower: serve it at the authorization-event URL
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Notices {
    component: Component,
    crypto: Arc<MessageCrypto>,
    on_notice: Option<NoticeHandler>,
    replay_window: Option<Duration>,
    body_timeout: Duration,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").field("component", &self.component).finish_non_exhaustive()
    }
}

impl Notices {
    /// The notices of `component`, whose token, key and AppID `crypto` holds.
    pub fn new(component: Component, crypto: MessageCrypto) -> Self {
        Notices {
            component,
            crypto: Arc::new(crypto),
            on_notice: None,
            replay_window: Some(DEFAULT_REPLAY_WINDOW),
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }

    /// Hands every notice to `on_notice`, in a task of its own, once it is checked and kept.
    #[must_use]
    pub fn on_notice<F, Fut>(mut self, on_notice: F) -> Self
    where
        F: Fn(ComponentNotice<'static>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_notice = Some(Arc::new(move |notice| Box::pin(on_notice(notice))));
        self
    }

    /// How far a notice's timestamp may be from the server's clock, as
    /// [`Endpoint::replay_window`] (5 minutes; `None`: not checked).
    #[must_use]
    pub fn replay_window(mut self, window: Option<Duration>) -> Self {
        self.replay_window = window;
        self
    }

    /// Checks the query before the body is read: the method (POST), the signature with the
    /// component's token, the timestamp, and `msg_signature`.
    fn authorize<'q>(&self, method: &Method, query: Option<&'q str>) -> Result<Signed<'q>, Answer> {
        if *method != Method::POST {
            return Err(Answer::plain(StatusCode::METHOD_NOT_ALLOWED, "the authorization-event URL takes POST\n"));
        }
        let signed = Signed::from_query(query);
        signed.check(self.crypto.token(), self.replay_window).map_err(|(_, answer)| answer)?;
        if signed.msg_signature.is_none() {
            return Err(forbidden("a notice comes encrypted, with msg_signature\n"));
        }
        Ok(signed)
    }

    /// Answers one request, given its method, query and body.
    ///
    /// # Panics
    /// When polled outside a tokio runtime (the notice is handed on in a task).
    pub async fn respond(&self, method: &Method, query: Option<&str>, body: Bytes) -> Answer {
        match self.authorize(method, query) {
            Ok(signed) => self.answer(&signed, &body).await,
            Err(answer) => answer,
        }
    }

    async fn answer(&self, signed: &Signed<'_>, body: &[u8]) -> Answer {
        let Ok(body) = std::str::from_utf8(body) else { return bad_request("the body is not UTF-8\n".into()) };
        let (Some(msg_signature), Some(timestamp), Some(nonce)) =
            (&signed.msg_signature, &signed.timestamp, &signed.nonce)
        else {
            return forbidden("a notice comes encrypted, with msg_signature\n");
        };
        let xml = match self.crypto.decrypt_delivery(msg_signature, timestamp, nonce, body) {
            Ok(xml) => xml,
            Err(e) => return not_opened(&e).1,
        };
        let notice = match ComponentNotice::parse(&xml) {
            Ok(notice) => notice.into_owned(),
            Err(e) => return bad_request(format!("{e}\n")),
        };
        if notice.app_id() != self.component.app_id() {
            return forbidden("the notice is for another component\n");
        }
        match notice.notice() {
            Notice::VerifyTicket { ticket, .. } => {
                if let Err(e) = self.component.set_ticket(ticket).await {
                    tracing::warn!("passive-reply: {e}; the component_verify_ticket was not kept");
                    return Answer::plain(StatusCode::SERVICE_UNAVAILABLE, "the ticket could not be kept\n");
                }
            }
            Notice::Unauthorized { authorizer_app_id, .. } => {
                if let Err(e) = self.component.forget(authorizer_app_id).await {
                    tracing::warn!("passive-reply: {e}; what was kept for {authorizer_app_id} stays until it expires");
                }
            }
            _ => {}
        }
        if let Some(on_notice) = &self.on_notice {
            tokio::spawn(on_notice(notice));
        }
        Answer::plain(StatusCode::OK, "success")
    }

    /// The notices as a `tower::Service<http::Request<B>>`: the query checked before the body is
    /// read, the body read within 2 s and up to [`MAX_NOTICE_LEN`].
    pub fn into_service(self) -> NoticesService {
        NoticesService(Arc::new(self))
    }
}

/// [`Notices`] as a `tower::Service<http::Request<B>>`.
#[derive(Debug, Clone)]
pub struct NoticesService(Arc<Notices>);

impl<B> tower_service::Service<http::Request<B>> for NoticesService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let notices = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let answer = match notices.authorize(&parts.method, parts.uri.query()) {
                Ok(signed) => {
                    let read = tokio::time::timeout(notices.body_timeout, Limited::new(body, MAX_NOTICE_LEN).collect());
                    match read.await {
                        Ok(Ok(collected)) => notices.answer(&signed, &collected.to_bytes()).await,
                        Ok(Err(_)) => Answer::plain(StatusCode::PAYLOAD_TOO_LARGE, "the notice could not be read\n"),
                        Err(_) => Answer::plain(StatusCode::REQUEST_TIMEOUT, "the notice did not arrive in time\n"),
                    }
                }
                Err(answer) => answer,
            };
            Ok(answer.into_response())
        })
    }
}

/// The endpoints made for the authorizers, by AppID.
type Made<H, S> = HashMap<String, Arc<Endpoint<H, S>>>;

/// The authorizer's AppID in the message URL's path, `/{appid}/callback` (anything before it
/// too: `/wx/{appid}/callback`); `""`, which is no account, for any other path.
pub fn appid_before_callback(path: &str) -> &str {
    let path = path.strip_suffix('/').unwrap_or(path);
    match path.strip_suffix("/callback") {
        Some(rest) => rest.rsplit('/').next().unwrap_or(""),
        None => "",
    }
}

/// The component's message URL, `/{appid}/callback`: an [`Accounts`] whose accounts are the
/// authorizers, found at run time. For a request to an AppID, `accept(appid)` says whether the
/// application serves it (an AppID it refuses, or that is no AppID: 404, nothing decrypted);
/// `make(appid)` makes its endpoint once: its handler, its retry guard (one for all, usually),
/// its budget. The component's part is set here: the query signed with the component's token,
/// the body decrypted and the reply encrypted with its key (safe mode, plaintext refused), the
/// endpoint named after the AppID ([`Endpoint::account`]), and replies that miss the budget sent
/// with the authorizer's token ([`Component::authorizer`]).
///
/// The platform signs the query, not the path: a delivery captured on its way to one
/// authorizer verifies on another's path too (within the replay window). Its retry-guard key is
/// then the other account's, so a handler that matters should check the delivery's ToUserName
/// against the account it serves.
pub fn authorizers<H, S, A, AFut, M>(component: Component, crypto: MessageCrypto, accept: A, make: M) -> Accounts<H, S>
where
    H: Send + Sync + 'static,
    S: Send + Sync + 'static,
    A: Fn(String) -> AFut + Send + Sync + 'static,
    AFut: Future<Output = bool> + Send + 'static,
    M: Fn(&str) -> Endpoint<H, S> + Send + Sync + 'static,
{
    let crypto = Arc::new(crypto);
    let made: Arc<Mutex<Made<H, S>>> = Arc::default();
    let make = Arc::new(make);
    let accept = Arc::new(accept);
    Accounts::new().account_from_path(appid_before_callback).resolver(move |appid: String| {
        let (component, crypto, made, make, accept) =
            (component.clone(), crypto.clone(), made.clone(), make.clone(), accept.clone());
        async move {
            if !accept(appid.clone()).await {
                return None;
            }
            let mut made = made.lock().unwrap_or_else(PoisonError::into_inner);
            let endpoint = made.entry(appid.clone()).or_insert_with(|| {
                let mut endpoint = make(&appid);
                endpoint.token = crypto.token().into();
                endpoint.crypto = Some(crypto.clone());
                endpoint.allow_plaintext = false;
                endpoint.account = Some(appid.as_str().into());
                endpoint.late = Some(Arc::new(crate::serve::LateReplies::new(component.authorizer(&appid))));
                Arc::new(endpoint)
            });
            Some(endpoint.clone())
        }
    })
}

/// A handler's future, boxed: what [`release_test`] gives.
pub type ReplyFuture = Pin<Box<dyn Future<Output = BoxedReply<'static>> + Send>>;

/// The text of the release test's text message, and its answer.
const TEST_TEXT: &str = "TESTCOMPONENT_MSG_TYPE_TEXT";
/// The prefix of the release test's authorization-code message.
const QUERY_AUTH_CODE: &str = "QUERY_AUTH_CODE:";

/// `handler`, with the platform's automated release test ("全网发布") answered first, as the
/// platform checks it:
///
/// - any event: the text `<Event>from_callback`;
/// - the text `TESTCOMPONENT_MSG_TYPE_TEXT`: the text `TESTCOMPONENT_MSG_TYPE_TEXT_callback`;
/// - the text `QUERY_AUTH_CODE:<code>`: the empty reply at once; then the code is exchanged
///   ([`Component::query_auth`]) and `<code>_from_api` is sent to the user through the
///   customer-service API with the authorizer's token (a failure is logged).
///
/// Everything else goes to `handler`. Switch it on while the platform tests the component (its
/// test accounts are the only ones to send these), or for good: no real user sends them.
pub fn release_test<H, Fut, R>(component: Component, handler: H) -> impl Fn(Incoming<'static>) -> ReplyFuture + Clone
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    move |msg: Incoming<'static>| -> ReplyFuture {
        let text = |content: String| -> ReplyFuture {
            let reply = Text::new(msg.from_user_name(), msg.to_user_name(), content).into_owned().boxed();
            Box::pin(std::future::ready(reply))
        };
        match (msg.kind(), msg.field("Event"), msg.field("Content")) {
            (Some(MsgKind::Event), Some(event), _) => text(format!("{event}from_callback")),
            (Some(MsgKind::Text), _, Some(TEST_TEXT)) => text(format!("{TEST_TEXT}_callback")),
            (Some(MsgKind::Text), _, Some(content)) if content.starts_with(QUERY_AUTH_CODE) => {
                let code = content[QUERY_AUTH_CODE.len()..].to_owned();
                let (component, user) = (component.clone(), msg.from_user_name().to_owned());
                tokio::spawn(async move {
                    let sent = async {
                        let authorization = component.query_auth(&code).await?;
                        let account = component.authorizer(&authorization.authorizer_app_id);
                        account
                            .send(&Text::new(user, authorization.authorizer_app_id, format!("{code}_from_api")))
                            .await
                    };
                    if let Err(e) = sent.await {
                        tracing::warn!("passive-reply: the release test's QUERY_AUTH_CODE: {e}");
                    }
                });
                Box::pin(std::future::ready(Empty.boxed()))
            }
            _ => {
                let reply = handler(msg);
                Box::pin(async move { reply.await.boxed() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_paths() {
        assert_eq!(appid_before_callback("/wx5823bf96d3bd56c7/callback"), "wx5823bf96d3bd56c7");
        assert_eq!(appid_before_callback("/open/wx1/callback/"), "wx1");
        assert_eq!(appid_before_callback("/wx1"), "");
        assert_eq!(appid_before_callback("/callback"), "");
        assert_eq!(appid_before_callback("/wx1/other"), "");
    }
}
