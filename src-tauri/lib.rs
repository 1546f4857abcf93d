//! The LANrage desktop app: the engine's window. It runs the engine in-process, or attaches to
//! the one `lanrage up` or the Windows service runs ([`backend`]); it exposes it to the web UI
//! as Tauri commands and forwards engine events as the `engine-event` Tauri event.

mod backend;
mod commands;
mod tray;

use std::process::ExitCode;
use std::time::Duration;

use backend::Backend;
use lanrage_core::settings::DataDir;
use lanrage_local_api::client::ApiClient;
use serde_json::Value;
use tauri::{Emitter, Manager, RunEvent, WindowEvent};

pub const EVENT_NAME: &str = "engine-event";
/// Sent to the UI when LANrage is opened with a `lanrage://join/...` link.
pub const DEEP_LINK_EVENT: &str = "deep-link";
/// Sent to the UI to show a page (`create`, `join`), e.g. from the tray.
pub const NAVIGATE_EVENT: &str = "navigate";

/// A link from the command line, kept until the UI asks for it (it may not be listening yet).
#[derive(Default)]
pub struct PendingLink(std::sync::Mutex<Option<String>>);

impl PendingLink {
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
    fn set(&self, link: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(link);
    }
}

fn deep_link_in(args: &[String]) -> Option<String> {
    args.iter()
        .find(|a| a.to_ascii_lowercase().starts_with("lanrage://"))
        .cloned()
}

/// Hands a link to the UI: now as an event, and kept for a UI that is still loading.
pub fn open_deep_link(app: &tauri::AppHandle, link: String) {
    tracing::info!("opened with an invite link");
    if let Some(p) = app.try_state::<PendingLink>() {
        p.set(link.clone());
    }
    let _ = app.emit(DEEP_LINK_EVENT, serde_json::json!({ "url": link }));
    show_main_window(app);
}
pub const MAIN_WINDOW: &str = "main";

pub fn show_main_window(app: &tauri::AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

pub fn run() -> ExitCode {
    let data_dir = match DataDir::resolve(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _log_guard = match lanrage_core::logging::init(None, Some(&log_dir(&data_dir))) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("warning: logging to a file is off: {e}");
            None
        }
    };

    let app = tauri::Builder::default()
        // Must come first: a second launch hands over to the running one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            tracing::info!("second launch: focusing the running LANrage");
            match deep_link_in(&args) {
                Some(link) => open_deep_link(app, link),
                None => show_main_window(app),
            }
        }))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        // The login entry starts LANrage in the tray (an XDG autostart file on Linux, a launch
        // agent on macOS, the Run key on Windows); the `start_at_login` setting switches it.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED_FLAG]),
        ))
        .manage(PendingLink::default())
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::list_settings,
            commands::set_setting,
            commands::reset_setting,
            commands::reset_settings,
            commands::list_configs,
            commands::save_config,
            commands::activate_config,
            commands::delete_config,
            commands::create_party,
            commands::join_party,
            commands::leave_party,
            commands::new_invite,
            commands::revoke_invite,
            commands::kick,
            commands::close_party,
            commands::take_deep_link,
            commands::classify_invite,
            commands::grade_connection,
            commands::get_metrics,
            commands::test_webhook,
            commands::get_games,
            commands::list_servers,
            commands::announce_server,
            commands::remove_server,
            commands::set_favorite,
        ])
        .setup(move |app| {
            // Chosen here, after the single-instance plugin handed a second launch over to the
            // first app. The data directory's lock (when this app runs the engine) is app state
            // until the app exits, so no second engine races this one for the settings.
            let (backend, lock) = tauri::async_runtime::block_on(backend::start(&data_dir));
            if let Some(lock) = lock {
                app.manage(lock);
            }
            if let Backend::Failed(report) = &backend {
                tracing::error!(code = %report.code, error = %report.message, "no engine");
            }
            app.manage(backend.clone());
            forward_events(app.handle().clone(), backend.clone());
            let [at_login, minimized] = tauri::async_runtime::block_on(
                backend.setting_bools(["start_at_login", "start_minimized"]),
            );
            let minimized =
                minimized == Some(true) || std::env::args().any(|a| a == MINIMIZED_FLAG);
            // Unknown (the service not up yet) is not "off": the entry is left as it is until
            // the engine answers (the `started` event when it comes).
            if let Some(on) = at_login {
                sync_start_at_login(app.handle(), on);
            }
            if !minimized {
                show_main_window(app.handle());
            }
            let args: Vec<String> = std::env::args().collect();
            if let Some(link) = deep_link_in(&args) {
                open_deep_link(app.handle(), link);
            }
            if let Err(e) = tray::create(app.handle()) {
                // No tray on this desktop: LANrage still works from its window.
                tracing::warn!(error = %e, "system tray unavailable");
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps LANrage (and the party) running in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == MAIN_WINDOW && tray::is_available(window.app_handle()) {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: LANrage could not start its window: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|handle, event| {
        // Only an engine this app runs stops with it; an attached one (`lanrage up`, the
        // service) keeps the party going.
        if let RunEvent::Exit = event {
            if let Some(Backend::InProcess(engine)) = handle.try_state::<Backend>().as_deref() {
                tauri::async_runtime::block_on(engine.shutdown());
            }
        }
    });
    ExitCode::SUCCESS
}

/// Where the app writes its log: the data directory's, except on Windows, where that directory
/// is the service's and closed to the player; there the app's own log is the player's, in
/// `%LOCALAPPDATA%\LANrage\logs`.
fn log_dir(data_dir: &DataDir) -> std::path::PathBuf {
    #[cfg(windows)]
    if let Some(local) = std::env::var_os("LOCALAPPDATA").filter(|v| !v.is_empty()) {
        return std::path::PathBuf::from(local).join("LANrage").join("logs");
    }
    data_dir.log_dir()
}

/// Passed by the login entry: start in the tray.
const MINIMIZED_FLAG: &str = "--minimized";

/// Makes the login entry match the setting (it may have been removed by hand, or the app moved).
fn sync_start_at_login(app: &tauri::AppHandle, on: bool) {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = match (on, launcher.is_enabled()) {
        (true, _) => launcher.enable(),
        (false, Ok(true)) => launcher.disable(),
        (false, _) => Ok(()),
    };
    match result {
        Ok(()) => tracing::info!(start_at_login = on, "login entry updated"),
        Err(e) => tracing::warn!(error = %e, "cannot change the start-at-login entry"),
    }
}

/// Engine events to the UI (and the tray), as JSON either way.
fn forward_events(app: tauri::AppHandle, backend: Backend) {
    match backend {
        Backend::InProcess(engine) => {
            let mut rx = engine.subscribe();
            let cancel = engine.cancellation();
            tauri::async_runtime::spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        ev = rx.recv() => match ev {
                            Ok(ev) => match serde_json::to_value(&ev) {
                                Ok(v) => on_engine_event(&app, &v),
                                Err(e) => tracing::debug!(error = %e, "encoding an engine event"),
                            },
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                tracing::debug!(missed = n, "UI event forwarder lagged");
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        },
                    }
                }
            });
        }
        Backend::Attached(client) => {
            tauri::async_runtime::spawn(follow_attached(app, client));
        }
        Backend::Failed(_) => {}
    }
}

/// Follows an attached engine's event stream for as long as the app runs. When the engine goes
/// away (the service restarts, `lanrage up` is stopped) the window says so, and when it is back
/// the UI gets a fresh status, as if the engine had just started.
async fn follow_attached(app: tauri::AppHandle, client: std::sync::Arc<ApiClient>) {
    use futures_util::StreamExt;

    let mut lost = false;
    let mut delay = Duration::from_millis(500);
    loop {
        match client.events().await {
            Ok(mut events) => {
                delay = Duration::from_millis(500);
                if lost {
                    tracing::info!("the engine is back");
                    if let Ok(status) = client.get("/v1/status").await {
                        on_engine_event(
                            &app,
                            &serde_json::json!({"type": "started", "status": status}),
                        );
                    }
                    lost = false;
                }
                while let Some(event) = events.next().await {
                    match event {
                        Ok(v) => on_engine_event(&app, &v),
                        Err(e) => {
                            tracing::debug!(error = %e, "engine event stream");
                            break;
                        }
                    }
                }
                tracing::warn!("the engine's event stream ended; reconnecting");
            }
            Err(e) if !lost => tracing::warn!(error = %e, "cannot follow the engine's events"),
            Err(_) => {}
        }
        if !lost {
            lost = true;
            on_engine_event(
                &app,
                &serde_json::json!({"type": "state_changed", "state": "stopped"}),
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn on_engine_event(app: &tauri::AppHandle, event: &Value) {
    tray::on_event(app, event);
    let kind = event["type"].as_str().unwrap_or_default();
    let login_setting = kind == "setting_changed" && event["setting"]["key"] == "start_at_login";
    if login_setting || matches!(kind, "settings_reset" | "config_activated" | "started") {
        if let Some(backend) = app.try_state::<Backend>().map(|b| b.inner().clone()) {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let [Some(on)] = backend.setting_bools(["start_at_login"]).await {
                    sync_start_at_login(&app, on);
                }
            });
        }
    }
    if let Err(e) = app.emit(EVENT_NAME, event) {
        tracing::debug!(error = %e, "forwarding engine event");
    }
}
