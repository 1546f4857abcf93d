//! The control server against raw WebSocket clients on loopback: the handshake, impostors,
//! malformed and oversized frames, floods, and signaling boundaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, Op, ServerMsg};
use lanrage_proto::{auth, PROTOCOL_VERSION};
use lanrage_server::{Limits, Server, ServerConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use x25519_dalek::{PublicKey, StaticSecret};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        store: Default::default(),
        bus: None,
        ice: Default::default(),
        tls: None,
    })
    .await
    .unwrap();
    (s, dir)
}

async fn server_with(limits: Limits) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            store: Default::default(),
            bus: None,
            ice: Default::default(),
            tls: None,
        },
        limits,
    )
    .await
    .unwrap();
    (s, dir)
}

async fn tls_server_with(limits: Limits) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let s = Server::start_with(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("state"),
            store: Default::default(),
            bus: None,
            ice: Default::default(),
            tls: Some(lanrage_server::TlsFiles {
                cert: cert_path,
                key: key_path,
            }),
        },
        limits,
    )
    .await
    .unwrap();
    (s, dir)
}

/// A real ICE candidate signal (what members' agents send each other).
fn cand(n: u32) -> serde_json::Value {
    json!({"kind": "cand", "leg": "direct", "gen": 1, "c": format!("candidate:{n} 1 udp 2130706431 192.0.2.7 51820 typ host")})
}

/// The largest credentials signal the server relays (about 600 bytes).
fn big_signal() -> serde_json::Value {
    json!({"kind": "creds", "leg": "direct", "gen": 1, "ufrag": "u".repeat(256), "pwd": "p".repeat(256)})
}

/// A TCP connection from `from` (any port) to `to`, with a small receive buffer when `small`,
/// so a client that stops reading stalls the server's writes soon.
async fn tcp_from(from: &str, to: std::net::SocketAddr, small: bool) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if small {
        sock.set_recv_buffer_size(4096).unwrap();
    }
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(to).await.unwrap()
}

/// A device with its own key over `tcp`, authenticated.
async fn device_over(tcp: tokio::net::TcpStream, secret: &StaticSecret) -> Ws {
    let (mut ws, _) = tokio_tungstenite::client_async(
        "ws://lanrage/",
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .unwrap();
    let reply = handshake(
        &mut ws,
        secret,
        B64.encode(PublicKey::from(secret).as_bytes()),
    )
    .await;
    assert!(
        matches!(reply, Some(ServerMsg::Welcome { .. })),
        "{reply:?}"
    );
    ws
}

fn key_of(secret: &StaticSecret) -> String {
    B64.encode(PublicKey::from(secret).as_bytes())
}

/// `host` creates a party and returns its invite code.
async fn create_party(host: &mut Ws) -> String {
    let (r, pushes) = request_collect(
        host,
        900,
        Op::CreateParty {
            name: "p".into(),
            max_members: None,
            invite_ttl_secs: None,
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    pushes
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Party { party } => party.invite.map(|i| i.code),
            _ => None,
        })
        .expect("the host gets the party with its invite")
}

async fn join(ws: &mut Ws, code: &str) {
    let r = request(ws, 901, Op::JoinParty { code: code.into() }).await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
}

/// A metric's value from /metrics.
async fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut body))
        .await
        .unwrap()
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Whether the server closed `tcp` within `within` (EOF or reset while reading).
async fn closed_within(tcp: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn recv(ws: &mut Ws) -> Option<ServerMsg> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(message::decode_server(&t).unwrap()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("no message from the server within 5 s"),
        }
    }
}

async fn send(ws: &mut Ws, m: &ClientMsg) {
    ws.send(Message::Text(message::encode(m).into()))
        .await
        .unwrap();
}

/// Connects and says hello as `claimed`, proving with `secret`.
async fn connect_as(
    addr: std::net::SocketAddr,
    secret: &StaticSecret,
    claimed: &PublicKey,
) -> (Ws, Option<ServerMsg>) {
    hello(addr, secret, B64.encode(claimed.as_bytes())).await
}

/// Connects and says hello with `public_key` spelled as given, proving with `secret`.
async fn hello(
    addr: std::net::SocketAddr,
    secret: &StaticSecret,
    public_key: String,
) -> (Ws, Option<ServerMsg>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/any/path"))
        .await
        .unwrap();
    let reply = handshake(&mut ws, secret, public_key).await;
    (ws, reply)
}

/// Answers the challenge as `public_key`, proving with `secret`; returns the server's reply.
async fn handshake(ws: &mut Ws, secret: &StaticSecret, public_key: String) -> Option<ServerMsg> {
    let Some(ServerMsg::Challenge {
        nonce, server_key, ..
    }) = recv(ws).await
    else {
        panic!("no challenge");
    };
    let nonce = B64.decode(nonce).unwrap();
    let server_key: [u8; 32] = B64.decode(server_key).unwrap().try_into().unwrap();
    send(
        ws,
        &ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            public_key,
            name: "Tester".into(),
        },
    )
    .await;
    let proof = auth::prove(secret, &PublicKey::from(server_key), &nonce);
    send(ws, &ClientMsg::Auth { proof }).await;
    recv(ws).await
}

async fn device(addr: std::net::SocketAddr) -> (Ws, StaticSecret) {
    let secret = StaticSecret::random_from_rng(rand_core::OsRng);
    let (ws, reply) = connect_as(addr, &secret, &PublicKey::from(&secret)).await;
    assert!(
        matches!(reply, Some(ServerMsg::Welcome { .. })),
        "{reply:?}"
    );
    (ws, secret)
}

/// Sends a request and returns its response, skipping pushes.
async fn request(ws: &mut Ws, id: u64, op: Op) -> ServerMsg {
    request_collect(ws, id, op).await.0
}

/// Sends a request and returns its response and the pushes that came before it.
async fn request_collect(ws: &mut Ws, id: u64, op: Op) -> (ServerMsg, Vec<ServerMsg>) {
    send(ws, &ClientMsg::Request { id, op }).await;
    let mut pushes = Vec::new();
    loop {
        match recv(ws).await {
            Some(m @ ServerMsg::Response { id: rid, .. }) if rid == id => return (m, pushes),
            Some(m) => pushes.push(m),
            None => panic!("connection closed while waiting for response {id}"),
        }
    }
}

#[tokio::test]
async fn a_device_must_prove_its_key() {
    let (srv, _dir) = server().await;
    let victim = StaticSecret::random_from_rng(rand_core::OsRng);
    let impostor = StaticSecret::random_from_rng(rand_core::OsRng);
    let (_ws, reply) = connect_as(srv.local_addr(), &impostor, &PublicKey::from(&victim)).await;
    match reply {
        Some(ServerMsg::Error { error }) => assert_eq!(error.code, "auth_failed"),
        other => panic!("impostor was not refused: {other:?}"),
    }
    // The real owner gets in.
    let (_ws, reply) = connect_as(srv.local_addr(), &victim, &PublicKey::from(&victim)).await;
    assert!(matches!(reply, Some(ServerMsg::Welcome { .. })));
    srv.shutdown().await;
}

#[tokio::test]
async fn a_key_is_accepted_only_in_its_canonical_spelling() {
    let (srv, _dir) = server().await;
    let secret = StaticSecret::random_from_rng(rand_core::OsRng);
    let text = B64.encode(PublicKey::from(&secret).as_bytes());
    // The same key with whitespace would be a second identity (and an oversized one).
    for spelled in [format!("{text} "), format!("{text}{}", " ".repeat(4000))] {
        match hello(srv.local_addr(), &secret, spelled).await.1 {
            Some(ServerMsg::Error { error }) => assert_eq!(error.code, "bad_message"),
            other => panic!("a non-canonical key was accepted: {other:?}"),
        }
    }
    let (_ws, reply) = hello(srv.local_addr(), &secret, text.clone()).await;
    match reply {
        Some(ServerMsg::Welcome { public_key, .. }) => assert_eq!(public_key, text),
        other => panic!("the canonical key was refused: {other:?}"),
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn requests_before_authentication_are_refused() {
    let (srv, _dir) = server().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}", srv.local_addr()))
        .await
        .unwrap();
    let _challenge = recv(&mut ws).await;
    send(
        &mut ws,
        &ClientMsg::Request {
            id: 1,
            op: Op::LeaveParty,
        },
    )
    .await;
    match recv(&mut ws).await {
        Some(ServerMsg::Error { error }) => assert_eq!(error.code, "not_authenticated"),
        other => panic!("{other:?}"),
    }
    assert!(
        recv(&mut ws).await.is_none(),
        "connection closed after refusal"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn malformed_unknown_and_oversized_frames() {
    let (srv, _dir) = server().await;
    let (mut ws, _) = device(srv.local_addr()).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    match recv(&mut ws).await {
        Some(ServerMsg::Error { error }) => assert_eq!(error.code, "bad_message"),
        other => panic!("{other:?}"),
    }
    ws.send(Message::Text(r#"{"type":"teleport"}"#.into()))
        .await
        .unwrap();
    match recv(&mut ws).await {
        Some(ServerMsg::Error { error }) => assert!(error.message.contains("teleport")),
        other => panic!("{other:?}"),
    }
    // The connection still works after bad frames.
    let r = request(&mut ws, 5, Op::LeaveParty).await;
    let ServerMsg::Response { error: Some(e), .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(e.code, "not_in_party");
    // An oversized frame closes the connection; the server keeps serving others.
    let big = "x".repeat(lanrage_proto::MAX_FRAME_BYTES + 1024);
    let _ = ws.send(Message::Text(big.into())).await;
    assert!(
        recv(&mut ws).await.is_none(),
        "oversized frame must close the connection"
    );
    let (mut other, _) = device(srv.local_addr()).await;
    let r = request(
        &mut other,
        1,
        Op::CreateParty {
            name: "ok".into(),
            max_members: None,
            invite_ttl_secs: None,
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn a_huge_invite_lifetime_is_an_invite_that_does_not_expire() {
    let (srv, _dir) = server().await;
    let (mut ws, _) = device(srv.local_addr()).await;
    let r = request(
        &mut ws,
        1,
        Op::CreateParty {
            name: "forever".into(),
            max_members: None,
            invite_ttl_secs: Some(u64::MAX),
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    let (r, mut pushes) = request_collect(
        &mut ws,
        2,
        Op::NewInvite {
            ttl_secs: Some(u64::MAX / 999),
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    if pushes.is_empty() {
        pushes.extend(recv(&mut ws).await);
    }
    let code = pushes
        .into_iter()
        .rev()
        .find_map(|m| match m {
            ServerMsg::Party { party } => party.invite.map(|i| i.code),
            _ => None,
        })
        .expect("the host gets the party with its new invite");
    // Another device can still join with it: it did not wrap around into the past.
    let (mut friend, _) = device(srv.local_addr()).await;
    let r = request(&mut friend, 1, Op::JoinParty { code }).await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn floods_are_cut_off() {
    let (srv, _dir) = server().await;
    let (mut ws, _) = device(srv.local_addr()).await;
    let hb = message::encode(&ClientMsg::Heartbeat);
    for _ in 0..2_000 {
        if ws.send(Message::Text(hb.clone().into())).await.is_err() {
            break;
        }
    }
    let mut flood = false;
    while let Some(m) = recv(&mut ws).await {
        if let ServerMsg::Error { error } = m {
            flood |= error.code == "flood";
        }
    }
    assert!(flood, "a flood must be answered and cut off");
    srv.shutdown().await;
}

#[tokio::test]
async fn signals_only_flow_within_a_party() {
    let (srv, _dir) = server().await;
    let addr = srv.local_addr();
    let (mut a, _) = device(addr).await;
    let (mut b, b_secret) = device(addr).await;
    let (mut c, c_secret) = device(addr).await;
    let b_key = B64.encode(PublicKey::from(&b_secret).as_bytes());
    let c_key = B64.encode(PublicKey::from(&c_secret).as_bytes());
    let code = create_party(&mut a).await;
    join(&mut b, &code).await;
    // a -> c (not in the party): dropped. a -> b: delivered.
    send(
        &mut a,
        &ClientMsg::Signal {
            to: c_key,
            payload: cand(1),
        },
    )
    .await;
    send(
        &mut a,
        &ClientMsg::Signal {
            to: b_key.clone(),
            payload: cand(2),
        },
    )
    .await;
    let got = loop {
        match recv(&mut b).await {
            Some(ServerMsg::Signal { payload, .. }) => break payload,
            Some(_) => continue,
            None => panic!("b disconnected"),
        }
    };
    assert_eq!(got, cand(2));
    // Anything but an ICE signal is refused by name.
    send(
        &mut a,
        &ClientMsg::Signal {
            to: b_key,
            payload: json!({"x": 2}),
        },
    )
    .await;
    loop {
        match recv(&mut a).await {
            Some(ServerMsg::Party { .. }) => continue,
            Some(ServerMsg::Error { error }) => break assert_eq!(error.code, "bad_signal"),
            other => panic!("an odd signal was not refused: {other:?}"),
        }
    }
    // c gets nothing but its own heartbeat answers.
    send(&mut c, &ClientMsg::Heartbeat).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), c.next()).await;
    assert!(quiet.is_err(), "c received something: {quiet:?}");
    srv.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let srv = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("state"),
        store: Default::default(),
        bus: None,
        ice: Default::default(),
        tls: Some(lanrage_server::TlsFiles {
            cert: cert_path.clone(),
            key: key_path,
        }),
    })
    .await
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!("wss://localhost:{}/", srv.local_addr().port());
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
            client,
        ))),
    )
    .await
    .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap();
    match msg {
        Some(Ok(Message::Text(t))) => {
            assert!(matches!(
                message::decode_server(&t).unwrap(),
                ServerMsg::Challenge { .. }
            ))
        }
        other => panic!("{other:?}"),
    }
    // Plain ws to a TLS server is refused, and the server keeps serving.
    let plain =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", srv.local_addr().port()))
            .await;
    assert!(plain.is_err());
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_tls_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let err = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("state"),
        store: Default::default(),
        bus: None,
        ice: Default::default(),
        tls: Some(lanrage_server::TlsFiles {
            cert: cert.clone(),
            key: dir.path().join("missing.pem"),
        }),
    })
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("cert.pem"), "{err}");
}

#[tokio::test]
async fn turn_credentials_only_for_party_members() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        store: Default::default(),
        bus: None,
        ice: lanrage_server::IceConfig {
            urls: vec![
                "stun:203.0.113.3:3478".into(),
                "turn:203.0.113.3:3478".into(),
            ],
            secret: "shared".into(),
            ..Default::default()
        },
        tls: None,
    })
    .await
    .unwrap();
    let secret = StaticSecret::random_from_rng(rand_core::OsRng);
    let (mut a, welcome) = connect_as(srv.local_addr(), &secret, &PublicKey::from(&secret)).await;
    // Everyone learns that NAT traversal is on, nobody gets credentials for free.
    match welcome {
        Some(ServerMsg::Welcome { ice_servers, .. }) => {
            assert_eq!(ice_servers.len(), 2);
            assert!(ice_servers.iter().all(|s| s.credential.is_none()));
        }
        other => panic!("{other:?}"),
    }
    match request(&mut a, 1, Op::IceServers).await {
        ServerMsg::Response {
            error: Some(e),
            data: None,
            ..
        } => assert_eq!(e.code, "not_in_party"),
        other => panic!("credentials outside a party: {other:?}"),
    }
    let r = request(
        &mut a,
        2,
        Op::CreateParty {
            name: "p".into(),
            max_members: None,
            invite_ttl_secs: None,
        },
    )
    .await;
    assert!(matches!(r, ServerMsg::Response { error: None, .. }));
    let data = match request(&mut a, 3, Op::IceServers).await {
        ServerMsg::Response {
            data: Some(d),
            error: None,
            ..
        } => d,
        other => panic!("{other:?}"),
    };
    let turn = &data["ice_servers"][1];
    let user = turn["username"].as_str().unwrap();
    let key = B64.encode(PublicKey::from(&secret).as_bytes());
    assert_eq!(user, format!("{}:{key}", data["ice_expires_at"]));
    assert_eq!(
        turn["credential"].as_str().unwrap(),
        lanrage_server::relay::rest_password("shared", user)
    );
}

/// A party of a host and a member whose socket takes little and who stops reading once in,
/// plus a third member when `third`.
async fn party_with_a_slow_member(
    addr: std::net::SocketAddr,
    third: bool,
) -> (Ws, Ws, StaticSecret, Option<(Ws, StaticSecret)>) {
    let (mut host, _) = device(addr).await;
    let code = create_party(&mut host).await;
    let slow_secret = StaticSecret::random_from_rng(rand_core::OsRng);
    let mut slow = device_over(tcp_from("127.0.0.1", addr, true).await, &slow_secret).await;
    join(&mut slow, &code).await;
    let other = if third {
        let (mut k, k_secret) = device(addr).await;
        join(&mut k, &code).await;
        Some((k, k_secret))
    } else {
        None
    };
    (host, slow, slow_secret, other)
}

/// Sends `n` of the largest signals to `to` at 90 a second (under the flood limit).
async fn flood_signals(ws: &mut Ws, to: &str, n: usize) {
    for i in 0..n {
        send(
            ws,
            &ClientMsg::Signal {
                to: to.to_string(),
                payload: big_signal(),
            },
        )
        .await;
        if i % 9 == 8 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_member_that_stops_reading_is_disconnected_and_holds_little() {
    let limits = Limits {
        write_timeout: Duration::from_secs(2),
        outbox_bytes: 64 * 1024,
        ..Limits::default()
    };
    let (srv, _dir) = server_with(limits).await;
    let addr = srv.local_addr();
    let (mut host, _slow, slow_secret, _) = party_with_a_slow_member(addr, false).await;
    let slow_key = key_of(&slow_secret);
    assert_eq!(srv.connected_devices(), 2);
    let start = std::time::Instant::now();
    let mut most_held = 0.0f64;
    let mut cut_off = None;
    while start.elapsed() < Duration::from_secs(20) {
        flood_signals(&mut host, &slow_key, 45).await;
        let held = metric(addr, "lanrage_server_outbox_bytes").await;
        most_held = most_held.max(held.unwrap_or(f64::INFINITY));
        if srv.connected_devices() == 1 {
            cut_off = Some(start.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("a member that never reads must be disconnected");
    // Its outbox never held more than the budget and one snapshot.
    assert!(
        most_held <= (64 * 1024 + 4096) as f64,
        "held {most_held} bytes"
    );
    let dropped = metric(addr, "lanrage_server_signals_dropped_total")
        .await
        .unwrap();
    let closed = metric(addr, "lanrage_server_slow_closed_total")
        .await
        .unwrap();
    assert!(
        dropped > 0.0 && closed >= 1.0,
        "dropped {dropped}, closed {closed}"
    );
    println!("stalled member cut off after {cut_off:?}, outboxes held at most {most_held} bytes, {dropped} signals dropped");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_slow_member_still_gets_the_latest_party_after_a_kick() {
    let limits = Limits {
        outbox_bytes: 64 * 1024,
        write_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (srv, _dir) = server_with(limits).await;
    let addr = srv.local_addr();
    let (mut host, mut slow, slow_secret, other) = party_with_a_slow_member(addr, true).await;
    let (mut kicked, kicked_secret) = other.unwrap();
    let slow_key = key_of(&slow_secret);
    let kicked_key = key_of(&kicked_secret);
    // The member to be kicked fills the slow member's outbox (and its socket buffers).
    flood_signals(&mut kicked, &slow_key, 500).await;
    let r = request(
        &mut host,
        5,
        Op::Kick {
            public_key: kicked_key.clone(),
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    // The slow member reads at last: the last party it sees has no kicked member in it.
    let mut last = None;
    let mut signals = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), slow.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => match message::decode_server(&t).unwrap() {
                ServerMsg::Party { party } => last = Some(party),
                ServerMsg::Signal { .. } => signals += 1,
                _ => {}
            },
            Ok(Some(Ok(_))) => continue,
            Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
        }
    }
    let last = last.expect("a snapshot");
    let keys: Vec<&str> = last.members.iter().map(|m| m.public_key.as_str()).collect();
    assert!(
        !keys.contains(&kicked_key.as_str()),
        "the kicked member survives in the slow member's view ({signals} signals came first)"
    );
    assert!(keys.contains(&slow_key.as_str()));
    srv.shutdown().await;
}

#[tokio::test]
async fn a_replaced_connection_is_closed_even_with_a_full_outbox() {
    let limits = Limits {
        outbox_bytes: 64 * 1024,
        write_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (srv, _dir) = server_with(limits).await;
    let addr = srv.local_addr();
    let (mut host, mut slow, slow_secret, other) = party_with_a_slow_member(addr, true).await;
    let (mut third, _) = other.unwrap();
    let slow_key = key_of(&slow_secret);
    tokio::join!(
        flood_signals(&mut host, &slow_key, 500),
        flood_signals(&mut third, &slow_key, 500)
    );
    // The same device connects again: the old link must end, however full its outbox.
    let _again = device_over(tcp_from("127.0.0.1", addr, false).await, &slow_secret).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, slow.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("the replaced connection is still open"),
        }
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn party_changes_are_rate_limited_with_a_clear_error() {
    let (srv, _dir) = server().await;
    let (mut ws, _) = device(srv.local_addr()).await;
    create_party(&mut ws).await;
    let mut ok = 0;
    let mut limited = None;
    for i in 0..60 {
        match request(
            &mut ws,
            10 + i,
            Op::SetName {
                name: format!("name {i}"),
            },
        )
        .await
        {
            ServerMsg::Response { error: None, .. } => ok += 1,
            ServerMsg::Response { error: Some(e), .. } => {
                limited = Some(e);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let e = limited.expect("sixty renames in a row must be refused at some point");
    assert_eq!(e.code, "rate_limited");
    assert!(e.message.contains("try again"), "{}", e.message);
    assert!((25..=40).contains(&ok), "{ok} changes were accepted first");
    // The connection stays, and reading is not limited.
    let r = request(&mut ws, 99, Op::ListServers).await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn connections_are_capped_per_source_over_plain_and_tls() {
    let limits = Limits {
        per_source: 20,
        exempt_loopback: false,
        ..Limits::default()
    };
    for tls in [false, true] {
        let (srv, _dir) = if tls {
            tls_server_with(limits.clone()).await
        } else {
            server_with(limits.clone()).await
        };
        let addr = srv.local_addr();
        let mut held = Vec::new();
        for _ in 0..20 {
            held.push(tcp_from("127.0.0.1", addr, false).await);
        }
        let mut over = tcp_from("127.0.0.1", addr, false).await;
        assert!(
            closed_within(&mut over, Duration::from_secs(2)).await,
            "the 21st connection from one address was let in (tls: {tls})"
        );
        for c in held.iter_mut() {
            assert!(!closed_within(c, Duration::from_millis(10)).await);
        }
        // Another address still gets in.
        let mut other = tcp_from("127.0.0.2", addr, false).await;
        if !tls {
            let secret = StaticSecret::random_from_rng(rand_core::OsRng);
            let _ws = device_over(other, &secret).await;
        } else {
            assert!(!closed_within(&mut other, Duration::from_millis(500)).await);
        }
        // A closed connection frees its place.
        held.pop();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = tcp_from("127.0.0.1", addr, false).await;
        assert!(!closed_within(&mut again, Duration::from_millis(500)).await);
        srv.shutdown().await;
    }
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed() {
    let limits = Limits {
        request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let (srv, _dir) = server_with(limits.clone()).await;
    let addr = srv.local_addr();
    // No request at all, and half a request.
    let t = std::time::Instant::now();
    let mut silent = tcp_from("127.0.0.1", addr, false).await;
    let mut half = tcp_from("127.0.0.1", addr, false).await;
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a silent connection stays"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(3)).await,
        "half a request stays"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "closed before its time"
    );
    // A device that says nothing after its handshake goes; one that heartbeats stays.
    let (mut quiet, _) = device(addr).await;
    let (mut live, _) = device(addr).await;
    let t = std::time::Instant::now();
    let mut quiet_closed = None;
    while t.elapsed() < Duration::from_secs(5) {
        send(&mut live, &ClientMsg::Heartbeat).await;
        if quiet_closed.is_none() {
            if let Ok(None | Some(Err(_) | Ok(Message::Close(_)))) =
                tokio::time::timeout(Duration::from_millis(500), quiet.next()).await
            {
                quiet_closed = Some(t.elapsed());
            }
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let quiet_closed = quiet_closed.expect("a device silent past the idle timeout stays");
    assert!(
        quiet_closed >= Duration::from_millis(1500),
        "{quiet_closed:?}"
    );
    let r = request(&mut live, 1, Op::ListServers).await;
    assert!(
        matches!(r, ServerMsg::Response { .. }),
        "a heartbeating device was dropped"
    );
    srv.shutdown().await;
    // wss: the timeout covers the TLS handshake too.
    let (srv, _dir) = tls_server_with(limits).await;
    let t = std::time::Instant::now();
    let mut silent = tcp_from("127.0.0.1", srv.local_addr(), false).await;
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "closed after {:?}",
        t.elapsed()
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn a_member_flooded_with_signals_still_gets_its_answers() {
    let limits = Limits {
        outbox_bytes: 64 * 1024,
        write_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (srv, _dir) = server_with(limits).await;
    let addr = srv.local_addr();
    let (mut host, mut slow, slow_secret, other) = party_with_a_slow_member(addr, true).await;
    let (mut flooder, _) = other.unwrap();
    // Game servers, so that the list asked for below is a few KiB.
    for i in 0..12 {
        let server = lanrage_proto::message::GameServer {
            id: format!("server-{i}"),
            game: "g".repeat(60),
            name: "n".repeat(60),
            port: 27015,
            map: Some("m".repeat(60)),
            players: 0,
            max_players: 8,
            password: false,
        };
        let r = request(&mut host, 100 + i, Op::AnnounceServer { server }).await;
        assert!(
            matches!(r, ServerMsg::Response { error: None, .. }),
            "{r:?}"
        );
    }
    flood_signals(&mut flooder, &key_of(&slow_secret), 500).await;
    // The flooded member asks something: the answer finds room, and it stays connected.
    send(
        &mut slow,
        &ClientMsg::Request {
            id: 7,
            op: Op::ListServers,
        },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, slow.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let ServerMsg::Response { id: 7, error, .. } =
                    message::decode_server(&t).unwrap()
                {
                    assert!(error.is_none(), "{error:?}");
                    break;
                }
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("the flooded member lost its connection: {other:?}"),
        }
    }
    srv.shutdown().await;
}

/// A TURN allocation on `relay` with the credentials the server handed out.
async fn turn_allocate(
    relay: &str,
    user: &str,
    pass: &str,
) -> Result<(turn::client::Client, impl webrtc_util::Conn), turn::Error> {
    let conn = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let c = turn::client::Client::new(turn::client::ClientConfig {
        stun_serv_addr: relay.into(),
        turn_serv_addr: relay.into(),
        username: user.into(),
        password: pass.into(),
        realm: "lanrage".into(),
        software: String::new(),
        rto_in_ms: 100,
        conn,
        vnet: None,
    })
    .await
    .unwrap();
    c.listen().await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), c.allocate())
        .await
        .expect("the relay answers within 5 s");
    r.map(|conn| (c, conn))
}

/// The relay allocation gauge from /metrics.
async fn relay_allocations(addr: std::net::SocketAddr) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("lanrage_server_relay_allocations "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_kicked_members_turn_credentials_and_allocations_end_with_the_kick() {
    let dir = tempfile::tempdir().unwrap();
    let mut started = None;
    for i in 0..50u16 {
        let port = 20_000 + (std::process::id() as u16).wrapping_add(i * 131) % 20_000 * 2;
        let r = Server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            store: Default::default(),
            bus: None,
            ice: lanrage_server::IceConfig {
                relay: Some(lanrage_server::RelayConfig {
                    bind: "127.0.0.1".parse().unwrap(),
                    port,
                    public_ip: "127.0.0.1".parse().unwrap(),
                    max_allocations: 100,
                    allocations_per_device: 4,
                    allocations_per_address: 100,
                    allow_private: false,
                    bandwidth_bytes_per_sec: 0,
                }),
                ..Default::default()
            },
            tls: None,
        })
        .await;
        if let Ok(s) = r {
            started = Some(s);
            break;
        }
    }
    let srv = started.expect("a free port pair for the relay");
    let addr = srv.local_addr();
    let (mut host, _) = device(addr).await;
    let (mut friend, friend_secret) = device(addr).await;
    let friend_key = B64.encode(PublicKey::from(&friend_secret).as_bytes());
    let code = create_party(&mut host).await;
    join(&mut friend, &code).await;
    let data = match request(&mut friend, 2, Op::IceServers).await {
        ServerMsg::Response {
            data: Some(d),
            error: None,
            ..
        } => d,
        other => panic!("{other:?}"),
    };
    let turn = data["ice_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["url"].as_str().unwrap().starts_with("turn:"))
        .unwrap()
        .clone();
    let relay = turn["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("turn:")
        .to_string();
    let user = turn["username"].as_str().unwrap().to_string();
    let pass = turn["credential"].as_str().unwrap().to_string();
    let _held = turn_allocate(&relay, &user, &pass).await.unwrap();
    assert_eq!(relay_allocations(addr).await, 1);

    let r = request(
        &mut host,
        2,
        Op::Kick {
            public_key: friend_key,
        },
    )
    .await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    // The credentials were good for hours, but the friend is out of the party now.
    assert!(
        turn_allocate(&relay, &user, &pass).await.is_err(),
        "a kicked member still gets relay allocations"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while relay_allocations(addr).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the kicked member's allocation is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    srv.shutdown().await;
}
