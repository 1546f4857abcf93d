//! The engine handle: the operations hosts call, the state they show, the events they forward.
//! It owns no decision: each operation goes to the part that owns it (settings, the party's
//! session, the server browser, the tick's metrics) and this file only wires them together.

use std::sync::Arc;

use lanrage_settings::{
    ConfigView, DataDir, DeviceIdentity, SessionEntry, SettingView, Settings, SettingsStore,
};
use lanrage_tunnel::{DeviceConfig, PeerConfig};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::browser::{Browser, GameServer, ServerFilter, ServerListing};
pub use crate::error::{EngineError, ErrorReport};
use crate::events::EngineEvent;
use crate::games::Games;
use crate::runtime::Runtime;
use crate::session::Session;
pub use crate::status::{
    ControlStatus, DeviceStatus, DiscordStatus, EngineState, Notice, NoticeLevel, Status,
};
use lanrage_party::PartyStatus;

/// What `lanrage games` and the app's Games page show.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct GamesView {
    /// The game this device plays now (none or one).
    pub running: Vec<lanrage_proto::message::GameRef>,
    /// Each run of a game during a party, newest first.
    pub sessions: Vec<lanrage_games::GameSession>,
}

pub struct EngineOptions {
    pub data_dir: DataDir,
    /// A control server for this run only (`lanrage up --server URL`), over the setting.
    pub control_server: Option<String>,
}

struct Inner {
    rt: Arc<Runtime>,
    session: Arc<Session>,
    browser: Browser,
    games: Arc<Games>,
    metrics: Arc<Mutex<lanrage_metrics::MetricsCollector>>,
    /// What the Discord bot task last reported.
    discord_bot: tokio::sync::watch::Sender<lanrage_discord::bot::BotStatus>,
}

/// A cheap, cloneable handle to the running engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
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
        let (games, game_problems) = Games::load(data_dir.root());
        let games = Arc::new(games);
        let notices = recoveries
            .into_iter()
            .map(|r| r.message)
            .chain(game_problems)
            .map(|message| Notice {
                level: NoticeLevel::Warning,
                message,
            })
            .collect();
        let rt = Arc::new(Runtime::new(
            data_dir,
            identity,
            store,
            notices,
            opts.control_server,
        ));
        let session = Session::start(rt.clone(), games.clone());
        let (discord_bot, _) = tokio::sync::watch::channel(lanrage_discord::bot::BotStatus::off(
            "Off: set a bot token and a channel ID in Settings → Discord to turn it on.",
        ));
        let engine = Self {
            inner: Arc::new(Inner {
                discord_bot: discord_bot.clone(),
                browser: Browser::new(rt.clone(), session.clone()),
                metrics: Arc::new(Mutex::new(lanrage_metrics::MetricsCollector::new())),
                games,
                session,
                rt,
            }),
        };
        let rt = &engine.inner.rt;
        rt.set_state(EngineState::Running);
        let status = engine.status();
        tracing::info!(public_key = %status.device.public_key, data_dir = %status.data_dir, "engine running");
        rt.emit(EngineEvent::Started {
            status: Box::new(status),
        });
        engine.inner.session.resume();
        crate::tick::start(
            rt.clone(),
            engine.inner.session.clone(),
            engine.inner.games.clone(),
            engine.inner.metrics.clone(),
        );
        crate::webhooks::start(rt.clone());
        crate::presence::start(
            rt.clone(),
            engine.inner.session.clone(),
            engine.inner.games.clone(),
        );
        crate::session_log::start(rt.clone());
        crate::bot::start(
            rt.clone(),
            engine.inner.session.clone(),
            engine.inner.games.clone(),
            discord_bot,
        );
        Ok(engine)
    }

    /// Events from now on. A slow subscriber that falls behind misses old events (it sees a
    /// `Lagged` error) rather than slowing the engine down.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.rt.subscribe()
    }

    pub fn state(&self) -> EngineState {
        self.inner.rt.state()
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.inner.rt.data_dir
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.inner.rt.identity
    }

    /// A token cancelled at shutdown, for tasks hosts or subsystems spawn on the engine's behalf.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.rt.cancellation()
    }

    /// Runs a task that shutdown cancels (via [`Self::cancellation`]) and waits for.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.rt.spawn(fut);
    }

    pub fn status(&self) -> Status {
        let rt = &self.inner.rt;
        let session = &self.inner.session;
        let settings = rt.settings().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading settings for status; showing defaults");
            Settings::defaults()
        });
        let (state, server, embedded) = session.control_status();
        let tunnel = rt.tunnel_stats();
        let party = session.party_status(tunnel.as_ref());
        Status {
            version: crate::VERSION,
            state: rt.state(),
            device: DeviceStatus {
                public_key: rt.own_key(),
                display_name: settings.display_name.clone(),
                virtual_ip: party.as_ref().map(|p| p.virtual_ip),
                game: self.inner.games.current(),
            },
            data_dir: rt.data_dir.root().display().to_string(),
            mode: settings.mode,
            control: ControlStatus {
                state,
                server,
                embedded,
            },
            party,
            nat: session.nat_status(),
            tunnel,
            notices: rt.notices(),
            discord: DiscordStatus {
                bot: self.inner.discord_bot.borrow().clone(),
            },
        }
    }

    /// Tells the user something once (shown in status until the engine restarts, and as an event).
    pub fn notify(&self, level: NoticeLevel, message: impl Into<String>) {
        self.inner.rt.notify(level, message);
    }

    // Settings.

    pub fn settings(&self) -> Result<Settings, EngineError> {
        self.inner.rt.settings()
    }

    fn store(&self) -> parking_lot::MutexGuard<'_, SettingsStore> {
        self.inner.rt.settings.lock()
    }

    pub fn list_settings(&self) -> Result<Vec<SettingView>, EngineError> {
        Ok(self.store().list()?)
    }

    pub fn get_setting(&self, key: &str) -> Result<SettingView, EngineError> {
        Ok(self.store().get(key)?)
    }

    pub fn set_setting(&self, key: &str, value: &Value) -> Result<SettingView, EngineError> {
        self.inner.rt.ensure_running()?;
        let view = self.store().set(key, value)?;
        self.setting_changed(&view);
        Ok(view)
    }

    /// Sets a value from text a person typed (`lanrage settings set mtu 1400`).
    pub fn set_setting_text(&self, key: &str, text: &str) -> Result<SettingView, EngineError> {
        self.inner.rt.ensure_running()?;
        let view = self.store().set_from_text(key, text)?;
        self.setting_changed(&view);
        Ok(view)
    }

    fn setting_changed(&self, view: &SettingView) {
        if view.key == "display_name" {
            if let Some(name) = view.value.as_str() {
                self.inner.session.set_name(name);
            }
        }
        // Secret values are never logged; their view carries no value.
        tracing::info!(key = view.key, value = %view.value, "setting changed");
        self.inner.rt.emit(EngineEvent::SettingChanged {
            setting: view.clone(),
        });
    }

    pub fn reset_setting(&self, key: &str) -> Result<SettingView, EngineError> {
        self.inner.rt.ensure_running()?;
        let view = self.store().reset(key)?;
        self.setting_changed(&view);
        Ok(view)
    }

    pub fn reset_settings(&self) -> Result<Vec<SettingView>, EngineError> {
        self.inner.rt.ensure_running()?;
        let views = self.store().reset_all()?;
        tracing::info!("all settings reset to defaults");
        self.inner.rt.emit(EngineEvent::SettingsReset);
        Ok(views)
    }

    pub fn export_settings(&self) -> Result<Value, EngineError> {
        Ok(self.store().export()?)
    }

    pub fn import_settings(&self, doc: &Value) -> Result<Vec<SettingView>, EngineError> {
        self.inner.rt.ensure_running()?;
        let views = self.store().import(doc)?;
        tracing::info!("settings imported");
        self.inner.rt.emit(EngineEvent::SettingsReset);
        Ok(views)
    }

    pub fn list_configs(&self) -> Result<Vec<ConfigView>, EngineError> {
        Ok(self.store().list_configs()?)
    }

    pub fn save_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.inner.rt.ensure_running()?;
        let list = self.store().save_config(name)?;
        tracing::info!(name = name.trim(), "configuration saved");
        Ok(list)
    }

    pub fn activate_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.inner.rt.ensure_running()?;
        let list = self.store().activate_config(name)?;
        tracing::info!(name = name.trim(), "configuration activated");
        self.inner.rt.emit(EngineEvent::ConfigActivated {
            name: name.trim().to_string(),
        });
        Ok(list)
    }

    pub fn delete_config(&self, name: &str) -> Result<Vec<ConfigView>, EngineError> {
        self.inner.rt.ensure_running()?;
        let list = self.store().delete_config(name)?;
        tracing::info!(name = name.trim(), "configuration deleted");
        Ok(list)
    }

    /// The newest `limit` session-log entries, newest first.
    pub fn session_log(&self, limit: usize) -> Result<Vec<SessionEntry>, EngineError> {
        Ok(self.store().session_log(limit)?)
    }

    /// The games running on this device and the newest `limit` game sessions, newest first.
    pub fn games(&self, limit: usize) -> Result<GamesView, EngineError> {
        Ok(GamesView {
            running: self.inner.games.current().into_iter().collect(),
            sessions: self
                .store()
                .game_sessions(limit)?
                .into_iter()
                // A row this version cannot read (written by a newer one) is left out.
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        })
    }

    /// Sends a test message to the configured webhook, for the settings page's button.
    pub async fn test_webhook(&self) -> Result<(), EngineError> {
        crate::webhooks::test(&self.settings()?).await
    }

    // Tunnel (without a party: `lanrage wg-up`).

    /// Brings up the data plane (TUN device, WireGuard, UDP); the engine's tick reports its
    /// statistics as a `tunnel_stats` event every second.
    pub async fn start_tunnel(&self, mut cfg: DeviceConfig) -> Result<(), EngineError> {
        // Games' discovery groups follow the broadcast route, as in a party.
        if cfg.limited_broadcast_route && cfg.multicast_routes.is_empty() {
            cfg.multicast_routes = self.inner.games.multicast_groups();
        }
        self.inner.rt.start_tunnel(cfg).await
    }

    /// Replaces the tunnel's peers; unchanged peers keep their sessions, others are untouched.
    pub async fn set_tunnel_peers(&self, peers: Vec<PeerConfig>) -> Result<(), EngineError> {
        let device = self.inner.rt.tunnel_device().ok_or(EngineError::NoTunnel)?;
        device.set_peers(peers).await;
        Ok(())
    }

    /// Removes the tunnel (device, routes) if one runs.
    pub async fn stop_tunnel(&self) {
        // Traversal feeds this device's peers; a new tunnel gets a new one.
        self.inner.session.stop_traversal();
        self.inner.rt.stop_tunnel().await;
    }

    pub fn tunnel_stats(&self) -> Option<lanrage_tunnel::DeviceStats> {
        self.inner.rt.tunnel_stats()
    }

    // Metrics.

    /// The current metrics (peers, party and system) without histories.
    pub fn metrics_snapshot(&self) -> lanrage_metrics::Snapshot {
        self.inner.metrics.lock().snapshot_current()
    }

    /// Histories for charts: the last minute at 1 s, or the last hour at 10 s.
    pub fn metrics_history(&self, window: lanrage_metrics::Window) -> lanrage_metrics::HistoryView {
        self.inner.metrics.lock().history(window)
    }

    // Parties.

    pub async fn create_party(
        &self,
        name: &str,
        max_members: Option<u16>,
        invite_ttl_secs: Option<u64>,
    ) -> Result<PartyStatus, EngineError> {
        self.inner
            .session
            .create(name, max_members, invite_ttl_secs)
            .await
    }

    /// Joins with a code (using the configured server) or a `lanrage://join/...` link (using the
    /// server it names).
    pub async fn join_party(&self, text: &str) -> Result<PartyStatus, EngineError> {
        self.inner.session.join(text).await
    }

    pub async fn leave_party(&self) -> Result<(), EngineError> {
        self.inner.session.leave().await
    }

    /// Host: a fresh invite code (the old one stops working).
    pub async fn new_invite(&self, ttl_secs: Option<u64>) -> Result<PartyStatus, EngineError> {
        use lanrage_proto::message::Op;
        self.inner
            .session
            .host_op(Op::NewInvite { ttl_secs })
            .await?;
        // The new code arrives with the next snapshot, right behind the answer.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.party_status().ok_or(EngineError::NotInParty)
    }

    /// Host: the current code stops working.
    pub async fn revoke_invite(&self) -> Result<(), EngineError> {
        use lanrage_proto::message::Op;
        self.inner.session.host_op(Op::RevokeInvite).await
    }

    /// Host: removes a member, named by display name, virtual IP or public key.
    pub async fn kick(&self, who: &str) -> Result<(), EngineError> {
        use lanrage_proto::message::Op;
        let public_key = self.inner.session.member_key(who)?;
        self.inner.session.host_op(Op::Kick { public_key }).await
    }

    pub async fn close_party(&self) -> Result<(), EngineError> {
        use lanrage_proto::message::Op;
        self.inner.session.host_op(Op::CloseParty).await
    }

    pub fn party_status(&self) -> Option<PartyStatus> {
        self.inner
            .session
            .party_status(self.inner.rt.tunnel_stats().as_ref())
    }

    /// NAT type as last detected, while traversing NATs.
    pub fn nat_status(&self) -> Option<lanrage_traversal::NatStatus> {
        self.inner.session.nat_status()
    }

    // The server browser.

    /// Announces a game server this device hosts to its party (and keeps it announced).
    pub async fn announce_server(&self, server: GameServer) -> Result<(), EngineError> {
        self.inner.browser.announce(server).await
    }

    pub async fn remove_server(&self, id: &str) -> Result<(), EngineError> {
        self.inner.browser.remove(id).await
    }

    pub async fn list_servers(
        &self,
        filter: &ServerFilter,
    ) -> Result<Vec<ServerListing>, EngineError> {
        self.inner.browser.list(filter).await
    }

    pub fn favorites(&self) -> Result<Vec<String>, EngineError> {
        Ok(self.store().favorites()?)
    }

    pub fn set_favorite(&self, key: &str, on: bool) -> Result<(), EngineError> {
        Ok(self.store().set_favorite(key, on)?)
    }

    /// Stops every task, removes what the engine created on the system and flushes settings.
    /// Safe to call more than once and from several tasks: every caller returns once it is done.
    pub async fn shutdown(&self) {
        let rt = &self.inner.rt;
        let mut first = false;
        rt.state_watch().send_if_modified(|s| {
            first = !matches!(s, EngineState::Stopping | EngineState::Stopped);
            if first {
                *s = EngineState::Stopping;
            }
            first
        });
        if !first {
            let mut rx = rt.state_watch().subscribe();
            let _ = rx.wait_for(|s| *s == EngineState::Stopped).await;
            return;
        }
        rt.emit(EngineEvent::StateChanged {
            state: EngineState::Stopping,
        });
        tracing::info!("engine shutting down");
        if let Some(session) = self.inner.games.end_session() {
            crate::games::store_session(rt, &session);
        }
        self.inner.session.stop().await;
        self.inner.session.stop_traversal();
        rt.stop_tunnel().await;
        rt.stop_tasks().await;
        if let Err(e) = rt.settings.lock().flush() {
            tracing::warn!(error = %e, "flushing settings at shutdown");
        }
        rt.set_state(EngineState::Stopped);
        tracing::info!("engine stopped");
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
    async fn a_broken_games_file_is_a_notice_naming_the_line_and_the_rest_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("games.toml"),
            "[[game]]\nid = \"mine\"\nname = \"My Game\"\nlinux = [\"mygame\"]\n\n\
             [[game]]\nid = \"broken\"\nname = \"Broken\"\nudp = [99999]\n",
        )
        .unwrap();
        let e = engine(dir.path()).await;
        let notices = e.status().notices;
        assert_eq!(notices.len(), 1, "{notices:?}");
        let m = &notices[0].message;
        assert!(m.contains("games.toml:"), "{m}");
        assert!(m.contains("broken"), "{m}");
        assert!(m.contains("udp"), "{m}");
        // The player's good entry and the built-in catalogue are there.
        let games = &e.inner.games;
        assert!(games.knows("mine") && games.knows("openttd"));
        assert!(games
            .multicast_groups()
            .contains(&std::net::Ipv4Addr::new(224, 0, 2, 60)));
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
