//! The control server against raw WebSocket clients on loopback: the handshake, impostors,
//! malformed and oversized frames, floods, and signaling boundaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, Op, ServerMsg};
use lanrage_proto::{auth, PROTOCOL_VERSION};
use lanrage_server::{Server, ServerConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use x25519_dalek::{PublicKey, StaticSecret};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ice: Default::default(),
        tls: None,
    })
    .await
    .unwrap();
    (s, dir)
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
    let Some(ServerMsg::Challenge {
        nonce, server_key, ..
    }) = recv(&mut ws).await
    else {
        panic!("no challenge");
    };
    let nonce = B64.decode(nonce).unwrap();
    let server_key: [u8; 32] = B64.decode(server_key).unwrap().try_into().unwrap();
    send(
        &mut ws,
        &ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            public_key,
            name: "Tester".into(),
        },
    )
    .await;
    let proof = auth::prove(secret, &PublicKey::from(server_key), &nonce);
    send(&mut ws, &ClientMsg::Auth { proof }).await;
    let reply = recv(&mut ws).await;
    (ws, reply)
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
    let (r, pushes) = request_collect(
        &mut a,
        1,
        Op::CreateParty {
            name: "p".into(),
            max_members: None,
            invite_ttl_secs: None,
        },
    )
    .await;
    assert!(matches!(r, ServerMsg::Response { error: None, .. }));
    let code = pushes
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Party { party } => party.invite.map(|i| i.code),
            _ => None,
        })
        .expect("the host gets the party with its invite");
    let r = request(&mut b, 1, Op::JoinParty { code }).await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
    // a -> c (not in the party): dropped. a -> b: delivered.
    send(
        &mut a,
        &ClientMsg::Signal {
            to: c_key,
            payload: json!({"x": 1}),
        },
    )
    .await;
    send(
        &mut a,
        &ClientMsg::Signal {
            to: b_key,
            payload: json!({"x": 2}),
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
    assert_eq!(got, json!({"x": 2}));
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
    let (r, pushes) = request_collect(
        &mut host,
        1,
        Op::CreateParty {
            name: "p".into(),
            max_members: None,
            invite_ttl_secs: None,
        },
    )
    .await;
    assert!(matches!(r, ServerMsg::Response { error: None, .. }));
    let code = pushes
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Party { party } => party.invite.map(|i| i.code),
            _ => None,
        })
        .expect("the host gets the party with its invite");
    let r = request(&mut friend, 1, Op::JoinParty { code }).await;
    assert!(
        matches!(r, ServerMsg::Response { error: None, .. }),
        "{r:?}"
    );
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
