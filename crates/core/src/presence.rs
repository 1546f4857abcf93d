//! Discord Rich Presence in step with the party, the game and the Discord settings, for every
//! host (the app and `lanrage up` alike). Discord's IPC runs on its own thread
//! (`lanrage_discord::presence`); this task only decides what the profile should say.

use std::sync::Arc;
use std::time::Duration;

use lanrage_discord::presence::{DiscordPresence, PresenceWanted};
use tokio::sync::broadcast::error::RecvError;

use crate::events::EngineEvent;
use crate::games::Games;
use crate::runtime::Runtime;
use crate::session::Session;

/// How often an absent Discord is looked for again (and a shown activity re-sent).
const RETRY: Duration = Duration::from_secs(15);

/// Follows the engine's events until it stops; the presence clears with it.
pub(crate) fn start(rt: Arc<Runtime>, session: Arc<Session>, games: Arc<Games>) {
    let handle = match DiscordPresence::spawn(RETRY) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "Discord Rich Presence unavailable");
            return;
        }
    };
    let mut rx = rt.subscribe();
    let cancel = rt.cancellation();
    let task_rt = rt.clone();
    rt.spawn(async move {
        let rt = task_rt;
        // The party shown and since when (Unix seconds), so the elapsed time survives updates.
        let mut since: Option<(String, i64)> = None;
        configure(&rt, &handle);
        refresh(&rt, &session, &games, &handle, &mut since);
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => EngineEvent::SettingsReset,
                    Err(RecvError::Closed) => break,
                },
            };
            match ev {
                EngineEvent::PartyChanged { .. }
                | EngineEvent::GameStarted { .. }
                | EngineEvent::GameStopped { .. } => {}
                EngineEvent::SettingChanged { setting } if setting.key.starts_with("discord_") => {
                    configure(&rt, &handle)
                }
                EngineEvent::SettingsReset | EngineEvent::ConfigActivated { .. } => {
                    configure(&rt, &handle)
                }
                _ => continue,
            }
            refresh(&rt, &session, &games, &handle, &mut since);
        }
        drop(handle);
    });
}

fn configure(rt: &Runtime, handle: &DiscordPresence) {
    if let Ok(s) = rt.settings() {
        if s.discord_presence && s.discord_application_id.is_empty() {
            tracing::info!("Discord Rich Presence needs a Discord application id in settings");
        }
        handle.configure(s.discord_presence, &s.discord_application_id);
    }
}

fn refresh(
    rt: &Runtime,
    session: &Session,
    games: &Games,
    handle: &DiscordPresence,
    since: &mut Option<(String, i64)>,
) {
    let allow_button = rt.settings().is_ok_and(|s| s.discord_invite_button);
    let wanted = session.party_status(None).map(|p| {
        let start = match since.as_ref() {
            Some((id, t)) if *id == p.id => *t,
            _ => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                *since = Some((p.id.clone(), now));
                now
            }
        };
        PresenceWanted {
            party_id: p.id.clone(),
            party_name: p.name.clone(),
            size: (p.peers.len() + 1) as u16,
            max: p.max_members,
            since: start,
            invite_link: if allow_button {
                p.invite.as_ref().and_then(|i| i.link.clone())
            } else {
                None
            },
            game: games.current().map(|g| g.name),
        }
    });
    if wanted.is_none() {
        *since = None;
    }
    handle.show(wanted);
}
