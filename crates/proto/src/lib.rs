//! What LANrage clients and the control server say to each other.
//!
//! - [`message`]: the control protocol, JSON text frames over one WebSocket per device.
//! - [`invite`]: invite codes and `lanrage://join/...` links.
//! - [`servers`]: one control server or a list of them, as settings, options and links give them.
//! - [`auth`]: how a device proves it holds the private key of the public key it claims.

pub mod auth;
pub mod invite;
pub mod message;
pub mod servers;

/// Bumped when a message changes incompatibly; the server refuses other versions by name.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest control frame either side accepts (a party snapshot of 256 members fits easily).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
