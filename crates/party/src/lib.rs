//! The party: a plain state machine that turns what the control server says about our party
//! (snapshots, the party ending) and what happened to the tunnel into actions for the engine's
//! shell (start the tunnel, set these peers, find paths to those members, tell the user).
//!
//! It never does I/O and never reads the clock: the shell feeds it [`Input`]s with the time and
//! carries out the [`Action`]s it returns, in order. Tests drive it with a fake clock.

mod status;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lanrage_proto::message::{GameRef, MemberView, PartyView};
use lanrage_tunnel::{IpNet, Key, PeerConfig};

pub use status::{connection_of, path_state, InviteStatus, PartyStatus, PeerStatus, StatusInputs};

/// How long a create or join waits for the server's snapshot to arrive and be applied.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The widest party subnet a server may give: a /16 holds 65,000 members, and a wider one would
/// pull other private networks of the player (a VPN, an office) into the tunnel.
const WIDEST_PREFIX: u8 = 16;
const NARROWEST_PREFIX: u8 = 30;

/// What the party machine hears about.
#[derive(Debug, Clone)]
pub enum Input {
    /// The server's view of our party: after every change and on every (re)connect.
    Snapshot {
        view: PartyView,
        /// The WireGuard keepalive members get (from settings); `None` for none.
        keepalive: Option<u16>,
    },
    /// The server says we are no longer in this party.
    Gone { party_id: String, reason: String },
    /// Whether the control server lists STUN/TURN servers: with them, ICE finds each member's
    /// path; without (LAN parties), members are reached at the addresses they report.
    TraversalAvailable(bool),
    /// A create or join was answered with this party id: say when it is applied (or not).
    Expect { party_id: String },
    /// The tunnel the last [`Action::StartTunnel`] asked for runs with this address.
    TunnelStarted(IpNet),
    /// ... or could not start.
    TunnelFailed(String),
    /// The user left the party (the server was told, or could not be reached).
    Left,
    /// Time passes (about once a second).
    Tick,
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Bring the tunnel up with this address and peers, replacing one that runs.
    StartTunnel {
        address: IpNet,
        peers: Vec<PeerConfig>,
    },
    /// Replace the running tunnel's peers (unchanged peers keep their sessions).
    SetPeers(Vec<PeerConfig>),
    StopTunnel,
    /// Tell the server where our WireGuard port can be reached.
    ReportEndpoints,
    /// Find paths to these members, (public key, name), starting NAT traversal if needed.
    Traverse(Vec<(String, String)>),
    StopTraversal,
    MemberJoined {
        name: String,
        virtual_ip: Ipv4Addr,
    },
    MemberLeft {
        name: String,
    },
    /// A member's control connection came or went; the tunnel to it is not touched (the server
    /// is not on the data path).
    MemberOnline {
        name: String,
        online: bool,
    },
    HostChanged {
        name: String,
        is_me: bool,
    },
    /// A member started (`Some`) or stopped (`None`) playing a game.
    MemberPlaying {
        name: String,
        game: Option<GameRef>,
    },
    /// What the party looks like changed: status must be shown again.
    PartyChanged,
    /// Something the user must read.
    Notify(Notice),
    /// We are out of the party: forget what belongs to it (announced game servers).
    Ended,
    /// A create or join may return: its party is applied and the tunnel runs.
    Ready {
        party_id: String,
    },
    /// A create or join failed after the server answered.
    Failed {
        party_id: String,
        reason: String,
    },
}

/// A sentence for the user, and how serious it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Info(String),
    Error(String),
}

#[derive(Debug)]
struct Expecting {
    party_id: String,
    deadline: Instant,
}

/// One device's party, as the control server describes it and the tunnel carries it.
#[derive(Debug)]
pub struct Party {
    me: String,
    traversal: bool,
    view: Option<PartyView>,
    /// The address the running tunnel has (`None`: no tunnel).
    tunnel: Option<IpNet>,
    /// The address a [`Action::StartTunnel`] asked for, until the shell answers.
    starting: Option<IpNet>,
    expecting: Option<Expecting>,
}

impl Party {
    /// `me`: this device's public key (base64), as the server lists members.
    pub fn new(me: impl Into<String>) -> Self {
        Self {
            me: me.into(),
            traversal: false,
            view: None,
            tunnel: None,
            starting: None,
            expecting: None,
        }
    }

    pub fn view(&self) -> Option<&PartyView> {
        self.view.as_ref()
    }

    pub fn in_party(&self) -> bool {
        self.view.is_some()
    }

    pub fn traversal_available(&self) -> bool {
        self.traversal
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Snapshot { view, keepalive } => self.on_snapshot(view, keepalive, &mut out),
            Input::Gone { party_id, reason } => {
                if self.view.as_ref().is_some_and(|v| v.id == party_id) {
                    self.end(&mut out);
                    // Our own leave is answered with this reason; it needs no notice.
                    if reason != "you left the party" {
                        out.push(Action::Notify(Notice::Info(format!(
                            "You are no longer in the party: {reason}."
                        ))));
                    }
                }
            }
            Input::TraversalAvailable(on) => self.traversal = on,
            Input::Expect { party_id } => {
                self.expecting = Some(Expecting {
                    party_id,
                    deadline: now + APPLY_TIMEOUT,
                });
                self.check_ready(&mut out);
            }
            Input::TunnelStarted(address) => {
                self.starting = None;
                self.tunnel = Some(address);
                out.push(Action::ReportEndpoints);
                if let Some(view) = &self.view {
                    if self.traversal {
                        out.push(Action::Traverse(self.members_to_reach(view)));
                    }
                }
                self.check_ready(&mut out);
            }
            Input::TunnelFailed(reason) => {
                self.starting = None;
                out.push(Action::Notify(Notice::Error(format!(
                    "The party's network could not start: {reason}"
                ))));
            }
            Input::Left => self.end(&mut out),
            Input::Tick => {
                if let Some(e) = self.expecting.take_if(|e| now >= e.deadline) {
                    out.push(Action::Failed {
                        party_id: e.party_id,
                        reason: "the party's details did not arrive".into(),
                    });
                }
            }
        }
        out
    }

    fn on_snapshot(&mut self, view: PartyView, keepalive: Option<u16>, out: &mut Vec<Action>) {
        let Some(mine) = view.members.iter().find(|m| m.public_key == self.me) else {
            // A snapshot without us is not ours to apply (the server says `Gone` when we leave).
            return;
        };
        // A server decides our addresses; a hostile one must not route our traffic into its
        // tunnel: only a private subnet, and only addresses inside it.
        let subnet = match party_subnet(&view.subnet) {
            Ok(net) if subnet_host(net, mine.virtual_ip) => net,
            Ok(net) => {
                return self.refuse(
                    &view,
                    format!(
                        "the server gave this device {}, outside its party's subnet {net}",
                        mine.virtual_ip
                    ),
                    out,
                );
            }
            Err(why) => return self.refuse(&view, why, out),
        };
        let address = IpNet {
            addr: IpAddr::V4(mine.virtual_ip),
            prefix: subnet.prefix,
        };
        let peers = self.peers_of(&view, subnet, keepalive);
        if self.tunnel == Some(address) {
            out.push(Action::SetPeers(peers));
            if self.traversal {
                out.push(Action::Traverse(self.members_to_reach(&view)));
            }
        } else if self.starting != Some(address) {
            // A new party, or the server moved us to another address: a new tunnel. Traversal
            // belongs to the old tunnel's device and starts again once the new one runs.
            if self.tunnel.take().is_some() {
                out.push(Action::StopTraversal);
                out.push(Action::StopTunnel);
            }
            self.starting = Some(address);
            out.push(Action::StartTunnel { address, peers });
        }
        let previous = self.view.replace(view);
        if let (Some(prev), Some(view)) = (previous, &self.view) {
            self.compare(&prev, view, out);
        }
        out.push(Action::PartyChanged);
        self.check_ready(out);
    }

    /// What changed between two snapshots of the same party, as the user hears about it.
    fn compare(&self, prev: &PartyView, view: &PartyView, out: &mut Vec<Action>) {
        let find = |v: &PartyView, key: &str| -> Option<MemberView> {
            v.members.iter().find(|m| m.public_key == key).cloned()
        };
        for m in view.members.iter().filter(|m| m.public_key != self.me) {
            match find(prev, &m.public_key) {
                None => out.push(Action::MemberJoined {
                    name: m.name.clone(),
                    virtual_ip: m.virtual_ip,
                }),
                Some(p) => {
                    if p.online != m.online {
                        out.push(Action::MemberOnline {
                            name: m.name.clone(),
                            online: m.online,
                        });
                    }
                    if p.game != m.game {
                        out.push(Action::MemberPlaying {
                            name: m.name.clone(),
                            game: m.game.clone(),
                        });
                    }
                }
            }
        }
        for p in &prev.members {
            if find(view, &p.public_key).is_none() {
                out.push(Action::MemberLeft {
                    name: p.name.clone(),
                });
            }
        }
        if prev.host != view.host {
            if let Some(host) = find(view, &view.host) {
                out.push(Action::HostChanged {
                    name: host.name,
                    is_me: view.host == self.me,
                });
            }
        }
    }

    /// A snapshot this device will not apply: the create or join fails with `why`, a running
    /// party stays as it was, and the user is told.
    fn refuse(&mut self, view: &PartyView, why: String, out: &mut Vec<Action>) {
        let reason = format!("party {} refused: {why}", view.id);
        out.push(Action::Notify(Notice::Error(reason.clone())));
        if self
            .expecting
            .as_ref()
            .is_some_and(|e| e.party_id == view.id)
        {
            self.expecting = None;
            out.push(Action::Failed {
                party_id: view.id.clone(),
                reason,
            });
        }
    }

    /// Tunnel peers for every other member: its address, and where to send (ICE decides when
    /// traversal runs; otherwise the first address the member reported). A member whose
    /// address is outside the party's subnet is left out.
    fn peers_of(&self, view: &PartyView, subnet: IpNet, keepalive: Option<u16>) -> Vec<PeerConfig> {
        view.members
            .iter()
            .filter(|m| m.public_key != self.me)
            .filter(|m| subnet_host(subnet, m.virtual_ip))
            .filter_map(|m| {
                let key: Key = m.public_key.parse().ok()?;
                Some(PeerConfig {
                    public_key: key,
                    preshared_key: None,
                    allowed_ips: vec![IpNet {
                        addr: IpAddr::V4(m.virtual_ip),
                        prefix: 32,
                    }],
                    endpoint: if self.traversal {
                        None
                    } else {
                        m.endpoints.first().copied()
                    },
                    keepalive_secs: keepalive,
                })
            })
            .collect()
    }

    /// Offline members too: "offline" means the control server lost them, not that the path
    /// between us stopped working (the server is not on the data path).
    fn members_to_reach(&self, view: &PartyView) -> Vec<(String, String)> {
        view.members
            .iter()
            .filter(|m| m.public_key != self.me)
            .map(|m| (m.public_key.clone(), m.name.clone()))
            .collect()
    }

    fn end(&mut self, out: &mut Vec<Action>) {
        out.push(Action::StopTraversal);
        out.push(Action::Ended);
        let was = self.view.take().is_some();
        if self.tunnel.take().is_some() || self.starting.take().is_some() {
            out.push(Action::StopTunnel);
        }
        if was {
            out.push(Action::PartyChanged);
        }
    }

    fn check_ready(&mut self, out: &mut Vec<Action>) {
        let applied = |e: &Expecting| {
            self.tunnel.is_some() && self.view.as_ref().is_some_and(|v| v.id == e.party_id)
        };
        if let Some(e) = self.expecting.take_if(|e| applied(e)) {
            out.push(Action::Ready {
                party_id: e.party_id,
            });
        }
    }
}

#[cfg(test)]
mod tests;

/// The party's subnet from a snapshot, if it is one a device may take: an IPv4 network in a
/// private range (RFC 1918 or the shared 100.64.0.0/10), between a /16 and a /30.
fn party_subnet(text: &str) -> Result<IpNet, String> {
    let net = text
        .split_once('/')
        .and_then(|(a, p)| IpNet::new(a.parse().ok()?, p.parse().ok()?).ok())
        .ok_or_else(|| {
            format!("the server gave the subnet {text:?}, which is not an IPv4 network")
        })?;
    let IpAddr::V4(a) = net.addr else {
        return Err(format!(
            "the server gave the subnet {net}, which is not IPv4"
        ));
    };
    let shared = a.octets()[0] == 100 && (64..128).contains(&a.octets()[1]);
    if !(a.is_private() || shared) {
        return Err(format!(
            "the server gave the subnet {net}, which is not a private network: it would send this device's traffic to the internet through the party"
        ));
    }
    if !(WIDEST_PREFIX..=NARROWEST_PREFIX).contains(&net.prefix) {
        return Err(format!(
            "the server gave the subnet {net}; a party subnet is a /{WIDEST_PREFIX} to a /{NARROWEST_PREFIX}"
        ));
    }
    Ok(net.network())
}

/// Whether `ip` is a host address of `subnet` (inside it, neither its network nor its broadcast
/// address).
fn subnet_host(subnet: IpNet, ip: Ipv4Addr) -> bool {
    let ip = IpAddr::V4(ip);
    subnet.contains(ip)
        && ip != subnet.network().addr
        && subnet.broadcast_v4().map(IpAddr::V4) != Some(ip)
}
