//! The built-in TURN relay driven by the webrtc-rs TURN client over real sockets: who gets
//! allocations, for how long, and where the relay may send. Tests that need addresses other
//! than loopback run in a network namespace of their own (root only; skipped otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lanrage_server::registry::{Member, Party};
use lanrage_server::relay::{rest_password, Relay, RelayConfig};
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

const SECRET: &str = "relay-test-secret";

fn config(bind: IpAddr, public_ip: IpAddr, port: u16) -> RelayConfig {
    RelayConfig {
        bind,
        port,
        public_ip,
        max_allocations: 1000,
        allocations_per_device: 2,
        allocations_per_address: 1000,
        allow_private: false,
        bandwidth_bytes_per_sec: 0,
    }
}

/// Starts the relay on a free pair of ports (it takes `port` and `port + 1`).
async fn start(mut cfg: RelayConfig) -> Relay {
    let mut last = None;
    for i in 0..50u16 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        cfg.port = 20_000 + ((nanos as u16).wrapping_add(i * 97) % 20_000) * 2;
        match Relay::start(&cfg, SECRET).await {
            Ok(r) => return r,
            Err(e) => last = Some(e),
        }
    }
    panic!("no free port pair for the relay: {last:?}");
}

fn party(id: &str, members: &[(&str, &[&str])]) -> Party {
    Party {
        id: id.into(),
        name: id.into(),
        host: members[0].0.into(),
        max_members: 16,
        created_at_ms: 0,
        members: members
            .iter()
            .enumerate()
            .map(|(i, (key, endpoints))| Member {
                key: (*key).into(),
                name: (*key).into(),
                ip: std::net::Ipv4Addr::new(10, 66, 0, i as u8 + 1),
                joined_at_ms: 0,
                endpoints: endpoints.iter().map(|e| e.parse().unwrap()).collect(),
                last_seen_ms: 0,
                online: true,
                game: None,
            })
            .collect(),
        reserved: HashMap::new(),
        invite: None,
    }
}

/// TURN REST credentials for `device`, as the control server hands them out.
fn credentials(device: &str) -> (String, String) {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let user = format!("{expires}:{device}");
    let pass = rest_password(SECRET, &user);
    (user, pass)
}

/// A TURN client on a fresh socket at `bind`.
async fn client(relay: SocketAddr, user: &str, pass: &str, bind: &str) -> Client {
    let conn = Arc::new(tokio::net::UdpSocket::bind(bind).await.unwrap());
    let c = Client::new(ClientConfig {
        stun_serv_addr: relay.to_string(),
        turn_serv_addr: relay.to_string(),
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
    c
}

/// An allocation for `device` with its real credentials, or why not.
async fn allocate(
    relay: SocketAddr,
    device: &str,
    bind: &str,
) -> Result<(Client, impl Conn), turn::Error> {
    let (user, pass) = credentials(device);
    let c = client(relay, &user, &pass, bind).await;
    let conn = tokio::time::timeout(Duration::from_secs(5), c.allocate())
        .await
        .expect("the relay answers an Allocate within 5 s")?;
    Ok((c, conn))
}

#[tokio::test]
async fn wrong_passwords_do_not_use_up_a_devices_allocations() {
    let relay = start(config(
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        0,
    ))
    .await;
    relay.party_changed(&party("p", &[("victim", &[]), ("other", &[])]));
    let addr = relay.local_addr();
    // Anyone can name a device: 100 allocation attempts as the victim, from 100 addresses,
    // with a made-up password.
    let (user, _) = credentials("victim");
    for _ in 0..100 {
        let c = client(addr, &user, "not-the-password", "127.0.0.1:0").await;
        let r = tokio::time::timeout(Duration::from_secs(5), c.allocate())
            .await
            .expect("answered");
        assert!(r.is_err(), "an allocation with a wrong password");
        c.close().await.unwrap();
    }
    assert_eq!(relay.allocations(), 0);
    // The victim still gets its allocations (both of them: the limit is 2).
    let a = allocate(addr, "victim", "127.0.0.1:0").await;
    let b = allocate(addr, "victim", "127.0.0.1:0").await;
    assert!(a.is_ok() && b.is_ok(), "{:?} {:?}", a.err(), b.err());
    assert_eq!(relay.allocations(), 2);
    // And the per-device limit still holds for the real device.
    assert!(allocate(addr, "victim", "127.0.0.1:0").await.is_err());
    relay.close().await;
}

#[tokio::test]
async fn credentials_stop_working_when_the_device_leaves_and_its_allocations_close() {
    let relay = start(config(
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        0,
    ))
    .await;
    let addr = relay.local_addr();
    // Credentials are only ever issued to members; a device in no party gets nothing here.
    assert!(allocate(addr, "kicked", "127.0.0.1:0").await.is_err());
    relay.party_changed(&party("p", &[("host", &[]), ("kicked", &[])]));
    let (_c, _conn) = allocate(addr, "kicked", "127.0.0.1:0").await.unwrap();
    assert_eq!(relay.allocations(), 1);
    // The host kicks the member: the registry reports it gone.
    relay.party_changed(&party("p", &[("host", &[])]));
    relay.revoke("kicked");
    let e = allocate(addr, "kicked", "127.0.0.1:0").await.err();
    assert!(e.is_some(), "a kicked device's credentials still allocate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while relay.allocations() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the kicked device's allocation is still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The host is unaffected.
    assert!(allocate(addr, "host", "127.0.0.1:0").await.is_ok());
    relay.close().await;
}

#[tokio::test]
async fn one_address_gets_a_limited_number_of_allocations_whichever_devices_ask() {
    let mut cfg = config(
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        0,
    );
    cfg.allocations_per_device = 10;
    cfg.allocations_per_address = 3;
    let relay = start(cfg).await;
    let names: Vec<String> = (0..5).map(|i| format!("dev{i}")).collect();
    let members: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    relay.party_changed(&party("p", &members));
    let addr = relay.local_addr();
    let mut kept = Vec::new();
    for n in &names[..3] {
        kept.push(allocate(addr, n, "127.0.0.1:0").await.unwrap());
    }
    // A fourth device from the same address is refused.
    assert!(allocate(addr, &names[3], "127.0.0.1:0").await.is_err());
    assert_eq!(relay.allocations(), 3);
    relay.close().await;
}

#[tokio::test]
async fn a_member_of_a_big_party_gets_an_allocation_per_friend() {
    // The configured limit is 2, but a member of a party of five has four friends to relay
    // to, twice over while a restarted daemon's old allocations are still open.
    let relay = start(config(
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        0,
    ))
    .await;
    let names: Vec<String> = (0..5).map(|i| format!("dev{i}")).collect();
    let members: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    relay.party_changed(&party("p", &members));
    let addr = relay.local_addr();
    let mut kept = Vec::new();
    for i in 0..8 {
        match allocate(addr, "dev0", "127.0.0.1:0").await {
            Ok(a) => kept.push(a),
            Err(e) => panic!("allocation {} of 8 refused: {e}", i + 1),
        }
    }
    assert!(allocate(addr, "dev0", "127.0.0.1:0").await.is_err());
    assert_eq!(relay.allocations(), 8);
    relay.close().await;
}

/// Runs `test` in a network namespace of its own with `addrs` on its loopback interface.
fn in_netns<F, Fut>(addrs: &[&str], test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        // SAFETY: unshare on this thread only; the thread owns everything it creates after.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
        let ip = |args: &[&str]| {
            let st = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["link", "set", "lo", "up"]);
        for a in &addrs {
            ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
    })
    .join()
    .unwrap();
}

const RELAY_IP: &str = "203.0.113.2";
const A: &str = "198.51.100.7";
const B: &str = "198.51.100.8";
const STRANGER: &str = "198.51.100.9";
const LAN: &str = "10.0.0.5";
const CGNAT: &str = "100.64.1.1";

/// Where a relayed member may send: returns, per target, whether the datagram arrived.
async fn reach(allow_private: bool) -> HashMap<String, bool> {
    let mut cfg = config(RELAY_IP.parse().unwrap(), RELAY_IP.parse().unwrap(), 0);
    cfg.allow_private = allow_private;
    let relay = start(cfg).await;
    let turn_port = relay.local_addr();
    // B reported a public, a LAN and a CGNAT address.
    relay.party_changed(&party(
        "p",
        &[
            ("a", &[]),
            (
                "b",
                &[
                    &format!("{B}:9000"),
                    &format!("{LAN}:9000"),
                    &format!("{CGNAT}:9000"),
                ],
            ),
        ],
    ));
    let mut peers = HashMap::new();
    for ip in [B, STRANGER, LAN, CGNAT] {
        let s = tokio::net::UdpSocket::bind(format!("{ip}:9000"))
            .await
            .unwrap();
        peers.insert(ip.to_string(), s);
    }
    let (_ca, a) = allocate(turn_port, "a", &format!("{A}:0")).await.unwrap();
    let mut out = HashMap::new();
    for (ip, sock) in &peers {
        let to: SocketAddr = format!("{ip}:9000").parse().unwrap();
        let sent = a.send_to(b"hello", to).await.is_ok();
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf))
            .await
            .is_ok_and(|r| r.is_ok_and(|(n, _)| &buf[..n] == b"hello"));
        assert_eq!(
            sent, got,
            "{ip}: permission said {sent}, datagram arrived {got}"
        );
        out.insert(ip.clone(), got);
    }
    // The relay's own address: the STUN/TURN port is never a peer.
    out.insert(
        "own TURN port".into(),
        a.send_to(b"hello", turn_port).await.is_ok(),
    );
    // Relay to relay with another member's allocation on this server is a peer.
    let (_cb, b) = allocate(turn_port, "b", &format!("{B}:0")).await.unwrap();
    let a_relay = a.local_addr().unwrap();
    let b_relay = b.local_addr().unwrap();
    b.send_to(b"open", a_relay).await.unwrap();
    a.send_to(b"hairpin", b_relay).await.unwrap();
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_secs(2), b.recv_from(&mut buf)).await;
    out.insert(
        "member relay".into(),
        got.is_ok_and(|r| r.is_ok_and(|(n, from)| &buf[..n] == b"hairpin" && from == a_relay)),
    );
    relay.close().await;
    out
}

#[test]
fn by_default_the_relay_reaches_only_public_addresses_of_party_members() {
    in_netns(&[RELAY_IP, A, B, STRANGER, LAN, CGNAT], || async {
        let r = reach(false).await;
        assert!(r[B], "{r:?}");
        assert!(!r[STRANGER], "not a member: {r:?}");
        assert!(!r[LAN], "private: {r:?}");
        assert!(!r[CGNAT], "CGNAT: {r:?}");
        assert!(!r["own TURN port"], "{r:?}");
        assert!(r["member relay"], "{r:?}");
    });
}

#[test]
fn a_relay_for_a_lan_reaches_members_private_addresses_too() {
    in_netns(&[RELAY_IP, A, B, STRANGER, LAN, CGNAT], || async {
        let r = reach(true).await;
        assert!(r[B], "{r:?}");
        assert!(r[LAN], "{r:?}");
        assert!(r[CGNAT], "{r:?}");
        assert!(!r[STRANGER], "not a member: {r:?}");
        assert!(!r["own TURN port"], "{r:?}");
        assert!(r["member relay"], "{r:?}");
    });
}

/// Sends `req` and returns the NONCE of the relay's answer.
async fn nonce_of_answer(sock: &tokio::net::UdpSocket, relay: SocketAddr, req: &[u8]) -> String {
    use stun::attributes::ATTR_NONCE;
    sock.send_to(req, relay).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let mut m = stun::message::Message::new();
    m.raw = buf[..n].to_vec();
    m.decode().unwrap();
    stun::textattrs::TextAttribute::get_from_as(&m, ATTR_NONCE)
        .unwrap()
        .text
}

#[tokio::test]
async fn requests_without_credentials_do_not_make_the_relay_remember_anything_new() {
    use stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
    use stun::message::{Message, MessageType, Setter, CLASS_REQUEST, METHOD_ALLOCATE};
    use stun::textattrs::TextAttribute;
    let relay = start(config(
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        0,
    ))
    .await;
    relay.party_changed(&party("p", &[("dev", &[])]));
    let addr = relay.local_addr();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Each nonce the turn crate hands out stays in its memory until a request brings it back
    // an hour later: a flood of (spoofable) requests must not mint one each.
    let mut nonces = std::collections::HashSet::new();
    for i in 0..600 {
        let mut setters: Vec<Box<dyn Setter>> = vec![
            Box::new(stun::agent::TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
        ];
        if i % 2 == 1 {
            // "Credentials" with a made-up nonce.
            setters.push(Box::new(TextAttribute::new(ATTR_USERNAME, "1:x".into())));
            setters.push(Box::new(TextAttribute::new(ATTR_REALM, "lanrage".into())));
            setters.push(Box::new(TextAttribute::new(ATTR_NONCE, format!("n{i}"))));
            setters.push(Box::new(stun::integrity::MessageIntegrity(vec![7; 16])));
        }
        let mut m = Message::new();
        m.build(&setters).unwrap();
        nonces.insert(nonce_of_answer(&sock, addr, &m.raw).await);
    }
    assert!(nonces.len() <= 2, "{} nonces minted", nonces.len());
    // Real clients still authenticate with the shared nonce.
    assert!(allocate(addr, "dev", "127.0.0.1:0").await.is_ok());
    relay.close().await;
}

/// On a bus, a member's relayed address on another server's relay is a peer too, once this
/// relay is told that server's relay address; a stranger's address stays refused.
#[test]
fn another_servers_relay_is_a_peer_once_named() {
    const OTHER_RELAY: &str = "203.0.113.3";
    in_netns(&[RELAY_IP, A, OTHER_RELAY, STRANGER], || async {
        let relay = start(config(
            RELAY_IP.parse().unwrap(),
            RELAY_IP.parse().unwrap(),
            0,
        ))
        .await;
        relay.party_changed(&party("p", &[("a", &[]), ("b", &[])]));
        let other = tokio::net::UdpSocket::bind(format!("{OTHER_RELAY}:9000"))
            .await
            .unwrap();
        let (_ca, a) = allocate(relay.local_addr(), "a", &format!("{A}:0"))
            .await
            .unwrap();
        let to: SocketAddr = format!("{OTHER_RELAY}:9000").parse().unwrap();
        assert!(
            a.send_to(b"early", to).await.is_err(),
            "another relay is no peer before it is named"
        );
        // The other relay's STUN/TURN address, as its server's beacon names it.
        let other_turn: SocketAddr = format!("{OTHER_RELAY}:3478").parse().unwrap();
        relay.set_peer_relays(vec![other_turn]);
        a.send_to(b"hello", to).await.unwrap();
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(Duration::from_secs(2), other.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..got.0], b"hello");
        let stranger: SocketAddr = format!("{STRANGER}:9000").parse().unwrap();
        assert!(
            a.send_to(b"no", stranger).await.is_err(),
            "a stranger stays refused"
        );
        relay.close().await;
    });
}
