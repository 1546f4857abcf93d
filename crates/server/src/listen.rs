//! Where a server listens: the guarded TCP listener (plain or TLS) that axum serves, and what
//! each request learns about its connection. The serving server and one passing players on
//! (`edge`) listen the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::guard::{ConnState, GuardedListener, Limits};

/// Kernel send buffer per connection (Linux doubles it for its bookkeeping).
const SEND_BUFFER_BYTES: u32 = 64 * 1024;

/// Listens on `addr` (TLS when there is an acceptor) and serves `app` there until `cancel`.
pub(crate) fn listen(
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: &Limits,
    app: Router,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = bind(addr)?;
    let local = listener.local_addr()?;
    let listener = GuardedListener::new(listener, limits.clone());
    match acceptor {
        None => serve(tasks, listener, app, cancel),
        Some(acceptor) => {
            let listener = crate::tls::TlsListener::new(listener, acceptor)?;
            serve(tasks, listener, app, cancel);
        }
    }
    Ok(local)
}

/// Serves `app` on `listener` (plain or TLS) until `cancel`.
fn serve<L>(tasks: &TaskTracker, listener: L, app: Router, cancel: CancellationToken)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    PeerAddr: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    tasks.spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<PeerAddr>(),
        )
        .with_graceful_shutdown(async move { cancel.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "control server stopped");
        }
    });
}

/// A listener with a deep accept queue: after a server restart every device reconnects at
/// once, and the default backlog of 128 drops most of them for a second.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    // Accepted connections inherit this: without it the kernel grows a stalled connection's
    // send buffer up to 4 MiB, behind the outbox's back. Control frames need no more.
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The remote address of a connection, plain or TLS, and its guard.
#[derive(Clone)]
pub(crate) struct PeerAddr(pub SocketAddr, pub Arc<ConnState>);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, GuardedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, GuardedListener>) -> Self {
        PeerAddr(*stream.remote_addr(), stream.io().state().clone())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        PeerAddr(
            *stream.remote_addr(),
            stream.io().get_ref().0.state().clone(),
        )
    }
}

/// Every request tells the guard it arrived: the connection is no longer waiting for one.
pub(crate) async fn request_arrived(
    ConnectInfo(PeerAddr(_, conn)): ConnectInfo<PeerAddr>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    conn.request_arrived();
    next.run(req).await
}

/// A player's WebSocket with small buffers: the default 128 KiB read buffer stays resident per
/// device (measured: 1.4 GB at 10,000 devices, 180 MB with these).
pub(crate) fn small_buffers(
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::extract::ws::WebSocketUpgrade {
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(lanrage_proto::MAX_FRAME_BYTES)
        .max_frame_size(lanrage_proto::MAX_FRAME_BYTES)
}

/// `/metrics` in Prometheus's text format.
pub(crate) fn prometheus(body: String) -> Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}
