//! What the engine tells its hosts. The app forwards these as Tauri events and the daemon as a
//! WebSocket stream, so the UI never polls.

use serde::Serialize;
use ts_rs::TS;

use lanrage_settings::SettingView;

use crate::status::{EngineState, NoticeLevel, Status};

#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    Started {
        status: Box<Status>,
    },
    StateChanged {
        state: EngineState,
    },
    SettingChanged {
        setting: SettingView,
    },
    SettingsReset,
    ConfigActivated {
        name: String,
    },
    Notice {
        level: NoticeLevel,
        message: String,
    },
    /// The party changed (members, addresses, invite); `None`: no longer in a party.
    PartyChanged {
        party: Option<Box<lanrage_party::PartyStatus>>,
    },
    MemberJoined {
        name: String,
    },
    /// This device created a party.
    PartyCreated {
        name: String,
    },
    MemberLeft {
        name: String,
    },
    /// The control connection's state: `connecting`, `connected`, `reconnecting`.
    ControlChanged {
        state: String,
    },
    /// A peer's path changed (one event per change; the same line is logged).
    PathChanged {
        peer: String,
        name: String,
        #[ts(as = "lanrage_traversal::PathState")]
        from: String,
        #[ts(as = "lanrage_traversal::PathState")]
        to: String,
        reason: String,
    },
    /// A game from the catalogue started on this device (seen by the process scan).
    GameStarted {
        game: lanrage_proto::message::GameRef,
    },
    /// ... and stopped (or game detection was switched off).
    GameStopped {
        game: lanrage_proto::message::GameRef,
    },
    /// A game session ended and was kept (`lanrage games` lists it).
    GameSessionSaved {
        session: Box<lanrage_games::GameSession>,
    },
    /// A party member started (`game` set) or stopped playing a game.
    MemberGame {
        name: String,
        game: Option<lanrage_proto::message::GameRef>,
    },
    /// What kind of NAT this device is behind (at start and after a network change).
    NatChanged {
        nat: lanrage_traversal::NatStatus,
    },
    /// Every second: per-peer quality and traffic, party quality, system load.
    Metrics {
        snapshot: Box<lanrage_metrics::Snapshot>,
    },
    /// The Discord bot's state changed (`discord.bot` in status).
    DiscordBotChanged {
        bot: lanrage_discord::bot::BotStatus,
    },
    /// Every second while the tunnel runs: traffic and in-tunnel RTT, jitter, loss per peer.
    TunnelStats {
        tunnel: Box<lanrage_tunnel::DeviceStats>,
    },
}
