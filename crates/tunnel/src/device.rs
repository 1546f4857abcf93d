//! The data plane's I/O shell: a TUN device, a UDP socket and three tasks.
//!
//! - `tun_to_net`: reads batches from the TUN (with offload one read can be a whole TCP
//!   window, split by tun-rs) into a fast and a bulk lane ([`crate::lanes`]), encrypts per
//!   destination peer into one contiguous buffer and sends runs of equal-sized datagrams with
//!   UDP GSO, the fast lane first.
//! - `net_to_tun`: receives batches (GRO) into the two lanes, decrypts (small datagrams
//!   first), enforces allowed IPs, answers probes, and writes batches to the TUN (coalesced back
//!   into large packets where the kernel allows).
//! - `timers`: WireGuard timers every 100 ms, the handshake rate limiter, probes.
//!
//! Peers sit in an immutable table swapped on change (copy on write), so adding or removing
//! one never pauses or touches the others.
//!
//! A peer's datagrams go either through the device's own UDP socket (static endpoints, LAN
//! parties, `wg-up`) or through a connection someone else established and hands in as an
//! [`Endpoint::Conn`]: an ICE connection, direct or through a TURN relay. One code path encrypts
//! and decrypts for both; only the last hop differs.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use parking_lot::{Mutex, RwLock};
use quinn_udp::RecvMeta;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ts_rs::TS;
use webrtc_util::Conn;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::allowed_ips::{AllowedIps, IpNet};
use crate::config::{DeviceConfig, PeerConfig};
use crate::key::Key;
use crate::lanes::{Lanes, Outgoing, Received, BULK_CHUNK};
use crate::packet::{self, Probe, ProbeKind, PROBE_PACKET_LEN};
use crate::probe::{Liveness, ProbeStats, ProbeTracker};
use crate::udp::BatchUdp;

/// Handshakes per second before the rate limiter demands cookies (as boringtun's device).
const HANDSHAKE_RATE_LIMIT: u64 = 100;
/// WireGuard's timers (boringtun asks for 100 ms) and the probe's fastest cadence.
const TIMER_TICK: Duration = Duration::from_millis(100);
/// Room in front of each TUN write buffer for the virtio-net header that offload needs.
const TUN_OFFSET: usize = 16;
/// WireGuard adds 32 bytes; handshake messages need 148.
const WG_OVERHEAD: usize = 32;
const MIN_DST: usize = 148;
/// Datagrams waiting for a peer's connection (an ICE connection sends one at a time; a relay
/// that stalls must not stall the TUN loop and every other peer with it). Beyond this they are
/// dropped, as a full socket buffer would.
const CONN_QUEUE: usize = 512;
/// Receive buffers (up to 64 KB each with GRO) the socket is drained into ahead of decryption:
/// room for a bulk transfer's burst to wait where a game's packets can overtake it.
const RX_BUFFERS: usize = 64;
/// Packets read from the TUN ahead of encryption, for the same reason on the way out: about a
/// TCP window's worth (1.5 MB); beyond it the TUN's own ring fills and drops, and TCP slows.
const TX_PACKETS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot create the network device `{name}`: permission denied. {hint}")]
    NoPermission { name: String, hint: String },
    #[error("cannot create the network device `{name}`: {source}")]
    Tun {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use UDP port {port}: {source}")]
    Udp {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the tunnel's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A connection that carries one peer's WireGuard datagrams (see [`Device::set_endpoint`]).
pub type PeerConn = Arc<dyn Conn + Send + Sync>;

/// Where a peer's datagrams go.
#[derive(Clone)]
pub enum Endpoint {
    /// The device's own UDP socket, to this address.
    Udp(SocketAddr),
    /// A connection established outside the tunnel (ICE, direct or relayed).
    Conn(PeerConn),
}

impl Endpoint {
    /// The network address the datagrams go to, as far as it is known.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Udp(a) => Some(*a),
            Endpoint::Conn(c) => c.remote_addr(),
        }
    }

    fn same(&self, other: &Endpoint) -> bool {
        match (self, other) {
            (Endpoint::Udp(a), Endpoint::Udp(b)) => a == b,
            (Endpoint::Conn(a), Endpoint::Conn(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Udp(a) => write!(f, "udp:{a}"),
            Endpoint::Conn(c) => match c.remote_addr() {
                Some(a) => write!(f, "conn:{a}"),
                None => f.write_str("conn"),
            },
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    rx_invalid: AtomicU64,
    rx_unknown_peer: AtomicU64,
    rx_rejected: AtomicU64,
    tx_no_route: AtomicU64,
    tx_no_endpoint: AtomicU64,
}

struct Peer {
    public_key: Key,
    index: u32,
    tunn: Mutex<Tunn>,
    endpoint: Mutex<Option<Endpoint>>,
    allowed_ips: Vec<IpNet>,
    keepalive_secs: Option<u16>,
    preshared_key: Option<Key>,
    /// The peer's own virtual address, probed through the tunnel (its /32 allowed IP).
    probe_addr: Option<Ipv4Addr>,
    probe: Mutex<ProbeTracker>,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
    rx_packets: AtomicU64,
    tx_packets: AtomicU64,
    /// Probe requests and replies, both ways (in the packet counts too): what is left is data.
    probe_packets: AtomicU64,
    dropped_spoofed: AtomicU64,
    dropped_not_for_us: AtomicU64,
    /// The sender task's queue while the endpoint is a connection.
    conn_queue: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
}

impl Peer {
    /// Packets both ways that were not probes.
    fn data_packets(&self) -> u64 {
        (self.rx_packets.load(Ordering::Relaxed) + self.tx_packets.load(Ordering::Relaxed))
            .saturating_sub(self.probe_packets.load(Ordering::Relaxed))
    }

    fn endpoint(&self) -> Option<Endpoint> {
        self.endpoint.lock().clone()
    }

    fn udp_endpoint(&self) -> Option<SocketAddr> {
        match &*self.endpoint.lock() {
            Some(Endpoint::Udp(a)) => Some(*a),
            _ => None,
        }
    }

    /// Roaming: an authenticated packet from a new UDP address moves the peer there. A peer
    /// whose path was handed in as a connection stays on it: whoever manages that connection
    /// decides where the peer's traffic goes, and both ends following each other's last packet
    /// could swap paths forever.
    fn roam(&self, src: &Endpoint) {
        let Endpoint::Udp(src) = src else { return };
        let mut ep = self.endpoint.lock();
        match &*ep {
            Some(Endpoint::Conn(_)) => {}
            Some(Endpoint::Udp(a)) if a == src => {}
            old => {
                tracing::info!(peer = %self.public_key, from = ?old, to = %src, "peer endpoint changed");
                *ep = Some(Endpoint::Udp(*src));
            }
        }
    }

    fn allows(&self, src: IpAddr) -> bool {
        self.allowed_ips.iter().any(|n| n.contains(src))
    }
}

/// A reference to a peer compared by identity, for the allowed-IPs table.
#[derive(Clone)]
struct PeerRef(Arc<Peer>);

impl PartialEq for PeerRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Default, Clone)]
struct PeerTable {
    peers: Vec<Arc<Peer>>,
    by_key: HashMap<[u8; 32], Arc<Peer>>,
    by_index: HashMap<u32, Arc<Peer>>,
    routes: AllowedIps<PeerRef>,
}

impl PeerTable {
    fn rebuild(peers: Vec<Arc<Peer>>) -> Self {
        let mut t = PeerTable::default();
        for p in &peers {
            t.by_key.insert(p.public_key.0, p.clone());
            t.by_index.insert(p.index, p.clone());
            for net in &p.allowed_ips {
                t.routes.insert(*net, PeerRef(p.clone()));
            }
        }
        t.peers = peers;
        t
    }
}

struct Shared {
    tun: crate::os::Tun,
    udp: BatchUdp,
    interface_name: String,
    if_index: u32,
    listen_port: u16,
    addresses: Vec<IpNet>,
    own_v4: Option<Ipv4Addr>,
    /// Deliver only packets for our addresses (see [`DeviceConfig::only_for_us`]).
    only_for_us: bool,
    subnet_broadcasts: Vec<Ipv4Addr>,
    mtu: usize,
    static_private: StaticSecret,
    static_public: PublicKey,
    rate_limiter: Arc<RateLimiter>,
    peers: RwLock<Arc<PeerTable>>,
    next_index: AtomicU32,
    counters: Counters,
    /// Host routes added into the TUN (limited broadcast, discovery multicast groups); removed
    /// at shutdown.
    host_routes: Vec<Ipv4Addr>,
}

/// Per-peer numbers for status, events and metrics.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PeerStats {
    pub public_key: String,
    pub endpoint: Option<SocketAddr>,
    /// `udp` (the device's socket), `conn` (an ICE connection) or `none`.
    pub via: &'static str,
    pub allowed_ips: Vec<String>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Seconds since the last completed handshake, `None` before the first.
    pub last_handshake_secs: Option<f64>,
    /// Packets this peer sent from an address it does not own, dropped.
    pub dropped_spoofed: u64,
    /// Packets this peer sent to an address that is not ours (another interface of this
    /// machine, or beyond it), dropped.
    pub dropped_not_for_us: u64,
    pub probe: ProbeStats,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct DeviceStats {
    pub interface: String,
    pub public_key: String,
    pub listen_port: u16,
    pub addresses: Vec<String>,
    pub mtu: usize,
    /// Datagrams at the WireGuard port that were not WireGuard or failed authentication.
    pub rx_invalid: u64,
    /// Handshakes or data for keys or indexes not in the peer table.
    pub rx_unknown_peer: u64,
    /// Authentic-looking datagrams refused by WireGuard (replays, stale sessions, bad tags).
    pub rx_rejected: u64,
    pub tx_no_route: u64,
    pub tx_no_endpoint: u64,
    pub peers: Vec<PeerStats>,
}

/// The running tunnel. Cheap to clone; [`Device::shutdown`] stops it and removes the TUN.
#[derive(Clone)]
pub struct Device {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

fn random_u32() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32()
}

impl Device {
    pub async fn start(cfg: DeviceConfig) -> Result<Device, DeviceError> {
        // The data path has a thread of its own (see `run_data_path`); the TUN and the socket
        // are registered with its runtime, so that their readiness wakes it directly.
        let data_runtime = DataRuntime::new()?;
        let (tun, udp) = {
            let _registering_here = data_runtime.enter();
            let tun = open_tun(&cfg)?;
            let udp = BatchUdp::bind(cfg.listen_port, cfg.offload).map_err(|source| {
                DeviceError::Udp {
                    port: cfg.listen_port,
                    source,
                }
            })?;
            (tun, udp)
        };
        let interface_name = tun.name().unwrap_or_else(|_| cfg.interface_name.clone());
        let if_index = tun.if_index().unwrap_or(0);
        let listen_port = udp.local_port().unwrap_or(cfg.listen_port);
        let static_public = PublicKey::from(&cfg.private_key);
        let own_v4 = cfg.addresses.iter().find_map(|n| match n.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        let subnet_broadcasts = cfg
            .addresses
            .iter()
            .filter_map(|n| n.broadcast_v4())
            .collect();
        let mut wanted: Vec<Ipv4Addr> = cfg.multicast_routes.clone();
        if cfg.limited_broadcast_route {
            wanted.insert(0, Ipv4Addr::BROADCAST);
        }
        wanted.dedup();
        let host_routes = if if_index != 0 && !wanted.is_empty() {
            crate::os::add_host_routes(if_index, &wanted).await
        } else {
            Vec::new()
        };
        let shared = Arc::new(Shared {
            tun,
            udp,
            interface_name: interface_name.clone(),
            if_index,
            listen_port,
            addresses: cfg.addresses.clone(),
            own_v4,
            only_for_us: cfg.only_for_us,
            subnet_broadcasts,
            mtu: usize::from(cfg.mtu),
            rate_limiter: Arc::new(RateLimiter::new(&static_public, HANDSHAKE_RATE_LIMIT)),
            static_private: cfg.private_key.clone(),
            static_public,
            peers: RwLock::new(Arc::new(PeerTable::default())),
            next_index: AtomicU32::new(random_u32() & 0x00ff_ffff),
            counters: Counters::default(),
            host_routes,
        });
        let device = Device {
            shared,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        // First: until the thread's runtime runs, nothing can wait on the socket or the TUN
        // (`set_peers` may send a handshake).
        device.run_data_path(data_runtime)?;
        device.set_peers(cfg.peers).await;
        let s = device.shared.clone();
        let c = device.cancel.clone();
        device.tasks.spawn(async move { s.timers(c).await });
        tracing::info!(
            interface = %interface_name,
            port = listen_port,
            public_key = %Key(*device.shared.static_public.as_bytes()),
            udp_gso_segments = device.shared.udp.max_gso_segments(),
            udp_gro_segments = device.shared.udp.gro_segments(),
            offload = cfg.offload,
            "tunnel up"
        );
        Ok(device)
    }

    /// Runs both directions of the data path on a thread of their own, with a single-threaded
    /// runtime that owns the TUN's and the socket's readiness. On the shared multi-threaded
    /// runtime a packet's wake-up could land on the other worker, and a download's work
    /// competed with everything else the process does: measured with `scripts/bench-tunnel`,
    /// the loaded round trip halved and the 64-byte rate rose on this thread, bulk unchanged.
    ///
    /// The thread ends when the device is cancelled or when the runtime that started the
    /// device goes (as the tasks did when they were spawned on it): a test's runtime ending
    /// still takes its TUN with it.
    fn run_data_path(&self, mut runtime: DataRuntime) -> Result<(), DeviceError> {
        let (finished, data_path_finished) = tokio::sync::oneshot::channel::<()>();
        let (owner_alive, owner_gone) = tokio::sync::oneshot::channel::<()>();
        let shared = self.shared.clone();
        let cancel = self.cancel.clone();
        std::thread::Builder::new()
            .name("lanrage-tunnel".into())
            .spawn(move || {
                let Some(runtime) = runtime.0.take() else {
                    return;
                };
                runtime.block_on(async move {
                    let out = tokio::spawn(shared.clone().tun_to_net(cancel.clone()));
                    let inbound = tokio::spawn(shared.net_to_tun(cancel.clone()));
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = owner_gone => cancel.cancel(),
                    }
                    let _ = out.await;
                    let _ = inbound.await;
                });
                // Its I/O driver goes before `shutdown` returns.
                drop(runtime);
                let _ = finished.send(());
            })
            .map_err(DeviceError::Thread)?;
        // Tracked, so that `shutdown` waits for the thread; dropped with its runtime, which
        // tells the thread to end.
        self.tasks.spawn(async move {
            let _owner_alive = owner_alive;
            let _ = data_path_finished.await;
        });
        Ok(())
    }

    pub fn interface_name(&self) -> &str {
        &self.shared.interface_name
    }

    pub fn listen_port(&self) -> u16 {
        self.shared.listen_port
    }

    /// Makes the peer set exactly `peers`: new ones are added (and a handshake started), gone
    /// ones removed, unchanged ones kept with their session.
    pub async fn set_peers(&self, peers: Vec<PeerConfig>) {
        let old = self.shared.table();
        let mut next = Vec::with_capacity(peers.len());
        let mut started = Vec::new();
        for cfg in peers {
            match old.by_key.get(&cfg.public_key.0) {
                Some(p)
                    if p.allowed_ips == cfg.allowed_ips
                        && p.keepalive_secs == cfg.keepalive_secs
                        && p.preshared_key == cfg.preshared_key =>
                {
                    if let Some(ep) = cfg.endpoint {
                        if p.endpoint().is_none() {
                            *p.endpoint.lock() = Some(Endpoint::Udp(ep));
                            // Its address just became known: handshake now rather than at the
                            // next timer tick (a joiner's first handshake may have arrived
                            // before it was our peer and been dropped).
                            started.push(p.clone());
                        }
                    }
                    next.push(p.clone());
                }
                _ => {
                    let p = self.shared.new_peer(cfg);
                    tracing::info!(peer = %p.public_key, allowed_ips = ?p.allowed_ips, endpoint = ?p.endpoint(), "peer added");
                    started.push(p.clone());
                    next.push(p);
                }
            }
        }
        for p in &old.peers {
            if !next.iter().any(|n| Arc::ptr_eq(n, p)) {
                tracing::info!(peer = %p.public_key, "peer removed");
            }
        }
        *self.shared.peers.write() = Arc::new(PeerTable::rebuild(next));
        for p in started {
            self.shared.force_handshake(&p).await;
        }
    }

    /// Adds (or replaces) one peer, leaving every other peer untouched.
    pub async fn add_peer(&self, cfg: PeerConfig) {
        let mut all: Vec<PeerConfig> = self.peer_configs();
        all.retain(|p| p.public_key != cfg.public_key);
        all.push(cfg);
        self.set_peers(all).await;
    }

    /// Removes one peer; returns whether it was there.
    pub async fn remove_peer(&self, key: &Key) -> bool {
        let mut all = self.peer_configs();
        let before = all.len();
        all.retain(|p| p.public_key != *key);
        let removed = all.len() != before;
        self.set_peers(all).await;
        removed
    }

    fn peer_configs(&self) -> Vec<PeerConfig> {
        self.shared
            .table()
            .peers
            .iter()
            .map(|p| PeerConfig {
                public_key: p.public_key,
                preshared_key: p.preshared_key,
                allowed_ips: p.allowed_ips.clone(),
                endpoint: p.udp_endpoint(),
                keepalive_secs: p.keepalive_secs,
            })
            .collect()
    }

    /// How `key`'s path answers the in-tunnel probe right now (`None`: no such peer). Cheap:
    /// the connection manager reads it several times a second.
    pub fn liveness(&self, key: &Key) -> Option<Liveness> {
        let table = self.shared.table();
        let live = table
            .by_key
            .get(&key.0)?
            .probe
            .lock()
            .liveness(Instant::now());
        Some(live)
    }

    /// Sends `key`'s datagrams to `endpoint` from now on (or nowhere: `None`), keeping the
    /// WireGuard session: a path change costs no handshake. Returns whether the peer exists.
    pub async fn set_endpoint(&self, key: &Key, endpoint: Option<Endpoint>) -> bool {
        let Some(peer) = self.shared.table().by_key.get(&key.0).cloned() else {
            return false;
        };
        let handshake = {
            let mut ep = peer.endpoint.lock();
            let changed = match (&*ep, &endpoint) {
                (Some(a), Some(b)) => !a.same(b),
                (None, None) => false,
                _ => true,
            };
            if changed {
                tracing::debug!(peer = %peer.public_key, from = ?*ep, to = ?endpoint, "peer path set");
                peer.probe.lock().path_changed();
            }
            let was_none = ep.is_none();
            if changed {
                // A new connection gets its own sender; the old one's ends once drained.
                let queue = match &endpoint {
                    Some(Endpoint::Conn(conn)) => {
                        let (tx, rx) = mpsc::channel(CONN_QUEUE);
                        let conn = conn.clone();
                        let cancel = self.cancel.clone();
                        self.tasks
                            .spawn(async move { send_queued(conn, rx, cancel).await });
                        Some(tx)
                    }
                    _ => None,
                };
                *peer.conn_queue.lock() = queue;
            }
            *ep = endpoint;
            // A first path: handshake now rather than at the next timer tick.
            changed && was_none && ep.is_some()
        };
        if handshake {
            self.shared.force_handshake(&peer).await;
        }
        true
    }

    /// Reads `conn` until it closes (or the device stops) and handles what arrives like
    /// datagrams from the UDP socket: decrypted, checked against allowed IPs, written to the TUN.
    pub fn spawn_conn_reader(&self, conn: PeerConn) {
        let shared = self.shared.clone();
        let cancel = self.cancel.clone();
        self.tasks
            .spawn(async move { shared.read_conn(conn, cancel).await });
    }

    pub fn stats(&self) -> DeviceStats {
        let s = &self.shared;
        let peers = s
            .table()
            .peers
            .iter()
            .map(|p| {
                let (since, ..) = p.tunn.lock().stats();
                let endpoint = p.endpoint();
                PeerStats {
                    public_key: p.public_key.to_string(),
                    endpoint: endpoint.as_ref().and_then(Endpoint::addr),
                    via: match endpoint {
                        Some(Endpoint::Udp(_)) => "udp",
                        Some(Endpoint::Conn(_)) => "conn",
                        None => "none",
                    },
                    allowed_ips: p.allowed_ips.iter().map(ToString::to_string).collect(),
                    rx_bytes: p.rx_bytes.load(Ordering::Relaxed),
                    tx_bytes: p.tx_bytes.load(Ordering::Relaxed),
                    rx_packets: p.rx_packets.load(Ordering::Relaxed),
                    tx_packets: p.tx_packets.load(Ordering::Relaxed),
                    last_handshake_secs: since.map(|d| d.as_secs_f64()),
                    dropped_spoofed: p.dropped_spoofed.load(Ordering::Relaxed),
                    dropped_not_for_us: p.dropped_not_for_us.load(Ordering::Relaxed),
                    probe: p.probe.lock().stats(),
                }
            })
            .collect();
        let c = &s.counters;
        DeviceStats {
            interface: s.interface_name.clone(),
            public_key: Key(*s.static_public.as_bytes()).to_string(),
            listen_port: s.listen_port,
            addresses: s.addresses.iter().map(ToString::to_string).collect(),
            mtu: s.mtu,
            rx_invalid: c.rx_invalid.load(Ordering::Relaxed),
            rx_unknown_peer: c.rx_unknown_peer.load(Ordering::Relaxed),
            rx_rejected: c.rx_rejected.load(Ordering::Relaxed),
            tx_no_route: c.tx_no_route.load(Ordering::Relaxed),
            tx_no_endpoint: c.tx_no_endpoint.load(Ordering::Relaxed),
            peers,
        }
    }

    /// Stops the tasks, removes the route and the TUN device (it goes when its last handle
    /// drops: the tasks hold the only other ones and are awaited here).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        crate::os::remove_host_routes(self.shared.if_index, &self.shared.host_routes).await;
        self.shared.tun.close().await;
        tracing::info!(interface = %self.shared.interface_name, "tunnel down");
    }
}

fn open_tun(cfg: &DeviceConfig) -> Result<crate::os::Tun, DeviceError> {
    crate::os::Tun::open(cfg).map_err(|source| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            DeviceError::NoPermission {
                name: cfg.interface_name.clone(),
                hint: crate::os::permission_hint(),
            }
        } else {
            DeviceError::Tun {
                name: cfg.interface_name.clone(),
                source,
            }
        }
    })
}

/// The data path's runtime until its thread takes it. Dropping a runtime inside another
/// runtime's task panics, so if `Device::start` fails or is dropped before the hand-off
/// (a TUN without permission, a UDP port in use), this shuts it down in the background.
struct DataRuntime(Option<tokio::runtime::Runtime>);

impl DataRuntime {
    fn new() -> Result<Self, DeviceError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| DataRuntime(Some(rt)))
            .map_err(DeviceError::Thread)
    }

    fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.0.as_ref().map(|rt| rt.enter())
    }
}

impl Drop for DataRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Decrypted packets waiting to be written to the TUN in one batch (tun-rs coalesces them
/// into GRO super-packets where it can). Each buffer holds `TUN_OFFSET` bytes for the
/// offload header, then one packet; the first `used` are filled.
///
/// A batch of several keeps room behind each packet for the packets coalesced into it:
/// without it tun-rs writes every packet of a download on its own, and the kernel runs its
/// whole TCP receive path once per 1,400 bytes inside our write. Measured with perf on a
/// single TCP stream: a third of the receiving data thread's time, and ten times
/// wireguard-go's TUN writes for the same bytes. The room is touched only as downloads fill
/// it, and then stays: up to 8 MB per device (128 buffers of 64 KB).
struct TunBatch {
    bufs: Vec<Vec<u8>>,
    used: usize,
    /// A buffer's size when empty: the offload header, the MTU and some room.
    full: usize,
    /// Each buffer's capacity, which must not grow: tun-rs coalesces up to what it finds, and
    /// more than 64 KB would not fit an IP packet's length.
    capacity: usize,
    gro: crate::os::SendState,
}

impl TunBatch {
    fn new(slots: usize, mtu: usize) -> Self {
        let full = TUN_OFFSET + mtu + 128;
        let capacity = if slots > 1 {
            full.max(2 * TUN_OFFSET + crate::os::TUN_COALESCED_MAX)
        } else {
            full
        };
        TunBatch {
            bufs: (0..slots.max(1))
                .map(|_| {
                    let mut buf = Vec::with_capacity(capacity);
                    buf.resize(full, 0);
                    buf
                })
                .collect(),
            used: 0,
            full,
            capacity,
            gro: crate::os::SendState::default(),
        }
    }
}

/// Encrypted datagrams waiting to be sent, laid out back to back so that a run of
/// equal-sized datagrams to one destination goes out in one GSO send.
struct OutQueue {
    data: Vec<u8>,
    len: usize,
    runs: Vec<Run>,
    max_segments: usize,
    slot: usize,
}

struct Run {
    dest: SocketAddr,
    /// One GSO send carries one type of service: a marked packet starts its own run.
    dscp: u8,
    start: usize,
    end: usize,
    seg: usize,
    count: usize,
    /// The last datagram was shorter than `seg`: nothing can follow it in this run.
    closed: bool,
}

impl OutQueue {
    fn new(mtu: usize, max_segments: usize) -> Self {
        let slot = (mtu + WG_OVERHEAD + 64).max(MIN_DST);
        Self {
            data: vec![0; slot * 256],
            len: 0,
            runs: Vec::new(),
            max_segments: max_segments.max(1),
            slot,
        }
    }

    fn has_room(&self) -> bool {
        self.len + self.slot <= self.data.len()
    }

    /// Space for the next datagram.
    fn slot(&mut self) -> &mut [u8] {
        let (len, slot) = (self.len, self.slot);
        &mut self.data[len..len + slot]
    }

    /// Records that the first `n` bytes of the slot are a datagram for `dest`, to be sent with
    /// the inner packet's `dscp` mark.
    fn commit(&mut self, dest: SocketAddr, n: usize, dscp: u8) {
        let start = self.len;
        self.len += n;
        if let Some(r) = self.runs.last_mut() {
            let fits = r.dest == dest
                && r.dscp == dscp
                && !r.closed
                && r.count < self.max_segments
                && (r.end - r.start) + n <= 65_000
                && n <= r.seg;
            if fits {
                r.count += 1;
                r.end = self.len;
                r.closed = n < r.seg;
                return;
            }
        }
        self.runs.push(Run {
            dest,
            dscp,
            start,
            end: self.len,
            seg: n,
            count: 1,
            closed: false,
        });
    }

    async fn flush(&mut self, udp: &BatchUdp) {
        for r in self.runs.drain(..) {
            let seg = (r.count > 1).then_some(r.seg);
            if let Err(e) = udp
                .send(r.dest, &self.data[r.start..r.end], seg, r.dscp)
                .await
            {
                tracing::debug!(dest = %r.dest, error = %e, "sending datagrams");
            }
        }
        self.len = 0;
    }
}

/// Sends what is queued for one connection, in order, until the queue's sender is replaced
/// or the device stops.
async fn send_queued(conn: PeerConn, mut rx: mpsc::Receiver<Vec<u8>>, cancel: CancellationToken) {
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        send_conn(&conn, &msg).await;
    }
}

async fn send_conn(conn: &PeerConn, msg: &[u8]) {
    match conn.send(msg).await {
        Ok(0) => tracing::trace!("connection not ready; datagram dropped"),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "sending on a peer connection"),
    }
}

/// The `i`th packet of a TUN read.
fn outgoing(buf: Vec<u8>, sizes: &[usize], i: usize) -> Outgoing {
    let len = sizes.get(i).map_or(0, |&n| n.min(buf.len()));
    Outgoing { buf, len }
}

/// Lets the other direction run after a chunk of bulk, if more is waiting.
///
/// Both directions share the data thread, and a loop with work waiting never waits for
/// anything: its reads and sends find their sockets ready. Without a yield, a download kept
/// that direction's task running and the other direction's packets (a game's replies, the
/// download's own acknowledgements) waited in their socket for it to run dry. Measured with
/// tcpdump on both TUNs during one TCP stream: the reply half of a ping that followed the
/// download took 1.7 ms at the median, 0.25 ms with the yield. A yield lets the runtime poll
/// its I/O driver before the task runs again, so a waiting direction is woken at once.
async fn yield_while_busy<T: crate::lanes::Queued>(lanes: &Lanes<T>) {
    if !lanes.is_empty() {
        tokio::task::yield_now().await;
    }
}

/// The `i`th buffer of a receive batch.
fn received_in(buf: Vec<u8>, meta: &[RecvMeta], i: usize) -> Received {
    match meta.get(i) {
        Some(m) => Received::new(buf, m.len, m.stride, m.addr),
        None => Received::new(buf, 0, 0, SocketAddr::from(([0, 0, 0, 0], 0))),
    }
}

impl Shared {
    /// Sends to a peer's own endpoint: UDP directly, a connection through its queue.
    async fn send_to_peer(&self, peer: &Peer, ep: &Endpoint, msg: Vec<u8>) {
        match ep {
            Endpoint::Udp(a) => {
                if let Err(e) = self.udp.send(*a, &msg, None, 0).await {
                    tracing::debug!(dest = %a, error = %e, "sending a datagram");
                }
            }
            Endpoint::Conn(_) => {
                let queue = peer.conn_queue.lock().clone();
                match queue {
                    Some(q) => {
                        if q.try_send(msg).is_err() {
                            tracing::trace!(peer = %peer.public_key, "connection queue full: datagram dropped");
                        }
                    }
                    None => {
                        tracing::trace!(peer = %peer.public_key, "no sender for the connection")
                    }
                }
            }
        }
    }

    async fn send_to(&self, ep: &Endpoint, msg: &[u8]) {
        match ep {
            Endpoint::Udp(a) => {
                if let Err(e) = self.udp.send(*a, msg, None, 0).await {
                    tracing::debug!(dest = %a, error = %e, "sending a datagram");
                }
            }
            Endpoint::Conn(c) => send_conn(c, msg).await,
        }
    }

    fn table(&self) -> Arc<PeerTable> {
        self.peers.read().clone()
    }

    fn new_peer(&self, cfg: PeerConfig) -> Arc<Peer> {
        // Indexes are 24 bits (boringtun adds the session in the low byte). Skip the two whose
        // wire bytes could look like STUN's magic cookie, which ICE stacks refuse to carry.
        let index = loop {
            let i = self.next_index.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
            if i != 0x2112A4 && i != 0x42A412 {
                break i;
            }
        };
        let tunn = Tunn::new(
            self.static_private.clone(),
            PublicKey::from(cfg.public_key.0),
            cfg.preshared_key.map(|k| k.0),
            cfg.keepalive_secs,
            index,
            Some(self.rate_limiter.clone()),
        );
        let probe_addr = cfg.allowed_ips.iter().find_map(|n| match n.addr {
            IpAddr::V4(a) if n.prefix == 32 && Some(a) != self.own_v4 => Some(a),
            _ => None,
        });
        Arc::new(Peer {
            public_key: cfg.public_key,
            index,
            tunn: Mutex::new(tunn),
            endpoint: Mutex::new(cfg.endpoint.map(Endpoint::Udp)),
            allowed_ips: cfg.allowed_ips,
            keepalive_secs: cfg.keepalive_secs,
            preshared_key: cfg.preshared_key,
            probe_addr,
            probe: Mutex::new(ProbeTracker::new()),
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            rx_packets: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            probe_packets: AtomicU64::new(0),
            dropped_spoofed: AtomicU64::new(0),
            dropped_not_for_us: AtomicU64::new(0),
            conn_queue: Mutex::new(None),
        })
    }

    /// Starts a handshake at once, so a peer that kept an old session (we restarted) learns of
    /// the new one immediately instead of after its session times out.
    async fn force_handshake(&self, peer: &Peer) {
        let Some(ep) = peer.endpoint() else { return };
        let mut buf = [0u8; MIN_DST];
        let msg = match peer.tunn.lock().format_handshake_initiation(&mut buf, true) {
            TunnResult::WriteToNetwork(b) => b.to_vec(),
            _ => return,
        };
        self.send_to_peer(peer, &ep, msg).await;
    }

    /// Encrypts one packet for `peer` into the out queue (flushing it first when full).
    async fn encapsulate_to(&self, peer: &Peer, pkt: &[u8], out: &mut OutQueue) {
        let Some(ep) = peer.endpoint() else {
            self.counters.tx_no_endpoint.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if !out.has_room() {
            out.flush(&self.udp).await;
        }
        let n = match peer.tunn.lock().encapsulate(pkt, out.slot()) {
            TunnResult::WriteToNetwork(b) => b.len(),
            TunnResult::Err(e) => {
                tracing::trace!(peer = %peer.public_key, error = ?e, "encapsulate");
                return;
            }
            _ => return,
        };
        peer.tx_bytes.fetch_add(pkt.len() as u64, Ordering::Relaxed);
        peer.tx_packets.fetch_add(1, Ordering::Relaxed);
        match ep {
            Endpoint::Udp(a) => out.commit(a, n, packet::dscp(pkt)),
            conn @ Endpoint::Conn(_) => {
                let msg = out.slot()[..n].to_vec();
                self.send_to_peer(peer, &conn, msg).await;
            }
        }
    }

    async fn route_outgoing(&self, pkt: &[u8], table: &PeerTable, out: &mut OutQueue) {
        let Some(dst) = packet::destination(pkt) else {
            return;
        };
        if packet::is_fan_out(dst, &self.subnet_broadcasts) {
            tracing::trace!(%dst, len = pkt.len(), peers = table.peers.len(), "fan-out");
            for p in &table.peers {
                self.encapsulate_to(p, pkt, out).await;
            }
            return;
        }
        match table.routes.lookup(dst) {
            Some(PeerRef(p)) => {
                tracing::trace!(%dst, len = pkt.len(), peer = %p.public_key, "out");
                self.encapsulate_to(p, pkt, out).await;
            }
            None => {
                self.counters.tx_no_route.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%dst, "no peer for destination");
            }
        }
    }

    /// Reads the TUN, encrypts and sends, the fast lane first (see [`crate::lanes`]): the TUN
    /// is drained into the lanes whenever they are empty (waiting) and between chunks of bulk
    /// (not waiting), so a game's packet read behind a download's burst is sent before it.
    async fn tun_to_net(self: Arc<Self>, cancel: CancellationToken) {
        let batch = crate::os::TUN_BATCH;
        let mut st = crate::os::RecvState::new();
        let mut lanes: Lanes<Outgoing> = Lanes::new(TX_PACKETS.max(batch), self.mtu + 128);
        let mut sizes = vec![0usize; batch];
        let mut out = OutQueue::new(self.mtu, self.udp.max_gso_segments());
        while !cancel.is_cancelled() {
            if lanes.is_empty() {
                let mut bufs = lanes.take_free(batch);
                let sizes = &mut sizes[..bufs.len()];
                let read = tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = self.tun.recv_batch(&mut st, &mut bufs, sizes) => r,
                };
                if let Err(e) = lanes.queue_read(bufs, read, |i, buf| outgoing(buf, sizes, i)) {
                    tracing::debug!(error = %e, "reading the TUN");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                // A lone game packet leaves before the drain below asks the TUN again (on an
                // idle path that read finds nothing, and costs a system call).
                self.send_fast_lane(&mut lanes, &self.table(), &mut out)
                    .await;
            }
            // Whatever else is waiting, without waiting; a read needs a whole batch of buffers
            // (one offload read can be split into that many packets).
            while lanes.free() >= batch {
                let mut bufs = lanes.take_free(batch);
                let sizes = &mut sizes[..bufs.len()];
                let busy = !lanes.is_empty();
                let read = self.tun.try_recv_batch(&mut st, &mut bufs, sizes, busy);
                match lanes.queue_read(bufs, read, |i, buf| outgoing(buf, sizes, i)) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            tracing::debug!(error = %e, "reading the TUN");
                        }
                        break;
                    }
                }
            }

            let table = self.table();
            self.send_fast_lane(&mut lanes, &table, &mut out).await;
            for _ in 0..BULK_CHUNK {
                let Some(p) = lanes.pop_bulk() else { break };
                self.route_outgoing(p.packet(), &table, &mut out).await;
                lanes.recycle(p.buf);
            }
            out.flush(&self.udp).await;
            yield_while_busy(&lanes).await;
        }
    }

    /// Encrypts and sends every waiting fast-lane packet: out before any bulk is encrypted.
    async fn send_fast_lane(
        &self,
        lanes: &mut Lanes<Outgoing>,
        table: &PeerTable,
        out: &mut OutQueue,
    ) {
        while let Some(p) = lanes.pop_fast() {
            self.route_outgoing(p.packet(), table, out).await;
            lanes.recycle(p.buf);
        }
        out.flush(&self.udp).await;
    }

    /// Receives, decrypts and writes to the TUN, small datagrams first (see [`crate::lanes`]):
    /// the socket is drained into the lanes whenever they are empty (waiting) and between
    /// chunks of bulk (not waiting).
    async fn net_to_tun(self: Arc<Self>, cancel: CancellationToken) {
        let batch = quinn_udp::BATCH_SIZE.max(1);
        let mut lanes: Lanes<Received> = Lanes::new(RX_BUFFERS.max(batch), 65_535);
        let mut meta = vec![RecvMeta::default(); batch];
        let mut tun = TunBatch::new(crate::os::TUN_BATCH, self.mtu);
        let mut replies: Vec<(Endpoint, Vec<u8>)> = Vec::new();
        while !cancel.is_cancelled() {
            if lanes.is_empty() {
                let mut bufs = lanes.take_free(batch);
                let mut slices: Vec<IoSliceMut<'_>> =
                    bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let received = tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = self.udp.recv(&mut slices, &mut meta) => r,
                };
                drop(slices);
                if let Err(e) =
                    lanes.queue_read(bufs, received, |i, buf| received_in(buf, &meta, i))
                {
                    tracing::debug!(error = %e, "receiving datagrams");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                // A lone game datagram reaches the TUN before the drain below asks the kernel
                // again (on an idle path that read finds nothing, and costs a system call).
                self.write_fast_lane(&mut lanes, &mut tun, &self.table(), &mut replies)
                    .await;
            }
            // Whatever else is waiting, without waiting.
            while lanes.free() > 0 {
                let mut bufs = lanes.take_free(batch);
                let wanted = bufs.len();
                let mut slices: Vec<IoSliceMut<'_>> =
                    bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let received = self.udp.try_recv(&mut slices, &mut meta);
                drop(slices);
                match lanes.queue_read(bufs, received, |i, buf| received_in(buf, &meta, i)) {
                    Ok(n) if n == wanted => {}
                    Ok(_) => break,
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            tracing::debug!(error = %e, "receiving datagrams");
                        }
                        break;
                    }
                }
            }

            let table = self.table();
            self.write_fast_lane(&mut lanes, &mut tun, &table, &mut replies)
                .await;
            let now = Instant::now();
            let mut budget = BULK_CHUNK;
            while budget > 0 {
                let Some(r) = lanes.bulk_front() else { break };
                let (range, n) = r.take(budget);
                budget = budget.saturating_sub(n.max(1));
                self.decrypt_into(r, range, &mut tun, &table, &mut replies, now)
                    .await;
                lanes.retire_bulk();
            }
            self.write_tun(&mut tun).await;
            self.send_replies(&mut replies).await;
            yield_while_busy(&lanes).await;
        }
    }

    /// Decrypts and writes every waiting small datagram, and sends what they asked for: out
    /// before any bulk is decrypted.
    async fn write_fast_lane(
        &self,
        lanes: &mut Lanes<Received>,
        tun: &mut TunBatch,
        table: &PeerTable,
        replies: &mut Vec<(Endpoint, Vec<u8>)>,
    ) {
        let now = Instant::now();
        while let Some(mut r) = lanes.pop_fast() {
            let (range, _) = r.take(usize::MAX);
            self.decrypt_into(&r, range, tun, table, replies, now).await;
            lanes.recycle(r.buf);
        }
        self.write_tun(tun).await;
        // Probe answers and handshake replies are small too.
        self.send_replies(replies).await;
    }

    /// Sends the handshake replies, cookies and probe answers that datagrams asked for.
    async fn send_replies(&self, replies: &mut Vec<(Endpoint, Vec<u8>)>) {
        for (dest, msg) in replies.drain(..) {
            self.send_to(&dest, &msg).await;
        }
    }

    /// Decrypts the datagrams of `r` in `range` into `tun`, writing the TUN whenever its
    /// batch is full.
    async fn decrypt_into(
        &self,
        r: &Received,
        range: std::ops::Range<usize>,
        tun: &mut TunBatch,
        table: &PeerTable,
        replies: &mut Vec<(Endpoint, Vec<u8>)>,
        now: Instant,
    ) {
        let src = Endpoint::Udp(r.src);
        let data = r.buf.get(range).unwrap_or_default();
        for dgram in data.chunks(r.stride) {
            if tun.used == tun.bufs.len() {
                self.write_tun(tun).await;
            }
            let Some(buf) = tun.bufs.get_mut(tun.used) else {
                return;
            };
            let dst = &mut buf[TUN_OFFSET..];
            if let Some(len) = self.handle_datagram(&src, dgram, dst, table, replies, now) {
                buf.truncate(TUN_OFFSET + len);
                tun.used += 1;
            }
        }
    }

    async fn read_conn(self: Arc<Self>, conn: PeerConn, cancel: CancellationToken) {
        let mut dgram = vec![0u8; 65_535];
        let mut tun = TunBatch::new(1, self.mtu);
        let mut replies: Vec<(Endpoint, Vec<u8>)> = Vec::new();
        let src = Endpoint::Conn(conn.clone());
        loop {
            let n = tokio::select! {
                _ = cancel.cancelled() => break,
                r = conn.recv(&mut dgram) => match r {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "peer connection closed");
                        break;
                    }
                },
            };
            let table = self.table();
            let data = &dgram[..n.min(dgram.len())];
            let Some(buf) = tun.bufs.first_mut() else {
                break;
            };
            let dst = &mut buf[TUN_OFFSET..];
            if let Some(len) =
                self.handle_datagram(&src, data, dst, &table, &mut replies, Instant::now())
            {
                buf.truncate(TUN_OFFSET + len);
                tun.used = 1;
                self.write_tun(&mut tun).await;
            }
            self.send_replies(&mut replies).await;
        }
    }

    /// Writes the batch's packets to the TUN and makes their buffers full-sized again.
    async fn write_tun(&self, tun: &mut TunBatch) {
        let used = std::mem::take(&mut tun.used).min(tun.bufs.len());
        if used == 0 {
            return;
        }
        let bufs = &mut tun.bufs[..used];
        if let Err(e) = self.tun.send_batch(&mut tun.gro, bufs, TUN_OFFSET).await {
            tracing::debug!(error = %e, "writing to the TUN");
        }
        for b in bufs.iter_mut() {
            b.resize(tun.full, 0);
            debug_assert_eq!(b.capacity(), tun.capacity, "a TUN write buffer grew");
        }
    }

    /// Handles one datagram from the network. Returns the length of a decrypted packet left at
    /// the start of `dst` for the TUN; replies (handshakes, cookies, probe answers) go to
    /// `replies`. Nothing a peer or stranger sends can make this panic: every length comes
    /// from boringtun's checked parsing.
    fn handle_datagram(
        &self,
        src: &Endpoint,
        dgram: &[u8],
        dst: &mut [u8],
        table: &PeerTable,
        replies: &mut Vec<(Endpoint, Vec<u8>)>,
        now: Instant,
    ) -> Option<usize> {
        let src_ip = src.addr().map(|a| a.ip());
        let parsed = match Tunn::parse_incoming_packet(dgram) {
            Ok(p) => p,
            Err(_) => {
                self.counters.rx_invalid.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(?src, len = dgram.len(), "not a WireGuard datagram");
                return None;
            }
        };
        // Where a datagram came from moves the peer's endpoint only if it proves the sender
        // holds the session or the peer's key. A cookie reply proves neither: its key is derived
        // from the peer's public key, so anyone who saw our handshake could forge one.
        let may_roam = !matches!(parsed, Packet::PacketCookieReply(_));
        let peer = match parsed {
            Packet::HandshakeInit(ref init) => {
                // Check MACs (and demand a cookie under load) before spending a DH on a stranger.
                let mut cookie = [0u8; 64];
                match self.rate_limiter.verify_packet(src_ip, dgram, &mut cookie) {
                    Ok(_) => {}
                    Err(TunnResult::WriteToNetwork(c)) => {
                        replies.push((src.clone(), c.to_vec()));
                        return None;
                    }
                    Err(_) => {
                        self.counters.rx_invalid.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                }
                match parse_handshake_anon(&self.static_private, &self.static_public, init) {
                    Ok(half) => table.by_key.get(&half.peer_static_public),
                    Err(_) => None,
                }
            }
            Packet::HandshakeResponse(ref r) => table.by_index.get(&(r.receiver_idx >> 8)),
            Packet::PacketCookieReply(ref c) => table.by_index.get(&(c.receiver_idx >> 8)),
            Packet::PacketData(ref d) => table.by_index.get(&(d.receiver_idx >> 8)),
        };
        let Some(peer) = peer else {
            self.counters
                .rx_unknown_peer
                .fetch_add(1, Ordering::Relaxed);
            tracing::trace!(?src, "datagram for no known peer");
            return None;
        };
        let mut tunn = peer.tunn.lock();
        let (len, inner_src) = match tunn.decapsulate(src_ip, dgram, dst) {
            TunnResult::Done => {
                drop(tunn);
                if may_roam {
                    peer.roam(src);
                }
                return None;
            }
            TunnResult::Err(e) => {
                self.counters.rx_rejected.fetch_add(1, Ordering::Relaxed);
                match e {
                    WireGuardError::DuplicateCounter | WireGuardError::InvalidCounter => {
                        tracing::trace!(peer = %peer.public_key, "replayed datagram dropped")
                    }
                    e => tracing::debug!(peer = %peer.public_key, error = ?e, "datagram refused"),
                }
                return None;
            }
            TunnResult::WriteToNetwork(b) => {
                replies.push((src.clone(), b.to_vec()));
                // Packets queued while the handshake was in flight go out now.
                let mut scratch = vec![0u8; self.mtu + WG_OVERHEAD + 64];
                while let TunnResult::WriteToNetwork(b) = tunn.decapsulate(None, &[], &mut scratch)
                {
                    replies.push((src.clone(), b.to_vec()));
                }
                drop(tunn);
                peer.roam(src);
                return None;
            }
            TunnResult::WriteToTunnelV4(p, a) => (p.len(), IpAddr::V4(a)),
            TunnResult::WriteToTunnelV6(p, a) => (p.len(), IpAddr::V6(a)),
        };
        drop(tunn);
        if !peer.allows(inner_src) {
            peer.dropped_spoofed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %peer.public_key, src = %inner_src, "dropped a packet from an address the peer does not own");
            return None;
        }
        peer.roam(src);
        peer.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
        peer.rx_packets.fetch_add(1, Ordering::Relaxed);
        if self.only_for_us {
            let for_us = packet::destination(&dst[..len])
                .is_some_and(|d| packet::for_us(d, &self.addresses, &self.subnet_broadcasts));
            if !for_us {
                peer.dropped_not_for_us.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %peer.public_key, src = %inner_src, "dropped a packet not addressed to this member");
                return None;
            }
        }
        if let Some(own) = self.own_v4 {
            if let Some((from, probe)) = packet::parse_probe(&dst[..len], own) {
                self.on_probe(peer, from, probe, src, replies, now);
                return None;
            }
        }
        tracing::trace!(peer = %peer.public_key, src = %inner_src, len, "in");
        Some(len)
    }

    fn on_probe(
        &self,
        peer: &Peer,
        from: Ipv4Addr,
        probe: Probe,
        endpoint: &Endpoint,
        replies: &mut Vec<(Endpoint, Vec<u8>)>,
        now: Instant,
    ) {
        peer.probe_packets.fetch_add(1, Ordering::Relaxed);
        match probe.kind {
            ProbeKind::Reply => peer.probe.lock().on_reply(probe.seq, now),
            ProbeKind::Request => {
                let Some(own) = self.own_v4 else { return };
                let mut pkt = [0u8; PROBE_PACKET_LEN];
                let reply = Probe {
                    kind: ProbeKind::Reply,
                    ..probe
                };
                let Some(n) = packet::build_probe(own, from, reply, &mut pkt) else {
                    return;
                };
                let mut out = vec![0u8; MIN_DST.max(n + WG_OVERHEAD)];
                if let TunnResult::WriteToNetwork(b) =
                    peer.tunn.lock().encapsulate(&pkt[..n], &mut out)
                {
                    replies.push((endpoint.clone(), b.to_vec()));
                    peer.tx_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    peer.tx_packets.fetch_add(1, Ordering::Relaxed);
                    peer.probe_packets.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn timers(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(TIMER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; self.mtu + WG_OVERHEAD + 64];
        let mut sends: Vec<Vec<u8>> = Vec::new();
        let mut limiter_reset = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            // The limit is handshakes per second: resetting at every tick would allow four times it.
            if now.duration_since(limiter_reset) >= Duration::from_secs(1) {
                self.rate_limiter.reset_count();
                limiter_reset = now;
            }
            for peer in &self.table().peers {
                {
                    let mut tunn = peer.tunn.lock();
                    match tunn.update_timers(&mut buf) {
                        TunnResult::WriteToNetwork(b) => sends.push(b.to_vec()),
                        TunnResult::Err(WireGuardError::ConnectionExpired) => {}
                        TunnResult::Err(e) => {
                            tracing::trace!(peer = %peer.public_key, error = ?e, "timers")
                        }
                        _ => {}
                    }
                }
                // Probe only a peer we can reach and have a session with: a probe sent while a
                // path or the first handshake is still being set up would be counted as lost,
                // and a fine connection would start with a bad grade.
                let established = peer.endpoint().is_some()
                    && peer.tunn.lock().time_since_last_handshake().is_some();
                if let (true, Some(own), Some(dst)) = (established, self.own_v4, peer.probe_addr) {
                    let due = peer.probe.lock().poll(now, peer.data_packets());
                    if let Some(seq) = due {
                        let mut pkt = [0u8; PROBE_PACKET_LEN];
                        let probe = Probe {
                            kind: ProbeKind::Request,
                            seq,
                            stamp: 0,
                        };
                        if let Some(n) = packet::build_probe(own, dst, probe, &mut pkt) {
                            if let TunnResult::WriteToNetwork(b) =
                                peer.tunn.lock().encapsulate(&pkt[..n], &mut buf)
                            {
                                sends.push(b.to_vec());
                                // Counted like the replies are on receipt: traffic is traffic.
                                peer.tx_bytes.fetch_add(n as u64, Ordering::Relaxed);
                                peer.tx_packets.fetch_add(1, Ordering::Relaxed);
                                peer.probe_packets.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                let Some(ep) = peer.endpoint() else {
                    sends.clear();
                    continue;
                };
                for msg in sends.drain(..) {
                    self.send_to_peer(peer, &ep, msg).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_of(datagrams: &[(u16, usize, u8)]) -> Vec<(u16, u8, usize)> {
        let mut q = OutQueue::new(1420, 64);
        for &(port, n, dscp) in datagrams {
            q.commit(SocketAddr::from(([192, 0, 2, 1], port)), n, dscp);
        }
        q.runs
            .iter()
            .map(|r| (r.dest.port(), r.dscp, r.count))
            .collect()
    }

    #[test]
    fn a_marked_packet_never_shares_a_gso_send_with_unmarked_ones() {
        // Bulk, a game's EF-marked packet between, bulk again: three sends, each with one mark.
        let runs = queue_of(&[(1, 1452, 0), (1, 1452, 0), (1, 1452, 46), (1, 1452, 0)]);
        assert_eq!(runs, vec![(1, 0, 2), (1, 46, 1), (1, 0, 1)]);
        // Same mark, same peer, same size: one send.
        let runs = queue_of(&[(1, 200, 46), (1, 200, 46), (2, 200, 46)]);
        assert_eq!(runs, vec![(1, 46, 2), (2, 46, 1)]);
    }
}
