//! A local stand-in for Discord's bot API (127.0.0.1 only): the REST routes the bot uses and
//! the gateway, speaking the documented protocol (HELLO, IDENTIFY, READY, heartbeat and ACK,
//! RESUME and RESUMED, INTERACTION_CREATE; close 4004 for a bad token; 401, 403 and 429 with
//! `retry_after` on REST). JSON frames, no compression. Shared by the crate's bot tests and
//! the engine's lab test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const APP_ID: u64 = 700_000_000_000_000_001;
const HEARTBEAT_MS: u64 = 1_000;

/// What a test tells a gateway session to do.
enum Cmd {
    Dispatch(&'static str, Value),
    /// A text frame exactly as given (malformed on purpose).
    Raw(String),
    /// End the TCP connection without a close frame, as a dropped network does.
    Drop,
}

#[derive(Default)]
struct Inner {
    token: String,
    /// Every channel message posted: (channel id, body).
    messages: Vec<(u64, Value)>,
    /// Every interaction callback: (interaction id, body).
    replies: Vec<(String, Value)>,
    commands: Vec<Value>,
    gateway_lookups: usize,
    identifies: usize,
    resumes: usize,
    heartbeats: usize,
    /// Answer this many message posts with 429 first.
    rate_limits: u32,
    rate_limited: usize,
    refused_channels: HashSet<u64>,
    /// Every request that carried a wrong token.
    rejected: usize,
    sessions: Vec<mpsc::UnboundedSender<Cmd>>,
    /// Neither the REST API nor the gateway answers (a Discord outage).
    down: bool,
    /// `GET /gateway/bot` answers 200 with a body that is not JSON.
    garbage: bool,
    /// The gateway address `GET /gateway/bot` gives, and READY's resume address, instead of
    /// this server's.
    gateway_url: Option<String>,
    resume_url: Option<String>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeDiscord {
    pub async fn start(token: &str) -> FakeDiscord {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener, token)
    }

    /// Serves on `listener` (bound wherever the test needs Discord to be, such as the
    /// loopback of a lab's network namespace). Must run inside a tokio runtime.
    pub fn start_on(listener: std::net::TcpListener, token: &str) -> FakeDiscord {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            ..Inner::default()
        }));
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeDiscord { addr, inner };
        let app = Router::new()
            .route("/", get(gateway))
            .route("/api/v10/gateway/bot", get(gateway_bot))
            .route("/api/v10/applications/{app}/commands", put(set_commands))
            .route("/api/v10/channels/{channel}/messages", post(create_message))
            .route(
                "/api/v10/interactions/{id}/{token}/callback",
                post(interaction_callback),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    /// The `discord_api_url` setting that points the bot here.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn messages(&self) -> Vec<(u64, Value)> {
        self.with(|i| i.messages.clone())
    }
    /// Every embed title posted, in order.
    pub fn titles(&self) -> Vec<String> {
        self.messages()
            .iter()
            .flat_map(|(_, m)| m["embeds"].as_array().cloned().unwrap_or_default())
            .map(|e| e["title"].as_str().unwrap_or_default().to_string())
            .collect()
    }
    pub fn replies(&self) -> Vec<(String, Value)> {
        self.with(|i| i.replies.clone())
    }
    pub fn commands(&self) -> Vec<Value> {
        self.with(|i| i.commands.clone())
    }
    pub fn gateway_lookups(&self) -> usize {
        self.with(|i| i.gateway_lookups)
    }
    pub fn identifies(&self) -> usize {
        self.with(|i| i.identifies)
    }
    pub fn resumes(&self) -> usize {
        self.with(|i| i.resumes)
    }
    pub fn heartbeats(&self) -> usize {
        self.with(|i| i.heartbeats)
    }
    pub fn rejected(&self) -> usize {
        self.with(|i| i.rejected)
    }
    pub fn rate_limited(&self) -> usize {
        self.with(|i| i.rate_limited)
    }
    /// Every request after this is rejected unless it carries `token`.
    pub fn set_token(&self, token: &str) {
        self.with(|i| i.token = token.to_string());
    }
    pub fn rate_limit_next(&self, n: u32) {
        self.with(|i| i.rate_limits = n);
    }
    pub fn refuse_channel(&self, channel: u64) {
        self.with(|i| {
            i.refused_channels.insert(channel);
        });
    }
    pub fn set_gateway_url(&self, url: Option<&str>) {
        self.with(|i| i.gateway_url = url.map(str::to_string));
    }
    pub fn set_resume_url(&self, url: Option<&str>) {
        self.with(|i| i.resume_url = url.map(str::to_string));
    }
    pub fn set_garbage(&self, garbage: bool) {
        self.with(|i| i.garbage = garbage);
    }
    /// Sends `text` as one frame on every gateway session.
    pub fn send_raw(&self, text: &str) {
        self.with(|i| {
            i.sessions
                .retain(|s| s.send(Cmd::Raw(text.to_string())).is_ok())
        });
    }
    /// Dispatches event `t` with payload `d` on every gateway session.
    pub fn send_dispatch(&self, t: &'static str, d: Value) {
        self.dispatch(t, d);
    }
    pub fn set_down(&self, down: bool) {
        self.with(|i| i.down = down);
    }

    /// A member types `/lanrage <sub>` in the server: INTERACTION_CREATE on every session.
    pub fn slash_command(&self, interaction_id: u64, sub: &str) {
        let d = json!({
            "id": interaction_id.to_string(),
            "application_id": APP_ID.to_string(),
            "type": 2,
            "token": format!("interaction-token-{interaction_id}"),
            "version": 1,
            "guild_id": "800000000000000001",
            "channel_id": "800000000000000002",
            "authorizing_integration_owners": {"0": "800000000000000001"},
            "entitlements": [],
            "locale": "en-US",
            "member": {
                "user": {"id": "900000000000000001", "username": "friend", "discriminator": "0",
                         "avatar": null, "global_name": "Friend"},
                "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "permissions": "2147483648"
            },
            "data": {
                "id": "700000000000000099",
                "name": "lanrage",
                "type": 1,
                "options": [{"name": sub, "type": 1, "options": []}]
            }
        });
        self.dispatch("INTERACTION_CREATE", d);
    }

    fn dispatch(&self, t: &'static str, d: Value) {
        self.with(|i| {
            i.sessions
                .retain(|s| s.send(Cmd::Dispatch(t, d.clone())).is_ok())
        });
    }

    /// Drops every gateway connection, as a network failure does.
    pub fn drop_sessions(&self) {
        self.with(|i| {
            for s in i.sessions.drain(..) {
                let _ = s.send(Cmd::Drop);
            }
        });
    }

    /// Waits up to `secs` for `cond`; panics with `what` otherwise.
    pub async fn wait(&self, secs: u64, what: &str, cond: impl Fn(&FakeDiscord) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !cond(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; messages: {:?}",
                self.titles()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn authorized(fake: &FakeDiscord, headers: &HeaderMap) -> bool {
    let expected = format!("Bot {}", fake.with(|i| i.token.clone()));
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !ok {
        fake.with(|i| i.rejected += 1);
    }
    ok
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "401: Unauthorized", "code": 0})),
    )
        .into_response()
}

fn outage() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({"message": "upstream unavailable"})),
    )
        .into_response()
}

async fn gateway_bot(State(fake): State<FakeDiscord>, headers: HeaderMap) -> Response {
    if fake.with(|i| i.down) {
        return outage();
    }
    fake.with(|i| i.gateway_lookups += 1);
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    if fake.with(|i| i.garbage) {
        return (StatusCode::OK, "<html>a captive portal</html>").into_response();
    }
    let url = fake
        .with(|i| i.gateway_url.clone())
        .unwrap_or_else(|| format!("ws://{}", fake.addr));
    Json(json!({
        "url": url,
        "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000,
                                "max_concurrency": 1}
    }))
    .into_response()
}

async fn set_commands(
    State(fake): State<FakeDiscord>,
    Path(app): Path<u64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    assert_eq!(app, APP_ID, "commands registered for another application");
    fake.with(|i| i.commands.push(body.clone()));
    Json(body).into_response()
}

async fn create_message(
    State(fake): State<FakeDiscord>,
    Path(channel): Path<u64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if fake.with(|i| i.down) {
        return outage();
    }
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    if fake.with(|i| i.refused_channels.contains(&channel)) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "Missing Access", "code": 50001})),
        )
            .into_response();
    }
    let limited = fake.with(|i| {
        if i.rate_limits > 0 {
            i.rate_limits -= 1;
            i.rate_limited += 1;
            true
        } else {
            false
        }
    });
    if limited {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("x-ratelimit-scope", "user")],
            Json(
                json!({"message": "You are being rate limited.", "retry_after": 0.4,
                        "global": false}),
            ),
        )
            .into_response();
    }
    fake.with(|i| i.messages.push((channel, body)));
    Json(json!({"id": "1", "channel_id": channel.to_string()})).into_response()
}

async fn interaction_callback(
    State(fake): State<FakeDiscord>,
    Path((id, _token)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    // Discord authenticates interaction callbacks by their token in the path, not the bot's.
    fake.with(|i| i.replies.push((id, body)));
    StatusCode::NO_CONTENT.into_response()
}

async fn gateway(State(fake): State<FakeDiscord>, ws: WebSocketUpgrade) -> Response {
    if fake.with(|i| i.down) {
        return outage();
    }
    ws.on_upgrade(move |socket| session(fake, socket))
}

fn frame(op: u8, d: Value, s: Option<u64>, t: Option<&str>) -> Message {
    Message::Text(json!({"op": op, "d": d, "s": s, "t": t}).to_string().into())
}

/// Discord's answer to a wrong token in IDENTIFY or RESUME: close code 4004.
async fn authentication_failed(mut socket: WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 4004,
            reason: "Authentication failed.".into(),
        })))
        .await;
}

async fn session(fake: FakeDiscord, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut seq = 0u64;
    if socket
        .send(frame(
            10,
            json!({"heartbeat_interval": HEARTBEAT_MS}),
            None,
            None,
        ))
        .await
        .is_err()
    {
        return;
    }
    let mut identified = false;
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Dispatch(t, d)) => {
                    seq += 1;
                    if socket.send(frame(0, d, Some(seq), Some(t))).await.is_err() {
                        return;
                    }
                }
                Some(Cmd::Raw(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Cmd::Drop) | None => return,
            },
            msg = socket.recv() => {
                let Some(Ok(Message::Text(text))) = msg else {
                    if matches!(msg, Some(Ok(_))) { continue; }
                    return;
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let token_ok = |v: &Value| {
                    let sent = v["d"]["token"].as_str().unwrap_or_default();
                    let sent = sent.strip_prefix("Bot ").unwrap_or(sent);
                    sent == fake.with(|i| i.token.clone())
                };
                match v["op"].as_u64() {
                    Some(1) => {
                        fake.with(|i| i.heartbeats += 1);
                        if socket.send(frame(11, Value::Null, None, None)).await.is_err() {
                            return;
                        }
                    }
                    Some(2) if !identified => {
                        fake.with(|i| i.identifies += 1);
                        if !token_ok(&v) {
                            fake.with(|i| i.rejected += 1);
                            return authentication_failed(socket).await;
                        }
                        identified = true;
                        fake.with(|i| i.sessions.push(tx.clone()));
                        seq += 1;
                        let ready = json!({
                            "v": 10,
                            "user": {"id": "700000000000000002", "username": "LANrage Bot",
                                     "discriminator": "0", "avatar": null, "bot": true,
                                     "mfa_enabled": false, "accent_color": null, "banner": null},
                            "guilds": [{"id": "800000000000000001", "unavailable": true}],
                            "session_id": format!("session-{}", fake.identifies()),
                            "resume_gateway_url": fake.with(|i| i.resume_url.clone())
                                .unwrap_or_else(|| format!("ws://{}", fake.addr)),
                            "shard": [0, 1],
                            "application": {"id": APP_ID.to_string(), "flags": 0}
                        });
                        if socket.send(frame(0, ready, Some(seq), Some("READY"))).await.is_err() {
                            return;
                        }
                    }
                    Some(6) => {
                        fake.with(|i| i.resumes += 1);
                        if !token_ok(&v) {
                            fake.with(|i| i.rejected += 1);
                            return authentication_failed(socket).await;
                        }
                        identified = true;
                        fake.with(|i| i.sessions.push(tx.clone()));
                        seq = v["d"]["seq"].as_u64().unwrap_or(seq) + 1;
                        if socket
                            .send(frame(0, json!({}), Some(seq), Some("RESUMED")))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
