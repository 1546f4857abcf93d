//! System routes the tunnel adds (and removes on exit).
//!
//! Games send limited broadcasts (255.255.255.255) from unbound sockets; those only reach the
//! TUN with a `255.255.255.255/32 dev <tun>` route. Done over netlink in-process, so it works
//! with only CAP_NET_ADMIN on the binary (a child `ip` process would not inherit it).

#[cfg(target_os = "linux")]
pub async fn add_limited_broadcast(if_index: u32) -> std::io::Result<()> {
    use std::net::Ipv4Addr;
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let task = tokio::spawn(conn);
    let msg = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(Ipv4Addr::BROADCAST, 32)
        .output_interface(if_index)
        .build();
    let result = handle.route().add(msg).replace().execute().await;
    task.abort();
    result.map_err(std::io::Error::other)
}

#[cfg(not(target_os = "linux"))]
pub async fn add_limited_broadcast(_if_index: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
pub async fn remove_limited_broadcast(if_index: u32) -> std::io::Result<()> {
    use std::net::Ipv4Addr;
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let task = tokio::spawn(conn);
    let msg = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(Ipv4Addr::BROADCAST, 32)
        .output_interface(if_index)
        .build();
    let result = handle.route().del(msg).execute().await;
    task.abort();
    result.map_err(std::io::Error::other)
}

#[cfg(not(target_os = "linux"))]
pub async fn remove_limited_broadcast(_if_index: u32) -> std::io::Result<()> {
    Ok(())
}
