//! The LANrage control server: authenticates devices, keeps parties, invite codes and virtual
//! addresses (in SQLite), tracks presence and relays signaling between members of a party.
//! The same server runs inside a host's engine for LAN parties with no server ("embedded").

pub mod db;
pub mod registry;
mod service;
pub mod tls;

pub use service::{Server, ServerConfig, ServerError};
pub use tls::TlsFiles;
