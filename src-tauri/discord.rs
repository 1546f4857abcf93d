//! Keeps Discord Rich Presence in step with the party and the Discord settings.

use std::time::Duration;

use lanrage_core::{Engine, EngineEvent};
use lanrage_discord::presence::{DiscordPresence, PresenceWanted};
use parking_lot::Mutex;

/// How often an absent Discord is looked for again (and a shown activity re-sent).
const RETRY: Duration = Duration::from_secs(15);

pub struct Presence {
    handle: DiscordPresence,
    /// The party shown and since when (Unix seconds), so the elapsed time survives updates.
    since: Mutex<Option<(String, i64)>>,
}

impl Presence {
    pub fn start(engine: &Engine) -> Option<Presence> {
        let handle = match DiscordPresence::spawn(RETRY) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "Discord Rich Presence unavailable");
                return None;
            }
        };
        let p = Presence {
            handle,
            since: Mutex::new(None),
        };
        p.configure(engine);
        p.refresh(engine);
        Some(p)
    }

    fn configure(&self, engine: &Engine) {
        if let Ok(s) = engine.settings() {
            if s.discord_presence && s.discord_application_id.is_empty() {
                tracing::info!("Discord Rich Presence needs a Discord application id in settings");
            }
            self.handle
                .configure(s.discord_presence, &s.discord_application_id);
        }
    }

    fn refresh(&self, engine: &Engine) {
        let allow_button = engine
            .settings()
            .map(|s| s.discord_invite_button)
            .unwrap_or(false);
        let wanted = engine.party_status().map(|p| {
            let mut since = self.since.lock();
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
            }
        });
        if wanted.is_none() {
            *self.since.lock() = None;
        }
        self.handle.show(wanted);
    }

    pub fn on_event(&self, engine: &Engine, event: &EngineEvent) {
        match event {
            EngineEvent::PartyChanged { .. } => self.refresh(engine),
            EngineEvent::SettingChanged { setting } if setting.key.starts_with("discord_") => {
                self.configure(engine);
                self.refresh(engine);
            }
            EngineEvent::SettingsReset | EngineEvent::ConfigActivated { .. } => {
                self.configure(engine);
                self.refresh(engine);
            }
            _ => {}
        }
    }
}
