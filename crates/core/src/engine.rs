//! The engine handle: the operations hosts call, the state they show, the events they forward.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EngineEvent;
use crate::identity::{DeviceIdentity, IdentityError};
use crate::paths::DataDir;
use crate::settings::{ConfigView, SettingView, Settings, SettingsError, SettingsStore};
use lanrage_tunnel::{Device, DeviceConfig, PeerConfig};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A subsystem that is not built yet; `detail` is a whole sentence for the user.
    #[error("{detail}")]
    NotAvailable {
        feature: &'static str,
        detail: &'static str,
    },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Tunnel(#[from] lanrage_tunnel::DeviceError),
    #[error("a tunnel is already running on {0}")]
    TunnelRunning(String),
    #[error("no tunnel is running")]
    NoTunnel,
    #[error(transparent)]
    Control(crate::control::ControlError),
    #[error("{0}")]
    Invite(lanrage_proto::invite::InviteError),
    #[error("no control server is set and party mode is `server`: set `control_server` or change the mode")]
    NeedsServer,
    #[error("this is a bare invite code and no control server is set: paste the whole invite link (lanrage://join/...) instead")]
    NeedsLink,
    #[error("you are already in a party; leave it first")]
    AlreadyInParty,
    #[error("you are not in a party")]
    NotInParty,
    #[error("no member called `{0}` in the party")]
    UnknownMember(String),
    #[error("cannot start the party server on this machine: {0}")]
    Embedded(lanrage_server::ServerError),
    #[error("Discord webhook: {0}")]
    Webhook(String),
}

/// An error as hosts send it to a person or a program: a stable code, a sentence, and the
/// setting it is about, if any.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&EngineError> for ErrorReport {
    fn from(e: &EngineError) -> Self {
        let (code, field) = match e {
            EngineError::Settings(SettingsError::Invalid { field, .. }) => {
                ("invalid_setting", Some(field.clone()))
            }
            EngineError::Settings(SettingsError::Unknown(k)) => {
                ("unknown_setting", Some(k.clone()))
            }
            EngineError::Settings(SettingsError::ConfigNotFound(_)) => ("config_not_found", None),
            EngineError::Settings(SettingsError::BadConfigName | SettingsError::Import(_)) => {
                ("invalid_request", None)
            }
            EngineError::NotAvailable { .. } => ("not_available", None),
            EngineError::ShuttingDown => ("shutting_down", None),
            EngineError::Tunnel(lanrage_tunnel::DeviceError::NoPermission { .. }) => {
                ("no_permission", None)
            }
            EngineError::Tunnel(_) => ("tunnel", None),
            EngineError::TunnelRunning(_) | EngineError::NoTunnel => ("invalid_request", None),
            EngineError::Control(crate::control::ControlError::Refused(body)) => {
                return Self {
                    code: body.code.clone(),
                    message: body.message.clone(),
                    field: None,
                }
            }
            EngineError::Control(_) => ("server_unreachable", None),
            EngineError::Invite(_) => ("invalid_code", None),
            EngineError::NeedsServer | EngineError::NeedsLink => ("needs_server", None),
            EngineError::AlreadyInParty => ("already_in_party", None),
            EngineError::NotInParty => ("not_in_party", None),
            EngineError::UnknownMember(_) => ("unknown_member", None),
            EngineError::Webhook(_) => ("webhook", Some("discord_webhook_url".to_string())),
            _ => ("internal", None),
        };
        Self {
            code: code.to_string(),
            message: e.to_string(),
            field,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    Starting,
    Running,
    Stopping,
    Stopped,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

/// Something the user should read once, such as settings being reset after corruption.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceStatus {
    pub public_key: String,
    pub display_name: String,
    /// This device's address on the party's virtual LAN, while in a party.
    pub virtual_ip: Option<std::net::Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlStatus {
    /// `not_configured`, `connecting`, `connected` or `reconnecting`.
    pub state: String,
    pub server: Option<String>,
    /// This engine runs the party's server itself (a LAN party without a control server).
    pub embedded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub state: EngineState,
    pub device: DeviceStatus,
    pub data_dir: String,
    pub mode: crate::settings::Mode,
    pub control: ControlStatus,
    /// `None` while not in a party.
    pub party: Option<crate::party::PartyStatus>,
    /// The NAT this device is behind, while NAT traversal runs.
    pub nat: Option<crate::nat::NatStatus>,
    /// The data plane and every peer's traffic and in-tunnel measurements, while it runs.
    pub tunnel: Option<lanrage_tunnel::DeviceStats>,
    pub notices: Vec<Notice>,
}

pub struct EngineOptions {
    pub data_dir: DataDir,
    /// A control server for this run only (`lanrage up --server URL`), over the setting.
    pub control_server: Option<String>,
}

pub(crate) struct Inner {
    data_dir: DataDir,
    pub(crate) settings: Mutex<SettingsStore>,
    identity: DeviceIdentity,
    events: broadcast::Sender<EngineEvent>,
    state: tokio::sync::watch::Sender<EngineState>,
    notices: Mutex<Vec<Notice>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    tunnel: Mutex<Option<Device>>,
    pub(crate) party: Mutex<crate::party::PartyState>,
    metrics: Mutex<lanrage_metrics::MetricsCollector>,
    pub(crate) control_override: Option<String>,
}

/// How often tunnel statistics (traffic, RTT, jitter, loss) go out as an event.
const TUNNEL_STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A cheap, cloneable handle to the running engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-written (every
    // critical section is a single assignment or a SQLite transaction), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// Opens the data directory, settings and identity, and starts the engine's tasks.
    pub async fn start(opts: EngineOptions) -> Result<Self, EngineError> {
        let data_dir = opts.data_dir.clone();
        data_dir.ensure().map_err(|source| EngineError::DataDir {
            path: data_dir.root().display().to_string(),
            source,
        })?;
        let (store, recoveries) = SettingsStore::open(&data_dir.settings_db())?;
        let (identity, created) = DeviceIdentity::load_or_create(&data_dir.device_key())?;
        if created {
            tracing::info!(public_key = %identity.public_key_base64(), "created device identity");
        }
        let notices = recoveries
            .into_iter()
            .map(|r| Notice {
                level: NoticeLevel::Warning,
                message: r.message,
            })
            .collect();
        let (events, _) = broadcast::channel(256);
        let engine = Self {
            inner: Arc::new(Inner {
                data_dir,
                settings: Mutex::new(store),
                identity,
                events,
                state: tokio::sync::watch::Sender::new(EngineState::Starting),
                notices: Mutex::new(notices),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                tunnel: Mutex::new(None),
                party: Mutex::new(crate::party::PartyState::default()),
                metrics: Mutex::new(lanrage_metrics::MetricsCollector::new()),
                control_override: opts.control_server.filter(|s| !s.is_empty()),
            }),
        };
        engine.set_state(EngineState::Running);
        let status = engine.status();
        tracing::info!(public_key = %status.device.public_key, data_dir = %status.data_dir, "engine running");
        engine.emit(EngineEvent::Started {
            status: Box::new(status),
        });
        engine.resume_control();
        engine.start_metrics();
        engine.start_webhooks();
        engine.start_session_log();
        Ok(engine)
    }

    /// Events from now on. A slow subscriber that falls behind misses old events (it sees a
    /// `Lagged` error) rather than slowing the engine down.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: EngineEvent) {
        // No subscribers is fine: events are for whoever is watching.
        let _ = self.inner.events.send(event);
    }

    fn set_state(&self, state: EngineState) {
        self.inner.state.send_replace(state);
        self.emit(EngineEvent::StateChanged { state });
    }

    pub fn state(&self) -> EngineState {
        *self.inner.state.borrow()
    }

    pub(crate) fn ensure_running(&self) -> Result<(), EngineError> {
        match self.state() {
            EngineState::Stopping | EngineState::Stopped => Err(EngineError::ShuttingDown),
            _ => Ok(()),
        }
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.inner.data_dir
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.inner.identity
    }

    /// A token cancelled at shutdown, for tasks hosts or subsystems spawn on the engine's behalf.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    pub fn status(&self) -> Status {
        let settings = self.settings().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading settings for status; showing defaults");
            Settings::defaults()
        });
        let (control_state, server, embedded) = self.control_status();
        let party = self.party_status();
        Status {
            version: crate::VERSION,
            state: self.state(),
            device: DeviceStatus {
                public_key: self.inner.identity.public_key_base64(),
                display_name: settings.display_name.clone(),
                virtual_ip: party.as_ref().map(|p| p.virtual_ip),
            },
            data_dir: self.inner.data_dir.root().display().to_string(),
            mode: settings.mode,
            control: ControlStatus {
                state: control_state,
                server,
                embedded,
            },
            party,
            nat: self.nat_status(),
            tunnel: self.tunnel_stats(),
            notices: lock(&self.inner.notices).clone(),
        }
    }

    /// Tells the user something once (shown in status until the engine restarts, and as an event).
    pub fn notify(&self, level: NoticeLevel, message: impl Into<String>) {
        let message = message.into();
        lock(&self.inner.notices).push(Notice {
            level,
            message: message.clone(),
        });
        self.emit(EngineEvent::Notice { level, message });
    }

    // Settings.

    pub fn settings(&self) -> Result<Settings, EngineError> {
        Ok(lock(&self.inner.settings).typed()?)
    }

    pub fn list_settings(&self) -> Result<Vec<SettingView>, EngineError> {
        Ok(lock(&self.inner.settings).list()?)
    }

    pub fn get_setting(&self, key: &str) -> Result<SettingView, EngineError> {
        Ok(lock(&self.inner.settings).get(key)?)
    }

    pub fn set_setting(&self, key: &str, value: &Value) -> Result<SettingView, EngineError> {
        self.ensure_running()?;
        let view = lock(&self.inner.settings).set(key, value)?;
        self.setting_changed(&view);
        Ok(view)
    }

    /// Sets a value from text a person typed (`lanrage settings set mtu 1400`).
    pub fn set_setting_text(&self, key: &str, text: &str) -> Result<SettingView, EngineError> {
        self.ensure_running()?;
        let view = lock(&self.inner.settings).set_from_text(key, text)?;
        self.setting_changed(&view);
        Ok(view)
    }

    fn setting_changed(&self, view: &SettingView) {
        if view.key == "display_name" {
            if let (Some(name), Some((client, _))) = (
                view.value.as_str(),
                lock(&self.inner.party).control.as_ref(),
            ) {
                client.set_name(name);
            }
        }
        // Secret values are never logged; their view carries no value.
        tracing::info!(key = view.key, value = %view.value, "setting changed");
        self.emit(EngineEvent::SettingChanged {
            setting: view.clone(),
        });
    }

    pub fn reset_setting(&self, key: &str) -> Result<SettingView, EngineError> {
        self.ensure_running()?;
        let view = lock(&self.inner.settings).reset(key)?;
        self.setting_changed(&view);
        Ok(view)
    }

    pub fn reset_settings(&self) -> Result<Vec<SettingView>, EngineError> {
        self.ensure_running()?;
        let views = lock(&self.inner.settings).reset_all()?;
        tracing::info!("all settings reset to defaults");
        self.emit(EngineEvent::SettingsReset);
        Ok(views)
    }

    pub fn export_settings(&self) -> Result<Value, EngineError> {
        Ok(lock(&self.inner.settings).export()?)
    }

    pub fn import_settings(&self, doc: &Value) -> Result<Vec<SettingView>, EngineError> {
        self.ensure_running()?;
        let views = lock(&self.inner.settings).import(doc)?;
        tracing::info!("settings imported");
        self.emit(EngineEvent::SettingsReset);
        Ok(views)
    }

    pub fn list_configs(&self) -> Result<Vec<ConfigView>, EngineError> {
        Ok(lock(&self.inner.settings).list_configs()?)
    }

    pub fn save_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.ensure_running()?;
        let list = lock(&self.inner.settings).save_config(name)?;
        tracing::info!(name = name.trim(), "configuration saved");
        Ok(list)
    }

    pub fn activate_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.ensure_running()?;
        let list = lock(&self.inner.settings).activate_config(name)?;
        tracing::info!(name = name.trim(), "configuration activated");
        self.emit(EngineEvent::ConfigActivated {
            name: name.trim().to_string(),
        });
        Ok(list)
    }

    pub fn delete_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.ensure_running()?;
        let list = lock(&self.inner.settings).delete_config(name)?;
        tracing::info!(name = name.trim(), "configuration deleted");
        Ok(list)
    }

    // Tunnel.

    /// Brings up the data plane (TUN device, WireGuard, UDP) and reports its statistics as a
    /// `tunnel_stats` event every second.
    pub async fn start_tunnel(&self, cfg: DeviceConfig) -> Result<(), EngineError> {
        self.ensure_running()?;
        if let Some(d) = lock(&self.inner.tunnel).as_ref() {
            return Err(EngineError::TunnelRunning(d.interface_name().to_string()));
        }
        let device = Device::start(cfg).await?;
        *lock(&self.inner.tunnel) = Some(device);
        let engine = self.clone();
        let cancel = self.cancellation();
        self.spawn(async move {
            let mut tick = tokio::time::interval(TUNNEL_STATS_INTERVAL);
            let mut connections: Vec<(String, &'static str)> = Vec::new();
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                // A peer's path changing (first handshake, going quiet) is a party change the
                // UI shows, though the server's snapshot did not change.
                if let Some(party) = engine.party_status() {
                    let now: Vec<(String, &'static str)> = party
                        .peers
                        .iter()
                        .map(|p| (p.public_key.clone(), p.connection))
                        .collect();
                    if now != connections {
                        for (key, conn) in &now {
                            let before = connections.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
                            if before.is_some() && before != Some(*conn) {
                                tracing::info!(peer = %key.get(..8).unwrap_or(""), from = before.unwrap_or(""), to = conn, "path changed");
                            }
                        }
                        connections = now;
                        engine.emit(EngineEvent::PartyChanged {
                            party: Some(Box::new(party)),
                        });
                    }
                }
                match engine.tunnel_stats() {
                    Some(tunnel) => engine.emit(EngineEvent::TunnelStats {
                        tunnel: Box::new(tunnel),
                    }),
                    None => break,
                }
            }
        });
        Ok(())
    }

    /// Replaces the tunnel's peers; unchanged peers keep their sessions, others are untouched.
    pub async fn set_tunnel_peers(&self, peers: Vec<PeerConfig>) -> Result<(), EngineError> {
        let device = lock(&self.inner.tunnel)
            .clone()
            .ok_or(EngineError::NoTunnel)?;
        device.set_peers(peers).await;
        Ok(())
    }

    /// Once a second: every peer's RTT, jitter, loss, traffic and quality, and the system's CPU,
    /// memory and network, into bounded histories; sent to hosts as a `metrics` event.
    fn start_metrics(&self) {
        if !self.settings().map(|s| s.metrics).unwrap_or(true) {
            tracing::info!("metrics are switched off in settings");
            return;
        }
        let engine = self.clone();
        let cancel = self.cancellation();
        self.spawn(async move {
            let mut sampler = lanrage_metrics::SystemSampler::new();
            if let Ok(s) = engine.settings() {
                // Tunnel traffic is counted per peer; counting the TUN too would double it.
                sampler.exclude_interface(s.interface_name);
            }
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = lanrage_metrics::unix_millis(std::time::SystemTime::now());
                let inputs = engine.metrics_inputs();
                let system = sampler.sample(now);
                let snapshot = {
                    let mut m = lock(&engine.inner.metrics);
                    for ev in m.on_tick(now, &inputs, system) {
                        tracing::debug!(?ev, "metrics");
                    }
                    m.snapshot_current()
                };
                engine.emit(EngineEvent::Metrics {
                    snapshot: Box::new(snapshot),
                });
            }
        });
    }

    /// What the metrics collector sees: party members (with names and connection state) or,
    /// without a party (`wg-up`), the tunnel's peers.
    fn metrics_inputs(&self) -> Vec<lanrage_metrics::PeerInput> {
        let tunnel = self.tunnel_stats();
        let find = |key: &str| {
            tunnel
                .as_ref()
                .and_then(|t| t.peers.iter().find(|p| p.public_key == key).cloned())
        };
        let input = |key: &str, name: Option<String>, connection: &str| {
            let t = find(key);
            lanrage_metrics::PeerInput {
                public_key: key.to_string(),
                name,
                connection: connection.to_string(),
                rtt_ms: t.as_ref().and_then(|p| p.probe.srtt_ms.or(p.probe.rtt_ms)),
                jitter_ms: t.as_ref().and_then(|p| p.probe.jitter_ms),
                loss: t.as_ref().and_then(|p| p.probe.loss),
                rx_bytes: t.as_ref().map_or(0, |p| p.rx_bytes),
                tx_bytes: t.as_ref().map_or(0, |p| p.tx_bytes),
                rx_packets: t.as_ref().map_or(0, |p| p.rx_packets),
                tx_packets: t.as_ref().map_or(0, |p| p.tx_packets),
            }
        };
        if let Some(party) = self.party_status() {
            return party
                .peers
                .iter()
                .map(|p| input(&p.public_key, Some(p.name.clone()), p.connection))
                .collect();
        }
        tunnel
            .as_ref()
            .map(|t| {
                t.peers
                    .iter()
                    .map(|p| {
                        // Without a party there is no server to say a peer is offline.
                        let state = crate::party::path_state(true, p.last_handshake_secs);
                        input(&p.public_key, None, state)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The current metrics (peers, party and system) without histories.
    pub fn metrics_snapshot(&self) -> lanrage_metrics::Snapshot {
        lock(&self.inner.metrics).snapshot_current()
    }

    /// Histories for charts: the last minute at 1 s, or the last hour at 10 s.
    pub fn metrics_history(&self, window: lanrage_metrics::Window) -> lanrage_metrics::HistoryView {
        lock(&self.inner.metrics).history(window)
    }

    /// Removes the tunnel (device, routes) if one runs.
    pub async fn stop_tunnel(&self) {
        // Traversal feeds this device's peers; a new tunnel gets a new one.
        self.stop_traversal();
        let device = lock(&self.inner.tunnel).take();
        if let Some(d) = device {
            d.shutdown().await;
        }
    }

    pub(crate) fn tunnel_device(&self) -> Option<Device> {
        lock(&self.inner.tunnel).clone()
    }

    pub(crate) fn control_client(&self) -> Option<crate::control::ControlClient> {
        lock(&self.inner.party)
            .control
            .as_ref()
            .map(|(c, _)| c.clone())
    }

    pub fn tunnel_stats(&self) -> Option<lanrage_tunnel::DeviceStats> {
        lock(&self.inner.tunnel).as_ref().map(Device::stats)
    }

    /// Stops every task, removes what the engine created on the system and flushes settings.
    /// Safe to call more than once and from several tasks: every caller returns once it is done.
    pub async fn shutdown(&self) {
        let mut first = false;
        self.inner.state.send_if_modified(|s| {
            first = !matches!(s, EngineState::Stopping | EngineState::Stopped);
            if first {
                *s = EngineState::Stopping;
            }
            first
        });
        if !first {
            let mut rx = self.inner.state.subscribe();
            let _ = rx.wait_for(|s| *s == EngineState::Stopped).await;
            return;
        }
        self.emit(EngineEvent::StateChanged {
            state: EngineState::Stopping,
        });
        tracing::info!("engine shutting down");
        self.stop_party_services().await;
        self.inner.cancel.cancel();
        let tunnel = lock(&self.inner.tunnel).take();
        if let Some(device) = tunnel {
            device.shutdown().await;
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        if let Err(e) = lock(&self.inner.settings).flush() {
            tracing::warn!(error = %e, "flushing settings at shutdown");
        }
        self.set_state(EngineState::Stopped);
        tracing::info!("engine stopped");
    }

    /// Runs a task that shutdown cancels (via [`Self::cancellation`]) and waits for.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(fut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn engine(dir: &std::path::Path) -> Engine {
        Engine::start(EngineOptions {
            data_dir: DataDir::at(dir),
            control_server: None,
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn settings_changes_are_events_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path()).await;
        let mut rx = e.subscribe();
        e.set_setting("display_name", &json!("Zed")).unwrap();
        match rx.recv().await.unwrap() {
            EngineEvent::SettingChanged { setting } => {
                assert_eq!(setting.key, "display_name");
                assert_eq!(setting.value, json!("Zed"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(e.status().device.display_name, "Zed");
        let key = e.status().device.public_key;
        e.shutdown().await;
        assert_eq!(e.state(), EngineState::Stopped);
        assert!(matches!(
            e.set_setting("mtu", &json!(1400)),
            Err(EngineError::ShuttingDown)
        ));
        let e2 = engine(dir.path()).await;
        assert_eq!(e2.status().device.display_name, "Zed");
        assert_eq!(e2.status().device.public_key, key);
    }

    #[tokio::test]
    async fn invalid_setting_reports_field_and_code() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path()).await;
        let err = e.set_setting_text("mtu", "9").unwrap_err();
        let report = ErrorReport::from(&err);
        assert_eq!(report.code, "invalid_setting");
        assert_eq!(report.field.as_deref(), Some("mtu"));
        assert!(report.message.starts_with("mtu: must be from 1280"));
    }

    #[tokio::test]
    async fn bare_codes_without_a_server_ask_for_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path()).await;
        let code = lanrage_proto::invite::InviteCode::generate("ABCDEFGH").display();
        let err = e.join_party(&code).await.unwrap_err();
        assert_eq!(ErrorReport::from(&err).code, "needs_server");
        let err = e.join_party("not a code").await.unwrap_err();
        assert_eq!(ErrorReport::from(&err).code, "invalid_code");
        assert!(matches!(
            e.leave_party().await,
            Err(EngineError::NotInParty)
        ));
    }

    #[tokio::test]
    async fn corrupt_settings_become_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settings.db"), vec![0x5a; 4096]).unwrap();
        let e = engine(dir.path()).await;
        let status = e.status();
        assert_eq!(status.notices.len(), 1);
        assert_eq!(status.notices[0].level, NoticeLevel::Warning);
        assert!(status.notices[0].message.contains("default settings"));
    }

    #[tokio::test]
    async fn shutdown_cancels_spawned_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path()).await;
        let cancel = e.cancellation();
        let (tx, rx) = tokio::sync::oneshot::channel();
        e.spawn(async move {
            cancel.cancelled().await;
            let _ = tx.send(());
        });
        e.shutdown().await;
        assert!(rx.await.is_ok());
    }
}
