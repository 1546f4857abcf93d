//! Discord Rich Presence: "In a LANrage party (2 of 8)", since when, the game being played and a
//! join button, shown on the player's Discord profile while they are in a party; cleared when
//! they leave.
//!
//! Discord's local IPC is blocking, so it lives on its own thread. The thread keeps trying to
//! reach Discord (started after LANrage, or restarted) and re-sends the activity periodically,
//! which is also how a Discord restart is noticed.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use discord_rich_presence::activity::{Activity, Button, Party, Timestamps};
use discord_rich_presence::{DiscordIpc, DiscordIpcClient};

/// What the player's profile should say, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceWanted {
    pub party_id: String,
    pub party_name: String,
    pub size: u16,
    pub max: u16,
    /// Unix seconds when the player joined.
    pub since: i64,
    /// Shown as a button when the host allows it.
    pub invite_link: Option<String>,
    /// The game being played, by name: it takes the first line while it runs.
    pub game: Option<String>,
}

impl PresenceWanted {
    /// The activity Discord shows (kept here, pure, so it is tested without Discord).
    pub fn activity(&self) -> Activity<'_> {
        let mut a = match &self.game {
            Some(game) => Activity::new()
                .details(game.as_str())
                .state(self.party_name.as_str()),
            None => Activity::new()
                .state("In a LANrage party")
                .details(self.party_name.as_str()),
        };
        a = a.timestamps(Timestamps::new().start(self.since)).party(
            Party::new()
                .id(self.party_id.as_str())
                .size([i32::from(self.size), i32::from(self.max)]),
        );
        if let Some(link) = &self.invite_link {
            a = a.buttons(vec![Button::new("Join the party", link.as_str())]);
        }
        a
    }
}

enum Msg {
    Want(Option<PresenceWanted>),
    Configure { enabled: bool, app_id: String },
    Stop,
}

/// Handle to the presence thread; dropping it stops the thread and clears the presence.
pub struct DiscordPresence {
    tx: mpsc::Sender<Msg>,
}

impl DiscordPresence {
    /// `retry` is how often an unreachable Discord is tried again and a shown activity is
    /// re-sent.
    pub fn spawn(retry: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("discord-presence".into())
            .spawn(move || run(rx, retry))?;
        Ok(Self { tx })
    }

    pub fn configure(&self, enabled: bool, app_id: &str) {
        let _ = self.tx.send(Msg::Configure {
            enabled,
            app_id: app_id.trim().to_string(),
        });
    }

    pub fn show(&self, wanted: Option<PresenceWanted>) {
        let _ = self.tx.send(Msg::Want(wanted));
    }
}

impl Drop for DiscordPresence {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

fn run(rx: mpsc::Receiver<Msg>, retry: Duration) {
    let mut client: Option<DiscordIpcClient> = None;
    let mut enabled = false;
    let mut app_id = String::new();
    let mut wanted: Option<PresenceWanted> = None;
    // What Discord was last told successfully (None = cleared).
    let mut shown: Option<Option<PresenceWanted>> = None;
    let mut warned = false;
    loop {
        let refresh = match rx.recv_timeout(retry) {
            Ok(Msg::Want(w)) => {
                wanted = w;
                false
            }
            Ok(Msg::Configure {
                enabled: e,
                app_id: id,
            }) => {
                if id != app_id || !e {
                    disconnect(&mut client, shown.is_some());
                    shown = None;
                }
                enabled = e;
                app_id = id;
                false
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                disconnect(&mut client, shown.is_some());
                return;
            }
            Err(RecvTimeoutError::Timeout) => true,
        };
        if !enabled || app_id.is_empty() {
            continue;
        }
        // Periodic re-sends notice a Discord that went away and came back.
        if !refresh && shown.as_ref() == Some(&wanted) {
            continue;
        }
        if refresh && wanted.is_none() && shown.is_some() {
            continue;
        }
        if client.is_none() {
            let mut c = DiscordIpcClient::new(&app_id);
            match c.connect() {
                Ok(()) => {
                    tracing::info!("connected to Discord for Rich Presence");
                    warned = false;
                    client = Some(c);
                }
                Err(e) => {
                    if !warned {
                        tracing::info!(error = %e, "Discord is not running; Rich Presence waits for it");
                        warned = true;
                    }
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let result = match &wanted {
            Some(w) => c.set_activity(w.activity()),
            None => c.clear_activity(),
        };
        match result {
            Ok(()) => shown = Some(wanted.clone()),
            Err(e) => {
                tracing::info!(error = %e, "lost Discord; reconnecting");
                client = None;
                shown = None;
            }
        }
    }
}

fn disconnect(client: &mut Option<DiscordIpcClient>, clear: bool) {
    if let Some(mut c) = client.take() {
        if clear {
            let _ = c.clear_activity();
        }
        let _ = c.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_says_party_size_and_offers_the_link() {
        let w = PresenceWanted {
            party_id: "ABCDEFGH".into(),
            party_name: "Friday LAN".into(),
            size: 3,
            max: 8,
            since: 1_700_000_000,
            invite_link: Some("lanrage://join/X".into()),
            game: None,
        };
        let v = serde_json::to_value(w.activity()).unwrap();
        assert_eq!(v["state"], "In a LANrage party");
        assert_eq!(v["details"], "Friday LAN");
        assert_eq!(v["party"]["size"], serde_json::json!([3, 8]));
        assert_eq!(v["timestamps"]["start"], 1_700_000_000);
        assert_eq!(v["buttons"][0]["url"], "lanrage://join/X");
        let no_link = PresenceWanted {
            invite_link: None,
            ..w
        };
        assert!(serde_json::to_value(no_link.activity()).unwrap()["buttons"].is_null());
    }

    #[test]
    fn a_running_game_takes_the_first_line_and_the_party_the_second() {
        let w = PresenceWanted {
            party_id: "ABCDEFGH".into(),
            party_name: "Friday LAN".into(),
            size: 2,
            max: 8,
            since: 1_700_000_000,
            invite_link: None,
            game: Some("OpenTTD".into()),
        };
        let v = serde_json::to_value(w.activity()).unwrap();
        assert_eq!(v["details"], "OpenTTD");
        assert_eq!(v["state"], "Friday LAN");
        assert_eq!(v["party"]["size"], serde_json::json!([2, 8]));
    }
}
