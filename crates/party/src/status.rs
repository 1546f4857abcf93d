//! What a party looks like to the people in it: members, the path to each, what each path is
//! worth. Built from the server's snapshot, the tunnel's statistics and NAT traversal's paths.

use std::net::{Ipv4Addr, SocketAddr};

use lanrage_proto::invite::InviteCode;
use lanrage_proto::message::{GameRef, PartyView};
use lanrage_traversal::{PathInfo, PathState};
use lanrage_tunnel::DeviceStats;
use serde::Serialize;
use ts_rs::TS;

/// A handshake younger than this (WireGuard rekeys every 2 minutes) means the path works.
const FRESH_HANDSHAKE_SECS: f64 = 180.0;

#[derive(Debug, Clone, Serialize, TS)]
pub struct InviteStatus {
    /// `XXXX-XXXX-XXXX-XXXX-XXXX-XX`.
    pub code: String,
    /// `lanrage://join/CODE?server=...`; `None` when the engine does not know where friends meet.
    pub link: Option<String>,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct PeerStatus {
    pub name: String,
    pub public_key: String,
    pub virtual_ip: Ipv4Addr,
    pub online: bool,
    /// `connecting`, `direct`, `relayed`, `failed` or `offline`.
    pub connection: &'static str,
    /// The path as NAT traversal sees it (state, candidate types, relay, why); `None` without
    /// NAT traversal (LAN parties, servers without STUN/TURN).
    pub path: Option<PathInfo>,
    pub endpoint: Option<SocketAddr>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// 0 to 100.
    pub loss_pct: Option<f64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub last_handshake_secs: Option<f64>,
    /// 0 to 100 from RTT, jitter and loss (see `lanrage_metrics::quality`).
    pub quality_score: Option<u8>,
    /// A (great) to F (unplayable).
    pub grade: Option<String>,
    /// The whole grading (score, grade, each component, which one limits it); `None` while
    /// nothing is measured or the member is offline. The UI shows this as is.
    pub quality: Option<lanrage_metrics::Quality>,
    /// What the member plays now, when its LANrage says (older ones never do).
    pub game: Option<GameRef>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct PartyStatus {
    pub id: String,
    pub name: String,
    pub is_host: bool,
    pub host_name: String,
    pub max_members: u16,
    /// This device's address in the party.
    pub virtual_ip: Ipv4Addr,
    /// Only for the host.
    pub invite: Option<InviteStatus>,
    /// Everyone but this device.
    pub peers: Vec<PeerStatus>,
}

/// Everything a party's status is made from.
pub struct StatusInputs<'a> {
    pub view: &'a PartyView,
    /// This device's public key.
    pub me: &'a str,
    /// Where friends meet (the control server, or this machine's embedded one): invite links
    /// name it.
    pub meet_at: Option<&'a str>,
    pub tunnel: Option<&'a DeviceStats>,
    /// NAT traversal's path to a member, when traversal runs.
    pub path: &'a dyn Fn(&str) -> Option<PathInfo>,
}

impl PartyStatus {
    /// `None` when the snapshot does not list us.
    pub fn build(i: &StatusInputs<'_>) -> Option<PartyStatus> {
        let view = i.view;
        let mine = view.members.iter().find(|m| m.public_key == i.me)?;
        let peers = view
            .members
            .iter()
            .filter(|m| m.public_key != i.me)
            .map(|m| {
                let t = i
                    .tunnel
                    .and_then(|t| t.peers.iter().find(|p| p.public_key == m.public_key));
                let handshake = t.and_then(|p| p.last_handshake_secs);
                let path = (i.path)(&m.public_key);
                let connection = match &path {
                    Some(p) if m.online => connection_of(p),
                    _ => path_state(m.online, handshake),
                };
                let q = lanrage_metrics::quality(
                    t.and_then(|p| p.probe.srtt_ms.or(p.probe.rtt_ms)),
                    t.and_then(|p| p.probe.jitter_ms),
                    t.and_then(|p| p.probe.loss),
                );
                PeerStatus {
                    quality_score: q.map(|q| q.score),
                    grade: q.map(|q| q.grade.as_str().to_string()),
                    quality: q.filter(|_| connection != "offline"),
                    name: m.name.clone(),
                    public_key: m.public_key.clone(),
                    virtual_ip: m.virtual_ip,
                    online: m.online,
                    connection,
                    path,
                    endpoint: t.and_then(|p| p.endpoint),
                    rtt_ms: t.and_then(|p| p.probe.rtt_ms),
                    jitter_ms: t.and_then(|p| p.probe.jitter_ms),
                    loss_pct: t.and_then(|p| p.probe.loss).map(|l| l * 100.0),
                    rx_bytes: t.map(|p| p.rx_bytes).unwrap_or(0),
                    tx_bytes: t.map(|p| p.tx_bytes).unwrap_or(0),
                    last_handshake_secs: handshake,
                    game: m.game.clone(),
                }
            })
            .collect();
        let invite = view.invite.as_ref().map(|inv| InviteStatus {
            code: inv.code.clone(),
            link: InviteCode::parse(&inv.code)
                .ok()
                .zip(i.meet_at)
                .map(|(c, s)| c.link(s)),
            expires_at: inv.expires_at,
        });
        let host_name = view
            .members
            .iter()
            .find(|m| m.public_key == view.host)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        Some(PartyStatus {
            id: view.id.clone(),
            name: view.name.clone(),
            is_host: view.host == i.me,
            host_name,
            max_members: view.max_members,
            virtual_ip: mine.virtual_ip,
            invite,
            peers,
        })
    }

    /// Each member's connection, to notice when one changes without a new snapshot.
    pub fn connections(&self) -> Vec<(String, &'static str)> {
        self.peers
            .iter()
            .map(|p| (p.public_key.clone(), p.connection))
            .collect()
    }
}

/// A peer's path as players see it: `offline` when the server says so, `direct` while its
/// WireGuard handshake is fresh, `connecting` before that.
pub fn path_state(online: bool, last_handshake_secs: Option<f64>) -> &'static str {
    if !online {
        "offline"
    } else if last_handshake_secs.is_some_and(|h| h < FRESH_HANDSHAKE_SECS) {
        "direct"
    } else {
        "connecting"
    }
}

/// What status calls a peer's connection under NAT traversal: the leg carrying its traffic
/// (never a guess), `connecting` before any works, `failed` when none does.
pub fn connection_of(p: &PathInfo) -> &'static str {
    match p.state {
        PathState::Direct => "direct",
        PathState::Relayed => "relayed",
        PathState::Degraded => match p.local_candidate.as_deref() {
            Some("relay") => "relayed",
            Some(_) => "direct",
            None => "connecting",
        },
        PathState::Failed => "failed",
        PathState::Connecting | PathState::Reconnecting => "connecting",
    }
}
