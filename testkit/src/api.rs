//! A double of the platform's API (feature `api`), served on a free loopback port: the token
//! APIs, the customer-service send API and the third-party platform's token APIs, recording what
//! they receive, answering as the platform documents, and told by the test to fail.
//!
//! ```
//! use passive_reply_test::api::{ApiDouble, APP_ID, SECRET};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let api = ApiDouble::new();
//! let base = api.serve().await;
//! let client = passive_reply::client::Client::builder(APP_ID, SECRET).api_base(&base).build().unwrap();
//! client.send(&passive_reply::Text::new("oAlice", "gh_account", "later")).await.unwrap();
//! let sent = api.sends();
//! assert_eq!(sent.len(), 1);
//! sent[0].assert_text("oAlice", "later");
//! assert_eq!(api.token_requests(), 1);
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The account AppID the double knows.
pub const APP_ID: &str = "wx0123456789abcdef";
/// The account AppSecret the double knows.
pub const SECRET: &str = "the-app-secret";
/// The third-party platform ("component") the double knows.
pub const COMPONENT_APP_ID: &str = "wxcomponent0000001";
/// The component AppSecret the double knows.
pub const COMPONENT_SECRET: &str = "the-component-secret";

/// What the send API answers next.
#[derive(Debug, Clone, Copy)]
pub enum Next {
    /// An error code: `{"errcode":N,"errmsg":"…"}`. 40001 also makes the current token stale, as
    /// the platform does when another fetch replaced it.
    Code(i64),
    /// An HTTP status, with a body that is not the platform's.
    Status(u16),
}

/// One send the platform received.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The access token it came with.
    pub token: String,
    /// Its JSON body.
    pub body: Value,
    /// When it came.
    pub at: Instant,
    /// Whether the platform took it (`errcode` 0): the user sees it.
    pub accepted: bool,
}

impl Sent {
    /// Asserts that it is a text message to `to` saying `content`, as a late reply is sent.
    ///
    /// # Panics
    /// When it isn't, saying what it is.
    #[track_caller]
    pub fn assert_text(&self, to: &str, content: &str) {
        let expected = serde_json::json!({"touser": to, "msgtype": "text", "text": {"content": content}});
        assert_eq!(self.body, expected, "the send");
    }
}

/// Everything the double records, and what the test tells it: [`ApiDouble::with`] reaches it.
#[derive(Default)]
pub struct Recorded {
    /// Every token request: its query (plain) or body (stable), and when.
    pub token_requests: Vec<(String, Instant)>,
    /// Every send, whatever it was answered.
    pub sends: Vec<Sent>,
    /// The tokens handed out.
    pub tokens: Vec<String>,
    /// The one token the send API accepts now.
    pub valid: Option<String>,
    /// What the next sends are answered, in order (then `{"errcode":0}`).
    pub script: VecDeque<Next>,
    /// What every request is answered while set.
    pub down: Option<u16>,
    /// How many requests were answered that way.
    pub refused: usize,
    /// How long a token request takes.
    pub token_delay: Duration,
    /// The life of the tokens handed out, in seconds (0: the platform's 7200).
    pub expires_in: u64,
    /// The component's side: see [`ComponentApi`].
    pub component: ComponentApi,
}

/// What the double knows and records of the third-party platform's APIs.
#[derive(Default)]
pub struct ComponentApi {
    /// The ticket the platform pushed last: the one `api_component_token` takes.
    pub ticket: Option<String>,
    /// Every `api_component_token` request's body.
    pub token_requests: Vec<Value>,
    /// The one component token the component APIs accept now.
    pub valid: Option<String>,
    /// Authorization codes the double will exchange, and the account each is for.
    pub codes: HashMap<String, String>,
    /// Every `api_query_auth` request's body.
    pub query_auth_requests: Vec<Value>,
    /// Every `api_authorizer_token` request's body.
    pub refresh_requests: Vec<Value>,
    /// Each authorizer's refresh token now.
    pub refresh_tokens: HashMap<String, String>,
    /// The authorizer tokens the send API accepts, and whose they are.
    pub authorizer_tokens: HashMap<String, String>,
    /// How many tokens were handed out.
    pub issued: usize,
}

/// The double: cheap to clone, each clone the same double. Its account is [`APP_ID`] with
/// [`SECRET`]; the component [`COMPONENT_APP_ID`] with [`COMPONENT_SECRET`].
#[derive(Clone, Default)]
pub struct ApiDouble(pub Arc<Mutex<Recorded>>);

impl std::fmt::Debug for ApiDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDouble").finish_non_exhaustive()
    }
}

impl ApiDouble {
    /// A double with nothing recorded, answering every request as the platform does.
    pub fn new() -> ApiDouble {
        ApiDouble::default()
    }

    /// What it recorded, and what it is told, under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// How many token requests (plain and stable) it received.
    pub fn token_requests(&self) -> usize {
        self.with(|r| r.token_requests.len())
    }

    /// Every customer-service send it received, in order.
    pub fn sends(&self) -> Vec<Sent> {
        self.with(|r| r.sends.clone())
    }

    /// The sends, once there are `n` (the late replies still being made when the test asks).
    ///
    /// # Panics
    /// When there are fewer than `n` after `within`, saying how many came.
    #[track_caller]
    pub fn wait_for_sends(&self, n: usize, within: Duration) -> impl std::future::Future<Output = Vec<Sent>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            loop {
                let sends = self.sends();
                if sends.len() >= n {
                    return sends;
                }
                if Instant::now() >= deadline {
                    panic!("{} of {n} sends came within {within:?} ({caller}): {sends:?}", sends.len());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Serves the double on a free loopback port, in a task: the base URL to give the client
    /// (`Client::builder(..).api_base(base)`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn serve(&self) -> String {
        let app = Router::new()
            .route("/cgi-bin/token", get(token))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/message/custom/send", post(send))
            .route("/cgi-bin/component/api_component_token", post(component_token))
            .route("/cgi-bin/component/api_query_auth", post(query_auth))
            .route("/cgi-bin/component/api_authorizer_token", post(authorizer_token))
            .with_state(self.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}

fn query(raw: &Option<String>) -> HashMap<String, String> {
    raw.as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json(value: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], value.to_string()).into_response()
}

fn down(api: &ApiDouble) -> Option<Response> {
    let status = api.with(|r| {
        r.refused += usize::from(r.down.is_some());
        r.down
    })?;
    Some((StatusCode::from_u16(status).unwrap(), "<html>down</html>").into_response())
}

async fn hand_out(api: &ApiDouble, request: String) -> Response {
    let delay = api.with(|r| {
        r.token_requests.push((request, Instant::now()));
        r.token_delay
    });
    tokio::time::sleep(delay).await;
    let (token, expires_in) = api.with(|r| {
        let token = format!("TOKEN-{}", r.tokens.len() + 1);
        r.tokens.push(token.clone());
        r.valid = Some(token.clone());
        (token, if r.expires_in == 0 { 7200 } else { r.expires_in })
    });
    json(serde_json::json!({"access_token": token, "expires_in": expires_in}))
}

async fn token(State(api): State<ApiDouble>, RawQuery(raw): RawQuery) -> Response {
    if let Some(response) = down(&api) {
        return response;
    }
    let q = query(&raw);
    if q.get("grant_type").map(String::as_str) != Some("client_credential")
        || q.get("appid").map(String::as_str) != Some(APP_ID)
    {
        return json(serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    if q.get("secret").map(String::as_str) != Some(SECRET) {
        return json(serde_json::json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    hand_out(&api, raw.unwrap_or_default()).await
}

async fn stable_token(State(api): State<ApiDouble>, body: Bytes) -> Response {
    if let Some(response) = down(&api) {
        return response;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["grant_type"] != "client_credential" || body["appid"] != APP_ID || body["secret"] != SECRET {
        return json(serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    // The stable API hands out the token in use while it lives.
    let current = api.with(|r| r.valid.clone());
    match current {
        Some(token) if body["force_refresh"] == false => {
            api.with(|r| r.token_requests.push((body.to_string(), Instant::now())));
            json(serde_json::json!({"access_token": token, "expires_in": 7200}))
        }
        _ => hand_out(&api, body.to_string()).await,
    }
}

async fn send(State(api): State<ApiDouble>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    if let Some(response) = down(&api) {
        return response;
    }
    let token = query(&raw).get("access_token").cloned().unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).expect("the send's body is JSON");
    let next = api.with(|r| {
        let next = if r.valid.as_ref() != Some(&token) && !r.component.authorizer_tokens.contains_key(&token) {
            Some(Next::Code(40001))
        } else {
            let next = r.script.pop_front();
            if let Some(Next::Code(40001)) = next {
                // Told to call the valid token stale: it is, from now on.
                r.valid = None;
            }
            next
        };
        r.sends.push(Sent { token: token.clone(), body, at: Instant::now(), accepted: next.is_none() });
        next
    });
    match next {
        None => json(serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        Some(Next::Code(code)) => json(serde_json::json!({"errcode": code, "errmsg": format!("error {code}")})),
        Some(Next::Status(status)) => (StatusCode::from_u16(status).unwrap(), "bad gateway").into_response(),
    }
}

async fn component_token(State(api): State<ApiDouble>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.with(|r| {
        let c = &mut r.component;
        c.token_requests.push(body.clone());
        if body["component_appid"] != COMPONENT_APP_ID || body["component_appsecret"] != COMPONENT_SECRET {
            return json(serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"}));
        }
        if c.ticket.is_none() || body["component_verify_ticket"].as_str() != c.ticket.as_deref() {
            return json(serde_json::json!({"errcode": 61006, "errmsg": "component ticket is invalid"}));
        }
        c.issued += 1;
        let token = format!("COMPONENT-{}", c.issued);
        c.valid = Some(token.clone());
        json(serde_json::json!({"component_access_token": token, "expires_in": 7200}))
    })
}

/// Whether a component API's query carries the valid component token.
fn component_call(r: &Recorded, raw: &Option<String>) -> bool {
    let token = query(raw).get("component_access_token").cloned();
    matches!((&r.component.valid, token), (Some(valid), Some(token)) if *valid == token)
}

fn invalid_credential() -> Response {
    json(serde_json::json!({"errcode": 40001, "errmsg": "invalid credential"}))
}

/// A new token for the authorizer `app_id`, and a new refresh token, both remembered.
fn issue(c: &mut ComponentApi, app_id: &str) -> (String, String) {
    c.issued += 1;
    let (token, refresh) = (format!("AUTHORIZER-{app_id}-{}", c.issued), format!("REFRESH-{app_id}-{}", c.issued));
    c.authorizer_tokens.insert(token.clone(), app_id.to_owned());
    c.refresh_tokens.insert(app_id.to_owned(), refresh.clone());
    (token, refresh)
}

async fn query_auth(State(api): State<ApiDouble>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.with(|r| {
        r.component.query_auth_requests.push(body.clone());
        if !component_call(r, &raw) {
            return invalid_credential();
        }
        let code = body["authorization_code"].as_str().unwrap_or("");
        let Some(app_id) = r.component.codes.get(code).cloned() else {
            return json(serde_json::json!({"errcode": 61010, "errmsg": "code is expired"}));
        };
        let (token, refresh) = issue(&mut r.component, &app_id);
        json(serde_json::json!({"authorization_info": {
            "authorizer_appid": app_id,
            "authorizer_access_token": token,
            "expires_in": 7200,
            "authorizer_refresh_token": refresh,
            "func_info": [{"funcscope_category": {"id": 1}}],
        }}))
    })
}

async fn authorizer_token(State(api): State<ApiDouble>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.with(|r| {
        r.component.refresh_requests.push(body.clone());
        if !component_call(r, &raw) {
            return invalid_credential();
        }
        let app_id = body["authorizer_appid"].as_str().unwrap_or("").to_owned();
        if r.component.refresh_tokens.get(&app_id).map(String::as_str) != body["authorizer_refresh_token"].as_str() {
            return json(serde_json::json!({"errcode": 61023, "errmsg": "refresh_token is invalid"}));
        }
        let (token, refresh) = issue(&mut r.component, &app_id);
        json(serde_json::json!({
            "authorizer_access_token": token,
            "expires_in": 7200,
            "authorizer_refresh_token": refresh,
        }))
    })
}
