//! The connection guard under the HTTP server (plain and TLS): caps concurrent connections per
//! source and in total, and closes connections whose request does not arrive in time or that
//! go quiet. Without it a few hosts holding half-open connections exhaust the file descriptors.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::source::source_key;

/// Connection limits of the control server (all of them per server).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent connections from one IPv4 address or one IPv6 /64 (a home or a LAN café
    /// rarely has more devices behind one address; an operator behind carrier-grade NAT
    /// raises it).
    pub per_source: usize,
    /// Concurrent connections in all; stays below the process's file descriptor limit.
    pub total: usize,
    /// Connections from loopback are not capped per source: they come from this machine,
    /// usually a reverse proxy carrying every client.
    pub exempt_loopback: bool,
    /// From accepting a connection until its HTTP request (after the TLS handshake, for
    /// wss) has arrived.
    pub request_timeout: Duration,
    /// A connection that sends nothing for this long is closed (clients heartbeat every 3 s).
    pub idle_timeout: Duration,
    /// A frame the peer does not take within this time closes its connection.
    pub write_timeout: Duration,
    /// Bytes of frames waiting for one connection; signals beyond half of it are dropped, other
    /// frames close the connection (the device reconnects and gets a fresh snapshot).
    pub outbox_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_source: 32,
            total: 16_384,
            exempt_loopback: true,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            outbox_bytes: 256 * 1024,
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// One admitted connection's place in the counts, given back when it closes.
struct Permit {
    counts: Arc<Mutex<Counts>>,
    source: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(s) = self.source {
            if let Some(n) = c.per_source.get_mut(&s) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_source.remove(&s);
                }
            }
        }
    }
}

fn admit(counts: &Arc<Mutex<Counts>>, limits: &Limits, ip: IpAddr) -> Option<Permit> {
    let mut c = counts.lock();
    if c.total >= limits.total {
        return None;
    }
    let source =
        (!(limits.exempt_loopback && ip.to_canonical().is_loopback())).then(|| source_key(ip));
    if let Some(s) = source {
        let n = c.per_source.entry(s).or_default();
        if *n >= limits.per_source {
            return None;
        }
        *n += 1;
    }
    c.total += 1;
    Some(Permit {
        counts: counts.clone(),
        source,
    })
}

/// What the HTTP side tells the guard about a connection.
pub struct ConnState {
    accepted: Instant,
    request_timeout: Duration,
    idle_timeout: Duration,
    request_arrived: AtomicBool,
    /// Milliseconds after `accepted` of the last bytes read.
    last_read_ms: AtomicU64,
}

impl ConnState {
    /// The request is in: from now on the connection only has to stay active.
    pub fn request_arrived(&self) {
        self.touch();
        self.request_arrived.store(true, Ordering::Relaxed);
    }

    fn touch(&self) {
        let ms = self.accepted.elapsed().as_millis() as u64;
        self.last_read_ms.store(ms, Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        if self.request_arrived.load(Ordering::Relaxed) {
            self.accepted
                + Duration::from_millis(self.last_read_ms.load(Ordering::Relaxed))
                + self.idle_timeout
        } else {
            self.accepted + self.request_timeout
        }
    }
}

/// A connection under the guard: reading fails once its deadline passes, which makes the
/// HTTP server (or the WebSocket session) close it.
pub struct Guarded<T> {
    io: T,
    state: Arc<ConnState>,
    timer: Pin<Box<Sleep>>,
    _permit: Permit,
}

impl<T> Guarded<T> {
    pub fn state(&self) -> &Arc<ConnState> {
        &self.state
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = this.state.deadline();
                let expired = || {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request or no activity in time",
                    )))
                };
                if Instant::now() >= deadline {
                    return expired();
                }
                this.timer.as_mut().reset(deadline.into());
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => expired(),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A TCP listener that admits connections within [`Limits`]; the others are closed at once.
pub struct GuardedListener {
    tcp: TcpListener,
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

impl GuardedListener {
    pub fn new(tcp: TcpListener, limits: Limits) -> Self {
        Self {
            tcp,
            limits,
            counts: Arc::default(),
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(permit) = admit(&self.counts, &self.limits, addr.ip()) else {
                // Dropping the stream closes it; per-connection, so TRACE.
                tracing::trace!(%addr, "connection over the limits refused");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let accepted = Instant::now();
            let state = Arc::new(ConnState {
                accepted,
                request_timeout: self.limits.request_timeout,
                idle_timeout: self.limits.idle_timeout,
                request_arrived: AtomicBool::new(false),
                last_read_ms: AtomicU64::new(0),
            });
            let timer = Box::pin(tokio::time::sleep_until(
                (accepted + self.limits.request_timeout).into(),
            ));
            return (
                Guarded {
                    io: stream,
                    state,
                    timer,
                    _permit: permit,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design
    use super::*;

    #[test]
    fn caps_hold_per_source_and_in_total_and_free_up_on_close() {
        let counts = Arc::default();
        let limits = Limits {
            per_source: 2,
            total: 3,
            exempt_loopback: true,
            ..Limits::default()
        };
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let a2: IpAddr = "2001:db8::2".parse().unwrap();
        let b: IpAddr = "198.51.100.7".parse().unwrap();
        let p1 = admit(&counts, &limits, a).unwrap();
        let _p2 = admit(&counts, &limits, a2).unwrap();
        assert!(admit(&counts, &limits, a).is_none(), "same /64");
        let _p3 = admit(&counts, &limits, b).unwrap();
        assert!(
            admit(&counts, &limits, "127.0.0.1".parse().unwrap()).is_none(),
            "total"
        );
        drop(p1);
        assert!(admit(&counts, &limits, a).is_some());
    }
}
