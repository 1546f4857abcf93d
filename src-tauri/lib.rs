//! The LANrage desktop app: hosts the engine in-process, exposes it to the web UI as Tauri
//! commands and forwards engine events as the `engine-event` Tauri event.

mod commands;
mod tray;

use std::process::ExitCode;

use lanrage_core::settings::{DataDir, DataDirLock, LockError};
use lanrage_core::{Engine, EngineEvent, EngineOptions, ErrorReport};
use tauri::{Emitter, Manager, RunEvent, WindowEvent};

/// The engine as the app holds it: running, or the reason it could not start (shown in the UI
/// instead of a window that silently does nothing).
pub enum EngineSlot {
    Ready(Engine),
    Failed(ErrorReport),
}

impl EngineSlot {
    pub fn get(&self) -> Result<&Engine, ErrorReport> {
        match self {
            EngineSlot::Ready(e) => Ok(e),
            EngineSlot::Failed(r) => Err(r.clone()),
        }
    }
}

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
    let _log_guard = match lanrage_core::logging::init(None, Some(&data_dir.log_dir())) {
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
            // Taken here, after the single-instance plugin handed a second launch over to the
            // first app, and held (as app state) until the app exits. Refused because `lanrage
            // up` or the service runs on this directory: the window says why, and no engine
            // starts to race the other for the settings database.
            let started = match lock_data_dir(&data_dir) {
                Err(e) => {
                    tracing::error!(error = %e, "data directory in use");
                    Err(ErrorReport {
                        code: "data_dir_in_use".into(),
                        message: e.to_string(),
                        field: None,
                    })
                }
                Ok(lock) => {
                    app.manage(lock);
                    tauri::async_runtime::block_on(Engine::start(EngineOptions {
                        data_dir: data_dir.clone(),
                        control_server: None,
                    }))
                    .map_err(|e| {
                        tracing::error!(error = %e, "engine failed to start");
                        ErrorReport::from(&e)
                    })
                }
            };
            let slot = match started {
                Ok(engine) => {
                    forward_events(app.handle().clone(), &engine);
                    let settings = engine.settings().ok();
                    let at_login = settings.as_ref().is_some_and(|s| s.start_at_login);
                    sync_start_at_login(app.handle(), at_login);
                    let minimized = settings.as_ref().is_some_and(|s| s.start_minimized)
                        || std::env::args().any(|a| a == MINIMIZED_FLAG);
                    if !minimized {
                        show_main_window(app.handle());
                    }
                    EngineSlot::Ready(engine)
                }
                Err(report) => {
                    show_main_window(app.handle());
                    EngineSlot::Failed(report)
                }
            };
            app.manage(slot);
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
        if let RunEvent::Exit = event {
            if let Some(EngineSlot::Ready(engine)) = handle.try_state::<EngineSlot>().as_deref() {
                tauri::async_runtime::block_on(engine.shutdown());
            }
        }
    });
    ExitCode::SUCCESS
}

/// The data directory's lock. An app that was just quit may still be taking its tunnel down
/// with the lock held: a relaunch waits that long before calling the directory taken.
fn lock_data_dir(dir: &DataDir) -> Result<DataDirLock, LockError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match dir.lock() {
            Err(LockError::InUse { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
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

fn forward_events(app: tauri::AppHandle, engine: &Engine) {
    let mut rx = engine.subscribe();
    let cancel = engine.cancellation();
    let engine = engine.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        tray::on_event(&app, &ev);
                        if matches!(&ev, EngineEvent::SettingChanged { setting } if setting.key == "start_at_login")
                            || matches!(ev, EngineEvent::SettingsReset | EngineEvent::ConfigActivated { .. })
                        {
                            let on = engine.settings().is_ok_and(|s| s.start_at_login);
                            sync_start_at_login(&app, on);
                        }
                        if let Err(e) = app.emit(EVENT_NAME, &ev) {
                            tracing::debug!(error = %e, "forwarding engine event");
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "UI event forwarder lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
}
