//! Notification events and the webhook message they become (Discord's "Execute Webhook" body).

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Something to tell the channel about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    MemberJoined {
        name: String,
    },
    MemberLeft {
        name: String,
    },
    PartyCreated {
        name: String,
    },
    ServerAnnounced {
        game: String,
        server_name: String,
        players: u32,
        max_players: Option<u32>,
    },
    /// A party member (or this device's player) started a game.
    GameStarted {
        name: String,
        game: String,
    },
}

/// Discord allows at most this many embeds in one message.
pub const MAX_EMBEDS: usize = 10;
/// User-provided text (names, games) is cut to this many characters.
const MAX_TEXT: usize = 100;

// Discord's own palette, shared by the webhook messages and the bot's embeds.
pub(crate) const GREEN: u32 = 0x57F287;
pub(crate) const GREY: u32 = 0x99AAB5;
pub(crate) const BLURPLE: u32 = 0x5865F2;
pub(crate) const YELLOW: u32 = 0xFEE75C;

/// One embed of a webhook message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub color: u32,
    /// RFC 3339 time of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// Which mentions may ping: none (names from players must never ping `@everyone`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowedMentions {
    pub parse: Vec<String>,
}

/// The JSON body of one webhook request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub content: String,
    pub embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub allowed_mentions: AllowedMentions,
}

/// Makes user text safe for an embed: control characters removed, cut to 100 characters,
/// Discord markdown escaped.
pub fn sanitize(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        if c.is_control() {
            continue;
        }
        if count == MAX_TEXT {
            out.push('…');
            break;
        }
        count += 1;
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push_str("(unnamed)");
    }
    out
}

fn rfc3339(at: SystemTime) -> Option<String> {
    jiff::Timestamp::try_from(at).ok().map(|t| t.to_string())
}

impl Event {
    /// The embed for this event, stamped with the time it happened.
    pub fn embed(&self, at: SystemTime) -> Embed {
        let (title, description, color) = match self {
            Event::MemberJoined { name } => {
                (format!("{} joined the party", sanitize(name)), None, GREEN)
            }
            Event::MemberLeft { name } => {
                (format!("{} left the party", sanitize(name)), None, GREY)
            }
            Event::PartyCreated { name } => {
                (format!("Party {} created", sanitize(name)), None, BLURPLE)
            }
            Event::ServerAnnounced {
                game,
                server_name,
                players,
                max_players,
            } => {
                let players = match max_players {
                    Some(max) => format!("{players}/{max} players"),
                    None if *players == 1 => "1 player".to_string(),
                    None => format!("{players} players"),
                };
                (
                    format!(
                        "{} server announced: {}",
                        sanitize(game),
                        sanitize(server_name)
                    ),
                    Some(players),
                    YELLOW,
                )
            }
            Event::GameStarted { name, game } => (
                format!("{} started {}", sanitize(name), sanitize(game)),
                None,
                BLURPLE,
            ),
        };
        Embed {
            title,
            description,
            color,
            timestamp: rfc3339(at),
        }
    }
}

impl WebhookMessage {
    fn new(content: String, embeds: Vec<Embed>, username: Option<&str>) -> Self {
        Self {
            content,
            embeds,
            username: username.map(str::to_string),
            allowed_mentions: AllowedMentions { parse: Vec::new() },
        }
    }

    /// The messages for a batch of events: one embed per event, at most [`MAX_EMBEDS`] per
    /// message, in order.
    pub fn batch(events: &[(Event, SystemTime)], username: Option<&str>) -> Vec<WebhookMessage> {
        let chunks: Vec<&[(Event, SystemTime)]> = events.chunks(MAX_EMBEDS).collect();
        let parts = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let n = chunk.len();
                let mut content = if n == 1 {
                    "LANrage: 1 update".to_string()
                } else {
                    format!("LANrage: {n} updates")
                };
                if parts > 1 {
                    content.push_str(&format!(" ({}/{parts})", i + 1));
                }
                let embeds = chunk.iter().map(|(e, at)| e.embed(*at)).collect();
                WebhookMessage::new(content, embeds, username)
            })
            .collect()
    }

    /// What the settings page's test button sends.
    pub fn test_message(username: Option<&str>) -> WebhookMessage {
        WebhookMessage::new(
            "LANrage test message: notifications will appear in this channel.".to_string(),
            vec![Embed {
                title: "Webhook connected".to_string(),
                description: Some(
                    "Party events (members joining and leaving, new parties, announced game \
                     servers) will be posted here."
                        .to_string(),
                ),
                color: BLURPLE,
                timestamp: rfc3339(SystemTime::now()),
            }],
            username,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn a_game_start_names_the_player_and_the_game() {
        let e = Event::GameStarted {
            name: "Ana".into(),
            game: "OpenTTD".into(),
        }
        .embed(SystemTime::UNIX_EPOCH);
        assert_eq!(e.title, "Ana started OpenTTD");
        // Players' text is cut, so a long game name cannot push the message over Discord's
        // limits.
        let e = Event::GameStarted {
            name: "Ana".into(),
            game: "x".repeat(500),
        }
        .embed(SystemTime::UNIX_EPOCH);
        assert_eq!(e.title.chars().count(), "Ana started ".len() + 101);
    }

    #[test]
    fn payload_shape() {
        let msgs = WebhookMessage::batch(
            &[
                (
                    Event::MemberJoined {
                        name: "Alice".into(),
                    },
                    at(),
                ),
                (
                    Event::ServerAnnounced {
                        game: "Minecraft".into(),
                        server_name: "Castle".into(),
                        players: 3,
                        max_players: Some(10),
                    },
                    at(),
                ),
            ],
            None,
        );
        assert_eq!(msgs.len(), 1);
        let v = serde_json::to_value(&msgs[0]).unwrap();
        assert_eq!(v["content"], "LANrage: 2 updates");
        assert_eq!(v["embeds"][0]["title"], "Alice joined the party");
        assert_eq!(v["embeds"][0]["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(
            v["embeds"][1]["title"],
            "Minecraft server announced: Castle"
        );
        assert_eq!(v["embeds"][1]["description"], "3/10 players");
        assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
        assert!(v.get("username").is_none());
    }

    #[test]
    fn more_than_ten_events_are_split() {
        let events: Vec<_> = (0..23)
            .map(|i| {
                (
                    Event::MemberLeft {
                        name: format!("p{i}"),
                    },
                    at(),
                )
            })
            .collect();
        let msgs = WebhookMessage::batch(&events, Some("LANrage"));
        let sizes: Vec<usize> = msgs.iter().map(|m| m.embeds.len()).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
        assert_eq!(msgs[2].content, "LANrage: 3 updates (3/3)");
        assert_eq!(msgs[2].embeds[2].title, "p22 left the party");
        assert_eq!(msgs[0].username.as_deref(), Some("LANrage"));
        assert!(WebhookMessage::batch(&[], None).is_empty());
    }

    #[test]
    fn user_text_is_sanitized() {
        assert_eq!(
            sanitize("**bold** _x_\n@everyone"),
            "\\*\\*bold\\*\\* \\_x\\_@everyone"
        );
        assert_eq!(sanitize(""), "(unnamed)");
        assert_eq!(sanitize("\u{7}"), "(unnamed)");
        let long = "é".repeat(300);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), 101);
        assert!(s.ends_with('…'));
    }
}
