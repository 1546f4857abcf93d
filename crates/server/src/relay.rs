//! NAT traversal services: the STUN responder and TURN relay built on the webrtc-rs `turn`
//! crate, and the short-lived TURN credentials the control server hands each device.
//!
//! Credentials follow the TURN REST API scheme that coturn also implements
//! (`--use-auth-secret`): the username is `<expiry unix secs>:<device key>` and the password is
//! base64(HMAC-SHA1(shared secret, username)). Anyone holding the secret can check them without
//! asking us, so an operator can run coturn instead of (or beside) the built-in relay.
//!
//! The built-in relay only relays for authenticated allocations of devices that are members of
//! a party now, limits how many allocations exist in all, per device and per client address,
//! relays only to addresses of members of the same party (never into the server itself, and
//! into private networks only when allowed), and polices each allocation's bandwidth. The
//! checks that the `turn` crate has no hook for live in `relay_gate`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lanrage_proto::message::IceServer;
use parking_lot::Mutex;
use turn::auth::{generate_auth_key, AuthHandler};
use turn::relay::RelayAddressGenerator;
use turn::server::config::{ConnConfig, ServerConfig as TurnConfig};
use webrtc_util::Conn;

use crate::relay_liveness::{Liveness, CLIENT_SILENCE, SWEEP_EVERY};

use crate::registry::{Changes, Party, Registry};
use crate::relay_gate::{Gate, Policy};

pub use crate::relay_gate::rest_password;
use crate::relay_gate::REALM;

/// What the control server tells clients about STUN and TURN.
#[derive(Debug, Clone)]
pub struct IceConfig {
    /// The built-in STUN responder and TURN relay; `None` runs none.
    pub relay: Option<RelayConfig>,
    /// Further servers handed to clients as they are: `stun:HOST:PORT` or `turn:HOST:PORT`
    /// (TURN ones get credentials made with `secret`, e.g. coturn's `static-auth-secret`).
    pub urls: Vec<String>,
    /// The TURN REST shared secret.
    pub secret: String,
    /// How long issued credentials stay valid.
    pub credential_ttl: Duration,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self {
            relay: None,
            urls: Vec::new(),
            secret: String::new(),
            credential_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The local address the UDP sockets bind to.
    pub bind: IpAddr,
    /// STUN and TURN; a second STUN-only responder answers on `port + 1` so clients can tell a
    /// cone NAT from a symmetric one.
    pub port: u16,
    /// The address clients and relayed peers reach this machine at.
    pub public_ip: IpAddr,
    pub max_allocations: usize,
    pub allocations_per_device: usize,
    /// Per client address (an IPv6 client: per /64), whichever devices they are.
    pub allocations_per_address: usize,
    /// Relay to private, CGNAT and unique-local addresses too (a relay for a LAN); off, the
    /// relay only reaches public addresses.
    pub allow_private: bool,
    /// Per allocation, both directions together; 0: unlimited.
    pub bandwidth_bytes_per_sec: u64,
}

impl RelayConfig {
    /// Where players reach the relay.
    pub fn public_addr(&self) -> SocketAddr {
        SocketAddr::new(self.public_ip, self.port)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot listen for STUN/TURN on UDP {addr} (another server on that port? see --relay-port, or --no-relay)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the TURN relay: {0}")]
    Turn(#[from] turn::Error),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl IceConfig {
    /// The STUN and TURN servers, without credentials: what every connected device learns (so
    /// it knows NAT traversal is on); credentials come with [`IceConfig::servers_for`].
    pub fn public_servers(&self) -> Vec<IceServer> {
        let (mut servers, _) = self.servers_for("");
        for s in &mut servers {
            s.username = None;
            s.credential = None;
        }
        servers
    }

    /// The STUN and TURN servers for `device`, with credentials valid until the returned time.
    pub fn servers_for(&self, device: &str) -> (Vec<IceServer>, u64) {
        self.servers_for_via(device, None)
    }

    /// Like [`IceConfig::servers_for`], with the relay of the server the device is connected
    /// through first (on a bus: every server runs a relay, and the credentials work on all).
    pub fn servers_for_via(&self, device: &str, via: Option<SocketAddr>) -> (Vec<IceServer>, u64) {
        let expires = unix_now() + self.credential_ttl.as_secs();
        let username = format!("{expires}:{device}");
        let password = rest_password(&self.secret, &username);
        let mut urls = Vec::new();
        let own = self.relay.as_ref().map(RelayConfig::public_addr);
        for host in via.into_iter().chain(own) {
            let alt = SocketAddr::new(host.ip(), host.port().wrapping_add(1));
            urls.push(format!("stun:{host}"));
            urls.push(format!("stun:{alt}"));
            urls.push(format!("turn:{host}"));
        }
        urls.extend(self.urls.iter().cloned());
        let servers = urls
            .into_iter()
            .map(|url| {
                let turn = url.starts_with("turn:") || url.starts_with("turns:");
                IceServer {
                    username: turn.then(|| username.clone()),
                    credential: turn.then(|| password.clone()),
                    url,
                }
            })
            .collect();
        (servers, expires)
    }
}

/// Checks TURN REST credentials: unexpired, and of a device that is a member of a party now
/// (a kicked or departed device's credentials stop working at once). Allocation caps are the
/// gate's: this runs before the crate checks the password.
struct RestAuth {
    secret: String,
    policy: Arc<Policy>,
}

impl AuthHandler for RestAuth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let refuse = |why: &str| {
            tracing::debug!(%src_addr, why, "TURN request refused");
            Err(turn::Error::Other(why.to_string()))
        };
        let Some((expiry, device)) = username.split_once(':') else {
            return refuse("username is not <expiry>:<device>");
        };
        let Ok(expiry) = expiry.parse::<u64>() else {
            return refuse("username does not start with an expiry time");
        };
        if expiry < unix_now() {
            return refuse("credentials expired");
        }
        if !self.policy.is_member(device) {
            return refuse("the device is in no party");
        }
        let password = rest_password(&self.secret, username);
        Ok(generate_auth_key(username, realm, &password))
    }
}

/// Relay sockets: bound on demand, counted against the global limit, policed.
struct PolicedRelays {
    policy: Arc<Policy>,
    bind: IpAddr,
    public_ip: IpAddr,
    max: usize,
    active: Arc<AtomicUsize>,
    bytes_per_sec: u64,
}

#[async_trait]
impl RelayAddressGenerator for PolicedRelays {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if !use_ipv4 || !self.bind.is_ipv4() {
            return Err(turn::Error::Other("only IPv4 relaying".into()));
        }
        let slot = Slot::take(&self.active, self.max)
            .ok_or_else(|| turn::Error::Other("relay allocation limit reached".into()))?;
        let socket = tokio::net::UdpSocket::bind((self.bind, requested_port)).await?;
        let mut relay_addr = socket.local_addr()?;
        relay_addr.set_ip(self.public_ip);
        tracing::debug!(relay = %relay_addr, active = self.active.load(Ordering::Relaxed), "relay socket bound");
        let conn = PolicedConn {
            policy: self.policy.clone(),
            socket,
            bucket: Mutex::new(Bucket::new(self.bytes_per_sec)),
            _slot: slot,
        };
        Ok((Arc::new(conn), relay_addr))
    }
}

/// One place in the global allocation count, given back when the allocation's socket drops.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(active.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A token bucket over bytes: traffic beyond the rate is dropped, as a policer does (the
/// endpoints' congestion control sees loss and slows down).
#[derive(Debug)]
struct Bucket {
    rate: u64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        // A quarter second of traffic (at least 64 KiB) may come at once.
        let burst = (rate as f64 / 4.0).max(65_536.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn admit(&mut self, bytes: usize, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.burst);
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

struct PolicedConn {
    policy: Arc<Policy>,
    socket: tokio::net::UdpSocket,
    bucket: Mutex<Bucket>,
    _slot: Slot,
}

impl PolicedConn {
    fn admit(&self, bytes: usize) -> bool {
        let ok = self.bucket.lock().admit(bytes, Instant::now());
        if !ok {
            tracing::trace!(bytes, "relay bandwidth limit: datagram dropped");
        }
        ok
    }
}

#[async_trait]
impl Conn for PolicedConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        loop {
            let n = self.socket.recv(buf).await?;
            if self.admit(n) {
                return Ok(n);
            }
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if self.admit(n) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if !self.admit(buf.len()) {
            return Ok(buf.len());
        }
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.policy.may_send_to(target) {
            tracing::debug!(%target, "relay refused a destination it never sends to");
            return Ok(buf.len());
        }
        if !self.admit(buf.len()) {
            return Ok(buf.len());
        }
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.socket.peer_addr().ok()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// The running STUN responder and TURN relay.
pub struct Relay {
    server: Arc<turn::server::Server>,
    policy: Arc<Policy>,
    active: Arc<AtomicUsize>,
    addr: SocketAddr,
}

impl Relay {
    pub async fn start(cfg: &RelayConfig, secret: &str) -> Result<Relay, RelayError> {
        let active = Arc::new(AtomicUsize::new(0));
        let mut own = vec![cfg.public_ip];
        if !cfg.bind.is_unspecified() {
            own.push(cfg.bind);
        }
        if !cfg.allow_private
            && !crate::relay_gate::relayable(cfg.public_ip, false)
            && !cfg.public_ip.is_loopback()
        {
            tracing::warn!(public_ip = %cfg.public_ip, "the relay is at a private address but relays to public addresses only; a relay for a LAN needs --relay-allow-private");
        }
        let policy = Arc::new(Policy::new(
            secret,
            cfg.allocations_per_device,
            cfg.allocations_per_address,
            cfg.allow_private,
            own,
        ));
        let liveness = Arc::new(Liveness::default());
        let mut conn_configs = Vec::new();
        let mut addr = SocketAddr::new(cfg.bind, cfg.port);
        for (i, port) in [cfg.port, cfg.port.wrapping_add(1)].into_iter().enumerate() {
            let want = SocketAddr::new(cfg.bind, port);
            let socket = bind_soon(want)
                .await
                .map_err(|source| RelayError::Bind { addr: want, source })?;
            let gate = Gate::new(socket, policy.clone(), liveness.clone())
                .map_err(|source| RelayError::Bind { addr: want, source })?;
            if i == 0 {
                addr = gate.local_addr().unwrap_or(want);
            }
            conn_configs.push(ConnConfig {
                conn: Arc::new(gate),
                relay_addr_generator: Box::new(PolicedRelays {
                    policy: policy.clone(),
                    bind: cfg.bind,
                    public_ip: cfg.public_ip,
                    max: cfg.max_allocations,
                    active: active.clone(),
                    bytes_per_sec: cfg.bandwidth_bytes_per_sec,
                }),
            });
        }
        let forget = policy.clone();
        let (closed_tx, mut closed_rx) =
            tokio::sync::mpsc::channel::<turn::allocation::AllocationInfo>(64);
        tokio::spawn(async move {
            while let Some(info) = closed_rx.recv().await {
                // A closed allocation no longer counts against its device and address.
                forget.closed(info.five_tuple.dst_addr, info.five_tuple.src_addr);
                let full = info.username.split_once(':').map_or("", |(_, d)| d);
                let device = full.get(..8).unwrap_or(full);
                tracing::info!(client = %info.five_tuple.src_addr, relay = %info.relay_addr, %device, "relay allocation closed");
            }
        });
        let server = turn::server::Server::new(TurnConfig {
            conn_configs,
            realm: REALM.into(),
            auth_handler: Arc::new(RestAuth {
                secret: secret.to_string(),
                policy: policy.clone(),
            }),
            channel_bind_timeout: Duration::from_secs(0),
            alloc_close_notify: Some(closed_tx),
        })
        .await?;
        tracing::info!(%addr, public_ip = %cfg.public_ip, allow_private = cfg.allow_private, "STUN/TURN relay listening (STUN also on the next port)");
        let server = Arc::new(server);
        tokio::spawn(sweep_dead_clients(Arc::downgrade(&server), liveness));
        Ok(Relay {
            server,
            policy,
            active,
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn allocations(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Follows the registry: who is a member of which party, and the addresses members
    /// reported (the peers a member's allocations may reach); devices that left or were
    /// removed lose their credentials and their allocations.
    pub fn sync(&self, reg: &Registry, changes: &Changes) {
        for id in &changes.parties {
            if let Some(p) = reg.party(id) {
                self.party_changed(p);
            }
        }
        for id in &changes.deleted {
            self.policy.drop_party(id);
        }
        for (device, _, _) in &changes.gone {
            self.revoke(device);
        }
    }

    pub fn party_changed(&self, party: &Party) {
        self.policy.set_party(&party.id, members_of(party));
    }

    /// A party's members and their addresses as another server's registry has them (on a bus).
    pub fn set_party(&self, id: &str, members: Vec<(String, Vec<IpAddr>)>) {
        self.policy.set_party(id, members);
    }

    pub fn drop_party(&self, id: &str) {
        self.policy.drop_party(id);
    }

    /// The other servers' relays on a bus (their STUN/TURN addresses): members' relayed
    /// addresses there are peers too.
    pub fn set_peer_relays(&self, relays: Vec<SocketAddr>) {
        self.policy.set_peer_relays(relays);
    }

    /// `device` is in no party any more: its credentials are refused from now on and its
    /// allocations are closed.
    pub fn revoke(&self, device: &str) {
        let usernames = self.policy.revoke(device);
        if usernames.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let server = self.server.clone();
        let short = device.get(..8).unwrap_or(device).to_string();
        rt.spawn(async move {
            for name in usernames {
                if let Err(e) = server.delete_allocations_by_username(name).await {
                    tracing::debug!(error = %e, "closing a revoked device's relay allocations");
                }
            }
            tracing::info!(device = %short, "relay allocations of a device no longer in a party closed");
        });
    }

    pub async fn close(&self) {
        if let Err(e) = self.server.close().await {
            tracing::debug!(error = %e, "closing the relay");
        }
    }
}

/// Binds `addr`, waiting up to a second while it is in use: a relay closed just before (this
/// server's own, when it takes over serving) lets go of its sockets a moment after.
async fn bind_soon(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let mut tries = 0;
    loop {
        match tokio::net::UdpSocket::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            r => return r,
        }
    }
}

/// Each member of `party` with the addresses it reported: the peers its allocations may reach.
pub fn members_of(party: &Party) -> Vec<(String, Vec<IpAddr>)> {
    party
        .members
        .iter()
        .map(|m| {
            let ips = m.endpoints.iter().map(|e| e.ip()).collect();
            (m.key.clone(), ips)
        })
        .collect()
}

/// Closes the allocations of clients that went away without closing them (see
/// `relay_liveness`), until the relay is dropped or closed.
async fn sweep_dead_clients(
    server: std::sync::Weak<turn::server::Server>,
    liveness: Arc<Liveness>,
) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(server) = server.upgrade() else {
            return;
        };
        let Ok(infos) = server.get_allocations_info(None).await else {
            return;
        };
        let allocations: Vec<(SocketAddr, String)> = infos
            .into_values()
            .map(|i| (i.five_tuple.src_addr, i.username))
            .collect();
        for name in liveness.sweep(&allocations, Instant::now()) {
            let device = name.split_once(':').map_or("", |(_, d)| d);
            let device = device.get(..8).unwrap_or(device).to_string();
            tracing::info!(%device, "closing relay allocations of a client silent for {} s", CLIENT_SILENCE.as_secs());
            if let Err(e) = server.delete_allocations_by_username(name).await {
                tracing::debug!(error = %e, "closing a silent client's relay allocations");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_password_matches_the_published_scheme() {
        // base64(HMAC-SHA1("secret", "1700000000:dev")) computed independently with openssl:
        // printf '1700000000:dev' | openssl dgst -sha1 -hmac secret -binary | base64
        assert_eq!(
            rest_password("secret", "1700000000:dev"),
            "XmI+qxgIGXGp2UISH7mSOlXDeWs="
        );
    }

    #[test]
    fn credentials_are_checked_and_expire() {
        let policy = Arc::new(Policy::new("s3cret", 2, 2, false, Vec::new()));
        policy.set_party("p", vec![("devA".into(), Vec::new())]);
        let auth = RestAuth {
            secret: "s3cret".into(),
            policy: policy.clone(),
        };
        let src: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let user = format!("{}:devA", unix_now() + 60);
        let key = auth.auth_handle(&user, REALM, src).unwrap();
        assert_eq!(
            key,
            generate_auth_key(&user, REALM, &rest_password("s3cret", &user))
        );
        let old = format!("{}:devA", unix_now() - 1);
        assert!(auth.auth_handle(&old, REALM, src).is_err());
        assert!(auth.auth_handle("devA", REALM, src).is_err());
        assert!(auth.auth_handle("soon:devA", REALM, src).is_err());
        // Valid credentials of a device in no party (never, or no longer).
        let stranger = format!("{}:devB", unix_now() + 60);
        assert!(auth.auth_handle(&stranger, REALM, src).is_err());
        policy.revoke("devA");
        assert!(auth.auth_handle(&user, REALM, src).is_err());
    }

    #[test]
    fn the_relay_never_sends_into_the_server_itself_nor_by_default_into_private_networks() {
        use crate::relay_gate::relayable;
        for bad in [
            "127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.251",
            "255.255.255.255",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!relayable(bad.parse().unwrap(), false), "{bad}");
            assert!(!relayable(bad.parse().unwrap(), true), "{bad}");
        }
        for private in [
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.20",
            "100.64.1.1",
            "100.127.255.254",
            "fd00::5",
            "::ffff:10.0.0.5",
        ] {
            assert!(!relayable(private.parse().unwrap(), false), "{private}");
            assert!(relayable(private.parse().unwrap(), true), "{private}");
        }
        for good in ["203.0.113.7", "198.51.100.2", "100.128.0.1", "2001:db8::1"] {
            assert!(relayable(good.parse().unwrap(), false), "{good}");
        }
    }

    #[test]
    fn the_bucket_polices_to_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100_000);
        let mut sent = 0;
        // One second of offered load at 10x the rate: about the burst plus the rate gets through.
        for i in 0..1000 {
            if b.admit(1000, t0 + Duration::from_millis(i)) {
                sent += 1000;
            }
        }
        assert!((150_000..=175_000).contains(&sent), "{sent}");
        assert!(Bucket::new(0).admit(usize::MAX, t0));
    }

    #[test]
    fn the_global_allocation_limit_frees_on_drop() {
        let active = Arc::new(AtomicUsize::new(0));
        let a = Slot::take(&active, 2).unwrap();
        let _b = Slot::take(&active, 2).unwrap();
        assert!(Slot::take(&active, 2).is_none());
        drop(a);
        assert!(Slot::take(&active, 2).is_some());
    }

    #[test]
    fn servers_for_a_device_carry_credentials_only_for_turn() {
        let cfg = IceConfig {
            relay: Some(RelayConfig {
                bind: "0.0.0.0".parse().unwrap(),
                port: 3478,
                public_ip: "203.0.113.2".parse().unwrap(),
                max_allocations: 10,
                allocations_per_device: 10,
                allocations_per_address: 10,
                allow_private: false,
                bandwidth_bytes_per_sec: 0,
            }),
            urls: vec!["turn:203.0.113.3:3478".into()],
            secret: "x".into(),
            credential_ttl: Duration::from_secs(60),
        };
        let (servers, expires) = cfg.servers_for("devA");
        let urls: Vec<&str> = servers.iter().map(|s| s.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "stun:203.0.113.2:3478",
                "stun:203.0.113.2:3479",
                "turn:203.0.113.2:3478",
                "turn:203.0.113.3:3478"
            ]
        );
        assert!(servers[0].username.is_none());
        let t = &servers[3];
        let user = t.username.clone().unwrap();
        assert_eq!(user, format!("{expires}:devA"));
        assert_eq!(t.credential.clone().unwrap(), rest_password("x", &user));
    }
}
