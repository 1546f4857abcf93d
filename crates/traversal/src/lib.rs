//! NAT traversal: finding and keeping the best path to every party member.
//!
//! - [`nat`]: what kind of NAT this device is behind, from STUN answers (a pure `classify` and
//!   the I/O that asks);
//! - [`connection`]: the connection manager, a plain state machine per peer that decides which
//!   leg (direct or relay) carries the peer's traffic, driven by events and the time;
//! - [`ice`]: the shell that runs two ICE agents (webrtc-ice) per peer, signals through the
//!   control plane ([`ControlPlane`]) and hands working connections to the tunnel.

pub mod connection;
pub mod ice;
pub mod nat;

pub use connection::{Leg, PathState};
pub use ice::{
    ControlPlane, ExtraServers, IceGrant, PathInfo, Traversal, TraversalConfig, TraversalEvent,
};
pub use nat::{NatKind, NatStatus};
