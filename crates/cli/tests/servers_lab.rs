//! A party that outlives its control server: two `lanrage server`s on one PostgreSQL, each in
//! a namespace of its own (PostgreSQL, and NATS when they share a bus, in a third), players
//! given both addresses. The serving one is killed with -9, or cut off from PostgreSQL one way,
//! mid-party; the other takes over, the players move to it, the tunnel does not notice, and a
//! newcomer joins through it. On a bus both servers take players at once: a member on each is
//! one party, joins racing on the two are decided once, and NATS going away moves players to
//! the serving server until it is back. Needs root; skipped with a reason elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::lab::{Lab, Nat, ProcId};
use support::players::{create, lanrage};
use support::postgres::TestPostgres;
use support::world::{Home, HomeSpec, Wire, World};

const DB_IP: &str = "198.51.100.5";
const SERVERS: [(&str, &str); 2] = [("srva", "198.51.100.10"), ("srvb", "198.51.100.9")];
const PORT: u16 = 8667;
const NATS: &str = "nats://198.51.100.5:4222";

/// Each lab runs two servers, PostgreSQL and three daemons: one at a time on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Two servers on one PostgreSQL, the first serving and the second waiting, and two players
/// (of three) given both addresses, in one party and pinging each other through server A.
struct Servers {
    // First, so PostgreSQL stops before the world's namespaces go.
    pg: TestPostgres,
    w: World,
    servers: Vec<ProcId>,
    data: Vec<tempfile::TempDir>,
    store: String,
    urls: Vec<String>,
    both: String,
    /// nats-server, when the servers share a bus.
    nats: Option<ProcId>,
}

fn servers(tag: &str, bus: bool) -> Option<Servers> {
    servers_with(tag, bus, false)
}

/// Without a bus the second server waits; with one it takes players too, and the second
/// player is given B first, so the party has a member on each server. With `relays` the
/// servers run their STUN/TURN relays (one TURN secret) and the two players live behind
/// symmetric NATs, so only a relay joins them.
fn servers_with(tag: &str, bus: bool, relays: bool) -> Option<Servers> {
    if !support::require(
        support::is_root(),
        "server labs need root (network namespaces, TUN devices)",
    ) {
        return None;
    }
    let mut w = World::new(tag);
    w.host("db", DB_IP);
    for (ns, ip) in SERVERS {
        // With relays, A is farther away than B: a player given both picks B's (the nearest),
        // so which relay carries whom is known.
        let wire = if relays && ns == SERVERS[0].0 {
            Wire::delayed(25, 0)
        } else {
            Wire::default()
        };
        w.host_via(ns, ip, wire);
    }
    for i in 0..3 {
        let (ns, ip) = (format!("p{i}"), format!("198.51.100.{}", 11 + i));
        if relays && i < 2 {
            w.home(HomeSpec {
                ns: &ns,
                kind: Home::Behind(Nat::Symmetric),
                router: &format!("r{i}"),
                public_ip: &ip,
                lan: &format!("192.168.{}", i + 1),
                wire: Wire::default(),
            });
        } else {
            w.host(&ns, &ip);
        }
        w.player(&ns);
    }
    let pg = TestPostgres::start_in(&w.lab.full("db"), DB_IP)?;
    pg.create_database("lanrage");
    let store = pg.url("lanrage");
    let nats = bus.then(|| start_nats(&mut w.lab));
    let data: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = Vec::new();
    for (i, dir) in data.iter().enumerate() {
        servers.push(spawn_server(&mut w.lab, i, dir, &store, bus, relays));
        if i == 0 {
            // The first serves; the second then waits for the serving lock. (Listening is not
            // enough: a server whose database is farther away than the lock's 0.3 s to settle
            // takes players on a bus before it serves.)
            w.lab.wait_log(
                servers[0],
                "control server listening",
                Duration::from_secs(15),
            );
        }
    }
    w.lab.wait_log(
        servers[1],
        "another LANrage server is serving this database",
        Duration::from_secs(15),
    );
    if bus {
        w.lab.wait_log(
            servers[1],
            "passing players to the serving server",
            Duration::from_secs(15),
        );
        w.lab
            .wait_listening(SERVERS[1].0, "tcp", PORT, Duration::from_secs(5));
    } else {
        assert!(
            !listening(&w.lab, SERVERS[1].0),
            "the second server must wait, not serve beside the first"
        );
    }

    let urls: Vec<String> = SERVERS
        .iter()
        .map(|(_, ip)| format!("ws://{ip}:{PORT}"))
        .collect();
    let both = urls.join(" ");
    let b_first = format!("{} {}", urls[1], urls[0]);
    for (i, p) in w.players.iter_mut().enumerate().take(2) {
        let list = if bus && i == 1 { &b_first } else { &both };
        p.up(&mut w.lab, Some(list), &format!("P{i}"));
    }
    let (code, link) = create(&w.lab, &w.players[0], &["lan"]);
    // The link names both servers, so a friend who pastes it can use either.
    let link = link.expect("an invite link");
    let invite = lanrage_proto::invite::Invite::parse(&link).unwrap();
    assert_eq!(invite.server.as_deref(), Some(both.as_str()), "{link}");
    w.players[1].ok(&w.lab, &["party", "join", &code]);
    // A relayed path takes a few more round trips to the relays to set up.
    let within = Duration::from_secs(if relays { 20 } else { 5 });
    w.lab.wait_ping("p0", "10.66.0.2", within);
    w.lab.wait_ping("p1", "10.66.0.1", within);
    for (i, p) in w.players[..2].iter().enumerate() {
        let on = if bus && i == 1 { &urls[1] } else { &urls[0] };
        assert_eq!(p.status(&w.lab)["control"]["server"], on.as_str());
    }
    Some(Servers {
        pg,
        w,
        servers,
        data,
        urls,
        both,
        nats,
        store,
    })
}

/// `lanrage server` number `i` (A or B) on the lab's database, with the bus or without, with
/// its relay or without.
fn spawn_server(
    lab: &mut Lab,
    i: usize,
    data: &tempfile::TempDir,
    store: &str,
    bus: bool,
    relay: bool,
) -> ProcId {
    let (ns, ip) = SERVERS[i];
    let mut envs = vec![("RUST_LOG", "info"), ("LANRAGE_STORE", store)];
    if bus {
        envs.push(("LANRAGE_BUS", NATS));
    }
    let (bin, dir) = (lanrage(), data.path().display().to_string());
    let listen = format!("0.0.0.0:{PORT}");
    let mut args = vec![
        bin.as_str(),
        "--data-dir",
        &dir,
        "server",
        "--listen",
        &listen,
    ];
    if relay {
        args.extend_from_slice(&["--public-ip", ip, "--turn-secret", "lab-shared-secret"]);
    } else {
        args.push("--no-relay");
    }
    lab.spawn(ns, &format!("server-{ns}"), &args, &envs)
}

fn start_nats(lab: &mut Lab) -> ProcId {
    let nats = lab.spawn(
        "db",
        "nats",
        &["nats-server", "-a", DB_IP, "-p", "4222"],
        &[],
    );
    lab.wait_listening("db", "tcp", 4222, Duration::from_secs(10));
    nats
}

/// One gauge from a server's `/metrics`.
fn gauge(lab: &Lab, server: usize, name: &str) -> Option<u64> {
    let (ns, ip) = SERVERS[server];
    let url = format!("http://{ip}:{PORT}/metrics");
    let out = lab.try_run(ns, &["curl", "-s", "--max-time", "2", &url]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The packets `ping` says were answered.
fn answered(out: &str) -> u32 {
    out.lines()
        .find_map(|l| {
            l.split(" received")
                .next()?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no ping summary: {out}"))
}

/// P0 pings P1 `count` times at 20 Hz; two seconds in, `meanwhile` runs. Returns the pings
/// answered and what `meanwhile` returned.
fn pinging<R>(lab: &Lab, count: u32, meanwhile: impl FnOnce() -> R) -> (u32, R) {
    let (out, r) = std::thread::scope(|scope| {
        let count = count.to_string();
        let ping = scope.spawn(move || {
            lab.run_stdout(
                "p0",
                &["ping", "-n", "-i", "0.05", "-c", &count, "10.66.0.2"],
            )
        });
        std::thread::sleep(Duration::from_secs(2));
        let r = meanwhile();
        (ping.join().unwrap(), r)
    });
    (answered(&out), r)
}

fn listening(lab: &Lab, ns: &str) -> bool {
    !lab.try_run(ns, &["ss", "-Htln", "sport = :8667"])
        .stdout
        .is_empty()
}

impl Servers {
    /// Runs a 20 Hz ping between the two players for `pings` packets, does `disrupt` to server
    /// A two seconds in, and waits (up to `within`) for both players to be connected to server
    /// B. Returns the pings answered, when B listened and when both players were on it,
    /// counted from the disruption.
    fn across(
        &self,
        pings: u32,
        within: Duration,
        disrupt: impl FnOnce(&Lab),
    ) -> (u32, Duration, Duration) {
        let lab = &self.w.lab;
        let (received, (took_over_after, moved_after)) = pinging(lab, pings, || {
            let disrupted = Instant::now();
            disrupt(lab);
            lab.wait_listening(SERVERS[1].0, "tcp", PORT, within);
            let took_over_after = disrupted.elapsed();
            support::wait_for(within, "players on the other server", || {
                self.w.players[..2].iter().all(|p| {
                    let st = p.status(lab);
                    st["control"]["state"] == "connected"
                        && st["control"]["server"] == self.urls[1].as_str()
                })
            });
            (took_over_after, disrupted.elapsed())
        });
        (received, took_over_after, moved_after)
    }

    /// The party is whole on server B and takes a newcomer through it.
    fn party_goes_on(&mut self) {
        let st = self.w.players[0].status(&self.w.lab);
        assert_eq!(st["party"]["name"], "lan");
        let (lab, players) = (&mut self.w.lab, &mut self.w.players);
        players[2].up(lab, Some(&self.both), "Late");
        let code = players[0].invite(lab);
        players[2].ok(lab, &["party", "join", &code]);
        lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
        lab.wait_ping("p1", "10.66.0.3", Duration::from_secs(5));
    }
}

/// Server A, which serves, is killed with -9 mid-party.
fn serving_server_killed(tag: &str, bus: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers(tag, bus) else {
        return;
    };
    let serving = s.w.lab.pid(s.servers[0]);
    let (received, _, moved_after) = s.across(200, Duration::from_secs(10), |_| {
        // SAFETY: a process of this lab, still running (the lab reaps it below).
        unsafe { libc::kill(serving as libc::pid_t, libc::SIGKILL) };
    });
    eprintln!("players on the other server {moved_after:?} after the kill");
    eprintln!("{received} of 200 pings (20 Hz) answered across the kill");
    assert!(moved_after < Duration::from_secs(10), "{moved_after:?}");
    assert!(
        received >= 195,
        "{received} of 200 pings answered across the kill"
    );
    s.w.lab.kill(s.servers[0]);
    s.party_goes_on();
}

#[test]
fn a_party_survives_its_server_being_killed() {
    serving_server_killed("servers", false);
}

/// On a bus the player on B was passed on to A; B now serves it itself.
#[test]
fn a_party_on_two_servers_survives_the_serving_one_being_killed() {
    serving_server_killed("servbus", true);
}

#[test]
fn two_servers_on_a_bus_decide_a_race_for_the_last_seat_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servrace", true) else {
        return;
    };
    let lab = &s.w.lab;
    // Each server says what it is, and that the bus is up.
    assert_eq!(gauge(lab, 0, "lanrage_server_serving"), Some(1));
    assert_eq!(gauge(lab, 1, "lanrage_server_serving"), Some(0));
    assert_eq!(gauge(lab, 0, "lanrage_server_bus_connected"), Some(1));
    assert_eq!(gauge(lab, 1, "lanrage_server_bus_connected"), Some(1));
    assert_eq!(gauge(lab, 1, "lanrage_server_devices_connected"), Some(1));

    // A party of two with the host alone in it, and two friends, one on each server, joining
    // at the same moment.
    let (lab, players) = (&mut s.w.lab, &mut s.w.players);
    players[2].up(lab, Some(&s.both), "P2");
    players[0].ok(lab, &["party", "close"]);
    let (code, _) = create(lab, &players[0], &["duo", "--max", "2"]);
    let lab = &s.w.lab;
    let results: Vec<bool> = std::thread::scope(|scope| {
        let joins: Vec<_> = [&s.w.players[1], &s.w.players[2]]
            .into_iter()
            .map(|p| {
                let code = code.clone();
                scope.spawn(move || p.cli(lab, &["party", "join", &code]).status.success())
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "exactly one of the two racing joins must win: {results:?}"
    );
    let peers = s.w.players[0].status(lab)["party"]["peers"]
        .as_array()
        .map(|m| m.len());
    assert_eq!(peers, Some(1), "the host of a party of two sees one friend");
    let loser = &s.w.players[if results[0] { 2 } else { 1 }];
    assert!(
        loser.status(lab)["party"].is_null(),
        "the friend who lost the race is in no party"
    );
    let winner = if results[0] { "p1" } else { "p2" };
    lab.wait_ping(winner, "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));
}

#[test]
fn when_nats_goes_away_players_move_to_the_serving_server_and_the_bus_comes_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servnats", true) else {
        return;
    };
    let nats = s.nats.expect("the bus lab runs nats-server");
    let nats_pid = s.w.lab.pid(nats);
    let lab = &s.w.lab;
    let (received, moved_after) = pinging(lab, 200, || {
        let cut = Instant::now();
        // SAFETY: a process of this lab, still running (the lab reaps it below).
        unsafe { libc::kill(nats_pid as libc::pid_t, libc::SIGKILL) };
        // B can no longer pass P1 on: P1 moves to A, the next in its list.
        support::wait_for(Duration::from_secs(10), "P1 on server A", || {
            let st = s.w.players[1].status(lab);
            st["control"]["state"] == "connected" && st["control"]["server"] == s.urls[0].as_str()
        });
        cut.elapsed()
    });
    eprintln!("P1 on server A {moved_after:?} after NATS went; {received} of 200 pings answered");
    assert!(moved_after < Duration::from_secs(10), "{moved_after:?}");
    assert!(
        received >= 195,
        "{received} of 200 pings answered while NATS went away"
    );
    // Both servers say so, in /metrics and in their logs.
    support::wait_for(
        Duration::from_secs(10),
        "both servers reporting the bus down",
        || {
            gauge(lab, 0, "lanrage_server_bus_connected") == Some(0)
                && gauge(lab, 1, "lanrage_server_bus_connected") == Some(0)
        },
    );
    for server in &s.servers {
        lab.wait_log(*server, "bus: lost NATS", Duration::from_secs(5));
    }

    // NATS is back: so is the bus, and a newcomer who knows only server B joins through it.
    s.w.lab.kill(nats);
    s.nats = Some(start_nats(&mut s.w.lab));
    let lab = &s.w.lab;
    support::wait_for(
        Duration::from_secs(15),
        "server B passing players on again",
        || {
            gauge(lab, 1, "lanrage_server_bus_connected") == Some(1)
                && gauge(lab, 1, "lanrage_server_serving_server_heard") == Some(1)
        },
    );
    let (lab, players) = (&mut s.w.lab, &mut s.w.players);
    players[2].up(lab, Some(&s.urls[1]), "Late");
    let code = players[0].invite(lab);
    players[2].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p1", "10.66.0.3", Duration::from_secs(5));
    assert_eq!(
        players[2].status(lab)["control"]["server"],
        s.urls[1].as_str()
    );
}

#[test]
fn a_party_survives_its_server_cut_off_from_the_database_one_way() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servcut", false) else {
        return;
    };
    // Server A's packets to PostgreSQL vanish; PostgreSQL's still reach it. No connection is
    // refused or reset: A and PostgreSQL each find out only from silence.
    let (received, took_over_after, moved_after) = s.across(600, Duration::from_secs(30), |lab| {
        lab.nft(
            SERVERS[0].0,
            &format!(
                "table ip lanrage_cut {{\n  chain output {{\n    type filter hook output priority 0; policy accept;\n    ip daddr {DB_IP} drop\n  }}\n}}\n"
            ),
        );
    });
    eprintln!(
        "server B serving {took_over_after:?} and the players on it {moved_after:?} after the cut"
    );
    eprintln!("{received} of 600 pings (20 Hz) answered across the cut");
    // PostgreSQL gives the lock on after about 11 s of silence (A stopped serving before); the
    // players, who have been retrying meanwhile, are back within their longest pause (8 s).
    assert!(
        took_over_after < Duration::from_secs(16),
        "{took_over_after:?}"
    );
    assert!(
        moved_after < took_over_after + Duration::from_secs(10),
        "{moved_after:?}"
    );
    assert!(
        received >= 590,
        "{received} of 600 pings answered across the cut"
    );
    s.w.lab.wait_log(
        s.servers[0],
        "lost the connection that holds the serving lock",
        Duration::from_secs(5),
    );
    assert!(!listening(&s.w.lab, SERVERS[0].0), "server A still serves");
    s.party_goes_on();
}

#[test]
fn both_servers_restarted_keep_the_party_its_code_and_addresses() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servboth", true) else {
        return;
    };
    let code_of = |s: &Servers| -> String {
        s.w.players[0].status(&s.w.lab)["party"]["invite"]["code"]
            .as_str()
            .expect("the host sees its invite code")
            .to_string()
    };
    let code = code_of(&s);
    let ips: Vec<String> = s.w.players[..2].iter().map(|p| p.ip(&s.w.lab)).collect();
    for server in s.servers.clone() {
        let status = s.w.lab.stop(server);
        assert!(
            status.success(),
            "a server stops cleanly on SIGTERM: {status:?}"
        );
    }
    for (i, (ns, _)) in SERVERS.iter().enumerate() {
        s.servers[i] = spawn_server(&mut s.w.lab, i, &s.data[i], &s.store, true, false);
        s.w.lab
            .wait_listening(ns, "tcp", PORT, Duration::from_secs(15));
    }
    let lab = &s.w.lab;
    support::wait_for(Duration::from_secs(20), "both players back", || {
        s.w.players[..2]
            .iter()
            .all(|p| p.status(lab)["control"]["state"] == "connected")
    });
    assert_eq!(code_of(&s), code, "the invite code outlives both servers");
    let after: Vec<String> = s.w.players[..2].iter().map(|p| p.ip(lab)).collect();
    assert_eq!(after, ips, "every member keeps its address");
    assert_eq!(s.w.players[1].status(lab)["party"]["name"], "lan");
    // A newcomer joins with the code given out before the restart, through either server.
    let (lab, players) = (&mut s.w.lab, &mut s.w.players);
    players[2].up(lab, Some(&s.urls[1]), "Late");
    players[2].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p2", "10.66.0.2", Duration::from_secs(5));
}

#[test]
fn when_postgres_goes_away_the_tunnels_keep_working_and_the_servers_recover() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servpg", true) else {
        return;
    };
    let lab = &s.w.lab;
    let pg = &mut s.pg;
    let (received, ()) = pinging(lab, 300, || {
        pg.pause();
        // Nobody may serve without the database: A stops, B no longer hears a serving server.
        lab.wait_log(
            s.servers[0],
            "lost the connection that holds the serving lock",
            Duration::from_secs(10),
        );
        // Both now take players without serving (and pass none on, hearing no serving
        // server), and their /metrics say why: the database is away.
        lab.wait_log(
            s.servers[0],
            "cannot reach PostgreSQL; trying again until it answers",
            Duration::from_secs(10),
        );
        support::wait_for(
            Duration::from_secs(10),
            "both saying the database is away",
            || {
                (0..2).all(|i| {
                    gauge(lab, i, "lanrage_server_serving") == Some(0)
                        && gauge(lab, i, "lanrage_server_serving_server_heard") == Some(0)
                        && gauge(lab, i, "lanrage_server_database_reachable") == Some(0)
                })
            },
        );
    });
    eprintln!("{received} of 300 pings answered while PostgreSQL was away");
    assert!(
        received >= 295,
        "{received} of 300 pings answered while PostgreSQL was away"
    );

    s.pg.resume();
    let lab = &s.w.lab;
    support::wait_for(Duration::from_secs(30), "a server serving again", || {
        (0..2).any(|i| gauge(lab, i, "lanrage_server_serving") == Some(1))
    });
    support::wait_for(Duration::from_secs(20), "both players back", || {
        s.w.players[..2]
            .iter()
            .all(|p| p.status(lab)["control"]["state"] == "connected")
    });
    let (lab, players) = (&mut s.w.lab, &mut s.w.players);
    players[2].up(lab, Some(&s.both), "Late");
    let code = players[0].invite(lab);
    players[2].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p1", "10.66.0.3", Duration::from_secs(5));
}

#[test]
fn every_server_on_a_bus_runs_a_relay_its_players_can_use() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = servers_with("servrelay", true, true) else {
        return;
    };
    let lab = &s.w.lab;
    // Behind symmetric NATs both ways, the two friends are joined by a relay only.
    for p in &s.w.players[..2] {
        support::wait_for(Duration::from_secs(20), "a relayed path", || {
            p.status(lab)["party"]["peers"][0]["connection"] == "relayed"
        });
    }
    // P1 is on server B, which passes its session to A; A gave it B's relay and its own, with
    // credentials B's relay takes (one TURN secret) for a member B's relay knows of (over the
    // bus), and P1 took the nearer, B's: B's relay holds P1's allocation. P0, on A, was given
    // A's relay only, so the two are relayed by two relays, relay to relay.
    support::wait_for(
        Duration::from_secs(10),
        "an allocation on B's relay",
        || gauge(lab, 1, "lanrage_server_relay_allocations").is_some_and(|n| n > 0),
    );
    lab.wait_ping("p1", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));
}

/// The connection a player's status shows for the party mate at `ip`.
fn connection_to(lab: &Lab, p: &support::players::Player, ip: &str) -> String {
    p.status(lab)["party"]["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|peer| peer["virtual_ip"] == ip)
        .and_then(|peer| peer["connection"].as_str())
        .unwrap_or("not in the party")
        .to_string()
}

/// Server B, which passes P1's session on to A, dies with P1 unable to reach A: the serving
/// server hears nothing more from P1 and shows it offline after the presence timeout (as
/// for a player whose own machine died), not forever; the tunnel does not notice. Once P1
/// can reach A again it is back online there.
#[test]
fn a_passing_server_that_dies_takes_its_players_offline_until_they_return() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = servers("servedge", true) else {
        return;
    };
    let lab = &s.w.lab;
    let (a_ip, b_ip) = (SERVERS[0].1, SERVERS[1].1);
    support::wait_for(Duration::from_secs(5), "P1 direct for P0", || {
        connection_to(lab, &s.w.players[0], "10.66.0.2") == "direct"
    });
    // P1's way to server A is cut (its home network lets only the tunnel through), so the
    // death of B leaves it nowhere to go.
    lab.nft(
        "p1",
        &format!(
            "table ip lanrage_cut {{\n  chain output {{\n    type filter hook output priority 0; policy accept;\n    ip daddr {a_ip} tcp dport {PORT} drop\n  }}\n}}\n"
        ),
    );
    let passing = lab.pid(s.servers[1]);
    let (received, offline_after) = pinging(lab, 400, || {
        let killed = Instant::now();
        // SAFETY: a process of this lab, still running (the lab reaps it below).
        unsafe { libc::kill(passing as libc::pid_t, libc::SIGKILL) };
        support::wait_for(Duration::from_secs(25), "P1 shown offline to P0", || {
            connection_to(lab, &s.w.players[0], "10.66.0.2") == "offline"
        });
        killed.elapsed()
    });
    eprintln!("P1 offline {offline_after:?} after {b_ip} died; {received} of 400 pings answered");
    // Offline after 10 s of silence, seen at the serving server's next presence tick.
    assert!(
        offline_after >= Duration::from_secs(5) && offline_after < Duration::from_secs(20),
        "P1 shown offline {offline_after:?} after its server died"
    );
    assert!(
        received >= 395,
        "{received} of 400 pings answered while P1's server was gone"
    );
    assert_ne!(
        s.w.players[1].status(lab)["control"]["state"],
        "connected",
        "P1 has no server to be connected to"
    );

    // The way to A is open again: P1 reconnects there, and is online for P0.
    lab.nft("p1", "delete table ip lanrage_cut\n");
    support::wait_for(Duration::from_secs(15), "P1 on server A", || {
        let st = s.w.players[1].status(lab);
        st["control"]["state"] == "connected" && st["control"]["server"] == s.urls[0].as_str()
    });
    support::wait_for(Duration::from_secs(5), "P1 online for P0", || {
        connection_to(lab, &s.w.players[0], "10.66.0.2") == "direct"
    });
    lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));
}

/// A guesser who moves between servers is limited by the wrong codes it sent to both: the
/// serving server counts them by the address the passing one saw.
#[test]
fn wrong_invite_codes_count_on_every_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut s) = servers("servcode", true) else {
        return;
    };
    let code = s.w.players[0].invite(&s.w.lab);
    let party = lanrage_proto::invite::InviteCode::parse(&code).unwrap();
    let guess = || lanrage_proto::invite::InviteCode::generate(&party.party_id).display();
    let per_source = 5;
    for (server, guesses) in [(0, 3), (1, per_source - 3)] {
        if let Some(up) = s.w.players[2].proc.take() {
            s.w.lab.stop(up);
        }
        let (lab, players) = (&mut s.w.lab, &mut s.w.players);
        players[2].up(lab, Some(&s.urls[server]), "Guesser");
        support::wait_for(Duration::from_secs(10), "the guesser connected", || {
            players[2].status(lab)["control"]["state"] == "connected"
        });
        for _ in 0..guesses {
            let err = players[2].fails(lab, &["party", "join", &guess()]);
            assert!(err.contains("does not match"), "{err}");
        }
    }
    // Five wrong codes in all, on two servers: now even the right one is refused for a while.
    let lab = &s.w.lab;
    let err = s.w.players[2].fails(lab, &["party", "join", &code]);
    assert!(err.contains("too many wrong invite codes"), "{err}");
    assert!(s.w.players[2].status(lab)["party"].is_null());
    // The serving server counted all six refusals, the three B passed on among them.
    assert_eq!(gauge(lab, 0, "lanrage_server_wrong_codes_total"), Some(6));
}
