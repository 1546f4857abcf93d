//! The system tray: a status line and quick actions, so LANrage lives on with its window closed.

use std::sync::atomic::{AtomicBool, Ordering};

use lanrage_core::EngineEvent;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};

use crate::EngineSlot;

const TRAY_ID: &str = "lanrage";

/// Set once the tray icon exists; without one, closing the window quits instead of hiding.
static TRAY_READY: AtomicBool = AtomicBool::new(false);

struct TrayItems {
    status: MenuItem<Wry>,
}

pub fn is_available(_app: &AppHandle) -> bool {
    TRAY_READY.load(Ordering::Relaxed)
}

fn status_line(app: &AppHandle) -> String {
    match app.try_state::<EngineSlot>().as_deref() {
        Some(EngineSlot::Ready(engine)) => match engine.status().party {
            None => "LANrage: not in a party".to_string(),
            Some(_) => "LANrage: in a party".to_string(),
        },
        Some(EngineSlot::Failed(_)) => "LANrage: engine stopped (open for details)".to_string(),
        None => "LANrage: starting".to_string(),
    }
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", status_line(app), false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open LANrage", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&status, &sep, &open, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("LANrage")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::show_main_window(app),
            "quit" => {
                tracing::info!("quit from the tray");
                app.exit(0);
            }
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(TrayItems { status });
    TRAY_READY.store(true, Ordering::Relaxed);
    Ok(())
}

/// Keeps the status line true as the engine changes.
pub fn on_event(app: &AppHandle, _event: &EngineEvent) {
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.status.set_text(status_line(app));
    }
}
