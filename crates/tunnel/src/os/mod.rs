//! What differs per operating system in the data plane: opening the TUN device, moving batches
//! of packets through it, and the host routes that bring games' discovery into it.
//!
//! Each OS module has the same shape ([`Tun`], [`RecvState`], [`SendState`], [`TUN_BATCH`],
//! [`TUN_COALESCED_MAX`], [`add_host_routes`], [`remove_host_routes`]); `device.rs` uses that
//! shape and does not know which one it runs on.
//!
//! Why host routes: games send limited broadcasts (255.255.255.255) and multicast (Minecraft's
//! LAN worlds to 224.0.2.60) from unbound sockets that choose no interface; the OS sends those
//! where the routing table says, which is the default route, not the tunnel. A host route for
//! each such destination brings them into the party (and makes a listener that joins a group
//! without naming an interface join it on the tunnel). Windows picks the adapter for limited
//! broadcast by interface metric instead (see [`crate::windows_network`]).

use std::io;
use std::net::IpAddr;

use crate::config::DeviceConfig;

/// The TUN device; each OS module adds how it is opened and how packets move through it.
pub(crate) struct Tun(tun_rs::AsyncDevice);

impl Tun {
    pub(crate) fn name(&self) -> io::Result<String> {
        self.0.name()
    }

    pub(crate) fn if_index(&self) -> io::Result<u32> {
        self.0.if_index()
    }
}

/// The device's name, MTU and addresses, as every OS sets them.
fn common(cfg: &DeviceConfig) -> tun_rs::DeviceBuilder {
    let mut b = tun_rs::DeviceBuilder::new()
        .name(&cfg.interface_name)
        .mtu(cfg.mtu);
    for net in &cfg.addresses {
        b = match net.addr {
            IpAddr::V4(a) => b.ipv4(a, net.prefix, None),
            IpAddr::V6(a) => b.ipv6(a, net.prefix),
        };
    }
    b
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
compile_error!("LANrage's tunnel runs on Linux and Windows");
