//! The party's shell: the control-server session (or the embedded server of a LAN party), the
//! task that feeds the [`Party`] machine and carries out its actions on the tunnel and on NAT
//! traversal, and the operations hosts call (create, join, leave, host tools).
//!
//! Decisions are the machine's. This module only connects, forwards and executes; every input
//! reaches the machine through one task, in order, so the tunnel always follows the latest
//! snapshot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use lanrage_proto::invite::Invite;
use lanrage_proto::message::{GameRef, GameServer, IceServer, Op, PartyView};
use lanrage_server::{Server, ServerConfig};
use lanrage_settings::{Mode, Settings};
use lanrage_traversal::{
    ControlPlane, ExtraServers, IceGrant, NatStatus, PathInfo, Traversal, TraversalConfig,
    TraversalEvent,
};
use lanrage_tunnel::{DeviceConfig, DeviceStats, IpNet};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::control::{ControlClient, ControlError, ControlEvent, ControlState};
use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::games::Games;
use crate::lan;
use crate::runtime::Runtime;
use crate::status::NoticeLevel;
use lanrage_party::{Action, Input, Notice, Party, PartyStatus, StatusInputs};

/// Signals kept while traversal is not running yet: a handful per member is all a start takes,
/// for a full party of 254...
const EARLY_SIGNALS: usize = 254 * 16;
/// ...for this long: senders resend their credentials until ours arrive, so older ones are
/// stale.
const EARLY_SIGNAL_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// What a caller waiting on the machine hears back.
type Reply = oneshot::Sender<Result<(), String>>;

struct Msg {
    input: Input,
    /// For `Expect`: answered when the party is applied (or not); for anything else: answered
    /// once the input's actions are carried out.
    reply: Option<Reply>,
}

/// The control session and what hangs off it.
#[derive(Default)]
struct Links {
    control: Option<(ControlClient, CancellationToken)>,
    embedded: Option<Server>,
    /// What invite links say about where to meet.
    meet_at: Option<String>,
    /// The server in use came from an invite link, not from settings: drop it on leave.
    from_link: bool,
    /// STUN/TURN servers from the control server's welcome (empty: plain UDP endpoints).
    ice_servers: Vec<IceServer>,
    /// NAT traversal for the running tunnel's peers.
    traversal: Option<Traversal>,
    /// Signals that arrived while traversal was not running yet (members who saw us join
    /// before our tunnel was up): handed to it when it starts.
    early_signals: Vec<(std::time::Instant, String, serde_json::Value)>,
    /// Game servers this device announced (re-announced every 30 s).
    announced: Vec<GameServer>,
    /// The re-announcing task runs (once started, for the engine's life).
    reannouncing: bool,
}

pub(crate) struct Session {
    rt: Arc<Runtime>,
    games: Arc<Games>,
    /// The game last sent to the server, while its snapshot does not show it yet.
    game_sent: Mutex<Option<(Option<GameRef>, Instant)>>,
    party: Mutex<Party>,
    links: Mutex<Links>,
    inputs: mpsc::UnboundedSender<Msg>,
}

impl Session {
    /// Starts the task that feeds the party machine; it ends with the engine.
    pub(crate) fn start(rt: Arc<Runtime>, games: Arc<Games>) -> Arc<Session> {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            party: Mutex::new(Party::new(rt.own_key())),
            rt: rt.clone(),
            games,
            game_sent: Mutex::new(None),
            links: Mutex::new(Links::default()),
            inputs: tx,
        });
        let s = session.clone();
        rt.spawn(async move { s.drive(rx).await });
        session
    }

    fn send(&self, input: Input) {
        // Fails only when the engine has stopped, when there is nothing left to drive.
        let _ = self.inputs.send(Msg { input, reply: None });
    }

    async fn ask(&self, input: Input) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.inputs
            .send(Msg {
                input,
                reply: Some(tx),
            })
            .map_err(|_| "the engine is shutting down".to_string())?;
        rx.await
            .unwrap_or_else(|_| Err("the engine is shutting down".into()))
    }

    async fn drive(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let cancel = self.rt.cancellation();
        let mut waiting: Vec<(String, Reply)> = Vec::new();
        loop {
            let msg = tokio::select! {
                _ = cancel.cancelled() => return,
                msg = rx.recv() => match msg { Some(m) => m, None => return },
            };
            let mut reply = msg.reply;
            if let Input::Expect { party_id } = &msg.input {
                // Answered when the machine says `Ready` or `Failed`, maybe much later.
                if let Some(r) = reply.take() {
                    waiting.push((party_id.clone(), r));
                }
            }
            let now = Instant::now();
            let mut queue: std::collections::VecDeque<Action> =
                self.party.lock().handle(msg.input, now).into();
            while let Some(action) = queue.pop_front() {
                let answer = match action {
                    Action::Ready { party_id } => {
                        answer(&mut waiting, &party_id, Ok(()));
                        None
                    }
                    Action::Failed { party_id, reason } => {
                        answer(&mut waiting, &party_id, Err(reason));
                        None
                    }
                    other => self.execute(other).await,
                };
                if let Some(input) = answer {
                    queue.extend(self.party.lock().handle(input, Instant::now()));
                }
            }
            if let Some(r) = reply {
                let _ = r.send(Ok(()));
            }
        }
    }

    /// Carries out one action; returns what it reports back to the machine.
    async fn execute(self: &Arc<Self>, action: Action) -> Option<Input> {
        match action {
            Action::StartTunnel { address, peers } => {
                // Whatever runs is replaced: traversal belongs to the old device.
                self.stop_traversal();
                self.rt.stop_tunnel().await;
                let settings = match self.rt.settings() {
                    Ok(s) => s,
                    Err(e) => return Some(Input::TunnelFailed(e.to_string())),
                };
                let cfg = DeviceConfig {
                    private_key: self.rt.identity.secret().clone(),
                    interface_name: settings.interface_name.clone(),
                    addresses: vec![address],
                    listen_port: settings.listen_port,
                    mtu: settings.mtu,
                    peers,
                    limited_broadcast_route: settings.broadcast_emulation,
                    multicast_routes: if settings.broadcast_emulation {
                        self.games.multicast_groups()
                    } else {
                        Vec::new()
                    },
                    only_for_us: true,
                    offload: true,
                };
                match self.rt.start_tunnel(cfg).await {
                    Ok(()) => Some(Input::TunnelStarted(address)),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the tunnel for the party");
                        Some(Input::TunnelFailed(e.to_string()))
                    }
                }
            }
            Action::SetPeers(peers) => {
                match self.rt.tunnel_device() {
                    Some(d) => d.set_peers(peers).await,
                    None => tracing::warn!("updating tunnel peers: no tunnel is running"),
                }
                None
            }
            Action::StopTunnel => {
                self.stop_traversal();
                self.rt.stop_tunnel().await;
                None
            }
            Action::ReportEndpoints => {
                self.report_endpoints();
                None
            }
            Action::Traverse(members) => {
                self.traverse(members);
                None
            }
            Action::StopTraversal => {
                self.stop_traversal();
                None
            }
            Action::MemberJoined { name, virtual_ip } => {
                tracing::info!(member = %name, ip = %virtual_ip, "member joined");
                self.rt.emit(EngineEvent::MemberJoined { name });
                None
            }
            Action::MemberLeft { name } => {
                tracing::info!(member = %name, "member left");
                self.rt.emit(EngineEvent::MemberLeft { name });
                None
            }
            Action::MemberOnline { name, online } => {
                tracing::info!(member = %name, online, "member's control connection changed");
                None
            }
            Action::HostChanged { name, is_me } => {
                tracing::info!(host = %name, is_me, "the party has a new host");
                None
            }
            Action::MemberPlaying { name, game } => {
                match &game {
                    Some(g) => tracing::info!(member = %name, game = %g.name, "member plays"),
                    None => tracing::info!(member = %name, "member stopped playing"),
                }
                self.rt.emit(EngineEvent::MemberGame { name, game });
                None
            }
            Action::PartyChanged => {
                let party = self
                    .party_status(self.rt.tunnel_stats().as_ref())
                    .map(Box::new);
                self.rt.emit(EngineEvent::PartyChanged { party });
                None
            }
            Action::Notify(Notice::Info(m)) => {
                self.rt.notify(NoticeLevel::Info, m);
                None
            }
            Action::Notify(Notice::Error(m)) => {
                self.rt.notify(NoticeLevel::Error, m);
                None
            }
            Action::Ended => {
                let mut l = self.links.lock();
                l.announced.clear();
                l.early_signals.clear();
                None
            }
            // Answered by the drive loop, which holds the callers waiting for them.
            Action::Ready { .. } | Action::Failed { .. } => None,
        }
    }

    // Status.

    pub(crate) fn in_party(&self) -> bool {
        self.party.lock().in_party()
    }

    pub(crate) fn view(&self) -> Option<PartyView> {
        self.party.lock().view().cloned()
    }

    pub(crate) fn party_status(&self, tunnel: Option<&DeviceStats>) -> Option<PartyStatus> {
        let view = self.view()?;
        let (meet_at, traversal) = {
            let l = self.links.lock();
            (l.meet_at.clone(), l.traversal.clone())
        };
        let me = self.rt.own_key();
        let path = |key: &str| -> Option<PathInfo> { traversal.as_ref()?.path(key) };
        PartyStatus::build(&StatusInputs {
            view: &view,
            me: &me,
            meet_at: meet_at.as_deref(),
            tunnel,
            path: &path,
        })
    }

    /// NAT type as last detected, while traversing NATs.
    pub(crate) fn nat_status(&self) -> Option<NatStatus> {
        self.links.lock().traversal.as_ref().and_then(|t| t.nat())
    }

    /// (state, server, embedded) for status.
    pub(crate) fn control_status(&self) -> (String, Option<String>, bool) {
        let l = self.links.lock();
        let embedded = l.embedded.is_some();
        match &l.control {
            Some((c, _)) => (
                control_state_name(c.state()).to_string(),
                Some(c.server()),
                embedded,
            ),
            None => {
                let configured = self.rt.configured_server();
                let state = if configured.is_some() {
                    "connecting"
                } else {
                    "not_configured"
                };
                (state.to_string(), configured, embedded)
            }
        }
    }

    pub(crate) fn control_client(&self) -> Option<ControlClient> {
        self.links.lock().control.as_ref().map(|(c, _)| c.clone())
    }

    /// Once a second, from the engine's tick.
    pub(crate) fn tick(&self) {
        self.send(Input::Tick);
        self.share_game();
    }

    /// Tells the party what we play whenever its snapshot says otherwise: after a join, a
    /// change, or a control server that restarted (it does not store games). Sent again after
    /// a few seconds if the snapshot still disagrees.
    fn share_game(&self) {
        const RESEND: std::time::Duration = std::time::Duration::from_secs(5);
        let Some(view) = self.view() else {
            return;
        };
        let me = self.rt.own_key();
        let shown = view
            .members
            .iter()
            .find(|m| m.public_key == me)
            .and_then(|m| m.game.clone());
        let playing = self.games.current();
        if shown == playing {
            return;
        }
        let now = Instant::now();
        {
            let mut sent = self.game_sent.lock();
            if matches!(&*sent, Some((g, at)) if *g == playing && now.duration_since(*at) < RESEND)
            {
                return;
            }
            *sent = Some((playing.clone(), now));
        }
        let Some(client) = self.control_client() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = client.request(Op::SetGame { game: playing }).await {
                // An older control server does not know games: the party works without.
                tracing::debug!(error = %e, "telling the party what we play");
            }
        });
    }

    pub(crate) fn set_name(&self, name: &str) {
        if let Some(c) = self.control_client() {
            c.set_name(name);
        }
    }

    // The server browser's bookkeeping: what this device announced, while in the party.

    pub(crate) fn announced(&self) -> Vec<GameServer> {
        self.links.lock().announced.clone()
    }

    /// Remembers `server` as announced; true when the re-announcing task must start.
    pub(crate) fn remember_announced(&self, server: GameServer) -> bool {
        let mut l = self.links.lock();
        l.announced.retain(|s| s.id != server.id);
        l.announced.push(server);
        !std::mem::replace(&mut l.reannouncing, true)
    }

    pub(crate) fn forget_announced(&self, id: &str) {
        self.links.lock().announced.retain(|s| s.id != id);
    }

    // The control session.

    /// Starts a control session to `url` (replacing any other) and the task forwarding its
    /// events to the machine.
    fn connect_control(self: &Arc<Self>, url: &str, from_link: bool) -> ControlClient {
        let mut l = self.links.lock();
        if let Some((c, _)) = &l.control {
            if c.is_for(url) {
                return c.clone();
            }
        }
        if let Some((_, cancel)) = l.control.take() {
            cancel.cancel();
        }
        let name = self
            .rt
            .settings()
            .map(|s| s.display_name)
            .unwrap_or_else(|_| "Player".into());
        let cancel = self.rt.cancellation().child_token();
        let (tx, rx) = mpsc::channel(64);
        let client = ControlClient::spawn(
            url.to_string(),
            self.rt.identity.secret().clone(),
            name,
            tx,
            cancel.clone(),
        );
        l.control = Some((client.clone(), cancel.clone()));
        l.from_link = from_link;
        if l.embedded.is_none() {
            l.meet_at = Some(url.to_string());
        }
        drop(l);
        let s = self.clone();
        self.rt.spawn(async move { s.forward(rx, cancel).await });
        client
    }

    async fn forward(&self, mut rx: mpsc::Receiver<ControlEvent>, cancel: CancellationToken) {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => return,
                ev = rx.recv() => match ev { Some(ev) => ev, None => return },
            };
            match ev {
                ControlEvent::State(s) => self.rt.emit(EngineEvent::ControlChanged {
                    state: control_state_name(s).to_string(),
                }),
                ControlEvent::Party(view) => {
                    let keepalive = self.rt.settings().map(|s| s.keepalive_secs).unwrap_or(0);
                    self.send(Input::Snapshot {
                        view,
                        keepalive: (keepalive > 0).then_some(keepalive),
                    });
                }
                ControlEvent::PartyGone { party_id, reason } => {
                    if self.view().is_some_and(|v| v.id == party_id) {
                        tracing::info!(party = %party_id, %reason, "no longer in the party");
                    }
                    self.send(Input::Gone { party_id, reason });
                }
                ControlEvent::Signal { from, payload } => {
                    let mut l = self.links.lock();
                    match l.traversal.clone() {
                        Some(t) => {
                            drop(l);
                            t.signal(from, payload);
                        }
                        None => {
                            let now = std::time::Instant::now();
                            l.early_signals
                                .retain(|(t, _, _)| now.duration_since(*t) < EARLY_SIGNAL_TTL);
                            if l.early_signals.len() < EARLY_SIGNALS {
                                l.early_signals.push((now, from, payload));
                            } else {
                                tracing::debug!(
                                    from = from.get(..8).unwrap_or(""),
                                    "too many signals before NAT traversal started: dropped"
                                );
                            }
                        }
                    }
                }
                ControlEvent::IceServers(servers) => {
                    // Without credentials: they say NAT traversal is on; traversal asks for
                    // credentials itself once in a party.
                    let servers = self.extra_ice_servers().added_to(servers);
                    let on = !servers.is_empty();
                    self.links.lock().ice_servers = servers;
                    self.send(Input::TraversalAvailable(on));
                }
            }
        }
    }

    /// Tells the server where our WireGuard port is, so members can reach us.
    fn report_endpoints(&self) {
        let Some(stats) = self.rt.tunnel_stats() else {
            return;
        };
        let endpoints = lan::endpoints(stats.listen_port, &stats.interface);
        let Some(client) = self.control_client() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = client.request(Op::SetEndpoints { endpoints }).await {
                tracing::warn!(error = %e, "reporting our endpoints");
            }
        });
    }

    /// Starts NAT traversal for the running tunnel (once per tunnel) and gives it the members.
    fn traverse(self: &Arc<Self>, members: Vec<(String, String)>) {
        let Some(device) = self.rt.tunnel_device() else {
            return;
        };
        let Ok(settings) = self.rt.settings() else {
            return;
        };
        let subnet = self.view().and_then(|v| v.subnet.parse::<IpNet>().ok());
        let mut l = self.links.lock();
        let traversal = match &l.traversal {
            Some(t) => t.clone(),
            None => {
                let rt = self.rt.clone();
                let t = Traversal::start(
                    device.clone(),
                    TraversalConfig {
                        own_key: self.rt.own_key(),
                        servers: l.ice_servers.clone(),
                        extra: extra_servers(&settings),
                        relay_only: settings.relay_only,
                        tun_name: device.interface_name().to_string(),
                        party_subnet: subnet,
                        control: self.clone(),
                        on_event: Arc::new(move |ev| rt.emit(traversal_event(ev))),
                        cancel: self.rt.cancellation(),
                        tasks: self.rt.tasks().clone(),
                    },
                );
                l.traversal = Some(t.clone());
                t
            }
        };
        let early = std::mem::take(&mut l.early_signals);
        drop(l);
        traversal.set_peers(members);
        for (at, from, payload) in early {
            if at.elapsed() < EARLY_SIGNAL_TTL {
                traversal.signal(from, payload);
            }
        }
    }

    pub(crate) fn stop_traversal(&self) {
        if let Some(t) = self.links.lock().traversal.take() {
            t.stop();
        }
    }

    fn extra_ice_servers(&self) -> ExtraServers {
        self.rt
            .settings()
            .map(|s| extra_servers(&s))
            .unwrap_or_default()
    }

    /// Connects to the configured control server at start, so a device that was in a party
    /// before a restart is back in it (the server pushes the party on connect).
    pub(crate) fn resume(self: &Arc<Self>) {
        if let Some(url) = self.rt.configured_server() {
            self.connect_control(&url, false);
        }
    }

    /// The control session for creating a party: the configured server, or (with none, or in
    /// embedded mode) a server inside this engine that friends on the LAN connect to.
    async fn control_for_create(self: &Arc<Self>) -> Result<ControlClient, EngineError> {
        let settings = self.rt.settings()?;
        let server = self.rt.configured_server();
        let embedded = match settings.mode {
            Mode::Embedded => true,
            Mode::Server => false,
            Mode::Auto => server.is_none(),
        };
        if !embedded {
            let url = server.ok_or(EngineError::NeedsServer)?;
            return Ok(self.connect_control(&url, false));
        }
        let running = self
            .links
            .lock()
            .embedded
            .as_ref()
            .map(|s| s.local_addr().port());
        let port = match running {
            Some(p) => p,
            None => {
                let server = Server::start(ServerConfig {
                    listen: SocketAddr::from(([0, 0, 0, 0], settings.embedded_port)),
                    data_dir: self.rt.data_dir.root().join("embedded-server"),
                    store: Default::default(),
                    bus: None,
                    ice: Default::default(),
                    tls: None,
                })
                .await
                .map_err(EngineError::Embedded)?;
                let p = server.local_addr().port();
                tracing::info!(port = p, "embedded control server for a LAN party");
                self.links.lock().embedded = Some(server);
                p
            }
        };
        let client = self.connect_control(&format!("ws://127.0.0.1:{port}"), false);
        let meet = lan::address()
            .map(|ip| format!("ws://{ip}:{port}"))
            .unwrap_or_else(|| format!("ws://127.0.0.1:{port}"));
        self.links.lock().meet_at = Some(meet);
        Ok(client)
    }

    /// Waits until the machine has applied party `id` and its tunnel runs.
    async fn applied(&self, id: String) -> Result<(), EngineError> {
        self.ask(Input::Expect { party_id: id })
            .await
            .map_err(|reason| EngineError::Control(ControlError::Unreachable(reason)))
    }

    pub(crate) async fn create(
        self: &Arc<Self>,
        name: &str,
        max_members: Option<u16>,
        invite_ttl_secs: Option<u64>,
    ) -> Result<PartyStatus, EngineError> {
        self.rt.ensure_running()?;
        if self.in_party() {
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
        self.applied(id).await?;
        let status = self
            .party_status(self.rt.tunnel_stats().as_ref())
            .ok_or(EngineError::NotInParty)?;
        self.rt.emit(EngineEvent::PartyCreated {
            name: status.name.clone(),
        });
        Ok(status)
    }

    /// Joins with a code (using the configured server) or a `lanrage://join/...` link (using the
    /// server it names).
    pub(crate) async fn join(self: &Arc<Self>, text: &str) -> Result<PartyStatus, EngineError> {
        self.rt.ensure_running()?;
        if self.in_party() {
            return Err(EngineError::AlreadyInParty);
        }
        let invite = Invite::parse(text).map_err(EngineError::Invite)?;
        let (url, from_link) = match invite.server {
            Some(s) => (s, true),
            None => (
                self.rt.configured_server().ok_or(EngineError::NeedsLink)?,
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
        self.applied(id).await?;
        self.party_status(self.rt.tunnel_stats().as_ref())
            .ok_or(EngineError::NotInParty)
    }

    pub(crate) async fn leave(&self) -> Result<(), EngineError> {
        if !self.in_party() {
            return Err(EngineError::NotInParty);
        }
        if let Some(c) = self.control_client() {
            // Leaving works even when the server is unreachable: the server forgets us after
            // the grace period.
            if let Err(e) = c.request(Op::LeaveParty).await {
                tracing::warn!(error = %e, "telling the server we left");
            }
        }
        // Only fails when the engine is shutting down, which removes the tunnel anyway.
        let _ = self.ask(Input::Left).await;
        let (embedded, control) = {
            let mut l = self.links.lock();
            let embedded = l.embedded.take();
            let control = if l.from_link || embedded.is_some() {
                l.control.take()
            } else {
                None
            };
            l.meet_at = None;
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

    pub(crate) async fn host_op(&self, op: Op) -> Result<(), EngineError> {
        let client = self.control_client().ok_or(EngineError::NotInParty)?;
        client.request(op).await?;
        Ok(())
    }

    /// A member's public key, from its display name, virtual IP or public key.
    pub(crate) fn member_key(&self, who: &str) -> Result<String, EngineError> {
        self.view()
            .and_then(|v| {
                v.members
                    .into_iter()
                    .find(|m| {
                        m.public_key == who || m.name == who || m.virtual_ip.to_string() == who
                    })
                    .map(|m| m.public_key)
            })
            .ok_or(EngineError::UnknownMember(who.to_string()))
    }

    /// Stops the control session and an embedded server (at engine shutdown).
    pub(crate) async fn stop(&self) {
        let (control, embedded) = {
            let mut l = self.links.lock();
            (l.control.take(), l.embedded.take())
        };
        if let Some((_, cancel)) = control {
            cancel.cancel();
        }
        if let Some(server) = embedded {
            server.shutdown().await;
        }
    }
}

impl ControlPlane for Session {
    fn send_signal(&self, to: String, payload: serde_json::Value) {
        if let Some(control) = self.control_client() {
            tokio::spawn(async move { control.signal(to, payload).await });
        }
    }

    fn ice_servers(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<IceGrant, String>> + Send>> {
        let control = self.control_client();
        Box::pin(async move {
            let control = control.ok_or_else(|| "not connected to a control server".to_string())?;
            let answer = control
                .request(Op::IceServers)
                .await
                .map_err(|e| e.to_string())?;
            Ok(IceGrant {
                servers: serde_json::from_value(answer["ice_servers"].clone()).unwrap_or_default(),
                expires_at: answer["ice_expires_at"].as_u64(),
            })
        })
    }
}

fn answer(waiting: &mut Vec<(String, Reply)>, party_id: &str, result: Result<(), String>) {
    let (now, later): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(id, _)| id == party_id);
    *waiting = later;
    for (_, reply) in now {
        let _ = reply.send(result.clone());
    }
}

fn extra_servers(settings: &Settings) -> ExtraServers {
    ExtraServers {
        stun: settings.stun_servers.clone(),
        turn: settings.turn_servers.clone(),
    }
}

fn traversal_event(ev: TraversalEvent) -> EngineEvent {
    match ev {
        TraversalEvent::NatChanged(nat) => EngineEvent::NatChanged { nat },
        TraversalEvent::PathChanged {
            peer,
            name,
            from,
            to,
            reason,
        } => EngineEvent::PathChanged {
            peer,
            name,
            from: from.as_str().to_string(),
            to: to.as_str().to_string(),
            reason,
        },
    }
}

fn control_state_name(s: ControlState) -> &'static str {
    match s {
        ControlState::Connecting => "connecting",
        ControlState::Connected => "connected",
        ControlState::Reconnecting => "reconnecting",
    }
}
