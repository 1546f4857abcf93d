//! A device given several control servers keeps its party when the one it uses goes: two real
//! servers share a real PostgreSQL (one serves, the other waits for the serving lock), and the
//! control client moves to the one that took over and gets its party back from it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/postgres.rs"]
mod postgres;
#[path = "../../../tests/support/skip.rs"]
mod skip;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lanrage_core::control::{ControlClient, ControlEvent, ControlState};
use lanrage_proto::message::Op;
use lanrage_server::store::StoreLocation;
use lanrage_server::{Server, ServerConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x25519_dalek::StaticSecret;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn server(listen: SocketAddr, dir: &std::path::Path, store: StoreLocation) -> Server {
    Server::start(ServerConfig {
        listen,
        data_dir: dir.to_path_buf(),
        store,
        bus: None,
        tls: None,
        ice: Default::default(),
    })
    .await
    .unwrap()
}

/// The id of the next party snapshot, skipping other events.
async fn party_id(events: &mut mpsc::Receiver<ControlEvent>) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), events.recv()).await {
            Ok(Some(ControlEvent::Party(p))) => return p.id,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the control client stopped"),
            Err(_) => panic!("no party snapshot within 15 s"),
        }
    }
}

async fn connected_to(client: &ControlClient, server: SocketAddr, within: Duration) {
    let deadline = Instant::now() + within;
    let want = format!("ws://{server}");
    while !(client.state() == ControlState::Connected && client.server() == want) {
        assert!(
            Instant::now() < deadline,
            "not connected to {want} within {within:?}: {:?} to {}",
            client.state(),
            client.server()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_moves_to_the_server_that_took_over_and_keeps_its_party() {
    let Some(pg) = postgres::TestPostgres::start() else {
        return;
    };
    pg.create_database("lanrage");
    let store: StoreLocation = pg.url("lanrage").parse().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let a = server(addr_a, dir_a.path(), store.clone()).await;
    let waiting = {
        let (dir, store) = (dir_b.path().to_path_buf(), store.clone());
        tokio::spawn(async move { server(addr_b, &dir, store).await })
    };

    let (tx, mut events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let client = ControlClient::spawn(
        format!("ws://{addr_a} ws://{addr_b}"),
        StaticSecret::random_from_rng(rand_core::OsRng),
        "Ana".into(),
        tx,
        cancel.clone(),
    );
    connected_to(&client, addr_a, Duration::from_secs(10)).await;
    client
        .request(Op::CreateParty {
            name: "friday".into(),
            max_members: None,
            invite_ttl_secs: None,
        })
        .await
        .unwrap();
    let party = party_id(&mut events).await;

    let stopped = Instant::now();
    a.shutdown().await;
    let b = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting server takes over")
        .unwrap();
    connected_to(&client, addr_b, Duration::from_secs(10)).await;
    assert_eq!(
        party_id(&mut events).await,
        party,
        "the same party, from the other server"
    );
    eprintln!("on the other server {:?} after the stop", stopped.elapsed());
    // Requests work there as they did.
    client
        .request(Op::SetName {
            name: "Ana B".into(),
        })
        .await
        .unwrap();
    cancel.cancel();
    b.shutdown().await;
}

/// A control server that completes every handshake and hangs up at once (an overloaded or
/// broken one); returns its address and how many sessions it welcomed.
async fn welcome_and_drop() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use base64::Engine as _;
    use futures_util::{SinkExt, StreamExt};
    use lanrage_proto::message::{self, ServerMsg};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let welcomed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = welcomed.clone();
    tokio::spawn(async move {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = x25519_dalek::PublicKey::from(&StaticSecret::random_from_rng(rand_core::OsRng));
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let challenge = ServerMsg::Challenge {
                version: lanrage_proto::PROTOCOL_VERSION,
                nonce: b64.encode([7u8; 32]),
                server_key: b64.encode(key.as_bytes()),
            };
            let _ = ws
                .send(Message::Text(message::encode(&challenge).into()))
                .await;
            // Hello and the proof, unchecked.
            let _ = ws.next().await;
            let _ = ws.next().await;
            let welcome = ServerMsg::Welcome {
                public_key: String::new(),
                ice_expires_at: None,
                ice_servers: Vec::new(),
            };
            let _ = ws
                .send(Message::Text(message::encode(&welcome).into()))
                .await;
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = ws.close(None).await;
        }
    });
    (addr, welcomed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_welcomes_and_hangs_up_is_not_redialled_in_a_loop() {
    let (addr, welcomed) = welcome_and_drop().await;
    let cancel = CancellationToken::new();
    let (tx, _events) = mpsc::channel(64);
    let client = ControlClient::spawn(
        format!("ws://{addr}"),
        StaticSecret::random_from_rng(rand_core::OsRng),
        "Ana".into(),
        tx,
        cancel.clone(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    cancel.cancel();
    let n = welcomed.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{n} sessions in 3 s");
    // Backing off: a few a second at first, fewer after. Redialling at once: hundreds.
    assert!((1..=15).contains(&n), "{n} sessions in 3 s");
    assert_ne!(client.state(), ControlState::Connected);
}
