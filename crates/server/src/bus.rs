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
//! takes a player asks it to open the session (`lanrage.open`, a request) and then sends the
//! player's frames on `lanrage.up.EDGE.CONN` and receives the server's on
//! `lanrage.down.EDGE.CONN`, where an empty message closes the session. NATS keeps one
//! publisher's messages on one subject in order, which is all a session needs.
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
pub(crate) const OPEN: &str = "lanrage.open";
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

pub(crate) fn up(edge: &str, conn: u64) -> String {
    format!("lanrage.up.{edge}.{conn}")
}

pub(crate) fn down(edge: &str, conn: u64) -> String {
    format!("lanrage.down.{edge}.{conn}")
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("--bus takes a NATS address, nats://HOST:4222: {0}")]
    Address(String),
}

/// What the serving server says every second (`lanrage.leader`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Beacon {
    pub instance: String,
    /// Every relay of the servers on the bus that it knows of, its own included.
    #[serde(default)]
    pub relays: Vec<IpAddr>,
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

/// One server's connection to NATS.
#[derive(Clone)]
pub(crate) struct Bus {
    pub client: async_nats::Client,
    /// This process among the servers: random per start, so a restarted server is new.
    pub instance: String,
}

impl Bus {
    /// NATS may be down when the server starts: the client keeps trying in the background,
    /// and the server serves its own players meanwhile.
    pub async fn connect(url: &str) -> Result<Bus, BusError> {
        let instance = format!(
            "{:016x}",
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        );
        let options = async_nats::ConnectOptions::new()
            .name(format!("lanrage-server-{instance}"))
            .retry_on_initial_connect()
            .ping_interval(PING_EVERY)
            .connection_timeout(Duration::from_secs(3))
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
            .connect(url)
            .await
            .map_err(|e| BusError::Address(e.to_string()))?;
        Ok(Bus { client, instance })
    }

    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// A passed-on session's frames as the WebSocket frames they were; ends on the empty message
/// that says the other end closed, or when nothing came for `idle`.
pub(crate) fn frames_of(
    sub: async_nats::Subscriber,
    idle: Option<Duration>,
) -> impl futures_util::Stream<Item = Result<Message, std::convert::Infallible>> + Unpin + Send {
    Box::pin(futures_util::stream::unfold(
        sub,
        move |mut sub| async move {
            let msg = match idle {
                Some(idle) => tokio::time::timeout(idle, sub.next()).await.ok()??,
                None => sub.next().await?,
            };
            if msg.payload.is_empty() {
                return None;
            }
            // Not text: passed on as the binary frame it was, which the session refuses.
            let frame = match std::str::from_utf8(&msg.payload) {
                Ok(t) => Message::Text(t.into()),
                Err(_) => Message::Binary(msg.payload),
            };
            Some((Ok(frame), sub))
        },
    ))
}

/// Frames to a session's subject: text as it is, a close as the empty message.
pub(crate) fn publisher(
    client: async_nats::Client,
    subject: String,
) -> impl futures_util::Sink<Message, Error = async_nats::PublishError> + Unpin + Send + 'static {
    Box::pin(futures_util::sink::unfold(
        (client, subject),
        |(client, subject), frame: Message| async move {
            let payload = match frame {
                Message::Text(t) => bytes_of(t.as_str()),
                Message::Close(_) => Default::default(),
                _ => return Ok((client, subject)),
            };
            client.publish(subject.clone(), payload).await?;
            Ok((client, subject))
        },
    ))
}

fn bytes_of(text: &str) -> axum::body::Bytes {
    axum::body::Bytes::copy_from_slice(text.as_bytes())
}
