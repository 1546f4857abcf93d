//! NAT traversal's I/O shell: ICE agents (webrtc-ice) per peer and leg, their signaling through
//! the control server, and the tunnel endpoints they feed. Decisions are made by
//! [`crate::connection::Connection`]; this module only runs agents and carries out its actions.
//!
//! One task owns every peer's state, so there are no locks between events: commands from the
//! engine (membership, signals from peers, network changes), agent callbacks and a timer tick all
//! arrive on one channel.
//!
//! Signaling: each leg's agent is identified by a generation number. A side that restarts an
//! agent bumps the generation and sends its credentials; the other side, seeing a newer
//! generation, restarts its own agent to match, and answers an older one with its current
//! credentials so a peer that restarted from scratch catches up.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanrage_proto::message::{IceLeg, IceServer, SignalPayload};
use lanrage_tunnel::{Device, Endpoint, IpNet, Key, PeerConn};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ts_rs::TS;
use webrtc_ice::agent::agent_config::AgentConfig;
use webrtc_ice::agent::Agent;
use webrtc_ice::candidate::candidate_base::unmarshal_candidate;
use webrtc_ice::candidate::{Candidate, CandidateType};
use webrtc_ice::mdns::MulticastDnsMode;
use webrtc_ice::network_type::NetworkType;
use webrtc_ice::state::ConnectionState;
use webrtc_ice::url::Url;

use crate::connection::{Action, Connection, Event, Leg, PathState};
use crate::nat::{self, NatStatus};

/// Timers, and how often the probe's liveness is read: a dead path must move to the relay
/// within a second (the connection manager decides at half a second of silence).
const TICK: Duration = Duration::from_millis(100);
/// Signals that arrive before the peer is in our party snapshot wait, this many per peer and
/// in all (a real exchange is a credentials signal and a handful of candidates per leg, and
/// a restarted member hears from every other member at once: room for a full party of 254)...
const EARLY_SIGNALS_PER_PEER: usize = 32;
const EARLY_SIGNALS_TOTAL: usize = 254 * 16;
/// ...for this long: the sender resends its credentials every [`CREDS_RESEND`] until ours
/// arrive, so an older signal is stale, and one from a member who never shows up is garbage.
const EARLY_SIGNAL_TTL: Duration = Duration::from_secs(10);
/// Interfaces whose addresses are never offered as candidates: our own tunnel and other
/// virtual adapters (VPNs, containers, VMs), which other players cannot reach.
const VIRTUAL_PREFIXES: [&str; 11] = [
    "lo", "wg", "tun", "tap", "utun", "docker", "br-", "virbr", "vmnet", "vboxnet", "zt",
];
const NETWORK_CHECK: Duration = Duration::from_secs(3);
/// Remote candidates taken per agent (a real one gathers a handful).
const MAX_REMOTE_CANDIDATES: usize = 32;
/// Our credentials are sent again this often until the peer's arrive (signals sent while
/// the control connection was down are lost).
const CREDS_RESEND: Duration = Duration::from_secs(2);
/// A peer may restart one of our legs at most this often.
const MIN_REMOTE_RESTART_GAP: Duration = Duration::from_secs(1);
/// Connectivity checks go out this often while a leg looks for a pair (DESIGN.md: fast).
const CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// How long one candidate pair may take to answer before it counts as failed: covers a friend
/// on the far side of the world (round trips of a second and more) and lost first answers,
/// and stays well inside the connection manager's connect deadline.
const PAIR_CHECK_BUDGET: Duration = Duration::from_secs(3);
const PAIR_CHECK_BUDGET_CHECKS: u16 =
    (PAIR_CHECK_BUDGET.as_millis() / CHECK_INTERVAL.as_millis()) as u16;

/// What status shows about one peer's path.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PathInfo {
    pub state: PathState,
    /// Candidate types of the pair in use: `host`, `srflx`, `prflx` or `relay`.
    pub local_candidate: Option<String>,
    pub remote_candidate: Option<String>,
    /// The TURN server carrying the traffic, when relayed.
    pub relay: Option<String>,
    /// Why this path, in a sentence.
    pub reason: String,
    /// Seconds in this state.
    pub since_secs: f64,
}

/// The signaling messages between two peers' agents: the protocol's typed payload, which the
/// control server also checks.
type Signal = SignalPayload;

impl From<Leg> for IceLeg {
    fn from(l: Leg) -> Self {
        match l {
            Leg::Direct => IceLeg::Direct,
            Leg::Relay => IceLeg::Relay,
        }
    }
}

fn leg_of(l: IceLeg) -> Leg {
    match l {
        IceLeg::Direct => Leg::Direct,
        IceLeg::Relay => Leg::Relay,
    }
}

/// Signals from members not in our party snapshot yet, kept briefly and in bounded number.
#[derive(Default)]
struct EarlySignals {
    by_peer: HashMap<String, VecDeque<(Instant, Signal)>>,
    total: usize,
}

impl EarlySignals {
    /// Keeps `signal` for `from`; false when it was dropped (over a cap).
    fn push(&mut self, from: String, signal: Signal, now: Instant) -> bool {
        self.expire(now);
        if self.total >= EARLY_SIGNALS_TOTAL {
            return false;
        }
        let q = self.by_peer.entry(from).or_default();
        if q.len() >= EARLY_SIGNALS_PER_PEER {
            return false;
        }
        q.push_back((now, signal));
        self.total += 1;
        true
    }

    /// What is still fresh for `from`, oldest first.
    fn take(&mut self, from: &str, now: Instant) -> Vec<Signal> {
        self.expire(now);
        let q = self.by_peer.remove(from).unwrap_or_default();
        self.total -= q.len();
        q.into_iter().map(|(_, s)| s).collect()
    }

    /// Forgets everyone `keep` does not name.
    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.by_peer.retain(|k, _| keep(k));
        self.total = self.by_peer.values().map(VecDeque::len).sum();
    }

    fn expire(&mut self, now: Instant) {
        for q in self.by_peer.values_mut() {
            while q
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= EARLY_SIGNAL_TTL)
            {
                q.pop_front();
            }
        }
        self.by_peer.retain(|_, q| !q.is_empty());
        self.total = self.by_peer.values().map(VecDeque::len).sum();
    }
}

/// TURN credentials (and STUN servers) as the control server hands them out.
#[derive(Debug, Clone, Default)]
pub struct IceGrant {
    pub servers: Vec<IceServer>,
    /// Unix seconds; `None` when the server did not say (taken as an hour).
    pub expires_at: Option<u64>,
}

/// What traversal needs from the control plane: a way to reach peers and TURN credentials.
/// Implemented by the engine over its control-server session.
pub trait ControlPlane: Send + Sync + 'static {
    /// Sends a signal to a party member through the control server; lost signals are fine
    /// (credentials are resent until the peer's arrive).
    fn send_signal(&self, to: String, payload: Value);
    /// Asks for STUN/TURN servers with fresh credentials (party members only).
    fn ice_servers(&self) -> Pin<Box<dyn Future<Output = Result<IceGrant, String>> + Send>>;
}

/// What traversal tells the engine about.
#[derive(Debug, Clone)]
pub enum TraversalEvent {
    NatChanged(NatStatus),
    PathChanged {
        peer: String,
        name: String,
        from: PathState,
        to: PathState,
        reason: String,
    },
}

/// What the engine knows when traversal starts.
pub struct TraversalConfig {
    pub own_key: String,
    pub servers: Vec<IceServer>,
    /// STUN and TURN servers from settings, added to the control server's.
    pub extra: ExtraServers,
    pub relay_only: bool,
    pub tun_name: String,
    pub party_subnet: Option<IpNet>,
    pub control: Arc<dyn ControlPlane>,
    pub on_event: Arc<dyn Fn(TraversalEvent) + Send + Sync>,
    /// Traversal's tasks are children of this token and tracked here (the engine waits for
    /// them at shutdown).
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
}

/// STUN and TURN servers a user configured in settings.
#[derive(Debug, Clone, Default)]
pub struct ExtraServers {
    pub stun: Vec<String>,
    pub turn: Vec<String>,
}

impl ExtraServers {
    /// The control server's STUN/TURN servers plus these. Extra TURN servers get the control
    /// server's credentials (they share its secret, as coturn with `use-auth-secret` does).
    pub fn added_to(&self, mut servers: Vec<IceServer>) -> Vec<IceServer> {
        let creds = servers
            .iter()
            .find(|s| s.username.is_some())
            .map(|s| (s.username.clone(), s.credential.clone()));
        for s in &self.stun {
            let url = if s.starts_with("stun:") {
                s.clone()
            } else {
                format!("stun:{s}")
            };
            servers.push(IceServer {
                url,
                username: None,
                credential: None,
            });
        }
        for t in &self.turn {
            let (username, credential) = creds.clone().unwrap_or_default();
            servers.push(IceServer {
                url: t.clone(),
                username,
                credential,
            });
        }
        servers
    }
}

/// A peer's signal, relayed by the control server.
struct SignalIn {
    from: String,
    payload: Value,
}

enum AgentEv {
    Candidate(String),
    State(ConnectionState),
    Selected { local: String, remote: String },
    Connected(PeerConn),
}

/// Handle to the traversal task (cheap to clone). Stops with its cancellation token.
#[derive(Clone)]
pub struct Traversal {
    /// Membership: only the latest matters, and it must never be dropped.
    peers: Arc<tokio::sync::watch::Sender<Vec<(String, String)>>>,
    signals: mpsc::Sender<SignalIn>,
    paths: Arc<Mutex<HashMap<String, PathInfo>>>,
    nat: Arc<Mutex<Option<NatStatus>>>,
    cancel: CancellationToken,
}

impl Traversal {
    pub fn start(device: Device, cfg: TraversalConfig) -> Traversal {
        let (tx, rx) = mpsc::channel(256);
        let (peers_tx, peers_rx) = tokio::sync::watch::channel(Vec::new());

        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let cancel = cfg.cancel.child_token();
        let t = Traversal {
            peers: Arc::new(peers_tx),
            signals: tx,
            paths: Arc::default(),
            nat: Arc::default(),
            cancel: cancel.clone(),
        };
        let (stun, turn) = split_servers(&cfg.servers);
        let tasks = cfg.tasks.clone();
        let task = Task {
            control: cfg.control,
            on_event: cfg.on_event,
            tasks: cfg.tasks,
            extra: cfg.extra,
            device,
            own_key: cfg.own_key,
            stun,
            turn,
            relay_only: cfg.relay_only,
            tun_name: cfg.tun_name,
            party_subnet: cfg.party_subnet,
            peers: HashMap::new(),
            early: EarlySignals::default(),
            ev_tx,
            paths: t.paths.clone(),
            nat: t.nat.clone(),
            addresses: Vec::new(),
        };
        tasks.spawn(task.run(peers_rx, rx, ev_rx, cancel));
        t
    }

    /// The party members to find paths to: (public key, name). Only the latest matters.
    pub fn set_peers(&self, peers: Vec<(String, String)>) {
        self.peers.send_replace(peers);
    }

    pub fn signal(&self, from: String, payload: Value) {
        if self.signals.try_send(SignalIn { from, payload }).is_err() {
            tracing::debug!("traversal busy: signal dropped (the peer resends on restart)");
        }
    }

    pub fn path(&self, key: &str) -> Option<PathInfo> {
        self.paths.lock().get(key).cloned()
    }

    pub fn nat(&self) -> Option<NatStatus> {
        self.nat.lock().clone()
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

/// One leg's running agent.
struct LegRun {
    gen: u32,
    agent: Option<Arc<Agent>>,
    /// Hands the remote credentials to the waiting dial/accept task; dropping cancels it.
    creds_tx: Option<tokio::sync::oneshot::Sender<(String, String)>>,
    cancel_tx: Option<mpsc::Sender<()>>,
    remote_ufrag: Option<String>,
    local_creds: Option<(String, String)>,
    local_cands: Vec<String>,
    conn: Option<PeerConn>,
    pair: Option<(String, String)>,
    remote_cands: usize,
    /// When our credentials last went out, while the peer's have not arrived.
    creds_sent: Option<Instant>,
    /// When the peer last restarted this leg.
    remote_restart: Option<Instant>,
}

impl LegRun {
    fn idle() -> Self {
        Self {
            gen: 0,
            agent: None,
            creds_tx: None,
            cancel_tx: None,
            remote_ufrag: None,
            local_creds: None,
            local_cands: Vec::new(),
            conn: None,
            pair: None,
            remote_cands: 0,
            creds_sent: None,
            remote_restart: None,
        }
    }

    fn close(&mut self) {
        self.creds_tx = None;
        self.cancel_tx = None;
        self.conn = None;
        self.pair = None;
        self.remote_ufrag = None;
        self.local_creds = None;
        self.local_cands.clear();
        self.remote_cands = 0;
        self.creds_sent = None;
        if let Some(agent) = self.agent.take() {
            tokio::spawn(async move {
                let _ = agent.close().await;
            });
        }
    }
}

struct PeerLink {
    name: String,
    wg_key: Key,
    conn: Connection,
    direct: LegRun,
    relay: LegRun,
    /// The TURN server the relay leg uses.
    relay_server: Option<String>,
}

impl PeerLink {
    /// Candidate types of the pair carrying the peer's traffic now.
    fn pair_in_use(&self) -> Option<(String, String)> {
        match self.conn.using()? {
            Leg::Direct => self.direct.pair.clone(),
            Leg::Relay => self.relay.pair.clone(),
        }
    }

    fn leg(&mut self, leg: Leg) -> &mut LegRun {
        match leg {
            Leg::Direct => &mut self.direct,
            Leg::Relay => &mut self.relay,
        }
    }
}

struct Task {
    control: Arc<dyn ControlPlane>,
    on_event: Arc<dyn Fn(TraversalEvent) + Send + Sync>,
    tasks: TaskTracker,
    extra: ExtraServers,
    device: Device,
    own_key: String,
    stun: Vec<String>,
    turn: Vec<IceServer>,
    relay_only: bool,
    tun_name: String,
    party_subnet: Option<IpNet>,
    peers: HashMap<String, PeerLink>,
    early: EarlySignals,
    ev_tx: mpsc::Sender<(String, Leg, u32, AgentEv)>,
    paths: Arc<Mutex<HashMap<String, PathInfo>>>,
    nat: Arc<Mutex<Option<NatStatus>>>,
    addresses: Vec<IpAddr>,
}

fn local_addresses(skip: &str) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.name != skip && !i.is_loopback())
        .filter(|i| !VIRTUAL_PREFIXES.iter().any(|p| i.name.starts_with(p)))
        .map(|i| i.ip())
        .filter(IpAddr::is_ipv4)
        .collect();
    v.sort();
    v
}

/// STUN URLs, and TURN servers with their credentials.
fn split_servers(servers: &[IceServer]) -> (Vec<String>, Vec<IceServer>) {
    let stun = servers
        .iter()
        .filter(|s| s.url.starts_with("stun:"))
        .map(|s| s.url.clone())
        .collect();
    let turn = servers
        .iter()
        .filter(|s| s.url.starts_with("turn:"))
        .cloned()
        .collect();
    (stun, turn)
}

fn host_port(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once(':')?.1;
    let rest = rest.split('?').next().unwrap_or(rest);
    rest.parse().ok()
}

fn cand_type(t: CandidateType) -> String {
    match t {
        CandidateType::Host => "host",
        CandidateType::ServerReflexive => "srflx",
        CandidateType::PeerReflexive => "prflx",
        CandidateType::Relay => "relay",
        CandidateType::Unspecified => "unknown",
    }
    .to_string()
}

impl Task {
    async fn run(
        mut self,
        mut peers: tokio::sync::watch::Receiver<Vec<(String, String)>>,
        mut signals: mpsc::Receiver<SignalIn>,
        mut events: mpsc::Receiver<(String, Leg, u32, AgentEv)>,
        cancel: CancellationToken,
    ) {
        self.addresses = local_addresses(&self.tun_name);
        self.detect_nat();
        let mut next_refresh = Instant::now() + self.refresh_credentials().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_network_check = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Ok(()) = peers.changed() => {
                    let p = peers.borrow_and_update().clone();
                    self.set_peers(p).await;
                }
                Some(SignalIn { from, payload }) = signals.recv() => self.on_signal(from, payload).await,
                Some((peer, leg, gen, ev)) = events.recv() => self.on_agent(peer, leg, gen, ev).await,
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.watch_probes(now).await;
                    let keys: Vec<String> = self.peers.keys().cloned().collect();
                    for k in keys {
                        let actions = match self.peers.get_mut(&k) {
                            Some(p) => p.conn.poll(now),
                            None => continue,
                        };
                        self.act(&k, actions).await;
                    }
                    self.resend_pending(now);
                    self.early.expire(now);
                    if now >= next_refresh {
                        next_refresh = now + self.refresh_credentials().await;
                    }
                    if now.duration_since(last_network_check) >= NETWORK_CHECK {
                        last_network_check = now;
                        self.check_network().await;
                    }
                }
            }
        }
        for (_, mut p) in self.peers.drain() {
            p.direct.close();
            p.relay.close();
        }
        self.paths.lock().clear();
    }

    /// Asks the control server for TURN credentials (it gives them to party members only) and
    /// returns when to ask again: an hour before they expire, or soon after a failure.
    async fn refresh_credentials(&mut self) -> Duration {
        const RETRY: Duration = Duration::from_secs(10);
        let grant = match self.control.ice_servers().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "no TURN credentials yet; relayed paths wait for them");
                return RETRY;
            }
        };
        let servers = self.extra.added_to(grant.servers);
        let (stun, turn) = split_servers(&servers);
        self.stun = stun;
        self.turn = turn;
        self.choose_relay().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let left = grant
            .expires_at
            .map(|e| e.saturating_sub(now))
            .unwrap_or(3600);
        tracing::debug!(
            turn = self.turn.len(),
            expires_in_s = left,
            "TURN credentials renewed"
        );
        Duration::from_secs(left.saturating_sub(3600).max(60))
    }

    /// With several TURN servers, the nearest (by STUN round trip) goes first: relay legs use
    /// the first one. Takes at most half a second, before any relay leg starts.
    async fn choose_relay(&mut self) {
        if self.turn.len() < 2 {
            return;
        }
        let probes = self.turn.iter().map(|t| {
            let addr = host_port(&t.url);
            async move {
                match addr {
                    Some(a) => nat::binding_rtt(a, Duration::from_millis(500)).await,
                    None => None,
                }
            }
        });
        let rtts = futures_util::future::join_all(probes).await;
        let measured: Vec<(IceServer, Option<Duration>)> = self.turn.drain(..).zip(rtts).collect();
        for (t, rtt) in &measured {
            tracing::info!(relay = %t.url, rtt_ms = ?rtt.map(|d| d.as_secs_f64() * 1000.0), "relay round trip");
        }
        self.turn = nat::by_rtt(measured);
        if let Some(best) = self.turn.first() {
            tracing::info!(relay = %best.url, "relay chosen");
        }
    }

    /// Detects the NAT in the background (it can take seconds when servers do not answer;
    /// agents start meanwhile) and publishes the result.
    fn detect_nat(&self) {
        let mut servers: Vec<SocketAddr> = self.stun.iter().filter_map(|u| host_port(u)).collect();
        servers.dedup();
        let nat = self.nat.clone();
        let on_event = self.on_event.clone();
        self.tasks.spawn(async move {
            let status = nat::detect(&servers).await;
            let changed = {
                let mut n = nat.lock();
                let changed = n.as_ref() != Some(&status);
                *n = Some(status.clone());
                changed
            };
            if changed {
                on_event(TraversalEvent::NatChanged(status));
            }
        });
    }

    async fn check_network(&mut self) {
        let now = local_addresses(&self.tun_name);
        if now == self.addresses {
            return;
        }
        tracing::info!(from = ?self.addresses, to = ?now, "network changed: finding paths again");
        self.addresses = now;
        let keys: Vec<String> = self.peers.keys().cloned().collect();
        let t = Instant::now();
        for k in keys {
            let actions = match self.peers.get_mut(&k) {
                Some(p) => p.conn.handle(Event::NetworkChanged, t),
                None => continue,
            };
            self.act(&k, actions).await;
        }
        self.detect_nat();
    }

    /// Feeds each peer's probe liveness on the path in use to its connection manager, which
    /// decides when silence means a dead path (a path ICE calls up may not carry the tunnel).
    async fn watch_probes(&mut self, now: Instant) {
        let mut todo = Vec::new();
        for (key, link) in self.peers.iter_mut() {
            if link.conn.using().is_none() {
                continue;
            }
            let Some(live) = self.device.liveness(&link.wg_key) else {
                continue;
            };
            let Some(silent_for) = live.silent_for else {
                continue;
            };
            let ev = Event::Unanswered {
                silent_for,
                probes: live.unanswered,
                srtt: live.srtt,
            };
            let actions = link.conn.handle(ev, now);
            if !actions.is_empty() {
                tracing::info!(
                    peer = %short(key),
                    silent_ms = silent_for.as_millis() as u64,
                    "in-tunnel probes unanswered on the path in use"
                );
                todo.push((key.clone(), actions));
            }
        }
        for (key, actions) in todo {
            self.act(&key, actions).await;
        }
    }

    async fn set_peers(&mut self, peers: Vec<(String, String)>) {
        let gone: Vec<String> = self
            .peers
            .keys()
            .filter(|k| !peers.iter().any(|(p, _)| p == *k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(mut link) = self.peers.remove(&k) {
                link.direct.close();
                link.relay.close();
                self.device.set_endpoint(&link.wg_key, None).await;
                tracing::debug!(peer = %short(&k), "no longer a peer: agents closed");
            }
            self.paths.lock().remove(&k);
        }
        self.early.retain(|k| peers.iter().any(|(p, _)| p == k));
        for (key, name) in peers {
            if let Some(link) = self.peers.get_mut(&key) {
                link.name = name;
                continue;
            }
            let Ok(wg_key) = key.parse::<Key>() else {
                continue;
            };
            let now = Instant::now();
            let relay_server = self.turn.first().map(|t| t.url.clone());
            let conn = Connection::new(now, !self.relay_only, relay_server.is_some());
            let link = PeerLink {
                name,
                wg_key,
                conn,
                direct: LegRun::idle(),
                relay: LegRun::idle(),
                relay_server,
            };
            let runs = [Leg::Direct, Leg::Relay].map(|l| link.conn.runs(l));
            self.peers.insert(key.clone(), link);
            for (leg, run) in [Leg::Direct, Leg::Relay].into_iter().zip(runs) {
                if run {
                    self.start_leg(&key, leg, 1).await;
                }
            }
            self.publish(&key);
            for signal in self.early.take(&key, Instant::now()) {
                self.on_peer_signal(key.clone(), signal).await;
            }
        }
    }

    fn agent_config(&self, leg: Leg, controlling: bool) -> AgentConfig {
        let mut urls = Vec::new();
        match leg {
            Leg::Direct => {
                for u in &self.stun {
                    if let Ok(url) = Url::parse_url(u) {
                        urls.push(url);
                    }
                }
            }
            Leg::Relay => {
                if let Some(t) = self.turn.first() {
                    if let Ok(mut url) = Url::parse_url(&t.url) {
                        url.username = t.username.clone().unwrap_or_default();
                        url.password = t.credential.clone().unwrap_or_default();
                        urls.push(url);
                    }
                }
            }
        }
        let tun = self.tun_name.clone();
        let subnet = self.party_subnet;
        AgentConfig {
            urls,
            network_types: vec![NetworkType::Udp4],
            candidate_types: match leg {
                Leg::Direct => vec![CandidateType::Host, CandidateType::ServerReflexive],
                Leg::Relay => vec![CandidateType::Relay],
            },
            // mDNS would send to 224.0.0.251 on every interface: never.
            multicast_dns_mode: MulticastDnsMode::Disabled,
            is_controlling: controlling,
            // Tuned for speed (DESIGN.md): accept the first working pair at once, check every
            // 50 ms, notice a dead path within a second.
            check_interval: CHECK_INTERVAL,
            // webrtc-ice gives up on a pair after this many unanswered checks (default 7: 400 ms
            // at our interval), which fails every pair to a friend whose round trip is longer,
            // or whose first answers are lost, and so the whole leg. A pair may take
            // PAIR_CHECK_BUDGET to answer.
            max_binding_requests: Some(PAIR_CHECK_BUDGET_CHECKS),
            host_acceptance_min_wait: Some(Duration::ZERO),
            srflx_acceptance_min_wait: Some(Duration::ZERO),
            prflx_acceptance_min_wait: Some(Duration::ZERO),
            relay_acceptance_min_wait: Some(Duration::ZERO),
            keepalive_interval: Some(Duration::from_millis(250)),
            disconnected_timeout: Some(Duration::from_secs(1)),
            failed_timeout: Some(Duration::from_secs(4)),
            interface_filter: Arc::new(Some(Box::new(move |name: &str| {
                name != tun && !VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
            }))),
            ip_filter: Arc::new(Some(Box::new(move |ip: IpAddr| {
                candidate_ip_allowed(ip, subnet)
            }))),
            ..Default::default()
        }
    }

    /// Replaces `leg`'s agent for `key` with a new one of generation `gen` and sends its
    /// credentials; candidates follow as they are gathered.
    async fn start_leg(&mut self, key: &str, leg: Leg, gen: u32) {
        let controlling = self.own_key.as_str() < key;
        let config = self.agent_config(leg, controlling);
        let Some(link) = self.peers.get_mut(key) else {
            return;
        };
        let run = link.leg(leg);
        run.close();
        run.gen = gen;
        let agent = match Agent::new(config).await {
            Ok(a) => Arc::new(a),
            Err(e) => {
                tracing::warn!(peer = %short(key), leg = leg.as_str(), error = %e, "cannot start an ICE agent");
                let actions = link.conn.handle(Event::Failed(leg), Instant::now());
                Box::pin(self.act(key, actions)).await;
                return;
            }
        };
        let tag = (key.to_string(), leg, gen);
        let tx = self.ev_tx.clone();
        let t = tag.clone();
        agent.on_candidate(Box::new(
            move |c: Option<Arc<dyn Candidate + Send + Sync>>| {
                let tx = tx.clone();
                let t = t.clone();
                Box::pin(async move {
                    if let Some(c) = c {
                        let _ = tx
                            .send((t.0, t.1, t.2, AgentEv::Candidate(c.marshal())))
                            .await;
                    }
                })
            },
        ));
        let tx = self.ev_tx.clone();
        let t = tag.clone();
        agent.on_connection_state_change(Box::new(move |s: ConnectionState| {
            let tx = tx.clone();
            let t = t.clone();
            Box::pin(async move {
                let _ = tx.send((t.0, t.1, t.2, AgentEv::State(s))).await;
            })
        }));
        let tx = self.ev_tx.clone();
        let t = tag.clone();
        agent.on_selected_candidate_pair_change(Box::new(
            move |l: &Arc<dyn Candidate + Send + Sync>, r: &Arc<dyn Candidate + Send + Sync>| {
                let tx = tx.clone();
                let t = t.clone();
                let (local, remote) =
                    (cand_type(l.candidate_type()), cand_type(r.candidate_type()));
                Box::pin(async move {
                    let _ = tx
                        .send((t.0, t.1, t.2, AgentEv::Selected { local, remote }))
                        .await;
                })
            },
        ));
        let (ufrag, pwd) = agent.get_local_user_credentials().await;
        let (creds_tx, creds_rx) = tokio::sync::oneshot::channel::<(String, String)>();
        let (cancel_tx, cancel_rx) = mpsc::channel::<()>(1);
        let a = agent.clone();
        let tx = self.ev_tx.clone();
        tokio::spawn(async move {
            let Ok((ufrag, pwd)) = creds_rx.await else {
                return;
            };
            let conn: Result<PeerConn, _> = if controlling {
                a.dial(cancel_rx, ufrag, pwd).await.map(|c| c as PeerConn)
            } else {
                a.accept(cancel_rx, ufrag, pwd).await.map(|c| c as PeerConn)
            };
            match conn {
                Ok(c) => {
                    let _ = tx.send((tag.0, tag.1, tag.2, AgentEv::Connected(c))).await;
                }
                Err(e) => tracing::debug!(error = %e, "ICE connect ended"),
            }
        });
        if let Err(e) = agent.gather_candidates() {
            tracing::warn!(peer = %short(key), leg = leg.as_str(), error = %e, "gathering candidates");
        }
        let run = link.leg(leg);
        run.agent = Some(agent);
        run.creds_tx = Some(creds_tx);
        run.cancel_tx = Some(cancel_tx);
        run.local_creds = Some((ufrag, pwd));
        run.creds_sent = Some(Instant::now());
        tracing::debug!(peer = %short(key), leg = leg.as_str(), gen, "ICE agent started");
        // The leg's old connection (if any) is gone: the manager must not keep traffic on it.
        let actions = link.conn.handle(Event::Restarted(leg), Instant::now());
        Box::pin(self.act(key, actions)).await;
        // A new agent has nobody's credentials and no candidates yet: this sends its
        // credentials, `have_yours: false`.
        self.resend(key, leg);
    }

    async fn on_signal(&mut self, from: String, payload: Value) {
        let signal = match SignalPayload::from_value(&payload) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(peer = %short(&from), error = %e, "malformed signal ignored");
                return;
            }
        };
        if !self.peers.contains_key(&from) {
            // The peer is in a snapshot we have not applied yet: keep it for a moment.
            if !self.early.push(from, signal, Instant::now()) {
                tracing::debug!("too many signals from members we do not know yet: dropped");
            }
            return;
        }
        self.on_peer_signal(from, signal).await;
    }

    async fn on_peer_signal(&mut self, from: String, signal: Signal) {
        let (leg, gen) = match &signal {
            Signal::Creds { leg, gen, .. } | Signal::Cand { leg, gen, .. } => (leg_of(*leg), *gen),
        };
        let Some(link) = self.peers.get_mut(&from) else {
            return;
        };
        if !link.conn.runs(leg) {
            return;
        }
        let ours = link.leg(leg).gen;
        // Any later generation is followed, however far ahead: a member whose daemon was down
        // for minutes comes back at generation 1 while we kept restarting towards it, and
        // must catch up with us. A peer that jumps to the end of the range only stalls its
        // own link (generations saturate).
        if gen > ours {
            // The peer restarted this leg: follow it, but not more than once a second (each
            // restart sends connectivity checks to every candidate it names). A restart
            // ignored here comes back with the peer's next credentials resend.
            let run = link.leg(leg);
            if run
                .remote_restart
                .is_some_and(|t| t.elapsed() < MIN_REMOTE_RESTART_GAP)
            {
                tracing::debug!(peer = %short(&from), gen, "restart too soon after the last one: ignored");
                return;
            }
            run.remote_restart = Some(Instant::now());
            self.start_leg(&from, leg, gen).await;
        } else if gen < ours {
            if matches!(signal, Signal::Creds { .. }) {
                self.resend(&from, leg);
            }
            return;
        }
        let Some(link) = self.peers.get_mut(&from) else {
            return;
        };
        let run = link.leg(leg);
        match signal {
            Signal::Creds {
                ufrag,
                pwd,
                have_yours,
                ..
            } => {
                let first = run.remote_ufrag.is_none();
                let fresh = match &run.remote_ufrag {
                    None => {
                        run.remote_ufrag = Some(ufrag.clone());
                        if let Some(tx) = run.creds_tx.take() {
                            let _ = tx.send((ufrag, pwd));
                        }
                        false
                    }
                    Some(u) => *u != ufrag,
                };
                if fresh {
                    // Same generation, new credentials: the peer started over from scratch.
                    if let Some(next) = run.gen.checked_add(1) {
                        Box::pin(self.start_leg(&from, leg, next)).await;
                    }
                } else {
                    run.creds_sent = None;
                    if !first && !have_yours {
                        // The peer is still waiting for ours: answer.
                        self.resend(&from, leg);
                    }
                }
            }
            Signal::Cand { c, .. } => {
                let Some(agent) = run.agent.clone() else {
                    return;
                };
                if run.remote_cands >= MAX_REMOTE_CANDIDATES {
                    return;
                }
                run.remote_cands += 1;
                match unmarshal_candidate(&c) {
                    Ok(cand) if !remote_candidate_allowed(&cand.address(), self.party_subnet) => {
                        tracing::debug!(peer = %short(&from), address = %cand.address(), "remote candidate at an address no player can be reached at: ignored");
                    }
                    Ok(cand) => {
                        let cand: Arc<dyn Candidate + Send + Sync> = Arc::new(cand);
                        if let Err(e) = agent.add_remote_candidate(&cand) {
                            tracing::debug!(peer = %short(&from), error = %e, "remote candidate refused");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(peer = %short(&from), error = %e, "malformed candidate ignored")
                    }
                }
            }
        }
    }

    /// Legs still waiting for the peer's credentials get ours again: a signal sent while the
    /// control connection was down is lost, and an agent without credentials never fails on
    /// its own.
    fn resend_pending(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (key, link) in self.peers.iter_mut() {
            for leg in [Leg::Direct, Leg::Relay] {
                let run = link.leg(leg);
                if run.remote_ufrag.is_none()
                    && run
                        .creds_sent
                        .is_some_and(|t| now.duration_since(t) >= CREDS_RESEND)
                {
                    run.creds_sent = Some(now);
                    due.push((key.clone(), leg));
                }
            }
        }
        for (key, leg) in due {
            self.resend(&key, leg);
        }
    }

    /// Sends our current credentials and candidates again (the peer is behind).
    fn resend(&mut self, key: &str, leg: Leg) {
        let Some(link) = self.peers.get_mut(key) else {
            return;
        };
        let run = link.leg(leg);
        let gen = run.gen;
        let have_yours = run.remote_ufrag.is_some();
        let Some((ufrag, pwd)) = run.local_creds.clone() else {
            return;
        };
        let cands = run.local_cands.clone();
        send(
            &self.control,
            key,
            &Signal::Creds {
                leg: leg.into(),
                gen,
                ufrag,
                pwd,
                have_yours,
            },
        );
        for c in cands {
            send(
                &self.control,
                key,
                &Signal::Cand {
                    leg: leg.into(),
                    gen,
                    c,
                },
            );
        }
    }

    async fn on_agent(&mut self, key: String, leg: Leg, gen: u32, ev: AgentEv) {
        let Some(link) = self.peers.get_mut(&key) else {
            return;
        };
        if link.leg(leg).gen != gen {
            return;
        }
        let now = Instant::now();
        let event = match ev {
            AgentEv::Candidate(c) => {
                link.leg(leg).local_cands.push(c.clone());
                send(
                    &self.control,
                    &key,
                    &Signal::Cand {
                        leg: leg.into(),
                        gen,
                        c,
                    },
                );
                return;
            }
            AgentEv::Selected { local, remote } => {
                link.leg(leg).pair = Some((local, remote));
                self.publish(&key);
                return;
            }
            AgentEv::Connected(conn) => {
                self.device.spawn_conn_reader(conn.clone());
                link.leg(leg).conn = Some(conn.clone());
                if link.conn.using() == Some(leg) {
                    // The leg in use has a new connection (restarted agent): send through it.
                    let wg_key = link.wg_key;
                    self.device
                        .set_endpoint(&wg_key, Some(Endpoint::Conn(conn)))
                        .await;
                }
                Some(Event::Up(leg))
            }
            AgentEv::State(s) => match s {
                ConnectionState::Connected if link.leg(leg).conn.is_some() => Some(Event::Up(leg)),
                ConnectionState::Disconnected => Some(Event::Down(leg)),
                ConnectionState::Failed => {
                    // dial/accept never return on failure: cancel them.
                    link.leg(leg).cancel_tx = None;
                    link.leg(leg).creds_tx = None;
                    Some(Event::Failed(leg))
                }
                _ => None,
            },
        };
        if let Some(e) = event {
            let actions = link.conn.handle(e, now);
            self.act(&key, actions).await;
        }
    }

    async fn act(&mut self, key: &str, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Use(leg) => {
                    let Some(link) = self.peers.get_mut(key) else {
                        return;
                    };
                    let endpoint = leg
                        .and_then(|l| link.leg(l).conn.clone())
                        .map(Endpoint::Conn);
                    let wg_key = link.wg_key;
                    self.device.set_endpoint(&wg_key, endpoint).await;
                }
                Action::Restart(leg) => {
                    let gen = match self.peers.get_mut(key) {
                        Some(l) => l.leg(leg).gen.saturating_add(1),
                        None => return,
                    };
                    tracing::debug!(peer = %short(key), leg = leg.as_str(), gen, "restarting ICE");
                    self.start_leg(key, leg, gen).await;
                }
                Action::Changed { from, to, reason } => {
                    let Some(link) = self.peers.get(key) else {
                        return;
                    };
                    let pair = link.pair_in_use();
                    tracing::info!(
                        peer = %short(key),
                        name = %link.name,
                        from = from.as_str(),
                        to = to.as_str(),
                        pair = ?pair,
                        %reason,
                        "path changed"
                    );
                    (self.on_event)(TraversalEvent::PathChanged {
                        peer: key.to_string(),
                        name: link.name.clone(),
                        from,
                        to,
                        reason,
                    });
                }
            }
        }
        self.publish(key);
    }

    /// Refreshes what status shows for `key`.
    fn publish(&self, key: &str) {
        let Some(link) = self.peers.get(key) else {
            return;
        };
        let using = link.conn.using();
        let pair = link.pair_in_use();
        let info = PathInfo {
            state: link.conn.state(),
            local_candidate: pair.as_ref().map(|p| p.0.clone()),
            remote_candidate: pair.as_ref().map(|p| p.1.clone()),
            relay: match using {
                Some(Leg::Relay) => link
                    .relay_server
                    .as_deref()
                    .and_then(host_port)
                    .map(|a| a.to_string()),
                _ => None,
            },
            reason: link.conn.reason().to_string(),
            since_secs: link.conn.since().elapsed().as_secs_f64(),
        };
        self.paths.lock().insert(key.to_string(), info);
    }
}

fn send(control: &Arc<dyn ControlPlane>, key: &str, signal: &Signal) {
    control.send_signal(key.to_string(), signal.to_value());
}

fn short(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

/// Whether a member's candidate names an address a player can be reached at (see
/// [`candidate_ip_allowed`]); a name (mDNS, which LANrage never offers) is not one.
fn remote_candidate_allowed(address: &str, party_subnet: Option<IpNet>) -> bool {
    address
        .parse::<IpAddr>()
        .is_ok_and(|ip| candidate_ip_allowed(ip, party_subnet))
}

/// Whether a candidate at `ip`, ours or a member's, can reach a player: not ourselves
/// (loopback), not a group (multicast, broadcast), not nowhere (unspecified), not only a link's
/// neighbours (link-local), not inside the party (our own tunnel). A member's candidate there
/// would make this device send connectivity checks wherever the member points it.
fn candidate_ip_allowed(ip: IpAddr, party_subnet: Option<IpNet>) -> bool {
    let in_party = party_subnet.is_some_and(|n| n.contains(ip));
    let special = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_link_local()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
        }
    };
    !in_party && !special
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design
    use super::*;

    fn cand(n: u32) -> Signal {
        Signal::Cand {
            leg: IceLeg::Direct,
            gen: 1,
            c: format!("candidate:{n} 1 udp 2130706431 192.0.2.7 51820 typ host"),
        }
    }

    #[test]
    fn early_signals_expire_and_are_capped() {
        let t0 = Instant::now();
        let mut early = EarlySignals::default();
        assert!(early.push("a".into(), cand(1), t0));
        assert!(early.push("a".into(), cand(2), t0 + Duration::from_secs(6)));
        // Taken in time: all of them, oldest first.
        assert_eq!(
            early.take("a", t0 + Duration::from_secs(7)),
            vec![cand(1), cand(2)]
        );
        // Taken late: only what is younger than the TTL.
        assert!(early.push("a".into(), cand(1), t0));
        assert!(early.push("a".into(), cand(2), t0 + Duration::from_secs(6)));
        assert_eq!(early.take("a", t0 + Duration::from_secs(12)), vec![cand(2)]);
        // A member who never shows up leaves nothing behind.
        assert!(early.push("ghost".into(), cand(1), t0));
        early.expire(t0 + EARLY_SIGNAL_TTL);
        assert_eq!(early.total, 0);
        assert!(early.by_peer.is_empty());
        // Per peer, and in all (a hostile server can name any number of "members").
        for i in 0..EARLY_SIGNALS_PER_PEER as u32 {
            assert!(early.push("b".into(), cand(i), t0));
        }
        assert!(!early.push("b".into(), cand(99), t0));
        let mut n = 0;
        while early.push(format!("m{n}"), cand(1), t0) {
            n += 1;
        }
        assert_eq!(early.total, EARLY_SIGNALS_TOTAL);
        assert_eq!(n + EARLY_SIGNALS_PER_PEER, EARLY_SIGNALS_TOTAL);
        // Room again once they expire.
        assert!(early.push("c".into(), cand(1), t0 + EARLY_SIGNAL_TTL));
    }

    #[test]
    fn a_member_cannot_point_our_checks_at_ourselves_groups_or_the_party() {
        let party = Some(IpNet::new("10.66.0.0".parse().unwrap(), 16).unwrap());
        for ok in ["192.168.1.20", "203.0.113.7", "2001:db8::7", "100.64.3.4"] {
            assert!(remote_candidate_allowed(ok, party), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "::1",
            "224.0.0.251",
            "239.255.255.250",
            "255.255.255.255",
            "0.0.0.0",
            "169.254.1.1",
            "fe80::1",
            "ff02::1",
            "10.66.0.3",
            "host.local",
            "",
        ] {
            assert!(!remote_candidate_allowed(bad, party), "{bad}");
        }
        // Without a party subnet (not in a party yet) its addresses are ordinary ones.
        assert!(remote_candidate_allowed("10.66.0.3", None));
    }
}
