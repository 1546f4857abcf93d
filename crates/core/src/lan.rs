//! This machine's addresses on its own networks: what LAN-party members are told to try, and
//! where friends reach an embedded control server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Addresses of this machine that other members can try, with the WireGuard port; never the
/// tunnel's own address.
pub(crate) fn endpoints(port: u16, tun: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.name != tun && !i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(a) if !a.is_link_local() => Some(SocketAddr::from((a, port))),
            _ => None,
        })
        .collect();
    // Private (LAN) addresses first: on a LAN party that is the path to take.
    out.sort_by_key(|a| match a.ip() {
        IpAddr::V4(v4) => !v4.is_private(),
        IpAddr::V6(_) => true,
    });
    out
}

/// The address friends on the LAN reach an embedded server at.
pub(crate) fn address() -> Option<Ipv4Addr> {
    endpoints(0, "").into_iter().find_map(|a| match a.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}
