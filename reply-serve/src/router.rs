//! Routing deliveries to handlers: by MsgType, by Event, by EventKey (exact or prefix), by Content
//! (exact, prefix, or a regex with the feature `regex`), in the order the routes were added, with a
//! fallback; handlers that take the typed message and the application's state; middleware around
//! them all.
//!
//! ```
//! use reply_serve::router::{Key, Msg, Router, State, kind};
//! use reply_core::{Empty, Incoming, Text};
//!
//! #[derive(Clone)]
//! struct App { name: &'static str }
//!
//! async fn help(State(app): State<App>, msg: Msg<kind::Text>) -> Text<'static> {
//!     msg.reply_text(format!("{} can echo: send any text", app.name)).into_owned()
//! }
//!
//! async fn echo(msg: Msg<kind::Text>) -> Text<'static> {
//!     msg.reply_text(msg.content().to_owned()).into_owned()
//! }
//!
//! async fn scanned(msg: Msg<kind::Event>) -> Option<Text<'static>> {
//!     let scene = msg.event_key()?.strip_prefix("qrscene_")?.to_owned();
//!     Some(msg.reply_text(format!("welcome from {scene}")).into_owned())
//! }
//!
//! async fn nothing(_: Incoming<'static>) -> Empty { Empty }
//!
//! let router = Router::with_state(App { name: "echo" })
//!     .text("help", help)
//!     .event_key(Key::prefix("qrscene_"), scanned)
//!     .on::<kind::Text, _, _>(echo)
//!     .fallback(nothing);
//! // Serve it: `Endpoint::new("my-token", router.into_handler())`.
//! # let _ = router.into_handler();
//! ```
//!
//! A handler is an `async fn` whose arguments are, in this order, an optional [`State<S>`] (a clone
//! of the router's state), an optional `Session<T>` (feature `session`: its user's state kept
//! between messages, see [`Router::sessions`]) and the message: the route's typed message ([`Msg<K>`], whose accessors
//! are those of its kind, and which derefs to the [`Incoming`]) or the [`Incoming`] itself. It
//! returns any reply: a type that implements [`PassiveReply`], a [`BoxedReply`], or an `Option` of
//! one (`None` is the empty reply). A handler whose message can't come from its route (a
//! `Msg<kind::Click>` on a text route) is a compile error at the route.
//!
//! Middleware ([`Router::layer`]) is a `next`-style chain, not tower `Layer`s: what it wraps is
//! the message and its reply, not an HTTP request (that is the endpoint's tower service, which
//! tower's layers already wrap), and a function of `(Incoming, Next)` reads as what it does:
//!
//! ```
//! use reply_serve::router::{Next, Router};
//! use reply_core::{BoxedReply, Empty, Incoming, PassiveReply};
//!
//! async fn blacklist(msg: Incoming<'static>, next: Next) -> BoxedReply<'static> {
//!     if msg.from_user_name() == "oBlocked" {
//!         return Empty.boxed();
//!     }
//!     next.run(msg).await
//! }
//!
//! # async fn nothing(_: Incoming<'static>) -> Empty { Empty }
//! let router = Router::new().fallback(nothing).layer(blacklist);
//! # let _ = router;
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use reply_core::{BoxedReply, Empty, PassiveReply};
use reply_core::{Event, Incoming};

#[cfg(feature = "session")]
use crate::session::Session;

/// A boxed future that answers with a boxed reply: what routes and middleware run.
pub type ReplyFuture = Pin<Box<dyn Future<Output = BoxedReply<'static>> + Send>>;

/// The application's state, as a handler's first argument: a clone of the router's.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

/// The kinds of message a route can give its handler, as types: [`Msg<K>`]'s `K`.
pub mod kind {
    use reply_core::{Incoming, MsgKind};

    /// A kind of message: what a route of it matches.
    pub trait Kind: Send + Sync + 'static {
        /// Whether `msg` is of this kind.
        fn matches(msg: &Incoming<'_>) -> bool;
    }

    macro_rules! msg_types {
        ($($(#[$doc:meta])* $name:ident = $($kind:ident)|+;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}

            impl Kind for $name {
                #[inline]
                fn matches(msg: &Incoming<'_>) -> bool {
                    // The core's one table of MsgTypes, which `Incoming::message` reads too.
                    matches!(msg.kind(), $(Some(MsgKind::$kind))|+)
                }
            }
        )*};
    }

    msg_types! {
        /// MsgType `text`.
        Text = Text;
        /// MsgType `image`.
        Image = Image;
        /// MsgType `voice`.
        Voice = Voice;
        /// MsgType `video` or `shortvideo` ([`Message::Video`](reply_core::Message::Video),
        /// [`Message::ShortVideo`](reply_core::Message::ShortVideo)).
        Video = Video | ShortVideo;
        /// MsgType `location`.
        Location = Location;
        /// MsgType `link`.
        Link = Link;
        /// MsgType `event`: any event.
        Event = Event;
    }

    macro_rules! events {
        ($($(#[$doc:meta])* $name:ident = $event:literal;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}

            impl Kind for $name {
                #[inline]
                fn matches(msg: &Incoming<'_>) -> bool {
                    msg.is_event($event)
                }
            }
        )*};
    }

    events! {
        /// Event `subscribe`: a new follower (from a QR code with a scene, an EventKey `qrscene_…`).
        Subscribe = "subscribe";
        /// Event `unsubscribe`.
        Unsubscribe = "unsubscribe";
        /// Event `SCAN`: a follower scanned a QR code with a scene.
        Scan = "SCAN";
        /// Event `CLICK`: a menu button.
        Click = "CLICK";
        /// Event `VIEW`: a menu link.
        View = "VIEW";
    }

    /// Any message.
    #[derive(Debug, Clone, Copy)]
    pub enum Any {}

    impl Kind for Any {
        #[inline]
        fn matches(_: &Incoming<'_>) -> bool {
            true
        }
    }
}

use kind::Kind;

/// A message of kind `K`, as a route of that kind gives it to its handler: the [`Incoming`]
/// (which it derefs to), with the accessors of its kind.
#[derive(Debug, Clone)]
pub struct Msg<K> {
    msg: Incoming<'static>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Deref for Msg<K> {
    type Target = Incoming<'static>;

    fn deref(&self) -> &Incoming<'static> {
        &self.msg
    }
}

impl<K> Msg<K> {
    /// The message, whole.
    pub fn into_inner(self) -> Incoming<'static> {
        self.msg
    }
}

impl Msg<kind::Text> {
    /// Content.
    pub fn content(&self) -> &str {
        self.msg.field("Content").unwrap_or_default()
    }
}

impl Msg<kind::Image> {
    /// PicUrl.
    pub fn pic_url(&self) -> &str {
        self.msg.field("PicUrl").unwrap_or_default()
    }

    /// MediaId.
    pub fn media_id(&self) -> &str {
        self.msg.field("MediaId").unwrap_or_default()
    }
}

impl Msg<kind::Voice> {
    /// MediaId.
    pub fn media_id(&self) -> &str {
        self.msg.field("MediaId").unwrap_or_default()
    }

    /// Recognition: the speech as text, when recognition is on.
    pub fn recognition(&self) -> Option<&str> {
        self.msg.field("Recognition")
    }
}

impl Msg<kind::Event> {
    /// The event, typed.
    pub fn event(&self) -> Event<'_> {
        // A route of kind `Event` gives only events.
        self.msg.read_event()
    }

    /// The Event element as sent: `subscribe`, `CLICK`, …
    pub fn name(&self) -> &str {
        self.msg.field("Event").unwrap_or_default()
    }

    /// EventKey, when the event has one.
    pub fn event_key(&self) -> Option<&str> {
        self.msg.field("EventKey")
    }
}

impl Msg<kind::Scan> {
    /// EventKey: the QR code's scene.
    pub fn event_key(&self) -> &str {
        self.msg.field("EventKey").unwrap_or_default()
    }

    /// Ticket: the QR code's ticket.
    pub fn ticket(&self) -> Option<&str> {
        self.msg.field("Ticket")
    }
}

impl Msg<kind::Click> {
    /// EventKey: the button's key.
    pub fn event_key(&self) -> &str {
        self.msg.field("EventKey").unwrap_or_default()
    }
}

impl Msg<kind::View> {
    /// EventKey: the link's URL.
    pub fn event_key(&self) -> &str {
        self.msg.field("EventKey").unwrap_or_default()
    }

    /// MenuId, when given.
    pub fn menu_id(&self) -> Option<&str> {
        self.msg.field("MenuId")
    }
}

impl Msg<kind::Subscribe> {
    /// EventKey, when the follower came from a QR code with a scene: `qrscene_…`.
    pub fn event_key(&self) -> Option<&str> {
        self.msg.field("EventKey").filter(|key| !key.is_empty())
    }

    /// The scene of the QR code the follower came from: the EventKey without `qrscene_`.
    pub fn scene(&self) -> Option<&str> {
        self.event_key()?.strip_prefix("qrscene_")
    }

    /// Ticket: the QR code's ticket, when the follower came from one.
    pub fn ticket(&self) -> Option<&str> {
        self.msg.field("Ticket")
    }
}

/// What a handler can take as its message, on a route of kind `K`: [`Msg<K>`], or the
/// [`Incoming`] of any route.
#[diagnostic::on_unimplemented(
    message = "a route of kind `{K}` can't give its handler a `{Self}`",
    label = "the handler of this route takes a message of another kind",
    note = "a handler takes `Msg<K>` of its route's kind (`.text(..)`: `Msg<kind::Text>`; `.event(..)`, `.event_key(..)`: `Msg<kind::Event>`; `.on::<K, _, _>(..)`: `Msg<K>`, `K` a message kind such as `kind::Image` or an event kind such as `kind::Click`), or `Incoming<'static>` on any route"
)]
pub trait FromMessage<K>: Sized {
    /// The handler's argument, from the message.
    fn from_message(msg: Incoming<'static>) -> Self;
}

impl<K: Kind> FromMessage<K> for Msg<K> {
    #[inline]
    fn from_message(msg: Incoming<'static>) -> Self {
        Msg { msg, kind: PhantomData }
    }
}

impl<K: Kind> FromMessage<K> for Incoming<'static> {
    #[inline]
    fn from_message(msg: Incoming<'static>) -> Self {
        msg
    }
}

/// A handler of messages of kind `K`, with state `S`: an `async fn` of the message, or of
/// [`State<S>`] and the message, returning any reply. `Args` tells the two shapes apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't handle a route of kind `{K}`",
    label = "not a handler for this route",
    note = "this route gives its handler a `Msg<{K}>` (or the `Incoming<'static>`); a handler is an `async fn` taking that message, optionally after `State<S>`, and returning a reply (`impl PassiveReply`, `BoxedReply`, or an `Option` of one)"
)]
pub trait Handler<K, S, Args>: Clone + Send + Sync + 'static {
    /// Runs the handler on `msg`.
    fn call(&self, msg: Incoming<'static>, cx: &Context<S>) -> ReplyFuture;

    /// Whether it takes a session (feature `session`): the router then needs
    /// [`sessions`](Router::sessions).
    fn takes_session() -> bool {
        false
    }
}

/// What a router gives its routes besides the message: its state and (feature `session`) its
/// sessions.
pub struct Context<S> {
    state: S,
    #[cfg(feature = "session")]
    sessions: Option<crate::session::Sessions>,
}

impl<S> std::fmt::Debug for Context<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl<K, S, F, T, Fut, R> Handler<K, S, (T,)> for F
where
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    T: FromMessage<K>,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    fn call(&self, msg: Incoming<'static>, _: &Context<S>) -> ReplyFuture {
        let reply = self(T::from_message(msg));
        Box::pin(async move { reply.await.boxed() })
    }
}

impl<K, S, F, T, Fut, R> Handler<K, S, (State<S>, T)> for F
where
    F: Fn(State<S>, T) -> Fut + Clone + Send + Sync + 'static,
    S: Clone,
    T: FromMessage<K>,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    fn call(&self, msg: Incoming<'static>, cx: &Context<S>) -> ReplyFuture {
        let reply = self(State(cx.state.clone()), T::from_message(msg));
        Box::pin(async move { reply.await.boxed() })
    }
}

/// A handler with a session: the reply, or the empty reply when the session couldn't be had.
#[cfg(feature = "session")]
fn with_session<S, X, T, K, Fut, R>(
    cx: &Context<S>,
    msg: Incoming<'static>,
    handler: impl FnOnce(Session<X>, T) -> Fut + Send + 'static,
) -> ReplyFuture
where
    X: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    T: FromMessage<K>,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    // `Router::into_handler` refuses a router whose routes take sessions it has none for.
    let Some(sessions) = cx.sessions.clone() else {
        return Box::pin(std::future::ready(Empty.boxed()));
    };
    Box::pin(async move {
        match sessions.run(msg, |session, msg| handler(session, T::from_message(msg))).await {
            Some(reply) => reply.boxed(),
            None => Empty.boxed(),
        }
    })
}

#[cfg(feature = "session")]
impl<K, S, F, X, T, Fut, R> Handler<K, S, (Session<X>, T)> for F
where
    F: Fn(Session<X>, T) -> Fut + Clone + Send + Sync + 'static,
    X: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    T: FromMessage<K> + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    fn call(&self, msg: Incoming<'static>, cx: &Context<S>) -> ReplyFuture {
        let handler = self.clone();
        with_session(cx, msg, move |session, msg: T| handler(session, msg))
    }

    fn takes_session() -> bool {
        true
    }
}

#[cfg(feature = "session")]
impl<K, S, F, X, T, Fut, R> Handler<K, S, (State<S>, Session<X>, T)> for F
where
    F: Fn(State<S>, Session<X>, T) -> Fut + Clone + Send + Sync + 'static,
    S: Clone + Send + 'static,
    X: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    T: FromMessage<K> + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    fn call(&self, msg: Incoming<'static>, cx: &Context<S>) -> ReplyFuture {
        let (handler, state) = (self.clone(), cx.state.clone());
        with_session(cx, msg, move |session, msg: T| handler(State(state), session, msg))
    }

    fn takes_session() -> bool {
        true
    }
}

/// An EventKey to route by: [`Key::exact`] or [`Key::prefix`] (`qrscene_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    text: Cow<'static, str>,
    prefix: bool,
}

impl Key {
    /// The EventKey `key`, exactly.
    pub fn exact(key: impl Into<Cow<'static, str>>) -> Key {
        Key { text: key.into(), prefix: false }
    }

    /// Any EventKey that starts with `prefix`.
    pub fn prefix(prefix: impl Into<Cow<'static, str>>) -> Key {
        Key { text: prefix.into(), prefix: true }
    }

    fn matches(&self, key: &str) -> bool {
        if self.prefix { key.starts_with(&*self.text) } else { key == self.text }
    }
}

/// What a route matches.
enum Matcher {
    /// A kind's own test.
    Kind(fn(&Incoming<'_>) -> bool),
    /// MsgType, exactly.
    MsgType(Cow<'static, str>),
    /// Event, whatever its case.
    Event(Cow<'static, str>),
    /// An event's EventKey.
    EventKey(Key),
    /// A text's Content, exactly or by prefix.
    Content(Key),
    /// A text's Content, by regex.
    #[cfg(feature = "regex")]
    ContentRegex(regex::Regex),
}

impl Matcher {
    fn matches(&self, msg: &Incoming<'_>) -> bool {
        match self {
            Matcher::Kind(matches) => matches(msg),
            Matcher::MsgType(msg_type) => msg.msg_type() == *msg_type,
            Matcher::Event(event) => msg.is_event(event),
            Matcher::EventKey(key) => {
                kind::Event::matches(msg) && msg.field("EventKey").is_some_and(|k| key.matches(k))
            }
            Matcher::Content(content) => {
                kind::Text::matches(msg) && content.matches(msg.field("Content").unwrap_or_default())
            }
            #[cfg(feature = "regex")]
            Matcher::ContentRegex(regex) => {
                kind::Text::matches(msg) && regex.is_match(msg.field("Content").unwrap_or_default())
            }
        }
    }
}

type Route<S> = Arc<dyn Fn(Incoming<'static>, &Context<S>) -> ReplyFuture + Send + Sync>;
type Layer<S> = Arc<dyn Fn(Incoming<'static>, Next<S>) -> ReplyFuture + Send + Sync>;

/// Routes from the first that matches to its handler, through the middleware: built with its
/// methods, served with [`into_handler`](Router::into_handler).
pub struct Router<S = ()> {
    routes: Vec<(Matcher, Route<S>)>,
    fallback: Option<Route<S>>,
    layers: Vec<Layer<S>>,
    cx: Context<S>,
    /// Whether a route takes a session.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    takes_session: bool,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("fallback", &self.fallback.is_some())
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl Router<()> {
    /// A router without state.
    pub fn new() -> Self {
        Router::with_state(())
    }
}

impl Default for Router<()> {
    fn default() -> Self {
        Router::new()
    }
}

impl<S: Send + Sync + 'static> Router<S> {
    /// A router whose handlers can take [`State<S>`]: a clone of `state` each.
    pub fn with_state(state: S) -> Self {
        let cx = Context {
            state,
            #[cfg(feature = "session")]
            sessions: None,
        };
        Router { routes: Vec::new(), fallback: None, layers: Vec::new(), cx, takes_session: false }
    }

    fn route<K, Args, H: Handler<K, S, Args>>(mut self, matcher: Matcher, handler: H) -> Self {
        self.takes_session |= H::takes_session();
        self.routes.push((matcher, Arc::new(move |msg, cx: &Context<S>| handler.call(msg, cx))));
        self
    }

    /// Keeps conversations (feature `session`): the handlers that take a
    /// [`Session`] get their user's, kept as `sessions` says. See
    /// [`session`](crate::session).
    #[cfg(feature = "session")]
    #[must_use]
    pub fn sessions(mut self, sessions: crate::session::Sessions) -> Self {
        self.cx.sessions = Some(sessions);
        self
    }

    /// Messages of kind `K` ([`kind::Text`], [`kind::Event`], …), to a handler of [`Msg<K>`].
    pub fn on<K: Kind, H, Args>(self, handler: H) -> Self
    where
        H: Handler<K, S, Args>,
    {
        self.route(Matcher::Kind(K::matches), handler)
    }

    /// Texts whose Content is exactly `content`.
    pub fn text<H, Args>(self, content: impl Into<Cow<'static, str>>, handler: H) -> Self
    where
        H: Handler<kind::Text, S, Args>,
    {
        self.route(Matcher::Content(Key::exact(content)), handler)
    }

    /// Texts whose Content starts with `prefix`.
    pub fn text_prefix<H, Args>(self, prefix: impl Into<Cow<'static, str>>, handler: H) -> Self
    where
        H: Handler<kind::Text, S, Args>,
    {
        self.route(Matcher::Content(Key::prefix(prefix)), handler)
    }

    /// Texts whose Content matches `regex` (feature `regex`).
    #[cfg(feature = "regex")]
    pub fn text_regex<H, Args>(self, regex: regex::Regex, handler: H) -> Self
    where
        H: Handler<kind::Text, S, Args>,
    {
        self.route(Matcher::ContentRegex(regex), handler)
    }

    /// Events whose Event is `event` (`subscribe`, `CLICK`, …), whatever its case.
    pub fn event<H, Args>(self, event: impl Into<Cow<'static, str>>, handler: H) -> Self
    where
        H: Handler<kind::Event, S, Args>,
    {
        self.route(Matcher::Event(event.into()), handler)
    }

    /// Events whose EventKey is `key` ([`Key::exact`] or [`Key::prefix`]).
    pub fn event_key<H, Args>(self, key: Key, handler: H) -> Self
    where
        H: Handler<kind::Event, S, Args>,
    {
        self.route(Matcher::EventKey(key), handler)
    }

    /// Messages whose MsgType is `msg_type`, new ones included, to a handler of the
    /// [`Incoming`].
    pub fn msg_type<H, Args>(self, msg_type: impl Into<Cow<'static, str>>, handler: H) -> Self
    where
        H: Handler<kind::Any, S, Args>,
    {
        self.route(Matcher::MsgType(msg_type.into()), handler)
    }

    /// What no route matches goes to `handler` (without one: the empty reply).
    pub fn fallback<H, Args>(mut self, handler: H) -> Self
    where
        H: Handler<kind::Any, S, Args>,
    {
        self.takes_session |= H::takes_session();
        self.fallback = Some(Arc::new(move |msg, cx: &Context<S>| handler.call(msg, cx)));
        self
    }

    /// Wraps every route in `middleware`: an `async fn(Incoming<'static>, Next) -> BoxedReply`
    /// that may answer itself or call `next.run(msg)`. The first added is the outermost.
    pub fn layer<F, Fut>(mut self, middleware: F) -> Self
    where
        F: Fn(Incoming<'static>, Next<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BoxedReply<'static>> + Send + 'static,
    {
        self.layers.push(Arc::new(move |msg, next| Box::pin(middleware(msg, next))));
        self
    }

    /// The router as the endpoint's handler: `Endpoint::new(token, router.into_handler())`.
    ///
    /// # Panics
    /// When a handler takes a session and the router was given no
    /// [`sessions`](Router::sessions): a mistake in the program, told where it starts.
    pub fn into_handler(self) -> impl Fn(Incoming<'static>) -> ReplyFuture + Clone + Send + Sync + 'static {
        #[cfg(feature = "session")]
        assert!(
            !self.takes_session || self.cx.sessions.is_some(),
            "a route's handler takes a `Session`, but the router has no sessions: add `.sessions(Sessions::new(store))`"
        );
        let router = Arc::new(self);
        move |msg| match router.layers.is_empty() {
            true => router.dispatch(msg),
            false => Next { router: router.clone(), layer: 0 }.run(msg),
        }
    }

    /// The first matching route's reply, or the fallback's.
    fn dispatch(&self, msg: Incoming<'static>) -> ReplyFuture {
        let route = self.routes.iter().find(|(matcher, _)| matcher.matches(&msg)).map(|(_, route)| route);
        match route.or(self.fallback.as_ref()) {
            Some(route) => route(msg, &self.cx),
            None => Box::pin(std::future::ready(Empty.boxed())),
        }
    }
}

/// The rest of the chain, as middleware gets it: [`run`](Next::run) it to go on.
pub struct Next<S = ()> {
    router: Arc<Router<S>>,
    layer: usize,
}

impl<S> std::fmt::Debug for Next<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> Next<S> {
    /// The reply of the rest of the chain: the next middleware, or the routes.
    pub fn run(self, msg: Incoming<'static>) -> ReplyFuture {
        match self.router.layers.get(self.layer) {
            Some(layer) => {
                let layer = layer.clone();
                layer(msg, Next { router: self.router, layer: self.layer + 1 })
            }
            None => self.router.dispatch(msg),
        }
    }
}
