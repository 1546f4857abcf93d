//! System routes the tunnel adds (and removes on exit).
//!
//! Games send limited broadcasts (255.255.255.255) and multicast (Minecraft's LAN worlds to
//! 224.0.2.60) from unbound sockets that choose no interface; the kernel sends those where the
//! routing table says, which is the default route, not the tunnel. A host route
//! `<address>/32 dev <tun>` for each such destination brings them into the party (and makes a
//! listener that joins a group without naming an interface join it on the tunnel). Done over
//! netlink in-process, so it works with only CAP_NET_ADMIN on the binary (a child `ip` process
//! would not inherit it).

use std::net::Ipv4Addr;

#[cfg(target_os = "linux")]
fn host_route(dest: Ipv4Addr, if_index: u32) -> rtnetlink::packet_route::route::RouteMessage {
    rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dest, 32)
        .output_interface(if_index)
        .build()
}

/// Routes each destination into the interface; returns those it could route (the others are
/// logged: the party works without them, only that kind of discovery stays local).
#[cfg(target_os = "linux")]
pub async fn add_host_routes(if_index: u32, dests: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    let (conn, handle, _) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach netlink; broadcasts and multicast stay local");
            return Vec::new();
        }
    };
    let task = tokio::spawn(conn);
    let mut added = Vec::new();
    for &dest in dests {
        let result = handle
            .route()
            .add(host_route(dest, if_index))
            .replace()
            .execute()
            .await;
        match result {
            Ok(()) => added.push(dest),
            Err(e) => {
                tracing::warn!(%dest, error = %e, "cannot route this address into the tunnel; games sending to it stay local")
            }
        }
    }
    task.abort();
    added
}

#[cfg(not(target_os = "linux"))]
pub async fn add_host_routes(_if_index: u32, _dests: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    Vec::new()
}

#[cfg(target_os = "linux")]
pub async fn remove_host_routes(if_index: u32, dests: &[Ipv4Addr]) {
    let Ok((conn, handle, _)) = rtnetlink::new_connection() else {
        return;
    };
    let task = tokio::spawn(conn);
    for &dest in dests {
        if let Err(e) = handle
            .route()
            .del(host_route(dest, if_index))
            .execute()
            .await
        {
            tracing::debug!(%dest, error = %e, "removing a route (it goes with the device)");
        }
    }
    task.abort();
}

#[cfg(not(target_os = "linux"))]
pub async fn remove_host_routes(_if_index: u32, _dests: &[Ipv4Addr]) {}
