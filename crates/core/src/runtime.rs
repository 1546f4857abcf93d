//! The parts every engine subsystem shares: settings, identity, the event bus, the engine's
//! state and notices, its tasks, and the tunnel device. Subsystems hold an `Arc<Runtime>`; only
//! the [`crate::Engine`] handle sits above them.

use lanrage_settings::{DataDir, DeviceIdentity, Settings, SettingsStore};
use lanrage_tunnel::{Device, DeviceConfig, DeviceStats};
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::status::{EngineState, Notice, NoticeLevel};

/// `LANRAGE_OFFLOAD=off` runs the tunnel without the kernel's offload (TUN segmentation,
/// UDP GSO/GRO): for a virtual NIC or driver that mishandles it. Kernels without it need
/// nothing: the tunnel detects that itself.
pub const OFFLOAD_ENV: &str = "LANRAGE_OFFLOAD";

fn offload_switched_off() -> bool {
    std::env::var(OFFLOAD_ENV).is_ok_and(|v| matches!(v.trim(), "off" | "0" | "false" | "no"))
}

pub(crate) struct Runtime {
    pub(crate) data_dir: DataDir,
    pub(crate) identity: DeviceIdentity,
    pub(crate) settings: Mutex<SettingsStore>,
    events: broadcast::Sender<EngineEvent>,
    state: watch::Sender<EngineState>,
    notices: Mutex<Vec<Notice>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    tunnel: Mutex<Option<Device>>,
    /// A control server for this run only (`lanrage up --server URL`), over the setting.
    control_override: Option<String>,
}

impl Runtime {
    pub(crate) fn new(
        data_dir: DataDir,
        identity: DeviceIdentity,
        settings: SettingsStore,
        notices: Vec<Notice>,
        control_override: Option<String>,
    ) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            data_dir,
            identity,
            settings: Mutex::new(settings),
            events,
            state: watch::Sender::new(EngineState::Starting),
            notices: Mutex::new(notices),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            tunnel: Mutex::new(None),
            control_override: control_override.filter(|s| !s.is_empty()),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: EngineEvent) {
        // No subscribers is fine: events are for whoever is watching.
        let _ = self.events.send(event);
    }

    /// Tells the user something once (shown in status until the engine restarts, and as an event).
    pub(crate) fn notify(&self, level: NoticeLevel, message: impl Into<String>) {
        let message = message.into();
        self.notices.lock().push(Notice {
            level,
            message: message.clone(),
        });
        self.emit(EngineEvent::Notice { level, message });
    }

    pub(crate) fn notices(&self) -> Vec<Notice> {
        self.notices.lock().clone()
    }

    pub(crate) fn state(&self) -> EngineState {
        *self.state.borrow()
    }

    pub(crate) fn state_watch(&self) -> &watch::Sender<EngineState> {
        &self.state
    }

    pub(crate) fn set_state(&self, state: EngineState) {
        self.state.send_replace(state);
        self.emit(EngineEvent::StateChanged { state });
    }

    pub(crate) fn ensure_running(&self) -> Result<(), EngineError> {
        match self.state() {
            EngineState::Stopping | EngineState::Stopped => Err(EngineError::ShuttingDown),
            _ => Ok(()),
        }
    }

    pub(crate) fn settings(&self) -> Result<Settings, EngineError> {
        Ok(self.settings.lock().typed()?)
    }

    /// This device's public key, as the control server and status name it.
    pub(crate) fn own_key(&self) -> String {
        self.identity.public_key_base64()
    }

    /// The control server to use: this run's override, else the setting (empty: none).
    pub(crate) fn configured_server(&self) -> Option<String> {
        if let Some(s) = &self.control_override {
            return Some(s.clone());
        }
        self.settings()
            .ok()
            .map(|s| s.control_server)
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Runs a task that shutdown cancels (via [`Self::cancellation`]) and waits for.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(fut);
    }

    /// Cancels every task and waits for them.
    pub(crate) async fn stop_tasks(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    pub(crate) async fn start_tunnel(&self, mut cfg: DeviceConfig) -> Result<(), EngineError> {
        self.ensure_running()?;
        if offload_switched_off() {
            tracing::info!("kernel offload switched off ({OFFLOAD_ENV}=off)");
            cfg.offload = false;
        }
        if let Some(d) = self.tunnel.lock().as_ref() {
            return Err(EngineError::TunnelRunning(d.interface_name().to_string()));
        }
        let device = Device::start(cfg).await?;
        *self.tunnel.lock() = Some(device);
        Ok(())
    }

    /// Removes the tunnel (device, routes) if one runs.
    pub(crate) async fn stop_tunnel(&self) {
        let device = self.tunnel.lock().take();
        if let Some(d) = device {
            d.shutdown().await;
        }
    }

    pub(crate) fn tunnel_device(&self) -> Option<Device> {
        self.tunnel.lock().clone()
    }

    pub(crate) fn tunnel_stats(&self) -> Option<DeviceStats> {
        self.tunnel.lock().as_ref().map(Device::stats)
    }
}
