//! The catalogue of settings: one entry per key with its type, default, limits and help text.
//!
//! This table is the single source of truth: the store validates against it, the UI renders its
//! form from it, and [`crate::Settings`] (the typed view the engine uses) must agree with it
//! (a test checks that every default deserializes into `Settings`).

use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    Bool,
    Integer,
    String,
    Enum,
    List,
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    /// Free text checked by `check` (which returns the reason when the text is not acceptable).
    Text {
        max_len: usize,
        check: fn(&str) -> Result<(), String>,
    },
    Enum(&'static [&'static str]),
    List {
        max_items: usize,
        check: fn(&str) -> Result<(), String>,
    },
}

impl Kind {
    pub fn name(&self) -> KindName {
        match self {
            Kind::Bool => KindName::Bool,
            Kind::Integer { .. } => KindName::Integer,
            Kind::Text { .. } => KindName::String,
            Kind::Enum(_) => KindName::Enum,
            Kind::List { .. } => KindName::List,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Default {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    EmptyList,
}

impl Default {
    pub fn to_value(self) -> Value {
        match self {
            Default::Bool(b) => Value::Bool(b),
            Default::Int(i) => Value::from(i),
            Default::Str(s) => Value::from(s),
            Default::EmptyList => Value::Array(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub default: Default,
    /// Secrets (webhook URLs, tokens) are stored but never returned by any API.
    pub secret: bool,
}

impl Spec {
    /// Checks a JSON value and returns it normalised (trimmed text, de-duplicated lists).
    pub fn validate(&self, value: &Value) -> Result<Value, String> {
        match self.kind {
            Kind::Bool => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| "must be true or false".to_string()),
            Kind::Integer { min, max } => {
                let n = value
                    .as_i64()
                    .ok_or_else(|| format!("must be a whole number from {min} to {max}"))?;
                if n < min || n > max {
                    return Err(format!("must be from {min} to {max} (got {n})"));
                }
                Ok(Value::from(n))
            }
            Kind::Text { max_len, check } => {
                let s = value
                    .as_str()
                    .ok_or_else(|| "must be text".to_string())?
                    .trim();
                if s.chars().count() > max_len {
                    return Err(format!("must be at most {max_len} characters"));
                }
                if s.chars().any(char::is_control) {
                    return Err("must not contain control characters".into());
                }
                check(s)?;
                Ok(Value::from(s))
            }
            Kind::Enum(choices) => {
                let s = value
                    .as_str()
                    .map(|s| s.trim().to_ascii_lowercase())
                    .ok_or_else(|| format!("must be one of: {}", choices.join(", ")))?;
                if !choices.contains(&s.as_str()) {
                    return Err(format!(
                        "must be one of: {} (got `{s}`)",
                        choices.join(", ")
                    ));
                }
                Ok(Value::from(s))
            }
            Kind::List { max_items, check } => {
                let items = value
                    .as_array()
                    .ok_or_else(|| "must be a list".to_string())?;
                let mut out: Vec<String> = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| "every entry must be text".to_string())?
                        .trim();
                    if s.is_empty() || out.iter().any(|o| o == s) {
                        continue;
                    }
                    check(s).map_err(|e| format!("`{s}`: {e}"))?;
                    out.push(s.to_string());
                }
                if out.len() > max_items {
                    return Err(format!("must have at most {max_items} entries"));
                }
                Ok(Value::from(out))
            }
        }
    }

    /// Parses what a person typed on a command line (`true`, `1420`, `a,b`) into a JSON value.
    /// JSON is accepted too, so `'["a","b"]'` works for lists.
    pub fn parse_input(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        let value = match self.kind {
            Kind::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Value::Bool(true),
                "false" | "no" | "off" | "0" => Value::Bool(false),
                _ => return Err(format!("must be true or false (got `{text}`)")),
            },
            Kind::Integer { min, max } => text.parse::<i64>().map(Value::from).map_err(|_| {
                format!("must be a whole number from {min} to {max} (got `{text}`)")
            })?,
            Kind::Text { .. } | Kind::Enum(_) => Value::from(text),
            Kind::List { .. } => {
                if text.starts_with('[') {
                    serde_json::from_str(text).map_err(|e| format!("is not a JSON list: {e}"))?
                } else {
                    Value::from(
                        text.split([',', '\n'])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>(),
                    )
                }
            }
        };
        self.validate(&value)
    }
}

pub fn find(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

fn display_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(())
}

fn interface_name(s: &str) -> Result<(), String> {
    // Linux limits interface names to 15 bytes; keep to characters every OS accepts.
    if s.is_empty() || s.len() > 15 {
        return Err("must be 1 to 15 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("may only use letters, digits, `-` and `_`".into());
    }
    Ok(())
}

fn subnet(s: &str) -> Result<(), String> {
    let net: crate::subnet::Subnet = s.parse()?;
    if !(8..=24).contains(&net.prefix()) {
        return Err("the prefix must be from /8 to /24 so a party fits in it".into());
    }
    if !net.addr().is_private() {
        return Err("must be a private range (10/8, 172.16/12 or 192.168/16)".into());
    }
    Ok(())
}

fn api_listen(s: &str) -> Result<(), String> {
    let addr: std::net::SocketAddr = s
        .parse()
        .map_err(|_| format!("must be an address and port such as 127.0.0.1:8666 (got `{s}`)"))?;
    if !addr.ip().is_loopback() {
        return Err(
            "must be a loopback address (127.0.0.1 or ::1): the local API is for this machine only"
                .into(),
        );
    }
    Ok(())
}

fn control_url(s: &str) -> Result<(), String> {
    lanrage_proto::servers::parse_servers(s).map(drop)
}

fn stun_server(s: &str) -> Result<(), String> {
    lanrage_proto::servers::check_host_port(s.strip_prefix("stun:").unwrap_or(s))
}

fn turn_server(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("turn:")
        .or_else(|| s.strip_prefix("turns:"))
        .ok_or_else(|| "must start with turn: or turns:".to_string())?;
    lanrage_proto::servers::check_host_port(rest.split('?').next().unwrap_or(rest))
}

fn webhook_url(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    lanrage_discord::WebhookUrl::parse(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn discord_bot_token(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a bot token has no spaces: copy it again from the Developer Portal".into());
    }
    Ok(())
}

fn discord_channel_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    lanrage_discord::bot::config::parse_channel_id(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn discord_api_url(s: &str) -> Result<(), String> {
    lanrage_discord::bot::ApiUrl::parse(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn discord_app_id(s: &str) -> Result<(), String> {
    if !s.is_empty() && !s.chars().all(|c| c.is_ascii_digit()) {
        return Err("must be the numeric application id from Discord's developer portal".into());
    }
    Ok(())
}

pub static SPECS: &[Spec] = &[
    Spec {
        key: "display_name",
        group: "Profile",
        label: "Display name",
        description: "How other players see you in a party.",
        kind: Kind::Text { max_len: 32, check: display_name },
        default: Default::Str("Player"),
        secret: false,
    },
    Spec {
        key: "mode",
        group: "Network",
        label: "Party mode",
        description: "auto uses the control server when one is set and runs the party on this machine otherwise; embedded always runs it here (LAN parties); server always needs the control server.",
        kind: Kind::Enum(&["auto", "embedded", "server"]),
        default: Default::Str("auto"),
        secret: false,
    },
    Spec {
        key: "virtual_subnet",
        group: "Network",
        label: "Virtual subnet",
        description: "The private range party members get their virtual LAN addresses from.",
        kind: Kind::Text { max_len: 18, check: subnet },
        default: Default::Str("10.66.0.0/16"),
        secret: false,
    },
    Spec {
        key: "interface_name",
        group: "Network",
        label: "Network device name",
        description: "Name of the virtual network device LANrage creates.",
        kind: Kind::Text { max_len: 15, check: interface_name },
        default: Default::Str("lanrage0"),
        secret: false,
    },
    Spec {
        key: "mtu",
        group: "Network",
        label: "MTU",
        description: "Largest packet on the virtual LAN; lower it if games stall on your connection.",
        kind: Kind::Integer { min: 1280, max: 9000 },
        default: Default::Int(1420),
        secret: false,
    },
    Spec {
        key: "listen_port",
        group: "Network",
        label: "WireGuard port",
        description: "UDP port for encrypted traffic; 0 picks a free one.",
        kind: Kind::Integer { min: 0, max: 65535 },
        default: Default::Int(0),
        secret: false,
    },
    Spec {
        key: "keepalive_secs",
        group: "Network",
        label: "Keepalive (seconds)",
        description: "How often an idle tunnel sends a keepalive so NAT routers keep it open; 0 turns it off.",
        kind: Kind::Integer { min: 0, max: 3600 },
        default: Default::Int(25),
        secret: false,
    },
    Spec {
        key: "relay_only",
        group: "Network",
        label: "Always use the relay",
        description: "Never connect directly to other players; hides your address from them at the cost of latency. Applies from the next party you create or join.",
        kind: Kind::Bool,
        default: Default::Bool(false),
        secret: false,
    },
    Spec {
        key: "api_listen",
        group: "Network",
        label: "Local API address",
        description: "Where the headless daemon serves its local API (loopback only).",
        kind: Kind::Text { max_len: 64, check: api_listen },
        default: Default::Str("127.0.0.1:8666"),
        secret: false,
    },
    Spec {
        key: "embedded_port",
        group: "Servers",
        label: "LAN party port",
        description: "TCP port friends connect to when this machine hosts a party without a control server.",
        kind: Kind::Integer { min: 1, max: 65535 },
        default: Default::Int(8667),
        secret: false,
    },
    Spec {
        key: "control_server",
        group: "Servers",
        label: "Control server",
        description: "ws:// or wss:// address of the control server, or several separated by spaces (tried in order, the next when one is lost); empty runs parties on this machine.",
        kind: Kind::Text { max_len: 1024, check: control_url },
        default: Default::Str(""),
        secret: false,
    },
    Spec {
        key: "stun_servers",
        group: "Servers",
        label: "Extra STUN servers",
        description: "HOST:PORT entries used besides the control server's own; none by default.",
        kind: Kind::List { max_items: 8, check: stun_server },
        default: Default::EmptyList,
        secret: false,
    },
    Spec {
        key: "turn_servers",
        group: "Servers",
        label: "Extra TURN relays",
        description: "turn:HOST:PORT entries used besides the control server's own; none by default.",
        kind: Kind::List { max_items: 8, check: turn_server },
        default: Default::EmptyList,
        secret: false,
    },
    Spec {
        key: "broadcast_emulation",
        group: "Features",
        label: "LAN broadcast",
        description: "Carry LAN broadcasts and multicast to every party member so games find each other.",
        kind: Kind::Bool,
        default: Default::Bool(true),
        secret: false,
    },
    Spec {
        key: "game_detection",
        group: "Features",
        label: "Game detection",
        description: "Recognise running games to show them to your party and on Discord.",
        kind: Kind::Bool,
        default: Default::Bool(true),
        secret: false,
    },
    Spec {
        key: "metrics",
        group: "Features",
        label: "Metrics",
        description: "Measure latency, loss and throughput for the dashboard.",
        kind: Kind::Bool,
        default: Default::Bool(true),
        secret: false,
    },
    Spec {
        key: "discord_presence",
        group: "Discord",
        label: "Discord Rich Presence",
        description: "Show your LANrage party on your Discord profile.",
        kind: Kind::Bool,
        default: Default::Bool(true),
        secret: false,
    },
    Spec {
        key: "discord_application_id",
        group: "Discord",
        label: "Discord application id",
        description: "Your own Discord application for Rich Presence; empty uses LANrage's.",
        kind: Kind::Text { max_len: 32, check: discord_app_id },
        default: Default::Str(""),
        secret: false,
    },
    Spec {
        key: "discord_invite_button",
        group: "Discord",
        label: "Invite button on Discord",
        description: "Let friends join your party from a button on your Discord profile.",
        kind: Kind::Bool,
        default: Default::Bool(false),
        secret: false,
    },
    Spec {
        key: "discord_webhook_url",
        group: "Discord",
        label: "Discord webhook URL",
        description: "Post party events to a Discord channel; stored on this machine and never shown again.",
        kind: Kind::Text { max_len: 512, check: webhook_url },
        default: Default::Str(""),
        secret: true,
    },
    Spec {
        key: "discord_webhook_games",
        group: "Discord",
        label: "Post when someone starts a game",
        description: "With a webhook set: \"Ana started OpenTTD\" in the channel when a player starts a game LANrage knows.",
        kind: Kind::Bool,
        default: Default::Bool(true),
        secret: false,
    },
    Spec {
        key: "discord_bot_token",
        group: "Discord",
        label: "Discord bot token",
        description: "Your group's LANrage bot: create an application at discord.com/developers, \
            open Bot, Reset Token and paste it here; then invite the bot to your server with \
            OAuth2 → URL Generator, scopes bot and applications.commands, permissions Send \
            Messages and Embed Links. Stored on this machine and never shown again.",
        kind: Kind::Text { max_len: 128, check: discord_bot_token },
        default: Default::Str(""),
        secret: true,
    },
    Spec {
        key: "discord_bot_channel_id",
        group: "Discord",
        label: "Discord bot channel ID",
        description: "Where the bot posts parties, members and games: in Discord turn on \
            Developer Mode, right-click the channel and Copy Channel ID.",
        kind: Kind::Text { max_len: 24, check: discord_channel_id },
        default: Default::Str(""),
        secret: false,
    },
    Spec {
        key: "discord_api_url",
        group: "Discord",
        label: "Discord API URL",
        description: "Discord's REST API the bot uses; change it only for a proxy or a test server.",
        kind: Kind::Text { max_len: 256, check: discord_api_url },
        default: Default::Str("https://discord.com"),
        secret: false,
    },
    Spec {
        key: "start_minimized",
        group: "App",
        label: "Start minimized",
        description: "Start in the tray without opening the window.",
        kind: Kind::Bool,
        default: Default::Bool(false),
        secret: false,
    },
    Spec {
        key: "start_at_login",
        group: "App",
        label: "Start at login",
        description: "Start LANrage in the tray when you log in to your computer.",
        kind: Kind::Bool,
        default: Default::Bool(false),
        secret: false,
    },
];
