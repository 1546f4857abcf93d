//! Parties across machines: a control server and players in their own network namespaces on
//! one bridge, each running `lanrage up` and driven by the `lanrage` CLI as a person would.
//! Needs root; skipped with a reason elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::players::create;
use support::world::World;

const SERVER_IP: &str = "198.51.100.10";
const SERVER_URL: &str = "ws://198.51.100.10:8667";

static SERIAL: Mutex<()> = Mutex::new(());

fn ready() -> bool {
    support::require(
        support::is_root(),
        "party labs need root (network namespaces, TUN devices)",
    )
}

/// A bridge with the server at .10 and players at .11, .12, ...
fn world(tag: &str, players: usize, with_server: bool) -> World {
    let mut w = World::new(tag);
    w.server("srv", SERVER_IP);
    if with_server {
        w.start_server(&[]);
    }
    for i in 0..players {
        let ns = format!("p{i}");
        w.host(&ns, &format!("198.51.100.{}", 11 + i));
        w.player(&ns);
    }
    w
}

fn peer_ips(status: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = status["party"]["peers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["virtual_ip"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn three_players_form_a_party_and_agree_on_addresses() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("party", 3, false);
    w.start_server(&[]);
    let names = ["Ana", "Bo", "Cy"];
    for (i, p) in w.players.iter_mut().enumerate() {
        p.up(&mut w.lab, Some(SERVER_URL), names[i]);
    }
    let lab = &w.lab;
    let [a, b, c] = &w.players[..] else {
        unreachable!()
    };
    let (code, _) = create(lab, a, &["friday"]);
    b.ok(lab, &["party", "join", &code]);
    // Codes are typed by people: lower case and no dashes work too.
    c.ok(
        lab,
        &["party", "join", &code.to_lowercase().replace('-', "")],
    );

    let ips: Vec<String> = [a, b, c].iter().map(|p| p.ip(lab)).collect();
    assert_eq!(ips, ["10.66.0.1", "10.66.0.2", "10.66.0.3"]);
    for (i, p) in [a, b, c].iter().enumerate() {
        for (j, ip) in ips.iter().enumerate() {
            if i != j {
                lab.wait_ping(&p.ns, ip, Duration::from_secs(5));
            }
        }
        // Everyone sees the same addresses for everyone else.
        let mut others: Vec<String> = ips
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, ip)| ip.clone())
            .collect();
        others.sort();
        assert_eq!(peer_ips(&p.status(lab)), others, "as seen by {}", names[i]);
    }
    let st = a.status(lab);
    assert_eq!(st["party"]["name"], "friday");
    // Names set after connecting reach the others too.
    let mut peer_names: Vec<&str> = st["party"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    peer_names.sort();
    assert_eq!(peer_names, ["Bo", "Cy"]);
    assert_eq!(st["control"]["state"], "connected");
    assert!(
        st["party"]["invite"]["code"].is_string(),
        "host sees the invite"
    );
    assert!(b.status(lab)["party"]["invite"].is_null(), "members do not");
    let peer = &st["party"]["peers"][0];
    for field in ["name", "public_key", "virtual_ip", "connection"] {
        assert!(!peer[field].is_null(), "{field} in {peer:#}");
    }
    support::wait_for(Duration::from_secs(5), "rtt measured", || {
        a.status(lab)["party"]["peers"][0]["rtt_ms"].is_number()
    });
    assert_eq!(a.status(lab)["party"]["peers"][0]["connection"], "direct");

    // Leaving removes the peer from both others within 2 s.
    b.ok(lab, &["party", "leave"]);
    let left = Instant::now();
    support::wait_for(Duration::from_secs(2), "b gone from a and c", || {
        peer_ips(&a.status(lab)) == ["10.66.0.3"] && peer_ips(&c.status(lab)) == ["10.66.0.1"]
    });
    eprintln!("leave seen by both others after {:?}", left.elapsed());
    assert!(!lab.pings(&a.ns, "10.66.0.2"));
    // Rejoining gives b its address back.
    b.ok(lab, &["party", "join", &code]);
    assert_eq!(b.ip(lab), "10.66.0.2");
    lab.wait_ping(&a.ns, "10.66.0.2", Duration::from_secs(5));

    // A member who stops answering is shown offline within 10 s.
    w.lab.kill(w.players[2].proc.unwrap());
    let lab = &w.lab;
    let a = &w.players[0];
    support::wait_for(Duration::from_secs(12), "c offline", || {
        a.status(lab)["party"]["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["virtual_ip"] == "10.66.0.3" && p["connection"] == "offline")
    });
}

#[test]
fn bad_codes_get_clear_errors_and_rate_limits() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("codes", 3, true);
    for (i, p) in w.players.iter_mut().enumerate() {
        p.up(&mut w.lab, Some(SERVER_URL), &format!("P{i}"));
    }
    let lab = &w.lab;
    let [host, b, c] = &w.players[..] else {
        unreachable!()
    };
    let (code, _) = create(lab, host, &["tiny", "--max", "2", "--expires", "3"]);

    let err = b.fails(lab, &["party", "join", "ABCD-EFGH"]);
    assert!(err.contains("invite code has 22"), "{err}");
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let err = b.fails(
        lab,
        &["party", "join", &typo.into_iter().collect::<String>()],
    );
    assert!(err.contains("typo"), "{err}");

    b.ok(lab, &["party", "join", &code]);
    let err = c.fails(lab, &["party", "join", &code]);
    assert!(err.contains("party is full"), "{err}");
    b.ok(lab, &["party", "leave"]);
    std::thread::sleep(Duration::from_secs(3));
    let err = c.fails(lab, &["party", "join", &code]);
    assert!(err.contains("expired"), "{err}");

    let fresh = host.invite(lab);
    host.ok(lab, &["party", "revoke"]);
    let err = c.fails(lab, &["party", "join", &fresh]);
    assert!(err.contains("revoked"), "{err}");

    // Guessing: a few wrong codes, then even tries are refused for a while.
    let fresh = host.invite(lab);
    let mut limited = false;
    for _ in 0..8 {
        let guess = lanrage_guess(&fresh);
        let err = c.fails(lab, &["party", "join", &guess]);
        if err.contains("too many wrong invite codes") {
            limited = true;
            break;
        }
        assert!(err.contains("does not match"), "{err}");
    }
    assert!(limited, "wrong codes were never rate limited");
    let err = c.fails(lab, &["party", "join", &fresh]);
    assert!(err.contains("too many wrong invite codes"), "{err}");
}

/// A well-formed code for the same party with another secret (what a guesser would send).
fn lanrage_guess(real: &str) -> String {
    let code = lanrage_proto::invite::InviteCode::parse(real).unwrap();
    lanrage_proto::invite::InviteCode::generate(&code.party_id).display()
}

#[test]
fn server_restart_keeps_tunnels_and_party() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("restart", 3, false);
    // Both starts keep their state in the world's server directory.
    let srv = w.start_server(&[]);
    for (i, p) in w.players.iter_mut().enumerate().take(2) {
        p.up(&mut w.lab, Some(SERVER_URL), &format!("P{i}"));
    }
    let (code, _) = create(&w.lab, &w.players[0], &["lan"]);
    w.players[1].ok(&w.lab, &["party", "join", &code]);
    w.lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));

    w.lab.kill(srv);
    // The tunnel does not need the server.
    let out = w
        .lab
        .run_stdout("p0", &["ping", "-n", "-i", "0.1", "-c", "20", "10.66.0.2"]);
    assert!(out.contains("20 received"), "{out}");
    let _srv = w.start_server(&[]);
    let lab = &w.lab;
    for p in &w.players[..2] {
        support::wait_for(Duration::from_secs(15), "reconnected", || {
            p.status(lab)["control"]["state"] == "connected"
        });
    }
    let st = w.players[0].status(lab);
    assert_eq!(st["party"]["name"], "lan");
    assert_eq!(peer_ips(&st), ["10.66.0.2"]);
    // And the party still takes new members.
    let (lab, players) = (&mut w.lab, &mut w.players);
    players[2].up(lab, Some(SERVER_URL), "Late");
    let code = players[0].invite(lab);
    players[2].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p1", "10.66.0.3", Duration::from_secs(5));
}

#[test]
fn lan_party_without_a_server() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("embedded", 2, false);
    for p in w.players.iter_mut() {
        p.up(&mut w.lab, None, "Lan");
    }
    let lab = &w.lab;
    let (code, link) = create(lab, &w.players[0], &["basement"]);
    let link = link.expect("an embedded party prints a link");
    assert!(link.contains("198%2E51%2E100%2E11"), "{link}");
    // The bare code alone cannot say where the host is.
    let err = w.players[1].fails(lab, &["party", "join", &code]);
    assert!(err.contains("invite link"), "{err}");
    w.players[1].ok(lab, &["party", "join", &link]);
    lab.wait_ping("p1", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));
    assert_eq!(w.players[0].status(lab)["control"]["embedded"], true);
}

#[test]
fn party_over_wss_with_a_self_made_certificate() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("wss", 2, false);
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec![SERVER_IP.to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let (c, k) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    w.start_server(&["--tls-cert", &c, "--tls-key", &k]);
    let url = format!("wss://{SERVER_IP}:8667");
    for p in w.players.iter_mut() {
        p.up_with(
            &mut w.lab,
            Some(&url),
            "Sec",
            &[("LANRAGE_CONTROL_CA", c.as_str())],
        );
    }
    let lab = &w.lab;
    let (code, _) = create(lab, &w.players[0], &["secure"]);
    w.players[1].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p1", "10.66.0.1", Duration::from_secs(5));
    assert_eq!(w.players[1].status(lab)["control"]["state"], "connected");
}

#[test]
fn server_browser_shows_a_partys_servers_to_that_party_only() {
    if !ready() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world("browser", 3, true);
    for (i, p) in w.players.iter_mut().enumerate() {
        p.up(&mut w.lab, Some(SERVER_URL), &format!("P{i}"));
    }
    let lab = &w.lab;
    let [a, b, c] = &w.players[..] else {
        unreachable!()
    };
    let (code, _) = create(lab, a, &["mine"]);
    b.ok(lab, &["party", "join", &code]);
    create(lab, c, &["other"]);
    lab.wait_ping(&b.ns, "10.66.0.1", Duration::from_secs(5));

    a.ok(
        lab,
        &[
            "servers",
            "announce",
            "--game",
            "Minecraft",
            "--name",
            "Survival",
            "--port",
            "25565",
            "--players",
            "2",
            "--max",
            "8",
        ],
    );
    // b sees it, with the latency measured through the tunnel once the probe has answered.
    support::wait_for(Duration::from_secs(8), "latency to the server", || {
        let list: serde_json::Value =
            serde_json::from_str(&b.ok(lab, &["servers", "list", "--json"])).unwrap();
        list[0]["latency_ms"].is_number()
    });
    let list: serde_json::Value =
        serde_json::from_str(&b.ok(lab, &["servers", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Survival");
    assert_eq!(list[0]["host_ip"], "10.66.0.1");
    assert_eq!(list[0]["host_name"], "P0");
    let text = b.ok(lab, &["servers", "list"]);
    assert!(
        text.contains("Survival") && text.contains("10.66.0.1:25565"),
        "{text}"
    );
    // Filters.
    let none: serde_json::Value =
        serde_json::from_str(&b.ok(lab, &["servers", "list", "--json", "--game", "Factorio"]))
            .unwrap();
    assert!(none.as_array().unwrap().is_empty());
    // Another party sees nothing.
    let other: serde_json::Value =
        serde_json::from_str(&c.ok(lab, &["servers", "list", "--json"])).unwrap();
    assert!(other.as_array().unwrap().is_empty(), "{other}");
    // Favorites stick, and removing the server takes it off the list.
    let key = list[0]["key"].as_str().unwrap().to_string();
    b.ok(lab, &["servers", "favorite", &key]);
    let fav: serde_json::Value =
        serde_json::from_str(&b.ok(lab, &["servers", "list", "--json"])).unwrap();
    assert_eq!(fav[0]["favorite"], true);
    a.ok(lab, &["servers", "remove", "Minecraft:25565"]);
    let gone: serde_json::Value =
        serde_json::from_str(&b.ok(lab, &["servers", "list", "--json"])).unwrap();
    assert!(gone.as_array().unwrap().is_empty(), "{gone}");
}
