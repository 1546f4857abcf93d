//! What the engine shows its hosts: its state, this device, the control connection, the party,
//! the NAT, the tunnel and notices, in one [`Status`].

use serde::Serialize;
use ts_rs::TS;

use lanrage_party::PartyStatus;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    Starting,
    Running,
    Stopping,
    Stopped,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

/// Something the user should read once, such as settings being reset after corruption.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct DeviceStatus {
    pub public_key: String,
    pub display_name: String,
    /// This device's address on the party's virtual LAN, while in a party.
    pub virtual_ip: Option<std::net::Ipv4Addr>,
    /// The game this device plays now, when game detection found one.
    pub game: Option<lanrage_proto::message::GameRef>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ControlStatus {
    /// `not_configured`, `connecting`, `connected` or `reconnecting`.
    pub state: String,
    pub server: Option<String>,
    /// This engine runs the party's server itself (a LAN party without a control server).
    pub embedded: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Status {
    pub version: &'static str,
    pub state: EngineState,
    pub device: DeviceStatus,
    pub data_dir: String,
    pub mode: lanrage_settings::Mode,
    pub control: ControlStatus,
    /// `None` while not in a party.
    pub party: Option<PartyStatus>,
    /// The NAT this device is behind, while NAT traversal runs.
    pub nat: Option<lanrage_traversal::NatStatus>,
    /// The data plane and every peer's traffic and in-tunnel measurements, while it runs.
    pub tunnel: Option<lanrage_tunnel::DeviceStats>,
    pub notices: Vec<Notice>,
    pub discord: DiscordStatus,
}

/// LANrage's side of Discord that has a state of its own.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DiscordStatus {
    /// The host's bot: `off`, `connecting`, `online`, `token_rejected` or `unreachable`, with a
    /// sentence for the player.
    pub bot: lanrage_discord::bot::BotStatus,
}
