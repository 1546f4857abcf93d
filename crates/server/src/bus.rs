//! NATS between the servers of one PostgreSQL database (`--bus`).
//!
//! One of them serves: it holds PostgreSQL's serving lock and the one registry, so every
//! decision that must be unique (an address, the last seat, a host hand-over, a kick racing a
//! join, wrong-code limits) is still made in one place, under one lock, and stored under the
//! server's term. The others do not wait idle: they take players' connections, check their
//! keys, and pass each session's frames over NATS to the serving server, which runs the
//! session as if the socket were its own (`service::serve_remote`). Members connected to any
//! server are one party, see each other online and signal each other.
//!
//! Subjects: the serving server says it serves (`lanrage.leader`, every second); a server that
//! takes a player asks that one server to open the session (`lanrage.open.INSTANCE`, a
//! request) and then sends the player's frames on `lanrage.up.EDGE.CONN` and receives the
//! server's on `lanrage.down.EDGE.CONN`. NATS keeps one publisher's messages on one subject in
//! order but delivers at most once: a subscriber that falls behind, or a reconnection, loses
//! messages. So each frame carries its number in the session, and a gap ends the session (the
//! player reconnects and gets a fresh snapshot, as after a slow connection on the direct path).
//! Session frames go over a second NATS connection whose subscriptions hold few messages: a
//! player who stops reading costs its server a bounded backlog, not NATS's default 65,536.
//!
//! NATS carries devices whose keys the sending server has checked; whoever can publish on it
//! can act as any device. It belongs on the servers' private network, or behind NATS's own
//! authentication (a user and password in the URL).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub(crate) const LEADER: &str = "lanrage.leader";

pub(crate) const RELAY: &str = "lanrage.relay";
/// How often the serving server says so, and how long a server passing players on waits for
/// it before it stops passing them (they move to the next server in their list).
pub(crate) const BEACON_EVERY: Duration = Duration::from_secs(1);
pub(crate) const LEADER_SILENT: Duration = Duration::from_millis(3500);
/// A passed-on session that hears nothing from its player this long is over (a client
/// heartbeats every 3 s): its server died without saying so.
pub(crate) const REMOTE_IDLE: Duration = Duration::from_secs(15);
/// NATS itself: a silent cut to the NATS server is noticed within two pings.
const PING_EVERY: Duration = Duration::from_secs(3);
/// Messages a session's subscription holds before NATS drops (and the gap closes the session).
const SESSION_BACKLOG: usize = 128;
/// How long a request to open a session stays good: one answered later is refused.
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// `--bus`: one NATS address, or several separated by commas (the members of a NATS cluster:
/// the client connects to one that answers and moves to another when it goes). A comma starts
/// another address only where one begins (`nats://…`), so a password may hold commas.
/// Addresses are never echoed in errors: they may carry a password.
fn addresses(text: &str) -> Result<Vec<async_nats::ServerAddr>, BusError> {
    let mut parts: Vec<String> = Vec::new();
    for piece in text.trim().trim_end_matches(',').split(',') {
        match parts.last_mut() {
            Some(last) if !piece.contains("://") => {
                last.push(',');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    let addresses = parts
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .enumerate()
        .map(|(i, a)| {
            a.parse::<async_nats::ServerAddr>()
                .map_err(|e| BusError::Address(format!("address {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        return Err(BusError::Address("none given".into()));
    }
    Ok(addresses)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Until when a session request asked now stays good.
pub(crate) fn open_deadline() -> u64 {
    unix_ms().saturating_add(OPEN_TIMEOUT.as_millis() as u64)
}

/// Whether a session request is past its deadline (the servers' clocks agree closely enough:
/// NTP keeps them within milliseconds of a 3 s window).
pub(crate) fn open_expired(until_ms: u64) -> bool {
    unix_ms() > until_ms
}

/// Where the serving server `instance` takes sessions: an edge asks the one it heard, never a
/// deposed one still finding out it lost the lock.
pub(crate) fn open(instance: &str) -> String {
    format!("lanrage.open.{instance}")
}

pub(crate) fn up(edge: &str, conn: u64) -> String {
    format!("lanrage.up.{edge}.{conn}")
}

pub(crate) fn down(edge: &str, conn: u64) -> String {
    format!("lanrage.down.{edge}.{conn}")
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("--bus takes NATS addresses, nats://HOST:4222, several separated by commas: {0}")]
    Address(String),
}

/// What the serving server says every second (`lanrage.leader`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Beacon {
    pub instance: String,
    /// Every relay of the servers on the bus that it knows of (their STUN/TURN addresses), its
    /// own included.
    #[serde(default)]
    pub relays: Vec<SocketAddr>,
}

/// What a server passing a player on tells the serving one.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OpenSession {
    pub edge: String,
    pub conn: u64,
    pub device: String,
    pub name: String,
    /// The player's address as the passing server saw it (wrong-code limits go by it).
    pub peer: SocketAddr,
    /// The passing server's own relay, which the player is given first.
    #[serde(default)]
    pub relay: Option<SocketAddr>,
    /// Unix milliseconds after which the passing server has given up waiting (see
    /// `OPEN_TIMEOUT`): a late session would only displace the player's next connection.
    pub until_ms: u64,
}

/// What the relays of the servers passing players on must know, as the serving server's
/// registry changes (`lanrage.relay`): who is in which party and at which addresses. Members
/// only, as the serving server's own relay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RelayUpdate {
    Party {
        id: String,
        members: Vec<(String, Vec<IpAddr>)>,
    },
    Dropped {
        id: String,
    },
    Revoked {
        device: String,
    },
}

impl RelayUpdate {
    pub fn apply(self, relay: &crate::relay::Relay) {
        match self {
            RelayUpdate::Party { id, members } => relay.set_party(&id, members),
            RelayUpdate::Dropped { id } => relay.drop_party(&id),
            RelayUpdate::Revoked { device } => relay.revoke(&device),
        }
    }
}

/// One server's connections to NATS.
#[derive(Clone)]
pub(crate) struct Bus {
    /// Beacons, session requests, relay updates.
    pub client: async_nats::Client,
    /// Session frames (see `SESSION_BACKLOG`).
    pub sessions: async_nats::Client,
    /// This process among the servers: random per start, so a restarted server is new.
    pub instance: String,
}

impl Bus {
    /// NATS may be down when the server starts: the client keeps trying in the background,
    /// and the server serves its own players meanwhile.
    pub async fn connect(url: &str) -> Result<Bus, BusError> {
        let addresses = addresses(url)?;
        let instance = format!(
            "{:016x}",
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        );
        let options = || {
            async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .ping_interval(PING_EVERY)
                .connection_timeout(Duration::from_secs(3))
        };
        let sessions = options()
            .name(format!("lanrage-server-{instance}-sessions"))
            .subscription_capacity(SESSION_BACKLOG)
            .connect(addresses.clone())
            .await
            .map_err(|e| BusError::Address(e.to_string()))?;
        let options = options()
            .name(format!("lanrage-server-{instance}"))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("bus: connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("bus: lost NATS; trying again (players on other servers cannot reach this one meanwhile)")
                    }
                    other => tracing::debug!(event = %other, "bus"),
                }
            });
        let client = options
            .connect(addresses)
            .await
            .map_err(|e| BusError::Address(e.to_string()))?;
        Ok(Bus {
            client,
            sessions,
            instance,
        })
    }

    pub fn connected(&self) -> bool {
        use async_nats::connection::State;
        self.client.connection_state() == State::Connected
            && self.sessions.connection_state() == State::Connected
    }

    /// A subscription to a session's subject. Everything that must reach the NATS server
    /// after it (the request to open the session, the answer to it) goes over the same
    /// connection, which NATS keeps in order.
    pub async fn session_subscription(&self, subject: String) -> Option<async_nats::Subscriber> {
        self.sessions.subscribe(subject).await.ok()
    }
}

/// The next message on `sub`; None once `cancel` fires or the subscription ends.
pub(crate) async fn next(
    sub: &mut async_nats::Subscriber,
    cancel: &tokio_util::sync::CancellationToken,
) -> Option<async_nats::Message> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        m = sub.next() => m,
    }
}

/// Subscribes to `subject` on `client`, trying again every second while NATS is away; None
/// once `cancel` ends the wait.
pub(crate) async fn subscribe(
    client: &async_nats::Client,
    subject: String,
    cancel: &tokio_util::sync::CancellationToken,
) -> Option<async_nats::Subscriber> {
    loop {
        match client.subscribe(subject.clone()).await {
            Ok(s) => return Some(s),
            Err(e) => {
                tracing::warn!(error = %e, %subject, "bus: cannot subscribe yet");
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// One session frame on the bus: `SEQ KIND BODY`, where KIND is `t` (text), `b` (binary: the
/// serving server refuses it as the direct path does) or `c` (closed).
fn encode(seq: u64, frame: &Message) -> Option<axum::body::Bytes> {
    let (kind, body): (u8, &[u8]) = match frame {
        Message::Text(t) => (b't', t.as_bytes()),
        Message::Binary(b) => (b'b', b),
        Message::Close(_) => (b'c', &[]),
        Message::Ping(_) | Message::Pong(_) => return None,
    };
    let mut out = format!("{seq} ").into_bytes();
    out.push(kind);
    out.extend_from_slice(body);
    Some(out.into())
}

fn decode(payload: &axum::body::Bytes) -> Option<(u64, Message)> {
    let space = payload.iter().position(|&b| b == b' ')?;
    let seq = std::str::from_utf8(&payload[..space]).ok()?.parse().ok()?;
    let kind = *payload.get(space + 1)?;
    let body = payload.slice(space + 2..);
    let frame = match kind {
        b't' => Message::Text(std::str::from_utf8(&body).ok()?.into()),
        b'b' => Message::Binary(body),
        b'c' => Message::Close(None),
        _ => return None,
    };
    Some((seq, frame))
}

/// A passed-on session's frames as the WebSocket frames they were; ends when the other end
/// closed, on a malformed or missing frame (NATS lost one), or when nothing came for `idle`.
pub(crate) fn frames_of(
    sub: async_nats::Subscriber,
    idle: Option<Duration>,
) -> impl futures_util::Stream<Item = Result<Message, std::convert::Infallible>> + Unpin + Send {
    Box::pin(futures_util::stream::unfold(
        (sub, 0u64),
        move |(mut sub, expected)| async move {
            let msg = match idle {
                Some(idle) => tokio::time::timeout(idle, sub.next()).await.ok()??,
                None => sub.next().await?,
            };
            let (seq, frame) = decode(&msg.payload)?;
            if seq != expected {
                tracing::info!(
                    expected,
                    got = seq,
                    "bus: session frames lost; closing the session"
                );
                return None;
            }
            if matches!(frame, Message::Close(_)) {
                return None;
            }
            Some((Ok(frame), (sub, expected + 1)))
        },
    ))
}

/// Frames to a session's subject, numbered (see `encode`).
pub(crate) fn publisher(
    client: async_nats::Client,
    subject: String,
) -> impl futures_util::Sink<Message, Error = async_nats::PublishError> + Unpin + Send + 'static {
    Box::pin(futures_util::sink::unfold(
        (client, subject, 0u64),
        |(client, subject, seq), frame: Message| async move {
            let Some(payload) = encode(seq, &frame) else {
                return Ok((client, subject, seq));
            };
            client.publish(subject.clone(), payload).await?;
            Ok((client, subject, seq + 1))
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design
    use super::*;

    #[test]
    fn bus_addresses_are_one_or_several_and_never_echoed() {
        assert_eq!(addresses("nats://10.0.0.2:4222").unwrap().len(), 1);
        assert_eq!(
            addresses(" nats://10.0.0.2:4222 , nats://10.0.0.3:4222,")
                .unwrap()
                .len(),
            2
        );
        let with_comma =
            addresses("nats://lanrage:hunt,er2@10.0.0.2:4222, nats://10.0.0.3:4222").unwrap();
        assert_eq!(with_comma.len(), 2);
        assert_eq!(with_comma[0].password(), Some("hunt,er2"));
        for bad in [
            "",
            " , ",
            "nats://user:hunter2@10.0.0.2:notaport",
            "nats://10.0.0.2:4222,http://user:hunter2@[oops",
        ] {
            let err = addresses(bad).unwrap_err().to_string();
            assert!(err.starts_with("--bus takes NATS addresses"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    /// Two NATS addresses, one with nobody listening: the bus uses the other. (The client
    /// tries them in a shuffled order, so either may come first.)
    #[tokio::test]
    async fn a_bus_uses_whichever_listed_nats_server_answers() {
        if std::process::Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: nats-server is not installed (scripts/setup installs it)");
            return;
        }
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (dead, live) = (free_port(), free_port());
        let mut nats = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &live.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("nats://127.0.0.1:{dead},nats://127.0.0.1:{live}");
        let bus = Bus::connect(&url).await;
        let mut connected = false;
        for _ in 0..100 {
            if bus.as_ref().is_ok_and(Bus::connected) {
                connected = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = nats.kill();
        let _ = nats.wait();
        assert!(bus.is_ok(), "{:?}", bus.err());
        assert!(
            connected,
            "the bus never reached the NATS server that answers"
        );
    }

    #[test]
    fn frames_keep_their_kind_and_number_and_nonsense_is_refused() {
        for (seq, frame) in [
            (0, Message::Text("{\"type\":\"heartbeat\"}".into())),
            (7, Message::Text("".into())),
            (
                8,
                Message::Binary(axum::body::Bytes::from_static(b"\x00\xff bin")),
            ),
            (u64::MAX, Message::Close(None)),
        ] {
            let payload = encode(seq, &frame).unwrap();
            assert_eq!(decode(&payload), Some((seq, frame)));
        }
        assert!(encode(1, &Message::Ping(Default::default())).is_none());
        for bad in [
            &b""[..],
            b"12",
            b"12 ",
            b"x t{}",
            b"3 z",
            b"3 t\xff",
            b"-1 t{}",
        ] {
            assert_eq!(
                decode(&axum::body::Bytes::copy_from_slice(bad)),
                None,
                "{bad:?}"
            );
        }
    }
}
