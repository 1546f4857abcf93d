//! The LANrage control server: authenticates devices, keeps parties, invite codes and virtual
//! addresses (in SQLite, or PostgreSQL), tracks presence and relays signaling between members of a party; runs a STUN responder and
//! TURN relay and issues TURN credentials.
//! The same server runs inside a host's engine for LAN parties with no server ("embedded").

pub mod bus;
mod edge;
pub mod guard;
mod handshake;
mod listen;
pub mod registry;
pub mod relay;
mod relay_gate;
mod relay_liveness;
mod service;
mod source;
pub mod store;
pub mod tls;

pub use guard::Limits;
pub use relay::{IceConfig, RelayConfig};
pub use service::{Server, ServerConfig, ServerError};
pub use tls::TlsFiles;
