//! The control-plane client: one WebSocket session to the control server, authenticated with
//! the device key, kept alive with heartbeats and re-established with exponential backoff and
//! jitter. Requests wait (briefly) for a connection; pushes from the server arrive as
//! [`ControlEvent`]s.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, ErrorBody, Op, PartyView, ServerMsg};
use lanrage_proto::{auth, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use x25519_dalek::{PublicKey, StaticSecret};

const HEARTBEAT: Duration = Duration::from_secs(3);
/// A PEM file of certificate authorities trusted for wss:// besides the public ones, for a
/// control server with a self-made certificate.
pub const CA_ENV: &str = "LANRAGE_CONTROL_CA";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// A session that held this long counts as working: the backoff starts over after it.
const STABLE_SESSION: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlState {
    Connecting,
    Connected,
    /// Lost the connection; retrying with backoff. Tunnels keep working meanwhile.
    Reconnecting,
}

#[derive(Debug, Clone)]
pub enum ControlEvent {
    State(ControlState),
    Party(PartyView),
    PartyGone {
        party_id: String,
        reason: String,
    },
    Signal {
        from: String,
        payload: Value,
    },
    /// STUN and TURN servers (with fresh TURN credentials) from the server's welcome.
    IceServers(Vec<lanrage_proto::message::IceServer>),
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ControlError {
    #[error("{}", unreachable_sentence(.0))]
    Unreachable(String),
    /// The server refused the request; its message is for people.
    #[error("{}", .0.message)]
    Refused(ErrorBody),
    #[error("the control session stopped")]
    Stopped,
}

/// The servers a configured text names, in order. Checked where it was configured; a text that
/// does not parse is tried as one address, whose connection then fails and says why.
fn server_list(url: &str) -> Vec<String> {
    match lanrage_proto::servers::parse_servers(url) {
        Ok(list) if !list.is_empty() => list,
        _ => vec![url.to_owned()],
    }
}

fn unreachable_sentence(servers: &str) -> String {
    match server_list(servers) {
        list if list.len() > 1 => format!(
            "none of the control servers ({}) can be reached; LANrage keeps trying",
            list.join(", ")
        ),
        _ => format!("the control server {servers} cannot be reached; LANrage keeps trying"),
    }
}

enum Cmd {
    Request {
        op: Op,
        reply: oneshot::Sender<Result<Value, ControlError>>,
    },
    Signal {
        to: String,
        payload: Value,
    },
}

/// Handle to the session task. Dropping it does not stop the task: cancel its token.
#[derive(Clone)]
pub struct ControlClient {
    /// The configured server or list of servers, as given.
    url: String,
    /// The one of them this client uses now (or tries).
    server: std::sync::Arc<parking_lot::Mutex<String>>,
    name: std::sync::Arc<parking_lot::Mutex<String>>,
    cmds: mpsc::Sender<Cmd>,
    state: watch::Receiver<ControlState>,
}

impl ControlClient {
    pub fn spawn(
        url: String,
        secret: StaticSecret,
        name: String,
        events: mpsc::Sender<ControlEvent>,
        cancel: CancellationToken,
    ) -> Self {
        let (cmds, rx) = mpsc::channel(64);
        let (state_tx, state) = watch::channel(ControlState::Connecting);
        let name = std::sync::Arc::new(parking_lot::Mutex::new(name));
        let extra_ca = std::env::var_os(CA_ENV).map(std::path::PathBuf::from);
        let urls = server_list(&url);
        let server = std::sync::Arc::new(parking_lot::Mutex::new(urls[0].clone()));
        let session = Session {
            url: url.clone(),
            urls,
            at: 0,
            server: server.clone(),
            extra_ca,
            secret,
            name: name.clone(),
            events,
            state: state_tx,
            next_id: 1,
            pending: HashMap::new(),
        };
        tokio::spawn(session.run(rx, cancel));
        Self {
            url,
            server,
            name,
            cmds,
            state,
        }
    }

    /// The display name changed: used from the next connect on, and told to the server now
    /// if connected. Needs no async context (settings change from anywhere).
    pub fn set_name(&self, name: &str) {
        *self.name.lock() = name.to_string();
        if self.state() == ControlState::Connected {
            let (reply, _) = oneshot::channel();
            let _ = self.cmds.try_send(Cmd::Request {
                op: Op::SetName {
                    name: name.to_string(),
                },
                reply,
            });
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this client uses the servers `url` lists, however the list is written (a
    /// setting with commas, a link's).
    pub fn is_for(&self, url: &str) -> bool {
        server_list(&self.url) == server_list(url)
    }

    /// The server in use, or being tried: one of [`Self::url`]'s.
    pub fn server(&self) -> String {
        self.server.lock().clone()
    }

    pub fn state(&self) -> ControlState {
        *self.state.borrow()
    }

    /// Sends a request, waiting up to 10 s for a connection and the answer.
    pub async fn request(&self, op: Op) -> Result<Value, ControlError> {
        let mut st = self.state.clone();
        let connected = matches!(
            tokio::time::timeout(
                REQUEST_TIMEOUT,
                st.wait_for(|s| *s == ControlState::Connected),
            )
            .await,
            Ok(Ok(_))
        );
        if !connected {
            return Err(ControlError::Unreachable(self.url.clone()));
        }
        let (reply, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Request { op, reply })
            .await
            .map_err(|_| ControlError::Stopped)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ControlError::Unreachable(self.url.clone())),
            Err(_) => Err(ControlError::Unreachable(self.url.clone())),
        }
    }

    pub async fn signal(&self, to: String, payload: Value) {
        let _ = self.cmds.send(Cmd::Signal { to, payload }).await;
    }
}

struct Session {
    /// As configured, for messages.
    url: String,
    /// The servers, in the order they are tried; `at` is the one in use.
    urls: Vec<String>,
    at: usize,
    server: std::sync::Arc<parking_lot::Mutex<String>>,
    /// A PEM file of extra certificate authorities to trust for wss (self-hosted servers).
    extra_ca: Option<std::path::PathBuf>,
    secret: StaticSecret,
    name: std::sync::Arc<parking_lot::Mutex<String>>,
    events: mpsc::Sender<ControlEvent>,
    state: watch::Sender<ControlState>,
    next_id: u64,
    pending: HashMap<u64, oneshot::Sender<Result<Value, ControlError>>>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn jitter(d: Duration) -> Duration {
    use rand_core::RngCore;
    // +-20 %, so a server restart is not met by every client at the same instant.
    let r = (rand_core::OsRng.next_u32() % 401) as f64 / 1000.0 + 0.8;
    d.mul_f64(r)
}

impl Session {
    fn set_state(&self, s: ControlState) {
        if *self.state.borrow() != s {
            tracing::info!(server = %self.urls[self.at], state = ?s, "control connection");
            self.state.send_replace(s);
            let _ = self.events.try_send(ControlEvent::State(s));
        }
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>, cancel: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        // Servers tried since a session last held: the growing pause comes after a whole
        // round of them, so a lost server is followed by the next one almost at once.
        let mut tried = 0;
        loop {
            let connected = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.connect() => r,
            };
            tried += 1;
            let mut pause = None;
            match connected {
                Ok(ws) => {
                    let began = tokio::time::Instant::now();
                    self.set_state(ControlState::Connected);
                    let stop = self.serve(ws, &mut cmds, &cancel).await;
                    for (_, reply) in self.pending.drain() {
                        let _ = reply.send(Err(ControlError::Unreachable(self.url.clone())));
                    }
                    if stop {
                        return;
                    }
                    if began.elapsed() >= STABLE_SESSION {
                        backoff = BACKOFF_MIN;
                        tried = 0;
                    }
                    // Never straight back: a server that welcomes and hangs up would be
                    // redialled in a loop.
                    pause = Some(BACKOFF_MIN);
                }
                Err(e) => {
                    tracing::debug!(server = %self.urls[self.at], error = %e, "control connection failed");
                }
            }
            self.set_state(ControlState::Reconnecting);
            // Requests made while disconnected fail fast instead of hanging.
            while let Ok(cmd) = cmds.try_recv() {
                if let Cmd::Request { reply, .. } = cmd {
                    let _ = reply.send(Err(ControlError::Unreachable(self.url.clone())));
                }
            }
            if self.urls.len() > 1 {
                self.at = (self.at + 1) % self.urls.len();
                let next = self.urls[self.at].clone();
                tracing::debug!(server = %next, "trying the next control server");
                *self.server.lock() = next;
            }
            if tried >= self.urls.len() {
                tried = 0;
                pause = Some(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            if let Some(pause) = pause {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(jitter(pause)) => {}
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<Ws, String> {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let url = self.urls[self.at].clone();
        let connector = if url.starts_with("wss://") {
            Some(tokio_tungstenite::Connector::Rustls(tls_config(
                self.extra_ca.as_deref(),
            )?))
        } else {
            None
        };
        let (mut ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(
                url.as_str(),
                Some(config),
                true,
                connector,
            ),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let (nonce, server_key) = match read(&mut ws).await? {
            ServerMsg::Challenge {
                version,
                nonce,
                server_key,
            } => {
                if version != PROTOCOL_VERSION {
                    return Err(format!(
                        "server speaks protocol {version}, we speak {PROTOCOL_VERSION}"
                    ));
                }
                (nonce, server_key)
            }
            other => return Err(format!("expected a challenge, got {other:?}")),
        };
        let nonce = B64.decode(nonce).map_err(|_| "bad nonce")?;
        let server_key: [u8; 32] = B64
            .decode(server_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or("bad server key")?;
        let public = PublicKey::from(&self.secret);
        let name = self.name.lock().clone();
        write(
            &mut ws,
            &ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                public_key: B64.encode(public.as_bytes()),
                name,
            },
        )
        .await?;
        let proof = auth::prove(&self.secret, &PublicKey::from(server_key), &nonce);
        write(&mut ws, &ClientMsg::Auth { proof }).await?;
        match read(&mut ws).await? {
            ServerMsg::Welcome { ice_servers, .. } => {
                let _ = self.events.try_send(ControlEvent::IceServers(ice_servers));
                Ok(ws)
            }
            ServerMsg::Error { error } => Err(error.message),
            other => Err(format!("expected welcome, got {other:?}")),
        }
    }

    /// Runs one connected session; returns true when the engine is stopping.
    async fn serve(
        &mut self,
        ws: Ws,
        cmds: &mut mpsc::Receiver<Cmd>,
        cancel: &CancellationToken,
    ) -> bool {
        let (mut sink, mut stream) = ws.split();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A server that stops answering entirely is noticed by the missing pongs of heartbeats:
        // after three silent intervals the connection is dropped and re-established.
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return true;
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > HEARTBEAT * 4 {
                        tracing::warn!(server = %self.urls[self.at], "control server stopped answering");
                        return false;
                    }
                    let text = message::encode(&ClientMsg::Heartbeat);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return false;
                    }
                    let _ = sink.send(Message::Ping(Vec::new().into())).await;
                }
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { return true };
                    let msg = match cmd {
                        Cmd::Request { op, reply } => {
                            let id = self.next_id;
                            self.next_id += 1;
                            self.pending.insert(id, reply);
                            ClientMsg::Request { id, op }
                        }
                        Cmd::Signal { to, payload } => ClientMsg::Signal { to, payload },
                    };
                    if sink.send(Message::Text(message::encode(&msg).into())).await.is_err() {
                        return false;
                    }
                }
                frame = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    let text = match frame {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                        Some(Ok(_)) => continue,
                    };
                    match message::decode_server(text.as_str()) {
                        Ok(m) => self.on_message(m).await,
                        Err(e) => tracing::warn!(server = %self.urls[self.at], error = %e, "unreadable message from the control server"),
                    }
                }
            }
        }
    }

    async fn on_message(&mut self, m: ServerMsg) {
        match m {
            ServerMsg::Response { id, data, error } => {
                if let Some(reply) = self.pending.remove(&id) {
                    let _ = reply.send(match error {
                        Some(e) => Err(ControlError::Refused(e)),
                        None => Ok(data.unwrap_or(Value::Null)),
                    });
                }
            }
            ServerMsg::Party { party } => {
                let _ = self.events.send(ControlEvent::Party(party)).await;
            }
            ServerMsg::PartyGone { party_id, reason } => {
                let _ = self
                    .events
                    .send(ControlEvent::PartyGone { party_id, reason })
                    .await;
            }
            ServerMsg::Signal { from, payload } => {
                let _ = self
                    .events
                    .send(ControlEvent::Signal { from, payload })
                    .await;
            }
            ServerMsg::Error { error } => {
                tracing::warn!(server = %self.urls[self.at], code = %error.code, "control server: {}", error.message);
            }
            ServerMsg::Challenge { .. } | ServerMsg::Welcome { .. } => {}
        }
    }
}

/// rustls with the public web roots, plus `extra_ca` when given.
fn tls_config(
    extra_ca: Option<&std::path::Path>,
) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

async fn read(ws: &mut Ws) -> Result<ServerMsg, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return message::decode_server(t.as_str()).map_err(|e| e.to_string())
            }
            Some(Ok(Message::Close(_))) | None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => continue,
        }
    }
}

async fn write(ws: &mut Ws, m: &ClientMsg) -> Result<(), String> {
    ws.send(Message::Text(message::encode(m).into()))
        .await
        .map_err(|e| e.to_string())
}
