//! The engine's errors, and how they reach people and programs: [`ErrorReport`].

use lanrage_settings::{IdentityError, SettingsError};
use serde::Serialize;
use ts_rs::TS;

use crate::control::ControlError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A subsystem that is not built yet; `detail` is a whole sentence for the user.
    #[error("{detail}")]
    NotAvailable {
        feature: &'static str,
        detail: &'static str,
    },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Tunnel(#[from] lanrage_tunnel::DeviceError),
    #[error("a tunnel is already running on {0}")]
    TunnelRunning(String),
    #[error("no tunnel is running")]
    NoTunnel,
    #[error(transparent)]
    Control(ControlError),
    #[error("{0}")]
    Invite(lanrage_proto::invite::InviteError),
    #[error("no control server is set and party mode is `server`: set `control_server` or change the mode")]
    NeedsServer,
    #[error("this is a bare invite code and no control server is set: paste the whole invite link (lanrage://join/...) instead")]
    NeedsLink,
    #[error("you are already in a party; leave it first")]
    AlreadyInParty,
    #[error("you are not in a party")]
    NotInParty,
    #[error("no member called `{0}` in the party")]
    UnknownMember(String),
    #[error("cannot start the party server on this machine: {0}")]
    Embedded(lanrage_server::ServerError),
    #[error("Discord webhook: {0}")]
    Webhook(String),
}

/// An error as hosts send it to a person or a program: a stable code, a sentence, and the
/// setting it is about, if any.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
}

impl From<&EngineError> for ErrorReport {
    fn from(e: &EngineError) -> Self {
        let (code, field) = match e {
            EngineError::Settings(SettingsError::Invalid { field, .. }) => {
                ("invalid_setting", Some(field.clone()))
            }
            EngineError::Settings(SettingsError::Unknown(k)) => {
                ("unknown_setting", Some(k.clone()))
            }
            EngineError::Settings(SettingsError::ConfigNotFound(_)) => ("config_not_found", None),
            EngineError::Settings(SettingsError::BadConfigName | SettingsError::Import(_)) => {
                ("invalid_request", None)
            }
            EngineError::NotAvailable { .. } => ("not_available", None),
            EngineError::ShuttingDown => ("shutting_down", None),
            EngineError::Tunnel(lanrage_tunnel::DeviceError::NoPermission { .. }) => {
                ("no_permission", None)
            }
            EngineError::Tunnel(_) => ("tunnel", None),
            EngineError::TunnelRunning(_) | EngineError::NoTunnel => ("invalid_request", None),
            EngineError::Control(ControlError::Refused(body)) => {
                return Self {
                    code: body.code.clone(),
                    message: body.message.clone(),
                    field: None,
                }
            }
            EngineError::Control(_) => ("server_unreachable", None),
            EngineError::Invite(_) => ("invalid_code", None),
            EngineError::NeedsServer | EngineError::NeedsLink => ("needs_server", None),
            EngineError::AlreadyInParty => ("already_in_party", None),
            EngineError::NotInParty => ("not_in_party", None),
            EngineError::UnknownMember(_) => ("unknown_member", None),
            EngineError::Webhook(_) => ("webhook", Some("discord_webhook_url".to_string())),
            _ => ("internal", None),
        };
        Self {
            code: code.to_string(),
            message: e.to_string(),
            field,
        }
    }
}

impl From<ControlError> for EngineError {
    fn from(e: ControlError) -> Self {
        EngineError::Control(e)
    }
}
