//! What the control server keeps in SQLite (or PostgreSQL), seen from outside: a change writes only
//! the rows it changed, a locked database does not stall anyone, and a clean restart restores
//! everything.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, Op, PartyView, ServerMsg};
use lanrage_proto::{auth, PROTOCOL_VERSION};
use lanrage_server::store::StoreLocation;
use lanrage_server::{Server, ServerConfig};
use tokio_tungstenite::tungstenite::Message;
use x25519_dalek::{PublicKey, StaticSecret};

#[path = "../../../tests/support/postgres.rs"]
mod postgres;
#[path = "../../../tests/support/skip.rs"]
mod skip;

use postgres::TestPostgres;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server_in(dir: &Path) -> Server {
    server_on(dir, StoreLocation::DataDir).await
}

async fn server_on(dir: &Path, store: StoreLocation) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        store,
        bus: None,
        ice: Default::default(),
        tls: None,
    })
    .await
    .unwrap()
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

/// A device with its own key, connected and authenticated.
struct Device {
    secret: StaticSecret,
    ws: Ws,
    next_id: u64,
}

impl Device {
    async fn new(addr: SocketAddr) -> Device {
        Device::connect(addr, StaticSecret::random_from_rng(rand_core::OsRng)).await
    }

    /// Connects as the device holding `secret` (again, after a restart).
    async fn connect(addr: SocketAddr, secret: StaticSecret) -> Device {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
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
                public_key: B64.encode(PublicKey::from(&secret).as_bytes()),
                name: "Tester".into(),
            },
        )
        .await;
        let proof = auth::prove(&secret, &PublicKey::from(server_key), &nonce);
        send(&mut ws, &ClientMsg::Auth { proof }).await;
        let reply = recv(&mut ws).await;
        assert!(
            matches!(reply, Some(ServerMsg::Welcome { .. })),
            "{reply:?}"
        );
        Device {
            secret,
            ws,
            next_id: 1,
        }
    }

    fn key(&self) -> String {
        B64.encode(PublicKey::from(&self.secret).as_bytes())
    }

    /// Sends a request; returns the party snapshots pushed before the answer. Panics on an error.
    async fn ok(&mut self, op: Op) -> Vec<PartyView> {
        let id = self.next_id;
        self.next_id += 1;
        send(&mut self.ws, &ClientMsg::Request { id, op }).await;
        let mut parties = Vec::new();
        loop {
            match recv(&mut self.ws).await {
                Some(ServerMsg::Response { id: rid, error, .. }) if rid == id => {
                    assert!(error.is_none(), "request {id} refused: {error:?}");
                    return parties;
                }
                Some(ServerMsg::Party { party }) => parties.push(party),
                Some(_) => {}
                None => panic!("connection closed while waiting for response {id}"),
            }
        }
    }

    /// The next party snapshot pushed to this device.
    async fn snapshot(&mut self) -> PartyView {
        loop {
            match recv(&mut self.ws).await {
                Some(ServerMsg::Party { party }) => return party,
                Some(_) => {}
                None => panic!("connection closed before a party snapshot"),
            }
        }
    }
}

/// Creates a party hosted by `host`; returns its invite code.
async fn create(host: &mut Device) -> String {
    let pushed = host
        .ok(Op::CreateParty {
            name: "lan".into(),
            max_members: Some(32),
            invite_ttl_secs: None,
        })
        .await;
    pushed
        .into_iter()
        .find_map(|p| p.invite.map(|i| i.code))
        .expect("the host gets its party with the invite")
}

fn endpoint(i: u8) -> Vec<SocketAddr> {
    vec![SocketAddr::from((Ipv4Addr::new(198, 51, 100, i), 51820))]
}

/// Counts every row the server inserts, updates or deletes from now on (SQLite triggers in
/// the server's own database file, so the count does not depend on how the server writes).
fn audit_rows_written(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut sql = String::from("CREATE TABLE audit (n INTEGER NOT NULL);");
    for table in ["parties", "members", "reserved"] {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "CREATE TRIGGER audit_{table}_{op} AFTER {op} ON {table} \
                 BEGIN INSERT INTO audit (n) VALUES (1); END;"
            ));
        }
    }
    conn.execute_batch(&sql).unwrap();
    conn
}

/// The audit count once the server's writes have settled (nothing new for 300 ms).
async fn rows_written(conn: &rusqlite::Connection) -> u64 {
    let count = || -> u64 {
        conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
            .unwrap()
    };
    let mut last = count();
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stable_since.elapsed() < Duration::from_millis(300) {
        assert!(Instant::now() < deadline, "the server never stops writing");
        tokio::time::sleep(Duration::from_millis(25)).await;
        let now = count();
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    last
}

#[tokio::test]
async fn a_change_to_one_member_writes_only_that_members_row() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_in(dir.path()).await;
    let addr = srv.local_addr();
    let audit = audit_rows_written(&dir.path().join("server.db"));
    let mut host = Device::new(addr).await;
    let code = create(&mut host).await;
    let mut members = Vec::new();
    for i in 0..12 {
        let mut d = Device::new(addr).await;
        d.ok(Op::JoinParty { code: code.clone() }).await;
        d.ok(Op::SetEndpoints {
            endpoints: endpoint(i),
        })
        .await;
        members.push(d);
    }
    // Six leave: their addresses stay reserved for them.
    for d in members.iter_mut().skip(6) {
        d.ok(Op::LeaveParty).await;
    }
    let before = rows_written(&audit).await;

    members[0]
        .ok(Op::SetEndpoints {
            endpoints: endpoint(200),
        })
        .await;
    let after_endpoints = rows_written(&audit).await;
    assert_eq!(
        after_endpoints - before,
        1,
        "new endpoints of one member of a party of 7 (6 reserved addresses) rewrote {} rows",
        after_endpoints - before
    );

    members[1]
        .ok(Op::SetName {
            name: "Renamed".into(),
        })
        .await;
    let after_rename = rows_written(&audit).await;
    assert_eq!(after_rename - after_endpoints, 1, "a rename");

    let mut newcomer = Device::new(addr).await;
    newcomer.ok(Op::JoinParty { code: code.clone() }).await;
    let after_join = rows_written(&audit).await;
    assert!(
        after_join - after_rename <= 2,
        "a join wrote {} rows",
        after_join - after_rename
    );

    newcomer.ok(Op::LeaveParty).await;
    let after_leave = rows_written(&audit).await;
    assert!(
        after_leave - after_join <= 3,
        "a leave wrote {} rows",
        after_leave - after_join
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn a_locked_database_does_not_stall_other_devices() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let srv = server_in(dir.path()).await;
    let addr = srv.local_addr();
    let mut a = Device::new(addr).await;
    let mut b = Device::new(addr).await;
    // Another process holds the write lock (a backup, an operator's sqlite3 shell).
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let code = create(&mut a).await;
    let mut joiner = Device::new(addr).await;
    joiner.ok(Op::JoinParty { code }).await;
    create(&mut b).await;
    b.ok(Op::SetEndpoints {
        endpoints: endpoint(9),
    })
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "four requests took {took:?} while the database was locked"
    );

    // The operator sees the backlog.
    let pending = metric(addr, "lanrage_server_db_pending_writes").await;
    assert!(pending >= 4, "pending writes: {pending}");

    // Once the lock is gone everything lands, in order, and survives a restart.
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);
    let (a_key, b_key, joiner_key) = (a.key(), b.key(), joiner.key());
    srv.shutdown().await;
    let srv = server_in(dir.path()).await;
    let mut a = Device::connect(srv.local_addr(), a.secret).await;
    let party = a.snapshot().await;
    let keys: Vec<_> = party.members.iter().map(|m| m.public_key.clone()).collect();
    assert_eq!(keys, [a_key, joiner_key]);
    let mut b = Device::connect(srv.local_addr(), b.secret).await;
    let party = b.snapshot().await;
    assert_eq!(party.members.len(), 1);
    assert_eq!(party.members[0].public_key, b_key);
    assert_eq!(party.members[0].endpoints, endpoint(9));
    srv.shutdown().await;
}

/// One figure from the metrics page.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_string(&mut body))
        .await
        .unwrap()
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

#[tokio::test]
async fn a_clean_restart_restores_every_member_and_address() {
    let dir = tempfile::tempdir().unwrap();
    a_clean_restart_restores_everything(dir.path(), StoreLocation::DataDir).await;
}

#[tokio::test]
async fn a_clean_restart_on_postgresql_restores_every_member_and_address() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    pg.create_database("lanrage");
    let dir = tempfile::tempdir().unwrap();
    let store: StoreLocation = pg.url("lanrage").parse().unwrap();
    a_clean_restart_restores_everything(dir.path(), store).await;
    // Nothing of the parties went to the data directory.
    assert!(!dir.path().join("server.db").exists());
}

async fn a_clean_restart_restores_everything(dir: &Path, store: StoreLocation) {
    let srv = server_on(dir, store.clone()).await;
    let addr = srv.local_addr();
    let mut host = Device::new(addr).await;
    let code = create(&mut host).await;
    let mut members = Vec::new();
    for i in 0..6 {
        let mut d = Device::new(addr).await;
        d.ok(Op::JoinParty { code: code.clone() }).await;
        d.ok(Op::SetEndpoints {
            endpoints: endpoint(i),
        })
        .await;
        members.push(d);
    }
    let mut left = members.split_off(4);
    for d in &mut left {
        d.ok(Op::LeaveParty).await;
    }
    host.ok(Op::SetName {
        name: "Host".into(),
    })
    .await;
    // What everyone saw last, straight from the server before it stops.
    let mut probe = Device::connect(addr, members[0].secret.clone()).await;
    let before = probe.snapshot().await;
    drop(probe);
    let left_ips: Vec<(StaticSecret, Ipv4Addr)> = {
        // Their addresses, from the snapshot that still had them.
        let mut out = Vec::new();
        for d in &left {
            let ip = Ipv4Addr::new(10, 66, 0, 2 + members.len() as u8 + out.len() as u8);
            out.push((d.secret.clone(), ip));
        }
        out
    };
    srv.shutdown().await;

    let srv = server_on(dir, store).await;
    let addr = srv.local_addr();
    let mut host = Device::connect(addr, host.secret).await;
    let after = host.snapshot().await;
    let summary = |p: &PartyView| -> Vec<(String, String, Ipv4Addr, Vec<SocketAddr>)> {
        p.members
            .iter()
            .map(|m| {
                (
                    m.public_key.clone(),
                    m.name.clone(),
                    m.virtual_ip,
                    m.endpoints.clone(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&after), summary(&before));
    assert_eq!(after.host, before.host);
    assert_eq!(after.id, before.id);
    // Those who left get their own addresses back; a newcomer gets a fresh one.
    let mut taken: Vec<Ipv4Addr> = after.members.iter().map(|m| m.virtual_ip).collect();
    for (secret, ip) in left_ips {
        let mut d = Device::connect(addr, secret).await;
        let pushed = d.ok(Op::JoinParty { code: code.clone() }).await;
        let key = d.key();
        let mine = pushed
            .last()
            .and_then(|p| p.members.iter().find(|m| m.public_key == key))
            .map(|m| m.virtual_ip);
        assert_eq!(mine, Some(ip), "a returning member's address");
        taken.push(ip);
    }
    let mut newcomer = Device::new(addr).await;
    let pushed = newcomer.ok(Op::JoinParty { code }).await;
    let key = newcomer.key();
    let ip = pushed
        .last()
        .and_then(|p| p.members.iter().find(|m| m.public_key == key))
        .map(|m| m.virtual_ip)
        .unwrap();
    assert!(!taken.contains(&ip), "{ip} was given out twice");
    srv.shutdown().await;
}

/// Members of a party as a restart or a takeover must keep them.
fn roster(p: &PartyView) -> Vec<(String, Ipv4Addr)> {
    p.members
        .iter()
        .map(|m| (m.public_key.clone(), m.virtual_ip))
        .collect()
}

#[tokio::test]
async fn a_waiting_server_takes_over_the_parties_when_the_serving_one_stops() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    pg.create_database("lanrage");
    let store: StoreLocation = pg.url("lanrage").parse().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server_on(dir_a.path(), store.clone()).await;
    let waiting = {
        let (dir, store) = (dir_b.path().to_path_buf(), store.clone());
        tokio::spawn(async move { server_on(&dir, store).await })
    };
    let mut host = Device::new(a.local_addr()).await;
    let code = create(&mut host).await;
    let mut bo = Device::new(a.local_addr()).await;
    let pushed = bo.ok(Op::JoinParty { code: code.clone() }).await;
    let before = pushed.last().cloned().unwrap();
    assert_eq!(before.members.len(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "a second server serves the same database at the same time"
    );

    let stopped = Instant::now();
    a.shutdown().await;
    let b = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting server takes over within 10 s")
        .unwrap();
    eprintln!("took over {:?} after the stop", stopped.elapsed());
    let mut host = Device::connect(b.local_addr(), host.secret).await;
    let after = host.snapshot().await;
    assert_eq!(after.id, before.id);
    assert_eq!(roster(&after), roster(&before));
    // A newcomer joins through the server that took over, on a fresh address.
    let mut cy = Device::new(b.local_addr()).await;
    let pushed = cy.ok(Op::JoinParty { code }).await;
    let now = pushed.last().unwrap();
    assert_eq!(now.members.len(), 3);
    let cy_ip = now
        .members
        .iter()
        .find(|m| m.public_key == cy.key())
        .unwrap()
        .virtual_ip;
    assert!(roster(&before).iter().all(|(_, ip)| *ip != cy_ip));
    b.shutdown().await;
}

#[tokio::test]
async fn a_server_that_loses_its_serving_lock_stops_serving() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    pg.create_database("lanrage");
    let store: StoreLocation = pg.url("lanrage").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let srv = server_on(dir.path(), store).await;
    let mut host = Device::new(srv.local_addr()).await;
    create(&mut host).await;
    // What a restarted PostgreSQL or a cut network does to the lock's connection.
    let ended = pg.sql(
        "lanrage",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    );
    assert_eq!(ended, "1");
    tokio::time::timeout(Duration::from_secs(10), srv.stopped())
        .await
        .expect("it stops serving within 10 s");
    assert!(srv.lost_serving_lock());
    // Its players are let go, so their clients move on.
    assert!(recv(&mut host.ws).await.is_none());
    srv.shutdown().await;
}
