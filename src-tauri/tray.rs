//! The system tray: a status line and quick actions, so LANrage lives on with its window closed.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::Value;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_notification::NotificationExt;

use crate::backend::{Backend, Op, Reply};

const TRAY_ID: &str = "lanrage";

/// Set once the tray icon exists; without one, closing the window quits instead of hiding.
static TRAY_READY: AtomicBool = AtomicBool::new(false);

struct TrayItems {
    status: MenuItem<Wry>,
    copy_invite: MenuItem<Wry>,
    leave: MenuItem<Wry>,
}

/// What the tray shows, read from the engine's status JSON (the same in process and attached).
#[derive(Debug, Default, Deserialize)]
struct TrayStatus {
    party: Option<TrayParty>,
    device: TrayDevice,
}

#[derive(Debug, Deserialize)]
struct TrayParty {
    name: String,
    peers: Vec<TrayPeer>,
    invite: Option<TrayInvite>,
}

#[derive(Debug, Deserialize)]
struct TrayPeer {
    online: bool,
}

#[derive(Debug, Deserialize)]
struct TrayInvite {
    code: String,
    link: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TrayDevice {
    game: Option<TrayGame>,
}

#[derive(Debug, Deserialize)]
struct TrayGame {
    name: String,
}

/// The newest status the tray shows; `None` until the engine first answered.
#[derive(Default)]
struct Shown(parking_lot::Mutex<Option<TrayStatus>>);

const ICON_CONNECTED: &[u8] = include_bytes!("../icons/tray-connected.png");
const ICON_IDLE: &[u8] = include_bytes!("../icons/tray-idle.png");

pub fn is_available(_app: &AppHandle) -> bool {
    TRAY_READY.load(Ordering::Relaxed)
}

/// The tray's first line until the engine has answered, and when it cannot.
const STARTING: &str = "LANrage: starting";
const STOPPED: &str = "LANrage: engine stopped (open for details)";

/// The running engine's status line: the party (or none) and, while game detection sees one,
/// the game this device plays.
fn party_line(status: &TrayStatus) -> String {
    let line = match &status.party {
        None => "LANrage: not in a party".to_string(),
        Some(p) => format!(
            "LANrage: {} ({} of {} online)",
            p.name,
            1 + p.peers.iter().filter(|m| m.online).count(),
            p.peers.len() + 1
        ),
    };
    match &status.device.game {
        None => line,
        Some(g) => format!("{line}, playing {}", g.name),
    }
}

fn invite_of(status: &TrayStatus) -> Option<String> {
    let inv = status.party.as_ref()?.invite.as_ref()?;
    Some(inv.link.clone().unwrap_or_else(|| inv.code.clone()))
}

/// The invite of the status shown now (the menu's "Copy invite").
fn invite_link(app: &AppHandle) -> Option<String> {
    let shown = app.try_state::<Shown>()?;
    let guard = shown.0.lock();
    invite_of(guard.as_ref()?)
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    app.manage(Shown::default());
    let status = MenuItem::with_id(app, "status", STARTING, false, None::<&str>)?;
    let create = MenuItem::with_id(app, "create", "Create party", true, None::<&str>)?;
    let join = MenuItem::with_id(app, "join", "Join party…", true, None::<&str>)?;
    let copy_invite = MenuItem::with_id(app, "copy_invite", "Copy invite", false, None::<&str>)?;
    let leave = MenuItem::with_id(app, "leave", "Leave party", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open LANrage", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let sep2 = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &sep,
            &create,
            &join,
            &copy_invite,
            &leave,
            &sep2,
            &open,
            &quit,
        ],
    )?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("LANrage")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::show_main_window(app),
            "create" | "join" => {
                crate::show_main_window(app);
                let _ = app.emit(
                    crate::NAVIGATE_EVENT,
                    serde_json::json!({ "page": event.id().as_ref() }),
                );
            }
            "copy_invite" => {
                if let Some(link) = invite_link(app) {
                    if let Err(e) = app.clipboard().write_text(link) {
                        tracing::warn!(error = %e, "copying the invite");
                    }
                }
            }
            "leave" => {
                if let Some(backend) = app.try_state::<Backend>() {
                    let backend = backend.inner().clone();
                    tauri::async_runtime::spawn(async move {
                        if let Err(e) = backend.call(Op::LeaveParty).await {
                            tracing::warn!(error = %e.message, "leaving from the tray");
                        }
                    });
                }
            }
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
    builder = builder.icon(Image::from_bytes(ICON_IDLE)?);
    builder.build(app)?;
    app.manage(TrayItems {
        status,
        copy_invite,
        leave,
    });
    TRAY_READY.store(true, Ordering::Relaxed);
    refresh(app);
    Ok(())
}

/// Keeps the tray true as the engine changes, and tells the player who came and went. `event`
/// is an engine event as JSON (`{"type": ..., ...}`).
pub fn on_event(app: &AppHandle, event: &Value) {
    let name = || event["name"].as_str().unwrap_or("someone");
    match event["type"].as_str().unwrap_or_default() {
        "member_joined" => notify(app, &format!("{} joined the party", name())),
        "member_left" => notify(app, &format!("{} left the party", name())),
        // The engine (back) up: its status comes with the event.
        "started" => return show(app, Ok(event["status"].clone())),
        "party_changed" | "state_changed" | "game_started" | "game_stopped" => {}
        _ => return,
    }
    refresh(app);
}

/// Asks the engine for its status and shows it (off the event path: an attached engine answers
/// over the local API).
fn refresh(app: &AppHandle) {
    let Some(backend) = app.try_state::<Backend>().map(|b| b.inner().clone()) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let answer = backend.call(Op::Status).await;
        show(&app, answer);
    });
}

/// The engine's status answer (or why there is none) in the tray.
fn show(app: &AppHandle, answer: Reply) {
    let (line, status) = match answer {
        Ok(v) => {
            let status = serde_json::from_value::<TrayStatus>(v).ok();
            let line = status
                .as_ref()
                .map_or_else(|| STARTING.to_string(), party_line);
            (line, status)
        }
        Err(_) => (STOPPED.to_string(), None),
    };
    let in_party = status.as_ref().is_some_and(|s| s.party.is_some());
    let has_invite = status.as_ref().and_then(invite_of).is_some();
    if let Some(shown) = app.try_state::<Shown>() {
        *shown.0.lock() = status;
    }
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.status.set_text(line);
        let _ = items.copy_invite.set_enabled(has_invite);
        let _ = items.leave.set_enabled(in_party);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let icon = if in_party { ICON_CONNECTED } else { ICON_IDLE };
        if let Ok(img) = Image::from_bytes(icon) {
            let _ = tray.set_icon(Some(img));
        }
    }
}

fn notify(app: &AppHandle, text: &str) {
    // With the window in front the UI shows its own toast; one message is enough.
    let focused = app
        .get_webview_window(crate::MAIN_WINDOW)
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false);
    if focused {
        return;
    }
    if let Err(e) = app
        .notification()
        .builder()
        .title("LANrage")
        .body(text)
        .show()
    {
        tracing::debug!(error = %e, "desktop notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanrage_core::party::{PartyStatus, PeerStatus};
    use lanrage_proto::message::GameRef;
    use std::net::Ipv4Addr;

    fn peer(octet: u8, online: bool, game: Option<GameRef>) -> PeerStatus {
        PeerStatus {
            name: format!("Player {octet}"),
            public_key: format!("KEY{octet}="),
            virtual_ip: Ipv4Addr::new(10, 66, 0, octet),
            online,
            connection: if online { "direct" } else { "offline" },
            path: None,
            endpoint: None,
            rtt_ms: None,
            jitter_ms: None,
            loss_pct: None,
            rx_bytes: 0,
            tx_bytes: 0,
            last_handshake_secs: None,
            quality_score: None,
            grade: None,
            quality: None,
            game,
        }
    }

    fn party(peers: Vec<PeerStatus>) -> PartyStatus {
        PartyStatus {
            id: "PARTY001".into(),
            name: "LAN night".into(),
            is_host: true,
            host_name: "Ana".into(),
            max_members: 8,
            virtual_ip: Ipv4Addr::new(10, 66, 0, 1),
            invite: None,
            peers,
        }
    }

    fn game(id: &str, name: &str) -> GameRef {
        GameRef {
            id: id.into(),
            name: name.into(),
        }
    }

    /// The tray reads the engine's real status JSON: built from the engine's own types, so a
    /// renamed field fails here.
    fn status(party: Option<&PartyStatus>, game: Option<&GameRef>) -> TrayStatus {
        let v = serde_json::json!({ "party": party, "device": { "game": game } });
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_status_line_names_the_party_and_the_game_this_device_plays() {
        let openttd = game("openttd", "OpenTTD");
        assert_eq!(party_line(&status(None, None)), "LANrage: not in a party");
        assert_eq!(
            party_line(&status(None, Some(&openttd))),
            "LANrage: not in a party, playing OpenTTD"
        );
        // members' games are theirs: the line names only this device's
        let p = party(vec![
            peer(2, true, Some(game("cs16", "Counter-Strike 1.6"))),
            peer(3, false, None),
        ]);
        assert_eq!(
            party_line(&status(Some(&p), None)),
            "LANrage: LAN night (2 of 3 online)"
        );
        assert_eq!(
            party_line(&status(Some(&p), Some(&openttd))),
            "LANrage: LAN night (2 of 3 online), playing OpenTTD"
        );
    }
}
