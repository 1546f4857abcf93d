//! Linux: a TUN device with offload (one read can be a whole TCP window, split by tun-rs; writes
//! are coalesced back into large packets), host routes over netlink.

use std::io;
use std::net::Ipv4Addr;

use super::Tun;
use crate::config::DeviceConfig;

/// Packets per TUN read or write.
pub(crate) const TUN_BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;

/// The largest packet a batched TUN write coalesces into (an IP packet's length field). tun-rs
/// appends the packets it coalesces to the first one's buffer, so that buffer must be able to
/// hold this much: where it cannot, every packet is written on its own.
pub(crate) const TUN_COALESCED_MAX: usize = 65_535;

/// Scratch space for one reader: the offload read lands here before it is split.
pub(crate) struct RecvState {
    original: Vec<u8>,
}

impl RecvState {
    pub(crate) fn new() -> Self {
        Self {
            original: vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN + 65_535],
        }
    }
}

/// One writer's table for coalescing decrypted packets back into large ones.
#[derive(Default)]
pub(crate) struct SendState(tun_rs::GROTable);

impl Tun {
    pub(crate) fn open(cfg: &DeviceConfig) -> io::Result<Tun> {
        let build = |offload: bool| super::common(cfg).offload(offload).build_async();
        if !cfg.offload {
            return build(false).map(Tun);
        }
        // Offload (TSO/GRO through a virtio-net header) is what makes bulk transfers fast;
        // kernels without it still get a working tunnel.
        match build(true) {
            Ok(t) => Ok(Tun(t)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "TUN offload unavailable; continuing without it");
                build(false).map(Tun)
            }
        }
    }

    /// Reads at least one packet; returns how many, each in `bufs[i][..sizes[i]]`.
    pub(crate) async fn recv_batch(
        &self,
        st: &mut RecvState,
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
    ) -> io::Result<usize> {
        self.0.recv_multiple(&mut st.original, bufs, sizes, 0).await
    }

    /// Reads one batch if one is waiting, without waiting (`WouldBlock` if none). A `busy`
    /// reader (packets still queued to encrypt) asks the kernel itself: the runtime updates
    /// the TUN's readiness only when the task yields, so it may be stale. An idle one, just
    /// woken, goes through the readiness, so a read that finds nothing also clears it and the
    /// next `recv_batch` goes straight to sleep instead of asking the kernel once more (one
    /// system call per packet on an idle path).
    pub(crate) fn try_recv_batch(
        &self,
        st: &mut RecvState,
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
        busy: bool,
    ) -> io::Result<usize> {
        if busy {
            std::ops::Deref::deref(&self.0).recv_multiple(&mut st.original, bufs, sizes, 0)
        } else {
            self.0.try_recv_multiple(&mut st.original, bufs, sizes, 0)
        }
    }

    /// Writes every buffer's packet, which starts at `offset` (the room before it is for the
    /// virtio-net header).
    pub(crate) async fn send_batch(
        &self,
        st: &mut SendState,
        bufs: &mut [Vec<u8>],
        offset: usize,
    ) -> io::Result<()> {
        self.0
            .send_multiple(&mut st.0, bufs, offset)
            .await
            .map(|_| ())
    }
}

fn host_route(dest: Ipv4Addr, if_index: u32) -> rtnetlink::packet_route::route::RouteMessage {
    rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dest, 32)
        .output_interface(if_index)
        .build()
}

/// Routes each destination into the interface; returns those it could route (the others are
/// logged: the party works without them, only that kind of discovery stays local). Done over
/// netlink in-process, so it works with only CAP_NET_ADMIN on the binary (a child `ip` process
/// would not inherit it).
pub(crate) async fn add_host_routes(if_index: u32, dests: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
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

pub(crate) async fn remove_host_routes(if_index: u32, dests: &[Ipv4Addr]) {
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

impl Tun {
    /// Nothing to undo: the device and its routes go when it is closed.
    pub(crate) async fn close(&self) {}
}

/// What to do when creating the device is refused.
pub(crate) fn permission_hint() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "lanrage".into());
    format!("LANrage needs the CAP_NET_ADMIN capability: run `sudo setcap cap_net_admin+ep {exe}` (the installer does this), or run as root")
}
