//! The relay's admission policy, applied in front of the `turn` crate.
//!
//! The crate asks its `AuthHandler` for a key before it checks a request's MESSAGE-INTEGRITY
//! and has no hook for an allocation that succeeded or for the peer addresses of a permission.
//! So the listening sockets are wrapped in a [`Gate`] that sees every datagram both ways:
//! requests with valid credentials (checked here, with the same key the crate uses) are
//! admitted or refused before the crate sees them, and the crate's own Allocate responses say
//! which allocations exist. Only allocations that succeeded count against the caps; a stranger
//! without the password can neither use nor exhaust them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use parking_lot::Mutex;
use stun::attributes::{
    ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS,
    ATTR_XOR_RELAYED_ADDRESS,
};
use stun::error_code::{
    ErrorCode, ErrorCodeAttribute, CODE_ALLOC_QUOTA_REACHED, CODE_FORBIDDEN, CODE_STALE_NONCE,
    CODE_UNAUTHORIZED,
};
use stun::integrity::MessageIntegrity;
use stun::message::{
    Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE,
    METHOD_ALLOCATE, METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_REFRESH,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use turn::auth::generate_auth_key;
use webrtc_util::Conn;

use crate::relay_liveness::Liveness;
use crate::source::source_key;

pub(crate) const REALM: &str = "lanrage";

/// The TURN REST password for `username`.
pub fn rest_password(secret: &str, username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = ring::hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// An allocation whose request passed here but whose answer never came is forgotten after
/// this long (the crate answers at once; a lost answer makes the client retry).
const PENDING_FOR: Duration = Duration::from_secs(30);
/// The crate stores a new nonce for every request without credentials, or with a nonce it does
/// not know, and forgets it only when a request brings it back after an hour: a stream of
/// such datagrams (spoofable, it is UDP) grows that table without bound. So the gate answers
/// those requests itself with a nonce the crate minted, for this long after it minted it...
const NONCE_SHARED_FOR: Duration = Duration::from_secs(30 * 60);
/// ...and lets requests through with a nonce the crate minted this recently (it honours them
/// for an hour).
const NONCE_KNOWN_FOR: Duration = Duration::from_secs(55 * 60);

/// Whether the relay sends to `ip` at all. Never to loopback, "this network", multicast,
/// broadcast or link-local addresses (a relay must not become a way into the server's own
/// machine); to private, CGNAT (100.64.0.0/10) and unique-local addresses only when the
/// operator allows it (a relay on a LAN): otherwise anyone with credentials could use the
/// relay to reach the network it stands in.
pub(crate) fn relayable(ip: IpAddr, allow_private: bool) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let never = v4.is_loopback()
                || o[0] == 0
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_link_local();
            let private = v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64);
            !never && (allow_private || !private)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let never = v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80;
            let private = (s[0] & 0xfe00) == 0xfc00;
            !never && (allow_private || !private)
        }
    }
}

/// An allocation the gate let through, from its request until the crate closes it.
#[derive(Debug)]
struct Alloc {
    device: String,
    username: String,
    source: IpAddr,
    /// Set once the crate answered with success (then it exists and counts as such).
    relay_port: Option<u16>,
    since: Instant,
}

#[derive(Default)]
struct State {
    /// By (listening address, client address): the crate's five-tuple.
    allocs: HashMap<(SocketAddr, SocketAddr), Alloc>,
    /// Members of parties (from the registry, as it changes).
    party_of: HashMap<String, String>,
    members: HashMap<String, Vec<String>>,
    /// The IP addresses each member reported for itself.
    endpoints: HashMap<String, Vec<IpAddr>>,
    /// Nonces the crate handed out, oldest first.
    nonces: Vec<(String, Instant)>,
    /// The other relays of servers sharing a bus (their STUN/TURN addresses): a member's
    /// relayed address on one of them is a party peer too (two friends on two servers, each
    /// relayed by its own).
    peer_relays: Vec<SocketAddr>,
}

impl State {
    fn peer_relay(&self, ip: IpAddr) -> bool {
        self.peer_relays.iter().any(|r| r.ip() == ip)
    }

    fn prune(&mut self, now: Instant) {
        self.allocs
            .retain(|_, a| a.relay_port.is_some() || now.duration_since(a.since) < PENDING_FOR);
    }

    fn same_party(&self, party: &str, device: &str) -> bool {
        self.party_of.get(device).is_some_and(|p| p == party)
    }

    /// Whether `ip` is an address a member of `party` reported or reaches this relay from.
    fn member_ip(&self, party: &str, ip: IpAddr) -> bool {
        let reported = self.members.get(party).is_some_and(|ms| {
            ms.iter().any(|m| {
                self.endpoints
                    .get(m)
                    .is_some_and(|e| e.iter().any(|x| x.to_canonical() == ip))
            })
        });
        reported
            || self.allocs.iter().any(|((_, client), a)| {
                a.relay_port.is_some()
                    && client.ip().to_canonical() == ip
                    && self.same_party(party, &a.device)
            })
    }

    /// Whether `port` on one of our own addresses is a live allocation of a member of `party`
    /// (two relayed members of a party talk relay to relay through this server).
    fn member_relay_port(&self, party: &str, port: u16) -> bool {
        self.allocs
            .values()
            .any(|a| a.relay_port == Some(port) && self.same_party(party, &a.device))
    }
}

pub(crate) enum Verdict {
    Pass,
    Reply(Vec<u8>),
}

/// The relay's limits and what it knows about parties.
pub(crate) struct Policy {
    secret: String,
    per_device: usize,
    per_address: usize,
    allow_private: bool,
    own_ips: Vec<IpAddr>,
    state: Mutex<State>,
}

impl Policy {
    pub(crate) fn new(
        secret: &str,
        per_device: usize,
        per_address: usize,
        allow_private: bool,
        own_ips: Vec<IpAddr>,
    ) -> Self {
        Self {
            secret: secret.to_string(),
            per_device,
            per_address,
            allow_private,
            own_ips: own_ips.into_iter().map(|ip| ip.to_canonical()).collect(),
            state: Mutex::default(),
        }
    }

    pub(crate) fn is_member(&self, device: &str) -> bool {
        self.state.lock().party_of.contains_key(device)
    }

    /// The members of party `id` now, with the addresses each reported.
    pub(crate) fn set_party(&self, id: &str, members: Vec<(String, Vec<IpAddr>)>) {
        let mut st = self.state.lock();
        if let Some(old) = st.members.remove(id) {
            for m in old {
                if st.party_of.get(&m).is_some_and(|p| p == id) {
                    st.party_of.remove(&m);
                    st.endpoints.remove(&m);
                }
            }
        }
        let mut keys = Vec::with_capacity(members.len());
        for (key, ips) in members {
            st.party_of.insert(key.clone(), id.to_string());
            st.endpoints.insert(key.clone(), ips);
            keys.push(key);
        }
        st.members.insert(id.to_string(), keys);
    }

    pub(crate) fn drop_party(&self, id: &str) {
        self.set_party(id, Vec::new());
        self.state.lock().members.remove(id);
    }

    /// The relays of the other servers on the bus (replacing the last list).
    pub(crate) fn set_peer_relays(&self, relays: Vec<SocketAddr>) {
        let relays = relays
            .into_iter()
            .map(|r| SocketAddr::new(r.ip().to_canonical(), r.port()))
            .filter(|r| !self.own_ips.contains(&r.ip()))
            .collect();
        self.state.lock().peer_relays = relays;
    }

    /// Forgets `device` as a member; returns the TURN usernames its allocations use, so the
    /// caller can close them.
    pub(crate) fn revoke(&self, device: &str) -> Vec<String> {
        let mut st = self.state.lock();
        if let Some(party) = st.party_of.remove(device) {
            if let Some(ms) = st.members.get_mut(&party) {
                ms.retain(|m| m != device);
            }
        }
        st.endpoints.remove(device);
        let mut names: Vec<String> = st
            .allocs
            .values()
            .filter(|a| a.device == device)
            .map(|a| a.username.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The crate closed the allocation of this five-tuple.
    pub(crate) fn closed(&self, local: SocketAddr, client: SocketAddr) {
        self.state.lock().allocs.remove(&(local, client));
    }

    /// Whether the relay sends to `to` now (checked on every datagram to a peer).
    pub(crate) fn may_send_to(&self, to: SocketAddr) -> bool {
        let ip = to.ip().to_canonical();
        // Another relay's allocations are peers, its STUN/TURN ports never (no TURN in TURN).
        let st = self.state.lock();
        if st.peer_relays.iter().any(|r| {
            r.ip() == ip && (to.port() == r.port() || to.port() == r.port().wrapping_add(1))
        }) {
            return false;
        }
        drop(st);
        if self.own_ips.contains(&ip) {
            // Only relay to relay: never to the STUN/TURN ports or anything else here.
            return self
                .state
                .lock()
                .allocs
                .values()
                .any(|a| a.relay_port == Some(to.port()));
        }
        relayable(ip, self.allow_private)
    }

    /// The device of a request whose MESSAGE-INTEGRITY is right, with the key it was made with.
    fn verified(&self, m: &Message) -> Option<(String, String, MessageIntegrity)> {
        if !m.contains(ATTR_MESSAGE_INTEGRITY) {
            return None;
        }
        let user = TextAttribute::get_from_as(m, ATTR_USERNAME).ok()?.text;
        let realm = TextAttribute::get_from_as(m, ATTR_REALM).ok()?.text;
        let (_, device) = user.split_once(':')?;
        let device = device.to_string();
        let key = generate_auth_key(&user, &realm, &rest_password(&self.secret, &user));
        let mi = MessageIntegrity(key);
        mi.check(&mut m.clone()).ok()?;
        Some((user, device, mi))
    }

    /// A datagram from `from` to our listening address `local`.
    pub(crate) fn inbound(&self, local: SocketAddr, from: SocketAddr, pkt: &[u8]) -> Verdict {
        // ChannelData (first bits 01) and anything that is not STUN go to the crate as they are.
        if pkt.len() < 20 || pkt[0] & 0xc0 != 0 {
            return Verdict::Pass;
        }
        let mut m = Message::new();
        m.raw = pkt.to_vec();
        if m.decode().is_err() || m.typ.class != CLASS_REQUEST {
            return Verdict::Pass;
        }
        let method = m.typ.method;
        if method != METHOD_ALLOCATE
            && method != METHOD_CREATE_PERMISSION
            && method != METHOD_CHANNEL_BIND
            && method != METHOD_REFRESH
        {
            return Verdict::Pass;
        }
        if let Some(reply) = self.challenge(&m) {
            return reply;
        }
        if method == METHOD_REFRESH {
            return Verdict::Pass;
        }
        // Without valid credentials the crate answers (401 or 400) and nothing is counted.
        let Some((user, device, mi)) = self.verified(&m) else {
            return Verdict::Pass;
        };
        let refusal = if method == METHOD_ALLOCATE {
            self.admit_allocation(local, from, user, device.clone())
        } else {
            self.admit_peers(&m, &device)
        };
        match refusal {
            None => Verdict::Pass,
            Some((code, why)) => {
                tracing::debug!(%from, device = device.get(..8).unwrap_or(""), why, "TURN request refused");
                match error_response(&m, code, why, mi) {
                    Some(raw) => Verdict::Reply(raw),
                    None => Verdict::Pass,
                }
            }
        }
    }

    /// A 401 or 438 answer with a nonce the crate already knows, for a request without
    /// credentials or with a nonce that is not (or no longer) one of the crate's.
    fn challenge(&self, m: &Message) -> Option<Verdict> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.nonces
            .retain(|(_, t)| now.duration_since(*t) < NONCE_KNOWN_FOR);
        let code = if m.contains(ATTR_MESSAGE_INTEGRITY) {
            // Without a nonce the crate answers 400 and stores nothing.
            let nonce = TextAttribute::get_from_as(m, ATTR_NONCE).ok()?;
            if st.nonces.iter().any(|(n, _)| *n == nonce.text) {
                return None;
            }
            CODE_STALE_NONCE
        } else {
            CODE_UNAUTHORIZED
        };
        // None fresh enough to share: the crate mints one (and `outbound` learns it).
        let (nonce, _) = st
            .nonces
            .last()
            .filter(|(_, t)| now.duration_since(*t) < NONCE_SHARED_FOR)?;
        let mut head = Message::new();
        head.transaction_id = m.transaction_id;
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(head),
            Box::new(MessageType::new(m.typ.method, CLASS_ERROR_RESPONSE)),
            Box::new(ErrorCodeAttribute {
                code,
                reason: Vec::new(),
            }),
            Box::new(TextAttribute::new(ATTR_NONCE, nonce.clone())),
            Box::new(TextAttribute::new(ATTR_REALM, REALM.to_string())),
        ];
        let mut msg = Message::new();
        msg.build(&setters).ok()?;
        Some(Verdict::Reply(msg.raw))
    }

    fn admit_allocation(
        &self,
        local: SocketAddr,
        from: SocketAddr,
        user: String,
        device: String,
    ) -> Option<(ErrorCode, &'static str)> {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.prune(now);
        if st.allocs.contains_key(&(local, from)) {
            // A retransmission, or a second Allocate on one five-tuple: the crate answers.
            return None;
        }
        let source = source_key(from.ip());
        // A member needs one allocation per relayed friend, and a restarted daemon's new ones
        // overlap with its old ones until those are closed: the configured limit grows to
        // twice the friends it has.
        let friends = st
            .party_of
            .get(&device)
            .and_then(|p| st.members.get(p))
            .map_or(0, |m| m.len().saturating_sub(1));
        let per_device = self.per_device.max(friends.saturating_mul(2));
        if st.allocs.values().filter(|a| a.device == device).count() >= per_device {
            return Some((
                CODE_ALLOC_QUOTA_REACHED,
                "too many relay allocations for this device",
            ));
        }
        if st.allocs.values().filter(|a| a.source == source).count() >= self.per_address {
            return Some((
                CODE_ALLOC_QUOTA_REACHED,
                "too many relay allocations from this address",
            ));
        }
        st.allocs.insert(
            (local, from),
            Alloc {
                device,
                username: user,
                source,
                relay_port: None,
                since: now,
            },
        );
        None
    }

    /// CreatePermission and ChannelBind: every peer must be a member of the device's party.
    fn admit_peers(&self, m: &Message, device: &str) -> Option<(ErrorCode, &'static str)> {
        let st = self.state.lock();
        // A device in no party is refused by the auth handler, with the crate's own answer.
        let party = st.party_of.get(device)?.clone();
        for attr in m
            .attributes
            .0
            .iter()
            .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
        {
            // The crate reads the first peer address only; each one is decoded here.
            let mut one = Message::new();
            one.transaction_id = m.transaction_id;
            one.add(ATTR_XOR_PEER_ADDRESS, &attr.value);
            let mut peer = XorMappedAddress::default();
            if peer.get_from_as(&one, ATTR_XOR_PEER_ADDRESS).is_err() {
                return None;
            }
            let ip = peer.ip.to_canonical();
            let why = if self.own_ips.contains(&ip) {
                (!st.member_relay_port(&party, peer.port)).then_some("the relay's own address")
            } else if !relayable(ip, self.allow_private) {
                Some("an address the relay does not send to")
            } else if !st.member_ip(&party, ip) && !st.peer_relay(ip) {
                Some("not an address of a member of the party")
            } else {
                None
            };
            if let Some(why) = why {
                tracing::debug!(peer = %SocketAddr::new(ip, peer.port), why, "TURN permission refused");
                return Some((CODE_FORBIDDEN, why));
            }
        }
        None
    }

    /// A datagram the crate sends from our listening address `local` to `to`: its Allocate
    /// answers say which allocations exist.
    pub(crate) fn outbound(&self, local: SocketAddr, to: SocketAddr, pkt: &[u8]) {
        if pkt.len() < 20 {
            return;
        }
        let typ = u16::from_be_bytes([pkt[0], pkt[1]]);
        let ok = MessageType::new(METHOD_ALLOCATE, CLASS_SUCCESS_RESPONSE).value();
        let err = MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE).value();
        let other_err = [
            METHOD_REFRESH,
            METHOD_CREATE_PERMISSION,
            METHOD_CHANNEL_BIND,
        ]
        .map(|method| MessageType::new(method, CLASS_ERROR_RESPONSE).value());
        if typ != ok && typ != err && !other_err.contains(&typ) {
            return;
        }
        if typ != ok {
            self.learn_nonce(pkt);
        }
        if typ != ok && typ != err {
            return;
        }
        let mut st = self.state.lock();
        if typ == err {
            // A refused request no longer counts; an existing allocation (the answer to a
            // repeated Allocate) stays.
            if st
                .allocs
                .get(&(local, to))
                .is_some_and(|a| a.relay_port.is_none())
            {
                st.allocs.remove(&(local, to));
            }
            return;
        }
        let mut m = Message::new();
        m.raw = pkt.to_vec();
        let mut relayed = XorMappedAddress::default();
        if m.decode().is_err() || relayed.get_from_as(&m, ATTR_XOR_RELAYED_ADDRESS).is_err() {
            return;
        }
        if let Some(a) = st.allocs.get_mut(&(local, to)) {
            if a.relay_port.is_none() {
                a.relay_port = Some(relayed.port);
                tracing::info!(client = %to, relay_port = relayed.port, device = a.device.get(..8).unwrap_or(""), "relay allocation");
            }
        }
    }
}

impl Policy {
    /// A nonce in the crate's own 401/438 answer: it knows that one.
    fn learn_nonce(&self, pkt: &[u8]) {
        let mut m = Message::new();
        m.raw = pkt.to_vec();
        if m.decode().is_err() {
            return;
        }
        let Ok(nonce) = TextAttribute::get_from_as(&m, ATTR_NONCE) else {
            return;
        };
        let mut st = self.state.lock();
        if !st.nonces.iter().any(|(n, _)| *n == nonce.text) {
            st.nonces.push((nonce.text, Instant::now()));
        }
    }
}

fn error_response(
    req: &Message,
    code: ErrorCode,
    why: &str,
    mi: MessageIntegrity,
) -> Option<Vec<u8>> {
    let mut head = Message::new();
    head.transaction_id = req.transaction_id;
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(head),
        Box::new(MessageType::new(req.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute {
            code,
            reason: why.as_bytes().to_vec(),
        }),
        Box::new(mi),
    ];
    let mut msg = Message::new();
    msg.build(&setters).ok()?;
    Some(msg.raw)
}

/// A listening STUN/TURN socket with the [`Policy`] in front of the crate.
pub(crate) struct Gate {
    socket: tokio::net::UdpSocket,
    local: SocketAddr,
    policy: Arc<Policy>,
    liveness: Arc<Liveness>,
}

impl Gate {
    pub(crate) fn new(
        socket: tokio::net::UdpSocket,
        policy: Arc<Policy>,
        liveness: Arc<Liveness>,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        Ok(Self {
            socket,
            local,
            policy,
            liveness,
        })
    }
}

#[async_trait]
impl Conn for Gate {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.recv(buf).await?)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            self.liveness.heard(from, std::time::Instant::now());
            match self.policy.inbound(self.local, from, &buf[..n]) {
                Verdict::Pass => return Ok((n, from)),
                Verdict::Reply(raw) => {
                    if let Err(e) = self.socket.send_to(&raw, from).await {
                        tracing::trace!(%from, error = %e, "TURN refusal not sent");
                    }
                }
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        self.policy.outbound(self.local, target, buf);
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        // The crate "closes" the listening conn whenever one allocation closes: the socket
        // must stay open for everyone else.
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
