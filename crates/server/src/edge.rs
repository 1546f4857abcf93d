//! A server that does not serve its database's parties (another holds the serving lock) but
//! takes players anyway when the servers share a bus: it checks each device's key and passes
//! the session over NATS to the serving server (see `bus`). It runs until it takes the serving
//! lock itself, and then closes its players' connections: they reconnect and are served here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{self, Bus, OpenSession};
use crate::guard::Limits;
use crate::handshake::{authenticate, refuse, Identity, AUTH_TIMEOUT};
use crate::listen::{listen, prometheus, request_arrived, small_buffers, PeerAddr};
use crate::relay::Relay;
use crate::store::Reachability;

struct EdgeShared {
    identity: Identity,
    bus: Bus,
    /// The serving server's instance and when it last said so.
    leader: Mutex<Option<(String, Instant)>>,
    next_conn: AtomicU64,
    passed_on: AtomicU64,
    connections: AtomicU64,
    auth_failures: AtomicU64,
    limits: Limits,
    closing: CancellationToken,
    /// This server's own relay and where players reach it.
    relay: Option<(Relay, SocketAddr)>,
    /// Whether the wait for the serving lock reaches PostgreSQL.
    database: Reachability,
}

impl EdgeShared {
    fn leader(&self) -> Option<String> {
        if !self.bus.connected() {
            return None;
        }
        self.leader
            .lock()
            .as_ref()
            .filter(|(_, at)| at.elapsed() < bus::LEADER_SILENT)
            .map(|(id, _)| id.clone())
    }
}

pub(crate) struct Edge {
    cancel: CancellationToken,
    tasks: TaskTracker,
    shared: Arc<EdgeShared>,
}

impl Edge {
    pub fn start(
        addr: SocketAddr,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        limits: &Limits,
        identity: Identity,
        bus: Bus,
        relay: Option<(Relay, SocketAddr)>,
        database: Reachability,
    ) -> std::io::Result<Edge> {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let shared = Arc::new(EdgeShared {
            identity,
            bus,
            leader: Mutex::new(None),
            next_conn: AtomicU64::new(1),
            passed_on: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            limits: limits.clone(),
            closing: cancel.clone(),
            relay,
            database,
        });
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .fallback(upgrade)
            .layer(axum::middleware::from_fn(request_arrived))
            .with_state(shared.clone());
        let addr = listen(addr, acceptor, limits, app, &tasks, cancel.clone())?;
        let (s, c) = (shared.clone(), cancel.clone());
        tasks.spawn(async move { watch_leader(s, c).await });
        if shared.relay.is_some() {
            let (s, c) = (shared.clone(), cancel.clone());
            tasks.spawn(async move { follow_relay_updates(s, c).await });
        }
        tracing::info!(
            %addr,
            "not serving (another server holds the database's serving lock, or the database is away): taking players here and passing their sessions over the bus to the one that serves"
        );
        Ok(Edge {
            cancel,
            tasks,
            shared,
        })
    }

    /// Closes every passed-on session, the listener and the relay (bounded).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.tasks.wait()).await;
        if let Some((relay, _)) = &self.shared.relay {
            relay.close().await;
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn watch_leader(s: Arc<EdgeShared>, cancel: CancellationToken) {
    let Some(mut beacons) = bus::subscribe(&s.bus.client, bus::LEADER.into(), &cancel).await else {
        return;
    };
    let mut heard: Option<String> = None;
    while let Some(beacon) = bus::next(&mut beacons, &cancel).await {
        let Ok(beacon) = serde_json::from_slice::<bus::Beacon>(&beacon.payload) else {
            tracing::debug!("bus: malformed beacon ignored");
            continue;
        };
        if let Some((relay, _)) = &s.relay {
            relay.set_peer_relays(beacon.relays);
        }
        let id = beacon.instance;
        if heard.as_ref() != Some(&id) {
            tracing::info!(server = %id, "bus: passing players to the serving server");
            heard = Some(id.clone());
        }
        *s.leader.lock() = Some((id, Instant::now()));
    }
}

/// Keeps this server's relay's member lists as the serving server's registry has them.
async fn follow_relay_updates(s: Arc<EdgeShared>, cancel: CancellationToken) {
    let Some((relay, _)) = &s.relay else {
        return;
    };
    let Some(mut updates) = bus::subscribe(&s.bus.client, bus::RELAY.into(), &cancel).await else {
        return;
    };
    while let Some(msg) = bus::next(&mut updates, &cancel).await {
        match serde_json::from_slice::<bus::RelayUpdate>(&msg.payload) {
            Ok(update) => update.apply(relay),
            Err(e) => tracing::debug!(error = %e, "bus: malformed relay update ignored"),
        }
    }
}

async fn metrics(State(s): State<Arc<EdgeShared>>) -> Response {
    let body = format!(
        "# TYPE lanrage_server_serving gauge\nlanrage_server_serving 0\n\
         # TYPE lanrage_server_bus_connected gauge\nlanrage_server_bus_connected {}\n\
         # TYPE lanrage_server_serving_server_heard gauge\nlanrage_server_serving_server_heard {}\n\
         # TYPE lanrage_server_database_reachable gauge\nlanrage_server_database_reachable {}\n\
         # TYPE lanrage_server_devices_connected gauge\nlanrage_server_devices_connected {}\n\
         # TYPE lanrage_server_connections_total counter\nlanrage_server_connections_total {}\n\
         # TYPE lanrage_server_auth_failures_total counter\nlanrage_server_auth_failures_total {}\n\
         # TYPE lanrage_server_relay_allocations gauge\nlanrage_server_relay_allocations {}\n",
        u8::from(s.bus.connected()),
        u8::from(s.leader().is_some()),
        u8::from(s.database.reachable()),
        s.passed_on.load(Ordering::Relaxed),
        s.connections.load(Ordering::Relaxed),
        s.auth_failures.load(Ordering::Relaxed),
        s.relay.as_ref().map_or(0, |(r, _)| r.allocations()),
    );
    prometheus(body)
}

async fn upgrade(
    State(s): State<Arc<EdgeShared>>,
    ConnectInfo(PeerAddr(peer, _)): ConnectInfo<PeerAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    small_buffers(ws).on_upgrade(move |socket| async move {
        s.connections.fetch_add(1, Ordering::Relaxed);
        s.passed_on.fetch_add(1, Ordering::Relaxed);
        session(&s, socket, peer).await;
        s.passed_on.fetch_sub(1, Ordering::Relaxed);
    })
}

const UNAVAILABLE: &str = "no LANrage server is serving parties right now; trying another";

async fn session(s: &EdgeShared, mut socket: WebSocket, peer: SocketAddr) {
    let auth = authenticate(&s.identity, &s.auth_failures, &mut socket, peer);
    let Ok(Some((device, name))) = tokio::time::timeout(AUTH_TIMEOUT, auth).await else {
        return;
    };
    let short = device.get(..8).unwrap_or("").to_string();
    let Some(leader) = s.leader() else {
        refuse(&mut socket, "unavailable", UNAVAILABLE).await;
        return;
    };
    let conn = s.next_conn.fetch_add(1, Ordering::Relaxed);
    let instance = s.bus.instance.clone();
    // Subscribed before asking: the serving server's welcome comes at once.
    let Some(from_server) = s.bus.session_subscription(bus::down(&instance, conn)).await else {
        refuse(&mut socket, "unavailable", UNAVAILABLE).await;
        return;
    };
    let open = OpenSession {
        edge: instance.clone(),
        conn,
        device,
        name,
        peer,
        relay: s.relay.as_ref().map(|(_, at)| *at),
        until_ms: bus::open_deadline(),
    };
    let Ok(payload) = serde_json::to_vec(&open) else {
        return;
    };
    // On the connection that subscribed, so NATS has the subscription before the request.
    let asked = s.bus.sessions.request(bus::open(&leader), payload.into());
    let serving = match tokio::time::timeout(bus::OPEN_TIMEOUT, asked).await {
        Ok(Ok(answer)) => String::from_utf8_lossy(&answer.payload).into_owned(),
        _ => {
            tracing::info!(device = %short, "the serving server did not take the session");
            refuse(&mut socket, "unavailable", UNAVAILABLE).await;
            return;
        }
    };
    tracing::debug!(device = %short, server = %serving, "session passed on");
    let mut to_server = bus::publisher(s.bus.sessions.clone(), bus::up(&instance, conn));
    // The serving server may say nothing for minutes (a quiet party).
    let mut from_server = bus::frames_of(from_server, None);
    let mut check = tokio::time::interval(bus::BEACON_EVERY);
    let close_player = loop {
        tokio::select! {
            _ = s.closing.cancelled() => break true,
            _ = check.tick() => {
                if s.leader().as_ref() != Some(&serving) {
                    // It died or lost the lock: the player reconnects, to whoever serves now.
                    tracing::info!(device = %short, "the serving server went: closing the session");
                    break true;
                }
            }
            frame = socket.recv() => match frame {
                Some(Ok(f @ (Message::Text(_) | Message::Binary(_)))) => {
                    // Bounded: a NATS connection that stopped taking messages ends the session.
                    let sent = tokio::time::timeout(s.limits.write_timeout, to_server.send(f)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break true;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break false,
                Some(Ok(_)) => {}
            },
            frame = from_server.next() => match frame {
                Some(Ok(f)) => {
                    let sent = tokio::time::timeout(s.limits.write_timeout, socket.send(f)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break false;
                    }
                }
                // The serving server ended the session (or went silent).
                None => break true,
            },
        }
    };
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        to_server.send(Message::Close(None)),
    )
    .await;
    if close_player {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            socket.send(Message::Close(None)),
        )
        .await;
    }
}
