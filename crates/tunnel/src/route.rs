//! System routes the tunnel adds (and removes on exit).
//!
//! Games send limited broadcasts (255.255.255.255) from unbound sockets; those only reach the
//! TUN with a `255.255.255.255/32 dev <tun>` route. Done over netlink in-process, so it works
//! with only CAP_NET_ADMIN on the binary (a child `ip` process would not inherit it).

#[cfg(target_os = "linux")]
fn broadcast_route(if_index: u32) -> rtnetlink::packet_route::route::RouteMessage {
    rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
        .destination_prefix(std::net::Ipv4Addr::BROADCAST, 32)
        .output_interface(if_index)
        .build()
}

#[cfg(target_os = "linux")]
pub async fn add_limited_broadcast(if_index: u32) -> std::io::Result<()> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let task = tokio::spawn(conn);
    let result = handle
        .route()
        .add(broadcast_route(if_index))
        .replace()
        .execute()
        .await;
    task.abort();
    result.map_err(std::io::Error::other)
}

#[cfg(not(target_os = "linux"))]
pub async fn add_limited_broadcast(_if_index: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
pub async fn remove_limited_broadcast(if_index: u32) -> std::io::Result<()> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let task = tokio::spawn(conn);
    let result = handle
        .route()
        .del(broadcast_route(if_index))
        .execute()
        .await;
    task.abort();
    result.map_err(std::io::Error::other)
}

#[cfg(not(target_os = "linux"))]
pub async fn remove_limited_broadcast(_if_index: u32) -> std::io::Result<()> {
    Ok(())
}
