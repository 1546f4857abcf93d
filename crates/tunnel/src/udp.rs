//! The UDP socket for WireGuard datagrams, batched: GSO/sendmmsg out, GRO/recvmmsg in
//! (quinn-udp), because on these machines a userspace tunnel's time goes to system calls.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;

pub struct BatchUdp {
    sock: tokio::net::UdpSocket,
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
        let sock = tokio::net::UdpSocket::from_std(std_sock)?;
        Ok(Self {
            sock,
            state,
            offload,
        })
    }

    pub fn local_port(&self) -> io::Result<u16> {
        Ok(self.sock.local_addr()?.port())
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
        loop {
            self.sock.writable().await?;
            match self.sock.try_io(Interest::WRITABLE, || {
                self.state.send((&self.sock).into(), &transmit)
            }) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
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
        loop {
            self.sock.writable().await?;
            let sent = self.sock.try_io(Interest::WRITABLE, || {
                sendmsg(
                    self.sock.as_raw_fd(),
                    &iov,
                    cmsgs,
                    MsgFlags::empty(),
                    Some(&addr),
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(_) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives a batch if one is waiting, without waiting: `WouldBlock` if none. Asks the
    /// kernel itself rather than the runtime's readiness, which a task that has been busy
    /// decrypting has not seen updated.
    pub fn try_recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        self.state.recv((&self.sock).into(), bufs, meta)
    }

    /// Receives a batch; each `meta[i]` describes `bufs[i]`, which holds `len` bytes made of
    /// datagrams of `stride` bytes each (GRO), the last possibly shorter.
    pub async fn recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        loop {
            self.sock.readable().await?;
            match self.sock.try_io(Interest::READABLE, || {
                self.state.recv((&self.sock).into(), bufs, meta)
            }) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
