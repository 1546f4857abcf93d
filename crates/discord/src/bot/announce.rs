//! What the bot says: the channel posts (one embed per announcement), the `/lanrage` command
//! and its answers. Plain functions from LANrage's view of the party to Discord's models.

use std::time::SystemTime;

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandType,
};
use twilight_model::channel::message::embed::{Embed, EmbedField};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

use crate::message::{sanitize, BLURPLE, GREEN, GREY, YELLOW};

/// The slash command's name.
pub const COMMAND: &str = "lanrage";

// Discord's limits ("Embed Limits"; a message's content and an interaction reply).
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELD_MAX: usize = 1024;
/// All embeds of one message together.
pub const MESSAGE_EMBEDS_MAX: usize = 6000;
/// A reply's content is at most 2000 characters; a margin for the last line.
const REPLY_MAX: usize = 1900;

/// `s` cut to `max` characters, ending with `…` when cut.
fn clamp(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The characters Discord counts against [`MESSAGE_EMBEDS_MAX`] for one embed.
pub fn embed_size(e: &Embed) -> usize {
    let text = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
    text(&e.title)
        + text(&e.description)
        + e.fields
            .iter()
            .map(|f| f.name.chars().count() + f.value.chars().count())
            .sum::<usize>()
}

/// Something the channel should hear about. Names come from players: they are sanitized
/// (no markdown, no mentions) when the embed is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    PartyOpened {
        party: String,
        host: String,
        code: String,
        link: String,
    },
    MemberJoined {
        party: String,
        name: String,
    },
    MemberLeft {
        party: String,
        name: String,
    },
    GameStarted {
        party: String,
        player: String,
        game: String,
    },
    GameEnded {
        party: String,
        player: String,
        game: String,
        minutes: u64,
    },
    /// The party closed: who came, how long, what was played, how the connections were.
    NightSummary {
        party: String,
        members: Vec<String>,
        minutes: u64,
        games: Vec<String>,
        avg_rtt_ms: Option<f64>,
        loss_percent: Option<f64>,
    },
}

/// The party as the slash command answers about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartyView {
    pub name: String,
    pub code: String,
    pub link: String,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberView {
    pub name: String,
    pub game: Option<String>,
    /// "direct, 12 ms, grade A", "relayed", "offline"...
    pub connection: String,
}

/// What a game night adds up to, recorded while the party lasts and posted when it ends.
#[derive(Debug, Clone)]
pub struct NightRecord {
    party: String,
    started: std::time::Instant,
    members: Vec<String>,
    games: Vec<String>,
    rtt_sum: f64,
    rtt_n: u64,
    loss_sum: f64,
    loss_n: u64,
}

impl NightRecord {
    pub fn new(party: &str, me: &str, now: std::time::Instant) -> Self {
        Self {
            party: party.to_string(),
            started: now,
            members: vec![me.to_string()],
            games: Vec::new(),
            rtt_sum: 0.0,
            rtt_n: 0,
            loss_sum: 0.0,
            loss_n: 0,
        }
    }

    pub fn party(&self) -> &str {
        &self.party
    }

    pub fn member(&mut self, name: &str) {
        if !self.members.iter().any(|m| m == name) {
            self.members.push(name.to_string());
        }
    }

    pub fn game(&mut self, name: &str) {
        if !self.games.iter().any(|g| g == name) {
            self.games.push(name.to_string());
        }
    }

    /// One member's measurement of one second.
    pub fn sample(&mut self, rtt_ms: Option<f64>, loss_percent: Option<f64>) {
        if let Some(r) = rtt_ms.filter(|r| r.is_finite() && *r >= 0.0) {
            self.rtt_sum += r;
            self.rtt_n += 1;
        }
        if let Some(l) = loss_percent.filter(|l| l.is_finite() && *l >= 0.0) {
            self.loss_sum += l;
            self.loss_n += 1;
        }
    }

    pub fn summary(&self, now: std::time::Instant) -> Announcement {
        let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
        Announcement::NightSummary {
            party: self.party.clone(),
            members: self.members.clone(),
            minutes: now.saturating_duration_since(self.started).as_secs() / 60,
            games: self.games.clone(),
            avg_rtt_ms: mean(self.rtt_sum, self.rtt_n),
            loss_percent: mean(self.loss_sum, self.loss_n),
        }
    }
}

fn field(name: &str, value: String, inline: bool) -> EmbedField {
    EmbedField {
        inline,
        name: name.to_string(),
        value,
    }
}

fn duration(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| sanitize(n))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Announcement {
    pub fn embed(&self, at: SystemTime) -> Embed {
        let (title, description, color, fields) = match self {
            Announcement::PartyOpened {
                party,
                host,
                code,
                link,
            } => (
                format!("Party {} is open", sanitize(party)),
                // Discord's link buttons take only http(s) and discord:// addresses, so the
                // join link is text to copy; the code is what most friends type anyway.
                Some(format!(
                    "{} is hosting. Join in LANrage with the code below, or open the link.",
                    sanitize(host)
                )),
                GREEN,
                vec![
                    field("Invite code", format!("`{}`", code_text(code)), true),
                    field("Join link", format!("`{}`", code_text(link)), false),
                ],
            ),
            Announcement::MemberJoined { party, name } => (
                format!("{} joined {}", sanitize(name), sanitize(party)),
                None,
                GREEN,
                vec![],
            ),
            Announcement::MemberLeft { party, name } => (
                format!("{} left {}", sanitize(name), sanitize(party)),
                None,
                GREY,
                vec![],
            ),
            Announcement::GameStarted {
                party,
                player,
                game,
            } => (
                format!("{} started {}", sanitize(player), sanitize(game)),
                Some(format!("in {}", sanitize(party))),
                BLURPLE,
                vec![],
            ),
            Announcement::GameEnded {
                party,
                player,
                game,
                minutes,
            } => (
                format!("{} finished {}", sanitize(player), sanitize(game)),
                Some(format!(
                    "after {} in {}",
                    duration(*minutes),
                    sanitize(party)
                )),
                GREY,
                vec![],
            ),
            Announcement::NightSummary {
                party,
                members,
                minutes,
                games,
                avg_rtt_ms,
                loss_percent,
            } => {
                let quality = match (avg_rtt_ms, loss_percent) {
                    (Some(rtt), Some(loss)) => format!("{rtt:.0} ms average, {loss:.1} % loss"),
                    (Some(rtt), None) => format!("{rtt:.0} ms average"),
                    _ => "not measured".into(),
                };
                (
                    format!("Game night in {} is over", sanitize(party)),
                    None,
                    YELLOW,
                    vec![
                        field("Duration", duration(*minutes), true),
                        field("Members", list(members), false),
                        field("Games", list(games), false),
                        field("Connections", quality, false),
                    ],
                )
            }
        };
        Embed {
            author: None,
            color: Some(color),
            description: description.map(|d| clamp(d, DESCRIPTION_MAX)),
            fields: fields
                .into_iter()
                .map(|f| EmbedField {
                    value: clamp(f.value, FIELD_MAX),
                    ..f
                })
                .collect(),
            footer: None,
            image: None,
            kind: "rich".into(),
            provider: None,
            thumbnail: None,
            timestamp: timestamp(at),
            title: Some(clamp(title, TITLE_MAX)),
            url: None,
            video: None,
        }
    }
}

/// Invite codes and links go in code spans: no markdown inside, and no backtick may end it.
fn code_text(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '`' && !c.is_control())
        .take(300)
        .collect()
}

fn timestamp(at: SystemTime) -> Option<Timestamp> {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    Timestamp::from_secs(i64::try_from(secs).ok()?).ok()
}

/// `/lanrage invite` and `/lanrage status`, as registered for the bot's application.
pub fn command() -> Command {
    let sub = |name: &str, description: &str| CommandOption {
        autocomplete: None,
        channel_types: None,
        choices: None,
        description: description.to_string(),
        description_localizations: None,
        kind: CommandOptionType::SubCommand,
        max_length: None,
        max_value: None,
        min_length: None,
        min_value: None,
        name: name.to_string(),
        name_localizations: None,
        options: None,
        required: None,
    };
    #[allow(deprecated)] // `dm_permission` must be named; `contexts` is left to Discord's default.
    Command {
        application_id: None,
        contexts: None,
        default_member_permissions: None,
        dm_permission: None,
        description: "The LANrage party of this server".into(),
        description_localizations: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: COMMAND.into(),
        name_localizations: None,
        nsfw: None,
        options: vec![
            sub("invite", "The party's invite code and join link"),
            sub(
                "status",
                "Who is in the party, what they play, how they connect",
            ),
        ],
        version: Id::new(1),
    }
}

/// The reply to `/lanrage <sub>`.
pub fn answer(sub: &str, party: Option<&PartyView>) -> String {
    let Some(p) = party else {
        return "No LANrage party is open right now.".into();
    };
    match sub {
        "invite" if p.code.is_empty() => format!(
            "Only the host of **{}** can share its invite: ask them for the code.",
            sanitize(&p.name)
        ),
        "invite" => format!(
            "Join **{}** in LANrage with the code `{}`\nor open `{}`",
            sanitize(&p.name),
            code_text(&p.code),
            code_text(&p.link)
        ),
        "status" => {
            let n = p.members.len();
            let mut out = format!(
                "**{}**: {n} {}",
                sanitize(&p.name),
                if n == 1 { "member" } else { "members" }
            );
            for (i, m) in p.members.iter().enumerate() {
                let mut line = format!("\n• {}", sanitize(&m.name));
                if let Some(game) = &m.game {
                    line.push_str(&format!(" playing {}", sanitize(game)));
                }
                line.push_str(&format!(" ({})", sanitize(&m.connection)));
                if out.chars().count() + line.chars().count() > REPLY_MAX {
                    out.push_str(&format!("\n… and {} more", p.members.len() - i));
                    break;
                }
                out.push_str(&line);
            }
            out
        }
        _ => "Try `/lanrage invite` or `/lanrage status`.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn party_opened_carries_the_code_and_link_and_cannot_ping() {
        let e = Announcement::PartyOpened {
            party: "Friday @everyone".into(),
            host: "Ana".into(),
            code: "ABCD-EFGH".into(),
            link: "lanrage://join/ABCD-EFGH?server=wss://x`y".into(),
        }
        .embed(at());
        assert_eq!(e.title.as_deref(), Some("Party Friday @everyone is open"));
        assert_eq!(e.fields[0].value, "`ABCD-EFGH`");
        assert_eq!(
            e.fields[1].value,
            "`lanrage://join/ABCD-EFGH?server=wss://xy`"
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000000+00:00");
    }

    #[test]
    fn summary_reads_like_a_game_night() {
        let e = Announcement::NightSummary {
            party: "Friday".into(),
            members: vec!["Ana".into(), "Bo_b".into()],
            minutes: 135,
            games: vec!["OpenTTD".into()],
            avg_rtt_ms: Some(23.4),
            loss_percent: Some(0.25),
        }
        .embed(at());
        let fields: Vec<(&str, &str)> = e
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Duration", "2 h 15 min"),
                ("Members", "Ana, Bo\\_b"),
                ("Games", "OpenTTD"),
                ("Connections", "23 ms average, 0.2 % loss"),
            ]
        );
    }

    #[test]
    fn a_night_adds_up_members_games_and_quality() {
        let t0 = std::time::Instant::now();
        let mut n = NightRecord::new("Friday", "Ana", t0);
        n.member("Bob");
        n.member("Ana");
        n.game("OpenTTD");
        n.game("OpenTTD");
        n.sample(Some(10.0), Some(0.0));
        n.sample(Some(30.0), Some(1.0));
        n.sample(None, Some(f64::NAN));
        let s = n.summary(t0 + std::time::Duration::from_secs(125 * 60 + 59));
        assert_eq!(
            s,
            Announcement::NightSummary {
                party: "Friday".into(),
                members: vec!["Ana".into(), "Bob".into()],
                minutes: 125,
                games: vec!["OpenTTD".into()],
                avg_rtt_ms: Some(20.0),
                loss_percent: Some(0.5),
            }
        );
    }

    #[test]
    fn nothing_goes_over_discords_limits() {
        let long = "W".repeat(100);
        let e = Announcement::GameStarted {
            party: long.clone(),
            player: "_".repeat(100),
            game: "*".repeat(100),
        }
        .embed(at());
        assert_eq!(e.title.as_ref().unwrap().chars().count(), TITLE_MAX);
        let e = Announcement::NightSummary {
            party: long.clone(),
            members: (0..64).map(|i| format!("{long}{i}")).collect(),
            minutes: 1,
            games: vec![],
            avg_rtt_ms: None,
            loss_percent: None,
        }
        .embed(at());
        assert!(e
            .fields
            .iter()
            .all(|f| f.value.chars().count() <= FIELD_MAX));
        assert!(e.fields[1].value.ends_with('…'));
        let p = PartyView {
            name: long.clone(),
            members: (0..32)
                .map(|i| MemberView {
                    name: format!("{}{i}", "n".repeat(30)),
                    game: Some("g".repeat(100)),
                    connection: "direct, 12 ms, grade A".into(),
                })
                .collect(),
            ..PartyView::default()
        };
        let a = answer("status", Some(&p));
        assert!(a.chars().count() <= 2000, "{}", a.chars().count());
        assert!(a.ends_with("more"), "{a}");
    }

    #[test]
    fn answers() {
        assert_eq!(
            answer("invite", None),
            "No LANrage party is open right now."
        );
        let p = PartyView {
            name: "Friday".into(),
            code: "ABCD-EFGH".into(),
            link: "lanrage://join/ABCD-EFGH".into(),
            members: vec![MemberView {
                name: "Ana".into(),
                game: Some("OpenTTD".into()),
                connection: "direct, 12 ms".into(),
            }],
        };
        assert!(answer("invite", Some(&p)).contains("`ABCD-EFGH`"));
        assert_eq!(
            answer("status", Some(&p)),
            "**Friday**: 1 member\n• Ana playing OpenTTD (direct, 12 ms)"
        );
        let guest = PartyView {
            code: String::new(),
            ..p.clone()
        };
        assert!(answer("invite", Some(&guest)).starts_with("Only the host"));
        let c = serde_json::to_value(command()).unwrap();
        assert_eq!(c["name"], "lanrage");
        assert_eq!(c["options"][0]["type"], 1);
    }
}
