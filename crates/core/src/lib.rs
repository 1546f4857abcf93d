//! The LANrage engine.
//!
//! One engine serves three hosts (the desktop app, the headless daemon and tests). Hosts call the
//! [`Engine`] handle's methods and forward its [`EngineEvent`]s; everything below it is
//! host-agnostic. The engine orchestrates parts that each own one decision: the party machine
//! (`lanrage-party`), NAT traversal (`lanrage-traversal`), settings (`lanrage-settings`), the tunnel
//! (`lanrage-tunnel`), metrics (`lanrage-metrics`) and Discord (`lanrage-discord`).
//!
//! Modules, lowest first (none imports one above it): `status` and [`control`] are plain types
//! and the control client; `events`, `error` and `lan` build on them; `runtime` holds what
//! every subsystem shares; `session` (the party's shell), `browser`, `tick`, `webhooks` and
//! `session_log` run on the runtime; `engine` is the handle over all of them.

mod bot;
pub mod browser;
pub mod control;
pub mod engine;
mod error;
pub mod events;
mod games;
mod lan;
pub mod logging;
mod presence;
mod runtime;
mod session;
pub mod session_log;
mod status;
mod tick;
mod webhooks;

pub use engine::{Engine, EngineOptions};
pub use error::{EngineError, ErrorReport};
pub use events::EngineEvent;
pub use status::{
    ControlStatus, DeviceStatus, DiscordStatus, EngineState, Notice, NoticeLevel, Status,
};

/// The party machine and party status live in their own crate.
pub use lanrage_party as party;

/// Settings, identity and the data directory live in their own crate; the engine's API uses
/// their types.
pub use lanrage_settings as settings;

/// The product version, defined once in the workspace manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
