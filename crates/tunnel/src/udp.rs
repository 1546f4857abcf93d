//! The UDP socket for WireGuard datagrams, batched: GSO/sendmmsg out, GRO/recvmmsg in
//! (quinn-udp), because on these machines a userspace tunnel's time goes to system calls.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;

/// The socket as the runtime sees it. On Unix it is registered for reading only: registered
/// for writing too, as tokio's `UdpSocket` is, every datagram the kernel finishes sending
/// raises an edge-triggered EPOLLOUT, which wakes the data path's thread for nothing: one
/// wake-up per packet sent (measured with strace: about half of the tunnel's `epoll_wait`s on
/// an idle path). Sends are plain non-blocking calls; only one that finds the send buffer full
/// waits for room, through a registration made for that wait.
#[cfg(unix)]
struct Registered(tokio::io::unix::AsyncFd<std::net::UdpSocket>);

#[cfg(unix)]
impl Registered {
    fn new(sock: std::net::UdpSocket) -> io::Result<Self> {
        // SAFETY: the socket owns its descriptor and stays inside the `AsyncFd` until it is
        // dropped, so the descriptor stays open and the same for the registration's life.
        let fd =
            unsafe { tokio::io::unix::AsyncFd::register_with_interest(sock, Interest::READABLE) }?;
        Ok(Registered(fd))
    }

    fn get(&self) -> &std::net::UdpSocket {
        self.0.get_ref()
    }

    async fn recv_with<R>(
        &self,
        mut f: impl FnMut(&std::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(r) = ready.try_io(|fd| f(fd.get_ref())) {
                return r;
            }
        }
    }

    /// Runs a read that asks the kernel itself (the runtime's readiness is stale for a reader
    /// that has been busy), and when the kernel finds nothing clears the readiness too, so the
    /// next `recv_with` sleeps at once instead of asking again. The readiness is taken before
    /// the read, as tokio's own `try_io` does: a datagram that arrives after it raises a newer
    /// one that the clear leaves alone, whichever thread drives the runtime.
    fn try_read<R>(&self, f: impl FnOnce(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        // Polled once without a waker to keep: dropping it leaves no waiter behind.
        let mut ready = std::pin::pin!(self.0.readable());
        match ready.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(mut guard)) => match guard.try_io(|fd| f(fd.get_ref())) {
                Ok(r) => r,
                Err(_would_block) => Err(io::ErrorKind::WouldBlock.into()),
            },
            _ => f(self.get()),
        }
    }

    async fn send_with<R>(
        &self,
        mut f: impl FnMut(&std::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match f(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.room().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Waits until the send buffer has room, on a registration of a duplicate descriptor for
    /// writing alone (epoll keys its entries by descriptor, and tokio cannot change a
    /// registration's interest), dropped after the wait. Registering reports the socket
    /// writable at once if room came meanwhile, so no wake-up is lost. On veth this never
    /// happened in a bulk transfer; on a NIC whose send buffer is capped small
    /// (`net.core.wmem_max`) a fast sender meets it now and then, for four system calls.
    async fn room(&self) -> io::Result<()> {
        let Ok(dup) = self.get().try_clone() else {
            // No descriptor to spare: a short pause instead of dropping the datagrams.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            return Ok(());
        };
        // SAFETY: as in `new`: the duplicate owns its descriptor for the registration's life.
        let fd =
            unsafe { tokio::io::unix::AsyncFd::register_with_interest(dup, Interest::WRITABLE) }?;
        let _ready = fd.writable().await?;
        Ok(())
    }
}

/// Elsewhere (Windows) tokio's socket as it is.
#[cfg(not(unix))]
struct Registered(tokio::net::UdpSocket);

#[cfg(not(unix))]
impl Registered {
    fn new(sock: std::net::UdpSocket) -> io::Result<Self> {
        tokio::net::UdpSocket::from_std(sock).map(Registered)
    }

    fn get(&self) -> &tokio::net::UdpSocket {
        &self.0
    }

    async fn recv_with<R>(
        &self,
        mut f: impl FnMut(&tokio::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.0.readable().await?;
            match self.0.try_io(Interest::READABLE, || f(&self.0)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// A read that asks the system itself; one that finds nothing re-arms the readiness.
    fn try_read<R>(
        &self,
        f: impl FnOnce(&tokio::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        let got = f(&self.0);
        if matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            let _ = self.0.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
        got
    }

    async fn send_with<R>(
        &self,
        mut f: impl FnMut(&tokio::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.0.writable().await?;
            match self.0.try_io(Interest::WRITABLE, || f(&self.0)) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                r => return r,
            }
        }
    }
}

pub struct BatchUdp {
    sock: Registered,
    state: UdpSocketState,
    /// Segmentation offload in use: sends of several datagrams at once (GSO) and receives of
    /// several coalesced (GRO).
    offload: bool,
}

impl BatchUdp {
    /// A socket on `port` (0: any free one); `offload: false` sends and receives one datagram
    /// per buffer, as on a kernel without UDP GSO and GRO.
    pub fn bind(port: u16, offload: bool) -> io::Result<Self> {
        let sock = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        sock.set_nonblocking(true)?;
        sock.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
        let std_sock: std::net::UdpSocket = sock.into();
        let state = UdpSocketState::new((&std_sock).into())?;
        // Large buffers absorb bursts of a TCP stream's window (best effort: capped by sysctl).
        let _ = state.set_send_buffer_size((&std_sock).into(), 7 << 20);
        let _ = state.set_recv_buffer_size((&std_sock).into(), 7 << 20);
        #[cfg(target_os = "linux")]
        if !offload {
            // quinn-udp switched GRO on where the kernel has it; a kernel without it refuses
            // the option (ENOPROTOOPT), and has nothing to switch off.
            if let Err(e) = nix::sys::socket::setsockopt(
                &std_sock,
                nix::sys::socket::sockopt::UdpGroSegment,
                &false,
            ) {
                tracing::debug!(error = %e, "switching UDP GRO off");
            }
        }
        let sock = Registered::new(std_sock)?;
        Ok(Self {
            sock,
            state,
            offload,
        })
    }

    pub fn local_port(&self) -> io::Result<u16> {
        Ok(self.sock.get().local_addr()?.port())
    }

    pub fn max_gso_segments(&self) -> usize {
        if self.offload {
            self.state.max_gso_segments()
        } else {
            1
        }
    }

    pub fn gro_segments(&self) -> usize {
        if self.offload {
            self.state.gro_segments()
        } else {
            1
        }
    }

    /// Sends `contents` to `dest`; with `segment_size`, as several datagrams of that size in one
    /// system call (the last may be shorter). `dscp` marks the datagrams (0: unmarked), so a
    /// game's priority survives encapsulation for the routers and Wi-Fi queues on the way.
    pub async fn send(
        &self,
        dest: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
        dscp: u8,
    ) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if dscp != 0 {
            if let SocketAddr::V4(v4) = dest {
                return self.send_marked(v4, contents, segment_size, dscp).await;
            }
        }
        // Elsewhere the mark is dropped: Windows ignores IP_TOS from programs (only its QoS
        // policies may mark), and this socket is IPv4 only.
        #[cfg(not(target_os = "linux"))]
        let _ = dscp;
        let transmit = Transmit {
            destination: dest,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        self.sock
            .send_with(|sock| self.state.send(sock.into(), &transmit))
            .await
    }

    /// quinn-udp carries only ECN in its per-send type of service, so marked datagrams take
    /// their own `sendmsg` with the whole byte (DSCP and ECN not-capable) as ancillary data.
    #[cfg(target_os = "linux")]
    async fn send_marked(
        &self,
        dest: std::net::SocketAddrV4,
        contents: &[u8],
        segment_size: Option<usize>,
        dscp: u8,
    ) -> io::Result<()> {
        let segment = match segment_size {
            Some(n) => Some(u16::try_from(n).map_err(|_| io::ErrorKind::InvalidInput)?),
            None => None,
        };
        match self.sendmsg_marked(dest, contents, segment, dscp).await {
            // A path that cannot segment (EIO: no checksum offload; EINVAL: no GSO): the same
            // datagrams one by one, as quinn-udp falls back for unmarked ones.
            Err(e)
                if segment.is_some()
                    && matches!(e.raw_os_error(), Some(nix::libc::EIO | nix::libc::EINVAL)) =>
            {
                for dgram in contents.chunks(segment_size.unwrap_or(contents.len()).max(1)) {
                    self.sendmsg_marked(dest, dgram, None, dscp).await?;
                }
                Ok(())
            }
            r => r,
        }
    }

    #[cfg(target_os = "linux")]
    async fn sendmsg_marked(
        &self,
        dest: std::net::SocketAddrV4,
        contents: &[u8],
        segment: Option<u16>,
        dscp: u8,
    ) -> io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn};
        use std::os::fd::AsRawFd;

        let tos = dscp << 2;
        let seg = segment.unwrap_or(0);
        let both = [
            ControlMessage::Ipv4Tos(&tos),
            ControlMessage::UdpGsoSegments(&seg),
        ];
        let cmsgs = if segment.is_some() {
            &both[..]
        } else {
            &both[..1]
        };
        let addr = SockaddrIn::from(dest);
        let iov = [io::IoSlice::new(contents)];
        self.sock
            .send_with(|sock| {
                sendmsg(
                    sock.as_raw_fd(),
                    &iov,
                    cmsgs,
                    MsgFlags::empty(),
                    Some(&addr),
                )
                .map_err(io::Error::from)
            })
            .await
            .map(|_| ())
    }

    /// Receives a batch if one is waiting, without waiting: `WouldBlock` if none. Asks the
    /// kernel itself rather than the runtime's readiness, which a task that has been busy
    /// decrypting has not seen updated. When the kernel says the socket is empty the
    /// runtime's readiness goes too, without another system call, so the next `recv` goes
    /// straight to sleep instead of asking the kernel once more first (one system call per
    /// datagram on an idle path). Readiness is edge-triggered: a datagram arriving after
    /// this raises it again.
    pub fn try_recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        self.sock
            .try_read(|sock| self.state.recv(sock.into(), bufs, meta))
    }

    /// Receives a batch; each `meta[i]` describes `bufs[i]`, which holds `len` bytes made of
    /// datagrams of `stride` bytes each (GRO), the last possibly shorter.
    pub async fn recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        self.sock
            .recv_with(|sock| self.state.recv(sock.into(), bufs, meta))
            .await
    }
}
