//! The Discord bot of a party's host: it sits in the group's server, posts when a party opens
//! (with its invite), who joins and leaves, which games start and end and a game night's
//! summary, and answers `/lanrage invite` and `/lanrage status`.
//!
//! twilight does the protocol (gateway heartbeats, resume and reconnect; REST with Discord's
//! rate-limit buckets). [`state`] decides what each answer means for the bot, [`announce`]
//! what it says, and `run.rs` is the I/O between them.

pub mod announce;
pub mod config;
mod run;
pub mod state;

pub use announce::{Announcement, MemberView, NightRecord, PartyView};
pub use config::{ApiUrl, BotConfig, BotConfigError, DEFAULT_API_URL};
pub use run::Bot;
pub use state::{BotState, BotStatus};
