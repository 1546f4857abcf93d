//! The typed settings the engine reads, and the values and errors every view shows.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::spec::{Kind, KindName, Spec, SPECS};
use crate::subnet::Subnet;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown setting `{0}`; `lanrage settings list` shows them all")]
    Unknown(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no saved configuration named `{0}`")]
    ConfigNotFound(String),
    #[error("configuration name must be 1 to 64 characters without control characters")]
    BadConfigName,
    #[error("settings database {path}: {source}")]
    Database {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("settings database {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("import: {0}")]
    Import(String),
    #[error("settings database {path}: upgrading it to schema {version} failed ({source}). The file was not changed; update or reinstall LANrage, or move the file away to start with default settings")]
    Migration {
        path: String,
        version: usize,
        #[source]
        source: rusqlite::Error,
    },
}

impl SettingsError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// A setting as hosts show it. Secrets have `value: null` and only say whether they are set.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct SettingView {
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub kind: KindName,
    /// Any JSON value, as the setting's kind says.
    #[ts(type = "unknown")]
    pub value: Value,
    #[ts(type = "unknown")]
    pub default: Value,
    pub secret: bool,
    pub is_set: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub choices: Option<&'static [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max: Option<i64>,
}

impl SettingView {
    pub(crate) fn new(spec: &'static Spec, value: &Value) -> Self {
        let (choices, min, max) = match spec.kind {
            Kind::Enum(c) => (Some(c), None, None),
            Kind::Integer { min, max } => (None, Some(min), Some(max)),
            _ => (None, None, None),
        };
        let is_set = match value {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        };
        Self {
            key: spec.key,
            group: spec.group,
            label: spec.label,
            description: spec.description,
            kind: spec.kind.name(),
            value: if spec.secret {
                Value::Null
            } else {
                value.clone()
            },
            default: spec.default.to_value(),
            secret: spec.secret,
            is_set,
            choices,
            min,
            max,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Auto,
    Embedded,
    Server,
}

/// A stored secret. Its `Debug` never shows the value so it cannot leak into logs.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<secret>"
        })
    }
}

/// The typed settings the engine runs with. Field names are the setting keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub display_name: String,
    pub mode: Mode,
    pub virtual_subnet: Subnet,
    pub interface_name: String,
    pub mtu: u16,
    pub listen_port: u16,
    pub keepalive_secs: u16,
    pub relay_only: bool,
    pub api_listen: SocketAddr,
    pub control_server: String,
    pub embedded_port: u16,
    pub stun_servers: Vec<String>,
    pub turn_servers: Vec<String>,
    pub broadcast_emulation: bool,
    pub game_detection: bool,
    pub metrics: bool,
    pub discord_presence: bool,
    pub discord_application_id: String,
    pub discord_invite_button: bool,
    pub discord_webhook_url: Secret,
    pub discord_webhook_games: bool,
    pub discord_bot_token: Secret,
    pub discord_bot_channel_id: String,
    pub discord_api_url: String,
    pub start_minimized: bool,
    pub start_at_login: bool,
}

impl Settings {
    /// Builds the typed view from validated values (one per key of the catalogue).
    pub(crate) fn from_values(values: serde_json::Map<String, Value>) -> Result<Self, String> {
        serde_json::from_value(Value::Object(values)).map_err(|e| e.to_string())
    }

    pub fn defaults() -> Self {
        let map = SPECS
            .iter()
            .map(|s| (s.key.to_string(), s.default.to_value()))
            .collect();
        // Proven by the `every_default_is_valid_and_typed` test.
        #[allow(clippy::expect_used)]
        Self::from_values(map).expect("catalogue defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use std::net::Ipv4Addr;

    #[test]
    fn every_default_is_valid_and_typed() {
        for spec in SPECS {
            let v = spec.default.to_value();
            assert_eq!(
                spec.validate(&v).as_ref(),
                Ok(&v),
                "default of {}",
                spec.key
            );
        }
        let s = Settings::defaults();
        assert_eq!(s.virtual_subnet.to_string(), "10.66.0.0/16");
        assert_eq!(s.api_listen.to_string(), "127.0.0.1:8666");
        assert_eq!(s.keepalive_secs, 25);
        assert_eq!(s.mtu, 1420);
        assert!(s.stun_servers.is_empty() && s.turn_servers.is_empty());
        assert!(s.control_server.is_empty());
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<_> = SPECS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SPECS.len());
    }

    #[test]
    fn subnet_parsing_and_membership() {
        let n: Subnet = "10.66.0.0/16".parse().unwrap();
        assert!(n.contains("10.66.3.4".parse().unwrap()));
        assert!(!n.contains("10.67.0.1".parse().unwrap()));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 66, 255, 255));
        let err = "10.66.1.0/16".parse::<Subnet>().unwrap_err();
        assert!(err.contains("did you mean 10.66.0.0/16"), "{err}");
        assert!("10.66.0.0".parse::<Subnet>().is_err());
        assert!("10.66.0.0/40".parse::<Subnet>().is_err());
    }

    fn check(key: &str, input: &str) -> Result<Value, String> {
        spec::find(key).unwrap().parse_input(input)
    }

    #[test]
    fn validation_messages_are_specific() {
        assert!(check("mtu", "100")
            .unwrap_err()
            .contains("from 1280 to 9000"));
        assert!(check("mtu", "big").unwrap_err().contains("whole number"));
        assert_eq!(check("mtu", " 1400 ").unwrap(), Value::from(1400));
        assert!(check("virtual_subnet", "8.8.0.0/16")
            .unwrap_err()
            .contains("private"));
        assert!(check("virtual_subnet", "10.0.0.0/30")
            .unwrap_err()
            .contains("/24"));
        assert!(check("api_listen", "0.0.0.0:8666")
            .unwrap_err()
            .contains("loopback"));
        assert!(check("interface_name", "a b")
            .unwrap_err()
            .contains("letters"));
        assert!(check("interface_name", "sixteen-chars-xx").is_err());
        assert!(check("display_name", "   ").unwrap_err().contains("empty"));
        assert!(check("display_name", &"x".repeat(33))
            .unwrap_err()
            .contains("32"));
        assert!(check("mode", "turbo")
            .unwrap_err()
            .contains("auto, embedded, server"));
        assert_eq!(check("mode", "Embedded").unwrap(), Value::from("embedded"));
        assert!(check("control_server", "http://x:1")
            .unwrap_err()
            .contains("ws://"));
        assert!(check("control_server", "ws://host:0").is_err());
        assert!(check("control_server", "wss://lan.example:443").is_ok());
        assert!(check("control_server", "ws://10.0.0.1:8667 wss://lan.example:443").is_ok());
        assert!(check("control_server", "ws://10.0.0.1:8667 http://x:1")
            .unwrap_err()
            .contains("ws://"));
        assert!(check("relay_only", "maybe")
            .unwrap_err()
            .contains("true or false"));
        assert_eq!(check("relay_only", "on").unwrap(), Value::Bool(true));
    }

    #[test]
    fn lists_parse_from_commas_or_json_and_are_checked() {
        assert_eq!(
            check(
                "stun_servers",
                "127.0.0.1:3478, 127.0.0.1:3479,127.0.0.1:3478"
            )
            .unwrap(),
            serde_json::json!(["127.0.0.1:3478", "127.0.0.1:3479"])
        );
        assert_eq!(
            check("turn_servers", r#"["turn:10.0.0.1:3478"]"#).unwrap(),
            serde_json::json!(["turn:10.0.0.1:3478"])
        );
        let err = check("turn_servers", "10.0.0.1:3478").unwrap_err();
        assert!(err.contains("turn:"), "{err}");
        assert!(check("stun_servers", "")
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret("https://discord.com/api/webhooks/1/abc".into());
        assert_eq!(format!("{s:?}"), "<secret>");
    }
}
