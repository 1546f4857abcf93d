//! The server's I/O shell: one WebSocket per device (axum), the registry behind a mutex,
//! the rows each change touched queued to SQLite's writer thread, a presence tick, Prometheus
//! metrics.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, DecodeError, ErrorBody, Op, PartyView, ServerMsg};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::bus::{self, Bus};
use crate::edge::Edge;
use crate::guard::Limits;
use crate::handshake::{authenticate, Identity, AUTH_TIMEOUT};
use crate::listen::{listen, prometheus, request_arrived, small_buffers, PeerAddr};
use crate::registry::{Changes, Registry};
use crate::store::{Patience, Reachability, ServingLock, StoreError, StoreLocation, Writer};

/// Frames a connection may send per second on average (bursts of twice that), before it is
/// cut off as a flood.
const MSGS_PER_SEC: f64 = 100.0;
/// Malformed frames tolerated on one connection before it is closed.
const MAX_BAD_FRAMES: u32 = 20;
/// Requests that change a party (and so rewrite it in SQLite and send every member a snapshot
/// of up to a frame each) a connection may make per second on average, and in a burst. A real
/// client makes a handful when it joins (endpoints as its addresses settle, game, name) and
/// then one per network or game change; a player who leaves and rejoins, or a host who kicks
/// and renews invites by hand, adds a few more. Two a second with a burst of 30 never
/// touches a person's pace and bounds what one member costs a party of 254.
const CHANGES_PER_SEC: f64 = 2.0;
const CHANGES_BURST: f64 = 30.0;
/// How long a server on a bus waits for the serving lock before it takes players for the
/// server that holds it.
const LOCK_SETTLES: Duration = Duration::from_millis(300);
/// How long a connection being closed gets to take its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where parties are kept: SQLite in `data_dir` unless PostgreSQL is given.
    pub store: StoreLocation,
    /// Serve wss:// with this certificate and key; plain ws:// without.
    pub tls: Option<crate::tls::TlsFiles>,
    /// STUN/TURN: the built-in relay and what clients are told.
    pub ice: crate::relay::IceConfig,
    /// NATS between servers on one PostgreSQL database (`nats://HOST:4222`): the server that
    /// does not serve takes players anyway and passes their sessions to the one that does.
    pub bus: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server key {path}: {message}")]
    Key { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    #[error("--bus joins servers that share a PostgreSQL database: give --store postgres://… too")]
    BusWithoutPostgres,
    #[error("taking over from the server that served: {0}")]
    TakingOver(Box<ServerError>),
}

impl ServerError {
    /// Whether trying again later may succeed: a server that served or passed players on
    /// before met a passing fault, not a mistake in its options.
    pub fn after_serving(&self) -> bool {
        matches!(self, ServerError::TakingOver(_))
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    frames: AtomicU64,
    auth_failures: AtomicU64,
    bad_frames: AtomicU64,
    wrong_codes: AtomicU64,
    signals: AtomicU64,
    signals_dropped: AtomicU64,
    slow_closed: AtomicU64,
    rate_limited: AtomicU64,
}

struct Conn {
    id: u64,
    out: Arc<Outbox>,
}

/// A token bucket: `rate` per second, at most `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    /// Takes a token; `Err(seconds until the next one)` when there is none.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens < 1.0 {
            return Err(((1.0 - self.tokens) / self.rate).ceil() as u64);
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

/// What waits to be written to one connection. Frames queue up to a byte budget; party
/// snapshots do not queue: a newer one replaces the unsent one, which is all a member needs
/// (the latest view), so a slow reader never misses a change and never holds more than one.
/// Closing goes through `close`, which needs no room.
struct Outbox {
    state: Mutex<OutState>,
    notify: Notify,
    close: CancellationToken,
    limit: usize,
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Entry>,
    /// Bytes of the queued frames and the pending snapshot.
    bytes: usize,
    /// The latest unsent snapshot, and the epoch of the queue position it goes out at.
    snapshot: Option<(u64, String)>,
    /// The epoch of the snapshot position still in the queue, if any.
    marker: Option<u64>,
    /// Bumped by `party_gone`: a snapshot after it must not go out before it.
    epoch: u64,
    /// Send what is queued, then close.
    finished: bool,
}

enum Entry {
    Frame(String),
    Snapshot(u64),
}

/// Whether a frame may be dropped when the outbox is full.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// Signals: lost ones are resent by the client.
    Droppable,
    /// Everything else: when it does not fit, the connection is closed.
    Required,
}

impl Outbox {
    fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(OutState::default()),
            notify: Notify::new(),
            close: CancellationToken::new(),
            limit,
        }
    }

    /// Queues `msg`; false when it did not fit.
    fn push(&self, msg: &ServerMsg, need: Need) -> bool {
        let text = message::encode(msg);
        let mut st = self.state.lock();
        if matches!(msg, ServerMsg::PartyGone { .. }) {
            st.epoch += 1;
        }
        // Signals may fill half the budget: the rest stays for the device's own responses,
        // so members flooding it with signals cannot get it disconnected.
        let limit = match need {
            Need::Droppable => self.limit / 2,
            Need::Required => self.limit,
        };
        if st.bytes + text.len() > limit {
            drop(st);
            if need == Need::Required {
                self.close.cancel();
            }
            return false;
        }
        st.bytes += text.len();
        st.queue.push_back(Entry::Frame(text));
        drop(st);
        self.notify.notify_one();
        true
    }

    /// The party as this connection's device sees it now; replaces an unsent one.
    fn snapshot(&self, party: PartyView) {
        let text = message::encode(&ServerMsg::Party { party });
        let mut st = self.state.lock();
        let epoch = st.epoch;
        if let Some((_, old)) = st.snapshot.take() {
            st.bytes -= old.len();
        }
        st.bytes += text.len();
        st.snapshot = Some((epoch, text));
        if st.marker != Some(epoch) {
            st.marker = Some(epoch);
            st.queue.push_back(Entry::Snapshot(epoch));
        }
        drop(st);
        self.notify.notify_one();
    }

    fn next(&self) -> Option<String> {
        let mut st = self.state.lock();
        while let Some(e) = st.queue.pop_front() {
            match e {
                Entry::Frame(t) => {
                    st.bytes -= t.len();
                    return Some(t);
                }
                Entry::Snapshot(e) => {
                    if st.marker == Some(e) {
                        st.marker = None;
                    }
                    if st.snapshot.as_ref().is_some_and(|(se, _)| *se == e) {
                        if let Some((_, t)) = st.snapshot.take() {
                            st.bytes -= t.len();
                            return Some(t);
                        }
                    }
                }
            }
        }
        None
    }

    /// Sends what is queued, then closes.
    fn finish(&self) {
        self.state.lock().finished = true;
        self.notify.notify_one();
    }

    fn bytes(&self) -> usize {
        self.state.lock().bytes
    }
}

pub(crate) struct Shared {
    registry: Mutex<Registry>,
    db: Writer,
    conns: Mutex<HashMap<String, Conn>>,
    identity: Identity,
    next_conn: AtomicU64,
    counters: Counters,
    ice: crate::relay::IceConfig,
    relay: Option<crate::relay::Relay>,
    limits: Limits,
    bus: Option<Bus>,
    /// What the other servers' relays must know, published in order by one task.
    relay_updates: Option<tokio::sync::mpsc::Sender<bus::RelayUpdate>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A running control server.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// Given back after the last change is stored, so the server taking over loads them all.
    serving: Option<ServingLock>,
}

impl Server {
    pub async fn start(cfg: ServerConfig) -> Result<Server, ServerError> {
        Self::start_with(cfg, Limits::default()).await
    }

    /// Starts again after serving or passing players on (the serving lock was lost, or a
    /// hand-over failed): a database that cannot be reached now is waited for rather than an
    /// error, and on a bus this server takes players meanwhile, its `/metrics` saying the
    /// database is away.
    pub async fn start_again(cfg: ServerConfig) -> Result<Server, ServerError> {
        Self::start_inner(cfg, Limits::default(), Patience::WaitForDatabase).await
    }

    /// Starts with other connection limits than the defaults.
    pub async fn start_with(cfg: ServerConfig, limits: Limits) -> Result<Server, ServerError> {
        Self::start_inner(cfg, limits, Patience::ReportUnreachable).await
    }

    async fn start_inner(
        cfg: ServerConfig,
        limits: Limits,
        patience: Patience,
    ) -> Result<Server, ServerError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            path: cfg.data_dir.display().to_string(),
            source,
        })?;
        // Bad TLS files are reported before anything else starts.
        let acceptor = cfg.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let secret = load_or_create_key(&cfg.data_dir.join("server.key"))?;
        let public = PublicKey::from(&secret);
        let bus = match (&cfg.bus, &cfg.store) {
            (None, _) => None,
            (Some(url), StoreLocation::Postgres(_)) => Some(Bus::connect(url).await?),
            (Some(_), StoreLocation::DataDir) => return Err(ServerError::BusWithoutPostgres),
        };
        // Of several servers on one PostgreSQL database one serves; this one may wait here,
        // taking players meanwhile and passing them to the serving one when there is a bus.
        let mut passed_players_on = false;
        let serving = match &cfg.store {
            StoreLocation::Postgres(url) => Some(match &bus {
                None => ServingLock::acquire(url, patience, Reachability::default()).await?,
                Some(bus) => {
                    let database = Reachability::default();
                    let acquire = ServingLock::acquire(url, patience, database.clone());
                    tokio::pin!(acquire);
                    // Most starts settle at once (the lock is free, or the database cannot be
                    // reached); only a server that has to wait takes players meanwhile.
                    match tokio::time::timeout(LOCK_SETTLES, &mut acquire).await {
                        Ok(lock) => lock?,
                        Err(_) => {
                            let identity = Identity {
                                secret: secret.clone(),
                                public,
                            };
                            let relay = match &cfg.ice.relay {
                                // Credentials the serving server makes work here only with the
                                // secret they share.
                                Some(r) if !cfg.ice.secret.is_empty() => Some((
                                    crate::relay::Relay::start(r, &cfg.ice.secret).await?,
                                    r.public_addr(),
                                )),
                                Some(_) => {
                                    tracing::info!("no --turn-secret: this server runs no relay while another serves (the serving one's credentials would not work here)");
                                    None
                                }
                                None => None,
                            };
                            let edge = Edge::start(
                                cfg.listen,
                                acceptor.clone(),
                                &limits,
                                identity,
                                bus.clone(),
                                relay,
                                database,
                            )
                            .map_err(|source| ServerError::Listen {
                                addr: cfg.listen,
                                source,
                            })?;
                            passed_players_on = true;
                            // At a first start an unreachable database still ends the start
                            // (after the connect timeout), players taken meanwhile included:
                            // the operator is told at once.
                            let lock = acquire.await;
                            // Its players reconnect, here (served now) or to the next server.
                            edge.shutdown().await;
                            lock?
                        }
                    }
                }
            }),
            StoreLocation::DataDir => None,
        };
        let serve = async move {
            // Opening a store is blocking I/O (PostgreSQL's client runs its own runtime).
            let (location, data_dir) = (cfg.store.clone(), cfg.data_dir.clone());
            let serves_shared = serving.is_some();
            let (store, parties) = tokio::task::spawn_blocking(move || {
                let mut store = location.open(&data_dir)?;
                if serves_shared {
                    store.take_over()?;
                }
                let parties = store.load()?;
                Ok::<_, StoreError>((store, parties))
            })
            .await
            .map_err(|e| StoreError::Thread(std::io::Error::other(e.to_string())))??;
            let registry = Registry::restore(parties, now_ms());
            let mut ice = cfg.ice.clone();
            if ice.secret.is_empty() {
                // Without a configured secret only the built-in relay checks the credentials, and
                // it lives exactly as long as this process.
                ice.secret = B64.encode(StaticSecret::random_from_rng(rand_core::OsRng).to_bytes());
            }
            let relay = match &ice.relay {
                Some(r) => Some(crate::relay::Relay::start(r, &ice.secret).await?),
                None => None,
            };
            tracing::info!(
                parties = registry.party_count(),
                store = %cfg.store,
                "control server state loaded"
            );
            let shared = Arc::new(Shared {
                registry: Mutex::new(registry),
                db: Writer::start(store)?,
                conns: Mutex::new(HashMap::new()),
                identity: Identity { secret, public },
                next_conn: AtomicU64::new(1),
                counters: Counters::default(),
                ice,
                relay,
                limits: limits.clone(),
                relay_updates: bus.as_ref().map(|b| publish_relay_updates(b.clone())),
                bus,
            });
            let cancel = CancellationToken::new();
            let tasks = TaskTracker::new();
            let app = Router::new()
                .route("/metrics", get(metrics))
                .route("/healthz", get(|| async { "ok" }))
                // Any other path is a client connection: where it connects is the client's business.
                .fallback(upgrade)
                .layer(axum::middleware::from_fn(request_arrived))
                .with_state(shared.clone());
            let tls = acceptor.is_some();
            let addr = listen(cfg.listen, acceptor, &limits, app, &tasks, cancel.clone()).map_err(
                |source| ServerError::Listen {
                    addr: cfg.listen,
                    source,
                },
            )?;
            let s = shared.clone();
            let c = cancel.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = c.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    let changes = {
                        let mut reg = s.registry.lock();
                        let mut changes = reg.tick(now_ms());
                        s.db.submit(std::mem::take(&mut changes.writes));
                        changes
                    };
                    s.apply(changes);
                }
            });
            if let Some(bus) = shared.bus.clone() {
                serve_remote(bus, shared.clone(), &tasks, cancel.clone());
            }
            if let Some(lock) = &serving {
                let lost = lock.lost();
                let s = shared.clone();
                let c = cancel.clone();
                tasks.spawn(async move {
                    tokio::select! {
                        _ = c.cancelled() => {}
                        _ = lost.cancelled() => {
                            // Players' clients move on to the server that serves now.
                            c.cancel();
                            for (_, conn) in s.conns.lock().drain() {
                                conn.out.close.cancel();
                            }
                        }
                    }
                });
            }
            tracing::info!(%addr, tls, public_key = %B64.encode(public.as_bytes()), "control server listening");
            Ok::<_, ServerError>(Server {
                addr,
                shared,
                cancel,
                tasks,
                serving,
            })
        };
        match serve.await {
            // Not an operator's mistake at start-up but a hand-over that went wrong (the
            // database went away again, a port not yet free): worth another try.
            Err(e) if passed_players_on => Err(ServerError::TakingOver(Box::new(e))),
            served => served,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connected_devices(&self) -> usize {
        self.shared.conns.lock().len()
    }

    /// Resolves when the server stopped serving on its own (it lost PostgreSQL's serving
    /// lock) or was shut down.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether it stopped on its own: another server may be serving its parties now.
    pub fn lost_serving_lock(&self) -> bool {
        self.serving
            .as_ref()
            .is_some_and(|l| l.lost().is_cancelled())
    }

    pub async fn shutdown(self) {
        self.cancel.cancel();
        for (_, c) in self.shared.conns.lock().drain() {
            c.out.close.cancel();
        }
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
        if let Some(r) = &self.shared.relay {
            r.close().await;
        }
        // Every change made before the stop reaches the disk (bounded: a database locked by
        // another process must not hang the stop).
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.db.close(Duration::from_secs(10))).await;
        drop(self.serving);
        tracing::info!("control server stopped");
    }
}

fn load_or_create_key(path: &std::path::Path) -> Result<StaticSecret, ServerError> {
    let err = |message: String| ServerError::Key {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes: [u8; 32] = B64
                .decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    err("not a base64 X25519 key; move it aside to create a new one".into())
                })?;
            Ok(StaticSecret::from(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = StaticSecret::random_from_rng(rand_core::OsRng);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            opts.open(path)
                .and_then(|mut f| {
                    f.write_all(format!("{}\n", B64.encode(secret.to_bytes())).as_bytes())
                })
                .map_err(|e| err(e.to_string()))?;
            Ok(secret)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

impl Shared {
    fn outbox(&self, device: &str) -> Option<Arc<Outbox>> {
        self.conns.lock().get(device).map(|c| c.out.clone())
    }

    /// A frame other than a snapshot or a signal: a device that cannot take it is disconnected
    /// (it reconnects and gets a fresh snapshot).
    fn send(&self, device: &str, msg: ServerMsg) {
        if let Some(out) = self.outbox(device) {
            if !out.push(&msg, Need::Required) {
                self.counters.slow_closed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    device = device.get(..8).unwrap_or(""),
                    "outbox full: disconnecting"
                );
            }
        }
    }

    /// Tells everyone concerned what changed (its writes were submitted under the registry
    /// lock, where the change was made).
    fn apply(&self, changes: Changes) {
        debug_assert!(
            changes.writes.is_empty(),
            "writes are submitted under the lock"
        );
        if changes == Changes::default() {
            return;
        }
        let mut outbox: Vec<(String, ServerMsg)> = Vec::new();
        let mut snapshots: Vec<(String, PartyView)> = Vec::new();
        {
            let reg = self.registry.lock();
            if let Some(r) = &self.relay {
                // Members and their addresses for the relay's permissions; leavers revoked.
                r.sync(&reg, &changes);
            }
            for id in &changes.parties {
                let Some(p) = reg.party(id) else { continue };
                for m in &p.members {
                    snapshots.push((m.key.clone(), p.view_for(&m.key)));
                }
                self.tell_relays(bus::RelayUpdate::Party {
                    id: id.clone(),
                    members: crate::relay::members_of(p),
                });
            }
            // Under the lock too, so the other relays get every update in the registry's order.
            for id in &changes.deleted {
                self.tell_relays(bus::RelayUpdate::Dropped { id: id.clone() });
            }
            for (device, _, _) in &changes.gone {
                self.tell_relays(bus::RelayUpdate::Revoked {
                    device: device.clone(),
                });
            }
        }
        for (device, party) in snapshots {
            if let Some(out) = self.outbox(&device) {
                out.snapshot(party);
            }
        }
        for (device, party_id, reason) in changes.gone {
            outbox.push((device, ServerMsg::PartyGone { party_id, reason }));
        }
        for (device, msg) in outbox {
            self.send(&device, msg);
        }
    }

    /// Best effort: an update lost while NATS is away is repaired by the party's next change.
    fn tell_relays(&self, update: bus::RelayUpdate) {
        if let Some(tx) = &self.relay_updates {
            if tx.try_send(update).is_err() {
                tracing::debug!("bus: relay update dropped (NATS slow or away)");
            }
        }
    }

    fn handle_request(
        &self,
        device: &str,
        name: &str,
        source: IpAddr,
        via_relay: Option<SocketAddr>,
        op: Op,
    ) -> Result<serde_json::Value, ErrorBody> {
        let now = now_ms();
        let short = device.get(..8).unwrap_or(device);
        let mut reg = self.registry.lock();
        let mut result = match op {
            Op::CreateParty {
                name: party_name,
                max_members,
                invite_ttl_secs,
            } => reg
                .create(
                    device,
                    name,
                    &party_name,
                    max_members,
                    invite_ttl_secs.map(|s| s.saturating_mul(1000)),
                    now,
                )
                .map(|(id, ch)| {
                    tracing::info!(party = %id, host = short, "party created");
                    (json!({ "party_id": id }), ch)
                }),
            Op::JoinParty { code } => match reg.join(device, name, &code, source, now) {
                Ok((id, ch)) => {
                    tracing::info!(party = %id, member = short, "member joined");
                    Ok((json!({ "party_id": id }), ch))
                }
                Err(e) => {
                    if matches!(
                        e,
                        crate::registry::PartyError::WrongCode
                            | crate::registry::PartyError::RateLimited(_)
                    ) {
                        self.counters.wrong_codes.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(member = short, %source, reason = e.code(), "join refused");
                    Err(e)
                }
            },
            Op::LeaveParty => reg.leave(device).map(|ch| {
                tracing::info!(member = short, "member left");
                (json!({}), ch)
            }),
            Op::Kick { public_key } => reg.kick(device, &public_key).map(|ch| {
                tracing::info!(
                    host = short,
                    member = public_key.get(..8).unwrap_or(""),
                    "member kicked"
                );
                (json!({}), ch)
            }),
            Op::CloseParty => reg.close(device).map(|ch| {
                tracing::info!(host = short, "party closed");
                (json!({}), ch)
            }),
            Op::NewInvite { ttl_secs } => reg
                .new_invite(device, ttl_secs.map(|s| s.saturating_mul(1000)), now)
                .map(|ch| {
                    tracing::info!(host = short, "new invite code");
                    (json!({}), ch)
                }),
            Op::RevokeInvite => reg.revoke_invite(device).map(|ch| {
                tracing::info!(host = short, "invite revoked");
                (json!({}), ch)
            }),
            Op::SetEndpoints { endpoints } => reg
                .set_endpoints(device, endpoints)
                .map(|ch| (json!({}), ch)),
            Op::SetName { name } => reg.rename(device, &name).map(|ch| (json!({}), ch)),
            Op::SetGame { game } => reg.set_game(device, game).map(|ch| (json!({}), ch)),
            Op::AnnounceServer { server } => {
                let first = reg
                    .list_servers(device, now)
                    .map(|l| {
                        !l.iter()
                            .any(|e| e.host_key == device && e.server.id == server.id)
                    })
                    .unwrap_or(false);
                let game = server.game.clone();
                reg.announce_server(device, server, now).map(|()| {
                    if first {
                        tracing::info!(host = short, %game, "game server announced");
                    }
                    (json!({}), Changes::default())
                })
            }
            Op::RemoveServer { id } => reg
                .remove_server(device, &id)
                .map(|()| (json!({}), Changes::default())),
            Op::ListServers => reg
                .list_servers(device, now)
                .map(|l| (json!(l), Changes::default())),
            Op::IceServers => match reg.party_of(device) {
                Some(_) => {
                    let (servers, expires) = self.ice.servers_for_via(device, via_relay);
                    Ok((
                        json!({ "ice_servers": servers, "ice_expires_at": expires }),
                        Changes::default(),
                    ))
                }
                None => Err(crate::registry::PartyError::NotInParty),
            },
        };
        if let Ok((_, changes)) = &mut result {
            // Before the lock goes, so the writer gets changes in the order they were made.
            self.db.submit(std::mem::take(&mut changes.writes));
        }
        drop(reg);
        match result {
            Ok((data, changes)) => {
                self.apply(changes);
                Ok(data)
            }
            Err(e) => Err(e.body()),
        }
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let (parties, members) = {
        let reg = s.registry.lock();
        (reg.party_count(), reg.member_count())
    };
    let c = &s.counters;
    let outboxes: Vec<Arc<Outbox>> = s.conns.lock().values().map(|c| c.out.clone()).collect();
    let outbox_bytes: usize = outboxes.iter().map(|o| o.bytes()).sum();
    let db = s.db.stats();
    let body = format!(
        "# TYPE lanrage_server_devices_connected gauge\nlanrage_server_devices_connected {}\n\
         # TYPE lanrage_server_parties gauge\nlanrage_server_parties {parties}\n\
         # TYPE lanrage_server_members gauge\nlanrage_server_members {members}\n\
         # TYPE lanrage_server_connections_total counter\nlanrage_server_connections_total {}\n\
         # TYPE lanrage_server_frames_total counter\nlanrage_server_frames_total {}\n\
         # TYPE lanrage_server_auth_failures_total counter\nlanrage_server_auth_failures_total {}\n\
         # TYPE lanrage_server_bad_frames_total counter\nlanrage_server_bad_frames_total {}\n\
         # TYPE lanrage_server_wrong_codes_total counter\nlanrage_server_wrong_codes_total {}\n\
         # TYPE lanrage_server_signals_total counter\nlanrage_server_signals_total {}\n\
         # TYPE lanrage_server_relay_allocations gauge\nlanrage_server_relay_allocations {}\n\
         # TYPE lanrage_server_outbox_bytes gauge\nlanrage_server_outbox_bytes {outbox_bytes}\n\
         # TYPE lanrage_server_signals_dropped_total counter\nlanrage_server_signals_dropped_total {}\n\
         # TYPE lanrage_server_slow_closed_total counter\nlanrage_server_slow_closed_total {}\n\
         # TYPE lanrage_server_rate_limited_total counter\nlanrage_server_rate_limited_total {}\n\
         # TYPE lanrage_server_db_pending_writes gauge\nlanrage_server_db_pending_writes {}\n\
         # TYPE lanrage_server_db_rows_written_total counter\nlanrage_server_db_rows_written_total {}\n\
         # TYPE lanrage_server_db_write_errors_total counter\nlanrage_server_db_write_errors_total {}\n\
         # TYPE lanrage_server_db_writes_lost_total counter\nlanrage_server_db_writes_lost_total {}\n\
         # TYPE lanrage_server_serving gauge\nlanrage_server_serving 1\n{}",
        s.conns.lock().len(),
        c.connections.load(Ordering::Relaxed),
        c.frames.load(Ordering::Relaxed),
        c.auth_failures.load(Ordering::Relaxed),
        c.bad_frames.load(Ordering::Relaxed),
        c.wrong_codes.load(Ordering::Relaxed),
        c.signals.load(Ordering::Relaxed),
        s.relay.as_ref().map_or(0, |r| r.allocations()),
        c.signals_dropped.load(Ordering::Relaxed),
        c.slow_closed.load(Ordering::Relaxed),
        c.rate_limited.load(Ordering::Relaxed),
        db.pending,
        db.rows,
        db.errors,
        db.lost,
        // Serving means holding the lock's connection to PostgreSQL: the database is there
        // (servers that do not serve say whether they reach it).
        s.bus.as_ref().map_or(String::new(), |b| format!(
            "# TYPE lanrage_server_bus_connected gauge\nlanrage_server_bus_connected {}\n\
             # TYPE lanrage_server_database_reachable gauge\nlanrage_server_database_reachable 1\n",
            u8::from(b.connected())
        )),
    );
    prometheus(body)
}

async fn upgrade(
    State(s): State<Arc<Shared>>,
    ConnectInfo(PeerAddr(peer, _)): ConnectInfo<PeerAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    small_buffers(ws).on_upgrade(move |socket| async move {
        s.counters.connections.fetch_add(1, Ordering::Relaxed);
        session(s, socket, peer).await;
    })
}

async fn session(s: Arc<Shared>, mut socket: WebSocket, peer: SocketAddr) {
    let auth = authenticate(&s.identity, &s.counters.auth_failures, &mut socket, peer);
    let Ok(Some((key, name))) = tokio::time::timeout(AUTH_TIMEOUT, auth).await else {
        return;
    };
    let (sink, stream) = socket.split();
    serve_device(s, key, name, peer, None, stream, sink).await;
}

/// An authenticated device's session, from the welcome on, whether its socket is here or on
/// another server that passes its frames over the bus (`via_relay`: that server's relay,
/// given to the device first).
pub(crate) async fn serve_device<St, Si, E>(
    s: Arc<Shared>,
    key: String,
    mut name: String,
    peer: SocketAddr,
    via_relay: Option<SocketAddr>,
    mut stream: St,
    mut sink: Si,
) where
    St: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    Si: futures_util::Sink<Message> + Unpin + Send + 'static,
{
    let short = key.get(..8).unwrap_or("").to_string();
    // TURN credentials only for party members (the `ice_servers` request): a device that is
    // in no party has nobody to relay to.
    let welcome = ServerMsg::Welcome {
        public_key: key.clone(),
        ice_expires_at: None,
        ice_servers: s.ice.public_servers(),
    };
    // Bounded like every later write: a client that stops reading here is gone too.
    let welcome = Message::Text(message::encode(&welcome).into());
    let sent = tokio::time::timeout(s.limits.write_timeout, sink.send(welcome));
    if !matches!(sent.await, Ok(Ok(()))) {
        return;
    }
    let out = Arc::new(Outbox::new(s.limits.outbox_bytes));
    let conn_id = s.next_conn.fetch_add(1, Ordering::Relaxed);
    if let Some(old) = s.conns.lock().insert(
        key.clone(),
        Conn {
            id: conn_id,
            out: out.clone(),
        },
    ) {
        // The same device connected again (network change, restart): the old link goes,
        // however full its outbox.
        old.out.close.cancel();
    }
    tracing::debug!(device = %short, %peer, "device connected");
    let changes = s.registry.lock().seen(&key, now_ms());
    s.apply(changes);
    let snapshot = s.registry.lock().party_of(&key).map(|p| p.view_for(&key));
    if let Some(party) = snapshot {
        out.snapshot(party);
    }

    let writer = tokio::spawn(write_loop(s.clone(), out.clone(), sink, short.clone()));
    let reply_error = |code: &str, text: String| {
        out.push(
            &ServerMsg::Error {
                error: ErrorBody::new(code, text),
            },
            Need::Required,
        )
    };

    let mut frames = Bucket::new(MSGS_PER_SEC, MSGS_PER_SEC * 2.0);
    let mut changes_allowed = Bucket::new(CHANGES_PER_SEC, CHANGES_BURST);
    let mut bad = 0u32;
    loop {
        let frame = tokio::select! {
            biased;
            _ = out.close.cancelled() => break,
            f = stream.next() => match f {
                Some(f) => f,
                None => break,
            },
        };
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Binary(_)) => {
                bad += 1;
                reply_error(
                    "bad_message",
                    "binary frames are not part of the protocol".into(),
                );
                if bad > MAX_BAD_FRAMES {
                    break;
                }
                continue;
            }
            Ok(_) => continue,
        };
        s.counters.frames.fetch_add(1, Ordering::Relaxed);
        if frames.take().is_err() {
            tracing::warn!(device = %short, "message flood; disconnecting");
            reply_error("flood", "too many messages; slow down".into());
            break;
        }
        let msg = match message::decode_client(text.as_str()) {
            Ok(m) => m,
            Err(e) => {
                bad += 1;
                s.counters.bad_frames.fetch_add(1, Ordering::Relaxed);
                let code = match e {
                    DecodeError::Signal(_) => "bad_signal",
                    _ => "bad_message",
                };
                reply_error(code, e.to_string());
                if bad > MAX_BAD_FRAMES {
                    break;
                }
                continue;
            }
        };
        let changes = s.registry.lock().seen(&key, now_ms());
        s.apply(changes);
        match msg {
            ClientMsg::Heartbeat => {}
            ClientMsg::Request { id, op } => {
                let limited = if changes_party(&op) {
                    changes_allowed.take().err()
                } else {
                    None
                };
                let result = match limited {
                    Some(wait) => {
                        s.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(device = %short, "party changes too fast: refused");
                        Err(ErrorBody::new(
                            "rate_limited",
                            format!("too many changes to the party; try again in {wait} s"),
                        ))
                    }
                    None => {
                        if let Op::SetName { name: n } = &op {
                            name = n.clone();
                        }
                        s.handle_request(&key, &name, peer.ip(), via_relay, op)
                    }
                };
                let reply = match result {
                    Ok(data) => ServerMsg::Response {
                        id,
                        data: Some(data),
                        error: None,
                    },
                    Err(error) => ServerMsg::Response {
                        id,
                        data: None,
                        error: Some(error),
                    },
                };
                out.push(&reply, Need::Required);
            }
            ClientMsg::Signal { to, payload } => {
                if s.registry.lock().same_party(&key, &to) {
                    s.counters.signals.fetch_add(1, Ordering::Relaxed);
                    let delivered = s.outbox(&to).is_some_and(|o| {
                        o.push(
                            &ServerMsg::Signal {
                                from: key.clone(),
                                payload,
                            },
                            Need::Droppable,
                        )
                    });
                    if !delivered {
                        // The peer is slow or gone; its client resends what matters.
                        s.counters.signals_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    tracing::debug!(device = %short, "signal to a device outside the party dropped");
                }
            }
            ClientMsg::Hello { .. } | ClientMsg::Auth { .. } => {
                reply_error("bad_message", "already authenticated".into());
            }
        }
    }
    {
        let mut conns = s.conns.lock();
        if conns.get(&key).is_some_and(|c| c.id == conn_id) {
            conns.remove(&key);
        }
    }
    out.finish();
    let _ = writer.await;
    tracing::debug!(device = %short, "device disconnected");
}

/// The serving server's side: says it serves, and runs the sessions other servers pass on.
fn serve_remote(bus: Bus, shared: Arc<Shared>, tasks: &TaskTracker, cancel: CancellationToken) {
    // Every relay on the bus (this server's and those of the servers passing players on):
    // each relay lets members reach the others' relayed addresses.
    let relays: Arc<Mutex<Vec<SocketAddr>>> = Arc::new(Mutex::new(
        shared.ice.relay.iter().map(|r| r.public_addr()).collect(),
    ));
    let (b, c, shared_relays) = (bus.clone(), cancel.clone(), relays.clone());
    tasks.spawn(async move {
        let mut beacon = tokio::time::interval(bus::BEACON_EVERY);
        loop {
            tokio::select! {
                _ = c.cancelled() => break,
                _ = beacon.tick() => {}
            }
            let beacon = bus::Beacon {
                instance: b.instance.clone(),
                relays: shared_relays.lock().clone(),
            };
            let Ok(payload) = serde_json::to_vec(&beacon) else {
                continue;
            };
            // Lost while NATS is away; the next one goes when it is back.
            let _ = b.client.publish(bus::LEADER, payload.into()).await;
        }
    });
    let t = tasks.clone();
    tasks.spawn(async move {
        let Some(mut opens) = bus::subscribe(&bus.client, bus::open(&bus.instance), &cancel).await
        else {
            return;
        };
        while let Some(msg) = bus::next(&mut opens, &cancel).await {
            let (Some(reply), Ok(open)) = (
                msg.reply,
                serde_json::from_slice::<bus::OpenSession>(&msg.payload),
            ) else {
                tracing::debug!("bus: malformed session request ignored");
                continue;
            };
            // Each on its own: one session's round trips to NATS never hold up the next.
            let (bus, shared, relays) = (bus.clone(), shared.clone(), relays.clone());
            t.spawn(async move {
                if bus::open_expired(open.until_ms) {
                    tracing::debug!(edge = %open.edge, "bus: a session request came too late");
                    return;
                }
                // Subscribed before the answer goes, so the player's first frame finds us.
                let Some(frames) = bus
                    .session_subscription(bus::up(&open.edge, open.conn))
                    .await
                else {
                    tracing::warn!("bus: cannot take a session");
                    return;
                };
                if let Some(at) = open.relay {
                    let mut known = relays.lock();
                    if !known.contains(&at) {
                        known.push(at);
                        if let Some(r) = &shared.relay {
                            r.set_peer_relays(known.clone());
                        }
                    }
                }
                // Its server's relay learns the device's party before the device can ask for it.
                let party = {
                    let reg = shared.registry.lock();
                    reg.party_of(&open.device).map(|p| bus::RelayUpdate::Party {
                        id: p.id.clone(),
                        members: crate::relay::members_of(p),
                    })
                };
                if let Some(update) = party {
                    shared.tell_relays(update);
                }
                // On the connection that subscribed: NATS then has the subscription first.
                if bus
                    .sessions
                    .publish(reply, bus.instance.clone().into())
                    .await
                    .is_err()
                {
                    return;
                }
                tracing::debug!(
                    device = open.device.get(..8).unwrap_or(""),
                    edge = %open.edge,
                    "session passed on from another server"
                );
                let stream = bus::frames_of(frames, Some(bus::REMOTE_IDLE));
                let sink = bus::publisher(bus.sessions.clone(), bus::down(&open.edge, open.conn));
                serve_device(
                    shared,
                    open.device,
                    open.name,
                    open.peer,
                    open.relay,
                    stream,
                    sink,
                )
                .await;
            });
        }
    });
}

/// Publishes relay updates in the order the registry made them.
fn publish_relay_updates(bus: Bus) -> tokio::sync::mpsc::Sender<bus::RelayUpdate> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bus::RelayUpdate>(4096);
    tokio::spawn(async move {
        while let Some(update) = rx.recv().await {
            let Ok(payload) = serde_json::to_vec(&update) else {
                continue;
            };
            let _ = bus.client.publish(bus::RELAY, payload.into()).await;
        }
    });
    tx
}

/// Requests that change the party everyone sees (rate-limited).
fn changes_party(op: &Op) -> bool {
    match op {
        Op::CreateParty { .. }
        | Op::JoinParty { .. }
        | Op::LeaveParty
        | Op::Kick { .. }
        | Op::CloseParty
        | Op::NewInvite { .. }
        | Op::RevokeInvite
        | Op::SetName { .. }
        | Op::SetEndpoints { .. }
        | Op::SetGame { .. } => true,
        Op::AnnounceServer { .. } | Op::RemoveServer { .. } | Op::ListServers | Op::IceServers => {
            false
        }
    }
}

/// Writes a connection's outbox until it is finished or closed. A frame the peer does not take
/// within the write timeout closes the connection: a device that stopped reading holds no more
/// than its outbox and the socket's buffers, and not for long.
async fn write_loop<Si>(s: Arc<Shared>, out: Arc<Outbox>, mut sink: Si, short: String)
where
    Si: futures_util::Sink<Message> + Unpin,
{
    loop {
        let notified = out.notify.notified();
        let text = match out.next() {
            Some(t) => t,
            None if out.state.lock().finished => {
                let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(None))).await;
                break;
            }
            None => {
                tokio::select! {
                    biased;
                    _ = out.close.cancelled() => {
                        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(None))).await;
                        break;
                    }
                    _ = notified => continue,
                }
            }
        };
        let sent = tokio::select! {
            biased;
            _ = out.close.cancelled() => break,
            r = tokio::time::timeout(s.limits.write_timeout, sink.send(Message::Text(text.into()))) => r,
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                s.counters.slow_closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(device = %short, "device stopped reading: disconnecting");
                break;
            }
        }
    }
    // The reader stops too (it waits on the same token).
    out.close.cancel();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design
    use super::*;

    fn view(id: &str, name: &str) -> PartyView {
        PartyView {
            id: id.into(),
            name: name.into(),
            host: "h".into(),
            max_members: 8,
            subnet: "10.66.0.0/16".into(),
            members: Vec::new(),
            invite: None,
        }
    }

    fn drain(out: &Outbox) -> Vec<String> {
        std::iter::from_fn(|| out.next())
            .map(|t| match message::decode_server(&t).unwrap() {
                ServerMsg::Party { party } => format!("party {} {}", party.id, party.name),
                ServerMsg::PartyGone { party_id, .. } => format!("gone {party_id}"),
                ServerMsg::Response { id, .. } => format!("response {id}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn response(id: u64) -> ServerMsg {
        ServerMsg::Response {
            id,
            data: None,
            error: None,
        }
    }

    #[test]
    fn an_unsent_snapshot_is_replaced_in_its_place_and_never_crosses_a_party_gone() {
        let out = Outbox::new(64 * 1024);
        out.snapshot(view("a", "1"));
        assert!(out.push(&response(1), Need::Required));
        out.snapshot(view("a", "2"));
        out.snapshot(view("a", "3"));
        // The latest view, where the first unsent one was; one of them only.
        assert_eq!(drain(&out), ["party a 3", "response 1"]);
        // A view of the party left, the departure, a view of the next party: in that order,
        // and a later view after the departure does not jump ahead of it.
        out.snapshot(view("a", "4"));
        assert!(out.push(
            &ServerMsg::PartyGone {
                party_id: "a".into(),
                reason: "kicked".into()
            },
            Need::Required
        ));
        out.snapshot(view("b", "1"));
        assert_eq!(drain(&out), ["gone a", "party b 1"]);
        assert_eq!(out.bytes(), 0);
    }

    #[test]
    fn signals_fill_half_the_outbox_and_other_frames_close_it_when_full() {
        let out = Outbox::new(4096);
        let signal = ServerMsg::Signal {
            from: "k".into(),
            payload: serde_json::json!({"kind": "cand", "leg": "direct", "gen": 1, "c": "c".repeat(400)}),
        };
        let mut n = 0;
        while out.push(&signal, Need::Droppable) {
            n += 1;
        }
        assert!(
            out.bytes() <= 2048 && n >= 3,
            "{n} signals, {} bytes",
            out.bytes()
        );
        assert!(!out.close.is_cancelled(), "a dropped signal closes nothing");
        // A snapshot always finds room; a response too, until the outbox is really full.
        out.snapshot(view("a", "1"));
        assert!(out.push(&response(1), Need::Required));
        let big = ServerMsg::Error {
            error: ErrorBody::new("x", "y".repeat(4096)),
        };
        assert!(!out.push(&big, Need::Required));
        assert!(out.close.is_cancelled(), "a frame that does not fit closes");
    }
}
