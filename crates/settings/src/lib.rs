//! LANrage's local state: settings (a SQLite database with versioned migrations, typed values
//! validated against one catalogue, saved named configurations, JSON export and import), the
//! device identity (its WireGuard key) and the data directory's layout.
//!
//! A corrupt or foreign settings file is moved aside and replaced by defaults, never fatal;
//! secret files are refused when others can read them.

pub mod data_dir;
pub mod identity;
pub mod secret_file;
pub mod spec;
mod store;
mod subnet;
mod typed;

pub use data_dir::{DataDir, DataDirLock, LockError};
pub use identity::{DeviceIdentity, IdentityError};
pub use spec::{Kind, KindName, Spec, SPECS};
pub use store::{ConfigView, Recovery, SessionEntry, SettingsStore};
pub use subnet::Subnet;
pub use typed::{Mode, Secret, SettingView, Settings, SettingsError};
