//! A double of the platform's API, served by the test on a free loopback port: the token APIs and
//! the customer-service send API, recording what they receive, answering as the platform documents,
//! and told by the test to fail.

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

pub const APP_ID: &str = "wx0123456789abcdef";
pub const SECRET: &str = "the-app-secret";
/// The third-party platform ("component") the double knows.
pub const COMPONENT_APP_ID: &str = "wxcomponent0000001";
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
    pub token: String,
    pub body: Value,
    pub at: Instant,
    /// Whether the platform took it (`errcode` 0): the user sees it.
    pub accepted: bool,
}

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

#[derive(Clone, Default)]
pub struct Platform(pub Arc<Mutex<Recorded>>);

impl Platform {
    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    pub fn token_requests(&self) -> usize {
        self.with(|r| r.token_requests.len())
    }

    pub fn sends(&self) -> Vec<Sent> {
        self.with(|r| r.sends.clone())
    }

    /// Serves the platform on a free loopback port; the base URL to give the client.
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

fn down(platform: &Platform) -> Option<Response> {
    let status = platform.with(|r| {
        r.refused += usize::from(r.down.is_some());
        r.down
    })?;
    Some((StatusCode::from_u16(status).unwrap(), "<html>down</html>").into_response())
}

async fn hand_out(platform: &Platform, request: String) -> Response {
    let delay = platform.with(|r| {
        r.token_requests.push((request, Instant::now()));
        r.token_delay
    });
    tokio::time::sleep(delay).await;
    let (token, expires_in) = platform.with(|r| {
        let token = format!("TOKEN-{}", r.tokens.len() + 1);
        r.tokens.push(token.clone());
        r.valid = Some(token.clone());
        (token, if r.expires_in == 0 { 7200 } else { r.expires_in })
    });
    json(serde_json::json!({"access_token": token, "expires_in": expires_in}))
}

async fn token(State(platform): State<Platform>, RawQuery(raw): RawQuery) -> Response {
    if let Some(response) = down(&platform) {
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
    hand_out(&platform, raw.unwrap_or_default()).await
}

async fn stable_token(State(platform): State<Platform>, body: Bytes) -> Response {
    if let Some(response) = down(&platform) {
        return response;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["grant_type"] != "client_credential" || body["appid"] != APP_ID || body["secret"] != SECRET {
        return json(serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    // The stable API hands out the token in use while it lives.
    let current = platform.with(|r| r.valid.clone());
    match current {
        Some(token) if body["force_refresh"] == false => {
            platform.with(|r| r.token_requests.push((body.to_string(), Instant::now())));
            json(serde_json::json!({"access_token": token, "expires_in": 7200}))
        }
        _ => hand_out(&platform, body.to_string()).await,
    }
}

async fn send(State(platform): State<Platform>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    if let Some(response) = down(&platform) {
        return response;
    }
    let token = query(&raw).get("access_token").cloned().unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).expect("the send's body is JSON");
    let next = platform.with(|r| {
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

async fn component_token(State(platform): State<Platform>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    platform.with(|r| {
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

async fn query_auth(State(platform): State<Platform>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    platform.with(|r| {
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

async fn authorizer_token(State(platform): State<Platform>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    platform.with(|r| {
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
