//! LANrage's data plane.
//!
//! Packets from local games arrive on a TUN device, are looked up by destination virtual IP,
//! encrypted with the owning peer's WireGuard session (boringtun) and sent as UDP datagrams;
//! datagrams from peers are decrypted, checked against the sender's allowed IPs and written to
//! the TUN. Broadcast and multicast go to every peer. Each peer is also probed through the tunnel
//! itself, so RTT, jitter and loss are what a game would see.
//!
//! Decisions live in small, I/O-free pieces ([`allowed_ips`], [`packet`], [`probe`], [`config`]);
//! [`device`] is the shell that owns the sockets and tasks.

pub mod allowed_ips;
pub mod config;
pub mod device;
pub mod key;
mod lanes;
mod os;
pub mod packet;
pub mod probe;
mod udp;
pub mod windows_network;
pub mod wintun_dll;

pub use allowed_ips::IpNet;
pub use config::{DeviceConfig, PeerConfig, WgConfigError};
pub use device::{Device, DeviceError, DeviceStats, Endpoint, PeerConn, PeerStats};
pub use key::{Key, KeyError};
