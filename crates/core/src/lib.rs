//! The LANrage engine.
//!
//! One engine serves three hosts (the desktop app, the headless daemon and tests). Hosts call the
//! [`Engine`] handle's methods and forward its [`EngineEvent`]s; everything below it is
//! host-agnostic.

pub mod browser;
pub mod connection;
pub mod control;
pub mod engine;
pub mod events;
pub mod ice;
pub mod identity;
pub mod logging;
pub mod nat;
pub mod party;
pub mod paths;
pub mod presence;
pub mod secret_file;
pub mod session_log;
pub mod settings;
mod webhooks;

pub use engine::{Engine, EngineError, EngineOptions, ErrorReport, Notice, NoticeLevel, Status};
pub use events::EngineEvent;

/// The product version, defined once in the workspace manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
