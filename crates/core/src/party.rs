//! Parties: create (on the control server, or on an embedded one for LAN parties), join by
//! invite code or link, leave; and the translation of the server's party snapshots into tunnel
//! peers. Every snapshot the server pushes is applied in order by one task, so the tunnel
//! always follows the latest membership.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lanrage_proto::invite::{Invite, InviteCode};
use lanrage_proto::message::{Op, PartyView};
use lanrage_server::{Server, ServerConfig};
use lanrage_tunnel::{DeviceConfig, IpNet, Key, PeerConfig};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::control::{ControlClient, ControlError, ControlEvent, ControlState};
use crate::engine::{lock, Engine, EngineError, NoticeLevel};
use crate::events::EngineEvent;
use crate::settings::Mode;

/// How long a create or join waits for the server's snapshot to arrive and be applied.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// A handshake younger than this (WireGuard rekeys every 2 minutes) means the path works.
const FRESH_HANDSHAKE_SECS: f64 = 180.0;

/// The control session the engine currently has, and the embedded server if it runs one.
#[derive(Default)]
pub(crate) struct PartyState {
    pub(crate) control: Option<(ControlClient, CancellationToken)>,
    pub(crate) embedded: Option<Server>,
    /// What invite links say about where to meet.
    pub(crate) meet_at: Option<String>,
    pub(crate) view: Option<PartyView>,
    /// The server in use came from an invite link, not from settings: drop it on leave.
    pub(crate) from_link: bool,
    /// Game servers this device announced (re-announced every 30 s).
    pub(crate) announced: Vec<lanrage_proto::message::GameServer>,
    /// The re-announcing task runs.
    pub(crate) reannouncing: bool,
    /// STUN/TURN servers from the control server's welcome (empty: plain UDP endpoints).
    pub(crate) ice_servers: Vec<lanrage_proto::message::IceServer>,
    /// NAT traversal for the running tunnel's peers.
    pub(crate) traversal: Option<crate::ice::Traversal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InviteStatus {
    pub code: String,
    pub link: Option<String>,
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub public_key: String,
    pub virtual_ip: Ipv4Addr,
    pub online: bool,
    /// `connecting`, `direct`, `relayed`, `failed` or `offline`.
    pub connection: &'static str,
    /// The path as NAT traversal sees it (state, candidate types, relay, why); `None` without
    /// NAT traversal (LAN parties, servers without STUN/TURN).
    pub path: Option<crate::ice::PathInfo>,
    pub endpoint: Option<SocketAddr>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyStatus {
    pub id: String,
    pub name: String,
    pub is_host: bool,
    pub host_name: String,
    pub max_members: u16,
    pub virtual_ip: Ipv4Addr,
    /// Only for the host.
    pub invite: Option<InviteStatus>,
    pub peers: Vec<PeerStatus>,
}

/// Addresses of this machine that other members can try, with the WireGuard port.
fn local_endpoints(port: u16, tun: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.name != tun && !i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(a) if !a.is_link_local() => Some(SocketAddr::from((a, port))),
            _ => None,
        })
        .collect();
    // Private (LAN) addresses first: on a LAN party that is the path to take.
    out.sort_by_key(|a| match a.ip() {
        IpAddr::V4(v4) => !v4.is_private(),
        IpAddr::V6(_) => true,
    });
    out
}

/// The address friends on the LAN reach an embedded server at.
fn lan_address() -> Option<Ipv4Addr> {
    local_endpoints(0, "")
        .into_iter()
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}

impl From<ControlError> for EngineError {
    fn from(e: ControlError) -> Self {
        EngineError::Control(e)
    }
}

impl Engine {
    pub(crate) fn own_key(&self) -> String {
        self.identity().public_key_base64()
    }

    /// Starts a control session to `url` (replacing any other) and the task applying its events.
    pub(crate) fn connect_control(&self, url: &str, from_link: bool) -> ControlClient {
        let mut st = lock(&self.inner.party);
        if let Some((c, _)) = &st.control {
            if c.url() == url {
                return c.clone();
            }
        }
        if let Some((_, cancel)) = st.control.take() {
            cancel.cancel();
        }
        let name = self
            .settings()
            .map(|s| s.display_name)
            .unwrap_or_else(|_| "Player".into());
        let cancel = self.cancellation().child_token();
        let (tx, rx) = mpsc::channel(64);
        let client = ControlClient::spawn(
            url.to_string(),
            self.identity().secret().clone(),
            name,
            tx,
            cancel.clone(),
        );
        st.control = Some((client.clone(), cancel.clone()));
        st.from_link = from_link;
        if st.embedded.is_none() {
            st.meet_at = Some(url.to_string());
        }
        drop(st);
        let engine = self.clone();
        self.spawn(async move { engine.apply_events(rx, cancel).await });
        client
    }

    async fn apply_events(&self, mut rx: mpsc::Receiver<ControlEvent>, cancel: CancellationToken) {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => return,
                ev = rx.recv() => match ev { Some(ev) => ev, None => return },
            };
            match ev {
                ControlEvent::State(s) => {
                    self.emit(EngineEvent::ControlChanged {
                        state: control_state_name(s).to_string(),
                    });
                }
                ControlEvent::Party(view) => self.apply_party(view).await,
                ControlEvent::PartyGone { party_id, reason } => {
                    let was = lock(&self.inner.party)
                        .view
                        .as_ref()
                        .is_some_and(|v| v.id == party_id);
                    if was {
                        tracing::info!(party = %party_id, %reason, "no longer in the party");
                        self.drop_party().await;
                        if reason != "you left the party" {
                            self.notify(
                                NoticeLevel::Info,
                                format!("You are no longer in the party: {reason}."),
                            );
                        }
                    }
                }
                ControlEvent::Signal { from, payload } => {
                    let traversal = lock(&self.inner.party).traversal.clone();
                    match traversal {
                        Some(t) => t.signal(from, payload),
                        None => tracing::debug!(
                            from = from.get(..8).unwrap_or(""),
                            "signal while not traversing NATs: ignored"
                        ),
                    }
                }
                ControlEvent::IceServers(servers) => {
                    // Without credentials: they say NAT traversal is on; the traversal task
                    // asks for credentials itself once in a party.
                    lock(&self.inner.party).ice_servers = self.with_configured_ice(servers);
                }
            }
        }
    }

    /// Makes the tunnel match a party snapshot.
    async fn apply_party(&self, view: PartyView) {
        let me = self.own_key();
        let Some(mine) = view.members.iter().find(|m| m.public_key == me).cloned() else {
            return;
        };
        let Ok(settings) = self.settings() else {
            return;
        };
        let keepalive = (settings.keepalive_secs > 0).then_some(settings.keepalive_secs);
        // With STUN/TURN, ICE finds each peer's path; without, the addresses members report.
        let ice = !lock(&self.inner.party).ice_servers.is_empty();
        let peers: Vec<PeerConfig> = view
            .members
            .iter()
            .filter(|m| m.public_key != me)
            .filter_map(|m| {
                let key: Key = m.public_key.parse().ok()?;
                Some(PeerConfig {
                    public_key: key,
                    preshared_key: None,
                    allowed_ips: vec![IpNet {
                        addr: IpAddr::V4(m.virtual_ip),
                        prefix: 32,
                    }],
                    endpoint: if ice {
                        None
                    } else {
                        m.endpoints.first().copied()
                    },
                    keepalive_secs: keepalive,
                })
            })
            .collect();
        let prefix: u8 = view
            .subnet
            .split_once('/')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(16);
        let running_ip = self
            .tunnel_stats()
            .and_then(|t| t.addresses.first().cloned());
        let want_ip = format!("{}/{}", mine.virtual_ip, prefix);
        let previous = lock(&self.inner.party).view.replace(view.clone());
        if running_ip.as_deref() == Some(want_ip.as_str()) {
            if let Err(e) = self.set_tunnel_peers(peers).await {
                tracing::warn!(error = %e, "updating tunnel peers");
            }
        } else {
            self.stop_tunnel().await;
            let cfg = DeviceConfig {
                private_key: self.identity().secret().clone(),
                interface_name: settings.interface_name.clone(),
                addresses: vec![IpNet {
                    addr: IpAddr::V4(mine.virtual_ip),
                    prefix,
                }],
                listen_port: settings.listen_port,
                mtu: settings.mtu,
                peers,
                limited_broadcast_route: settings.broadcast_emulation,
            };
            match self.start_tunnel(cfg).await {
                Ok(()) => self.report_endpoints(&settings.interface_name),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the tunnel for the party");
                    self.notify(
                        NoticeLevel::Error,
                        format!("The party's network could not start: {e}"),
                    );
                }
            }
        }
        if ice {
            self.traverse(&view, &settings);
        }
        if let Some(prev) = previous {
            for m in &view.members {
                if !prev.members.iter().any(|p| p.public_key == m.public_key) && m.public_key != me
                {
                    tracing::info!(member = %m.name, ip = %m.virtual_ip, "member joined");
                    self.emit(EngineEvent::MemberJoined {
                        name: m.name.clone(),
                    });
                }
            }
            for p in &prev.members {
                if !view.members.iter().any(|m| m.public_key == p.public_key) {
                    tracing::info!(member = %p.name, "member left");
                    self.emit(EngineEvent::MemberLeft {
                        name: p.name.clone(),
                    });
                }
            }
        }
        self.emit(EngineEvent::PartyChanged {
            party: self.party_status().map(Box::new),
        });
    }

    /// Tells the server where our WireGuard port is, so members can reach us.
    fn report_endpoints(&self, tun: &str) {
        let Some(port) = self.tunnel_stats().map(|t| t.listen_port) else {
            return;
        };
        let endpoints = local_endpoints(port, tun);
        let Some(client) = lock(&self.inner.party)
            .control
            .as_ref()
            .map(|(c, _)| c.clone())
        else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = client.request(Op::SetEndpoints { endpoints }).await {
                tracing::warn!(error = %e, "reporting our endpoints");
            }
        });
    }

    /// Starts NAT traversal for the running tunnel (once per tunnel) and gives it the members.
    fn traverse(&self, view: &PartyView, settings: &crate::settings::Settings) {
        let Some(device) = self.tunnel_device() else {
            return;
        };
        let me = self.own_key();
        let peers: Vec<(String, String)> = view
            .members
            .iter()
            // Offline members too: "offline" means the control server lost them, not that
            // the path between us stopped working (the server is not on the data path).
            .filter(|m| m.public_key != me)
            .map(|m| (m.public_key.clone(), m.name.clone()))
            .collect();
        let mut st = lock(&self.inner.party);
        let traversal = match &st.traversal {
            Some(t) => t.clone(),
            None => {
                let subnet = view.subnet.parse::<IpNet>().ok();
                let t = crate::ice::Traversal::start(
                    self.clone(),
                    device.clone(),
                    crate::ice::TraversalConfig {
                        own_key: me,
                        servers: st.ice_servers.clone(),
                        relay_only: settings.relay_only,
                        tun_name: device.interface_name().to_string(),
                        party_subnet: subnet,
                    },
                );
                st.traversal = Some(t.clone());
                t
            }
        };
        drop(st);
        traversal.set_peers(peers);
    }

    /// The control server's STUN/TURN servers plus those in settings. Extra TURN servers get
    /// the control server's credentials (they share its secret, as coturn with
    /// `use-auth-secret` does).
    pub(crate) fn with_configured_ice(
        &self,
        mut servers: Vec<lanrage_proto::message::IceServer>,
    ) -> Vec<lanrage_proto::message::IceServer> {
        let Ok(settings) = self.settings() else {
            return servers;
        };
        let creds = servers
            .iter()
            .find(|s| s.username.is_some())
            .map(|s| (s.username.clone(), s.credential.clone()));
        for s in &settings.stun_servers {
            let url = if s.starts_with("stun:") {
                s.clone()
            } else {
                format!("stun:{s}")
            };
            servers.push(lanrage_proto::message::IceServer {
                url,
                username: None,
                credential: None,
            });
        }
        for t in &settings.turn_servers {
            let (username, credential) = creds.clone().unwrap_or_default();
            servers.push(lanrage_proto::message::IceServer {
                url: t.clone(),
                username,
                credential,
            });
        }
        servers
    }

    pub(crate) fn stop_traversal(&self) {
        if let Some(t) = lock(&self.inner.party).traversal.take() {
            t.stop();
        }
    }

    /// NAT type as last detected, while traversing NATs.
    pub fn nat_status(&self) -> Option<crate::nat::NatStatus> {
        lock(&self.inner.party)
            .traversal
            .as_ref()
            .and_then(|t| t.nat())
    }

    async fn drop_party(&self) {
        self.stop_traversal();
        let view = {
            let mut st = lock(&self.inner.party);
            st.announced.clear();
            st.view.take()
        };
        self.stop_tunnel().await;
        if view.is_some() {
            self.emit(EngineEvent::PartyChanged { party: None });
        }
    }

    async fn wait_for_party(&self, id: &str) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + APPLY_TIMEOUT;
        loop {
            let applied = lock(&self.inner.party)
                .view
                .as_ref()
                .is_some_and(|v| v.id == id)
                && self.tunnel_stats().is_some();
            if applied {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Control(ControlError::Unreachable(
                    "the party's details did not arrive".into(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn configured_server(&self) -> Option<String> {
        if let Some(s) = &self.inner.control_override {
            return Some(s.clone());
        }
        self.settings()
            .ok()
            .map(|s| s.control_server)
            .filter(|s| !s.is_empty())
    }

    /// Connects to the configured control server at start, so a device that was in a party
    /// before a restart is back in it (the server pushes the party on connect).
    pub(crate) fn resume_control(&self) {
        if let Some(url) = self.configured_server() {
            self.connect_control(&url, false);
        }
    }

    /// The control session for creating a party: the configured server, or (with none, or in
    /// embedded mode) a server inside this engine that friends on the LAN connect to.
    async fn control_for_create(&self) -> Result<ControlClient, EngineError> {
        let settings = self.settings()?;
        let server = self.configured_server();
        let embedded = match settings.mode {
            Mode::Embedded => true,
            Mode::Server => false,
            Mode::Auto => server.is_none(),
        };
        if !embedded {
            let url = server.ok_or(EngineError::NeedsServer)?;
            return Ok(self.connect_control(&url, false));
        }
        let port = settings.embedded_port;
        let running = lock(&self.inner.party)
            .embedded
            .as_ref()
            .map(|s| s.local_addr().port());
        let port = match running {
            Some(p) => p,
            None => {
                let server = Server::start(ServerConfig {
                    listen: SocketAddr::from(([0, 0, 0, 0], port)),
                    data_dir: self.data_dir().root().join("embedded-server"),
                    ice: Default::default(),
                    tls: None,
                })
                .await
                .map_err(EngineError::Embedded)?;
                let p = server.local_addr().port();
                tracing::info!(port = p, "embedded control server for a LAN party");
                lock(&self.inner.party).embedded = Some(server);
                p
            }
        };
        let client = self.connect_control(&format!("ws://127.0.0.1:{port}"), false);
        let meet = lan_address()
            .map(|ip| format!("ws://{ip}:{port}"))
            .unwrap_or_else(|| format!("ws://127.0.0.1:{port}"));
        lock(&self.inner.party).meet_at = Some(meet);
        Ok(client)
    }

    pub async fn create_party(
        &self,
        name: &str,
        max_members: Option<u16>,
        invite_ttl_secs: Option<u64>,
    ) -> Result<PartyStatus, EngineError> {
        self.ensure_running()?;
        if lock(&self.inner.party).view.is_some() {
            return Err(EngineError::AlreadyInParty);
        }
        let client = self.control_for_create().await?;
        let data = client
            .request(Op::CreateParty {
                name: name.to_string(),
                max_members,
                invite_ttl_secs,
            })
            .await?;
        let id = data["party_id"].as_str().unwrap_or_default().to_string();
        self.wait_for_party(&id).await?;
        let status = self.party_status().ok_or(EngineError::NotInParty)?;
        self.emit(EngineEvent::PartyCreated {
            name: status.name.clone(),
        });
        Ok(status)
    }

    /// Joins with a code (using the configured server) or a `lanrage://join/...` link (using the
    /// server it names).
    pub async fn join_party(&self, text: &str) -> Result<PartyStatus, EngineError> {
        self.ensure_running()?;
        if lock(&self.inner.party).view.is_some() {
            return Err(EngineError::AlreadyInParty);
        }
        let invite = Invite::parse(text).map_err(EngineError::Invite)?;
        let (url, from_link) = match invite.server {
            Some(s) => (s, true),
            None => (
                self.configured_server().ok_or(EngineError::NeedsLink)?,
                false,
            ),
        };
        let client = self.connect_control(&url, from_link);
        let data = client
            .request(Op::JoinParty {
                code: invite.code.display(),
            })
            .await?;
        let id = data["party_id"].as_str().unwrap_or_default().to_string();
        self.wait_for_party(&id).await?;
        self.party_status().ok_or(EngineError::NotInParty)
    }

    pub async fn leave_party(&self) -> Result<(), EngineError> {
        if lock(&self.inner.party).view.is_none() {
            return Err(EngineError::NotInParty);
        }
        let client = lock(&self.inner.party)
            .control
            .as_ref()
            .map(|(c, _)| c.clone());
        if let Some(c) = client {
            // Leaving works even when the server is unreachable: the server forgets us after
            // the grace period.
            if let Err(e) = c.request(Op::LeaveParty).await {
                tracing::warn!(error = %e, "telling the server we left");
            }
        }
        self.drop_party().await;
        let (embedded, control) = {
            let mut st = lock(&self.inner.party);
            let embedded = st.embedded.take();
            let control = if st.from_link || embedded.is_some() {
                st.control.take()
            } else {
                None
            };
            st.meet_at = None;
            (embedded, control)
        };
        if let Some((_, cancel)) = control {
            cancel.cancel();
        }
        if let Some(server) = embedded {
            server.shutdown().await;
        }
        tracing::info!("left the party");
        Ok(())
    }

    async fn host_op(&self, op: Op) -> Result<(), EngineError> {
        let client = lock(&self.inner.party)
            .control
            .as_ref()
            .map(|(c, _)| c.clone())
            .ok_or(EngineError::NotInParty)?;
        client.request(op).await?;
        Ok(())
    }

    /// Host: a fresh invite code (the old one stops working).
    pub async fn new_invite(&self, ttl_secs: Option<u64>) -> Result<PartyStatus, EngineError> {
        self.host_op(Op::NewInvite { ttl_secs }).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.party_status().ok_or(EngineError::NotInParty)
    }

    /// Host: the current code stops working.
    pub async fn revoke_invite(&self) -> Result<(), EngineError> {
        self.host_op(Op::RevokeInvite).await
    }

    /// Host: removes a member, named by display name, virtual IP or public key.
    pub async fn kick(&self, who: &str) -> Result<(), EngineError> {
        let key = lock(&self.inner.party)
            .view
            .as_ref()
            .and_then(|v| {
                v.members
                    .iter()
                    .find(|m| {
                        m.public_key == who || m.name == who || m.virtual_ip.to_string() == who
                    })
                    .map(|m| m.public_key.clone())
            })
            .ok_or(EngineError::UnknownMember(who.to_string()))?;
        self.host_op(Op::Kick { public_key: key }).await
    }

    pub async fn close_party(&self) -> Result<(), EngineError> {
        self.host_op(Op::CloseParty).await
    }

    pub fn party_status(&self) -> Option<PartyStatus> {
        let (view, meet_at) = {
            let st = lock(&self.inner.party);
            (st.view.clone()?, st.meet_at.clone())
        };
        let me = self.own_key();
        let mine = view.members.iter().find(|m| m.public_key == me)?;
        let tunnel = self.tunnel_stats();
        let traversal = lock(&self.inner.party).traversal.clone();
        let peers = view
            .members
            .iter()
            .filter(|m| m.public_key != me)
            .map(|m| {
                let t = tunnel
                    .as_ref()
                    .and_then(|t| t.peers.iter().find(|p| p.public_key == m.public_key));
                let handshake = t.and_then(|p| p.last_handshake_secs);
                let path = traversal.as_ref().and_then(|tr| tr.path(&m.public_key));
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
                }
            })
            .collect();
        let invite = view.invite.as_ref().map(|i| {
            let link = InviteCode::parse(&i.code)
                .ok()
                .zip(meet_at.as_deref())
                .map(|(c, s)| c.link(s));
            InviteStatus {
                code: i.code.clone(),
                link,
                expires_at: i.expires_at,
            }
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
            is_host: view.host == me,
            host_name,
            max_members: view.max_members,
            virtual_ip: mine.virtual_ip,
            invite,
            peers,
        })
    }

    pub(crate) fn control_status(&self) -> (String, Option<String>, bool) {
        let st = lock(&self.inner.party);
        let embedded = st.embedded.is_some();
        match &st.control {
            Some((c, _)) => (
                control_state_name(c.state()).to_string(),
                Some(c.url().to_string()),
                embedded,
            ),
            None => (
                if self.configured_server().is_some() {
                    "connecting"
                } else {
                    "not_configured"
                }
                .to_string(),
                self.configured_server(),
                embedded,
            ),
        }
    }

    /// Stops the control session and an embedded server (at engine shutdown).
    pub(crate) async fn stop_party_services(&self) {
        let (control, embedded) = {
            let mut st = lock(&self.inner.party);
            (st.control.take(), st.embedded.take())
        };
        if let Some((_, cancel)) = control {
            cancel.cancel();
        }
        if let Some(server) = embedded {
            server.shutdown().await;
        }
    }
}

/// A peer's path as players see it: `offline` when the server says so, `direct` while its
/// WireGuard handshake is fresh, `connecting` before that.
pub(crate) fn path_state(online: bool, last_handshake_secs: Option<f64>) -> &'static str {
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
fn connection_of(p: &crate::ice::PathInfo) -> &'static str {
    use crate::connection::PathState;
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

fn control_state_name(s: ControlState) -> &'static str {
    match s {
        ControlState::Connecting => "connecting",
        ControlState::Connected => "connected",
        ControlState::Reconnecting => "reconnecting",
    }
}
