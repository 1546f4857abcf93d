//! A party that outlives its control server: two `lanrage server`s on one PostgreSQL, each in
//! a namespace of its own (PostgreSQL in a third), players given both addresses. The serving
//! one is killed with -9 mid-party; the other takes over, the players move to it, the tunnel
//! does not notice, and a newcomer joins through it. Needs root; skipped with a reason elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::players::{create, lanrage};
use support::postgres::TestPostgres;
use support::world::World;

const DB_IP: &str = "198.51.100.5";
const SERVERS: [(&str, &str); 2] = [("srva", "198.51.100.10"), ("srvb", "198.51.100.9")];
const PORT: u16 = 8667;

#[test]
fn a_party_survives_its_server_being_killed() {
    if !support::require(
        support::is_root(),
        "server labs need root (network namespaces, TUN devices)",
    ) {
        return;
    }
    let mut w = World::new("servers");
    w.host("db", DB_IP);
    for (ns, ip) in SERVERS {
        w.host(ns, ip);
    }
    for i in 0..3 {
        let ns = format!("p{i}");
        w.host(&ns, &format!("198.51.100.{}", 11 + i));
        w.player(&ns);
    }
    // Declared after the world, so it stops before the namespaces go.
    let Some(pg) = TestPostgres::start_in(&w.lab.full("db"), DB_IP) else {
        return;
    };
    pg.create_database("lanrage");
    let store = pg.url("lanrage");

    let bin = lanrage();
    let data: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = Vec::new();
    for (i, (ns, _)) in SERVERS.iter().enumerate() {
        let dir = data[i].path().display().to_string();
        let listen = format!("0.0.0.0:{PORT}");
        let args = [
            bin.as_str(),
            "--data-dir",
            &dir,
            "server",
            "--listen",
            &listen,
            "--no-relay",
        ];
        servers.push(w.lab.spawn(
            ns,
            &format!("server-{ns}"),
            &args,
            &[("RUST_LOG", "info"), ("LANRAGE_STORE", &store)],
        ));
        if i == 0 {
            // The first serves; the second then waits for the serving lock.
            w.lab
                .wait_listening(ns, "tcp", PORT, Duration::from_secs(15));
        }
    }
    w.lab.wait_log(
        servers[1],
        "another LANrage server is serving this database",
        Duration::from_secs(15),
    );
    let listening = w
        .lab
        .try_run(SERVERS[1].0, &["ss", "-Htln", "sport = :8667"]);
    assert!(
        listening.stdout.is_empty(),
        "the second server must wait, not serve beside the first"
    );

    let urls: Vec<String> = SERVERS
        .iter()
        .map(|(_, ip)| format!("ws://{ip}:{PORT}"))
        .collect();
    let both = urls.join(" ");
    for (i, p) in w.players.iter_mut().enumerate().take(2) {
        p.up(&mut w.lab, Some(&both), &format!("P{i}"));
    }
    let (code, link) = create(&w.lab, &w.players[0], &["lan"]);
    // The link names both servers, so a friend who pastes it can use either.
    let link = link.expect("an invite link");
    let invite = lanrage_proto::invite::Invite::parse(&link).unwrap();
    assert_eq!(invite.server.as_deref(), Some(both.as_str()), "{link}");
    w.players[1].ok(&w.lab, &["party", "join", &code]);
    w.lab.wait_ping("p0", "10.66.0.2", Duration::from_secs(5));
    for p in &w.players[..2] {
        assert_eq!(p.status(&w.lab)["control"]["server"], urls[0].as_str());
    }

    // A 20 Hz ping across the kill: the tunnel does not need the control server.
    let serving = w.lab.pid(servers[0]);
    let (pings, moved_after) = std::thread::scope(|scope| {
        let lab = &w.lab;
        let ping = scope.spawn(|| {
            lab.run_stdout(
                "p0",
                &["ping", "-n", "-i", "0.05", "-c", "200", "10.66.0.2"],
            )
        });
        std::thread::sleep(Duration::from_secs(2));
        let killed = Instant::now();
        // SAFETY: a process of this lab, still running (the lab reaps it below).
        unsafe { libc::kill(serving as libc::pid_t, libc::SIGKILL) };
        lab.wait_listening(SERVERS[1].0, "tcp", PORT, Duration::from_secs(10));
        let lab_players = &w.players;
        support::wait_for(
            Duration::from_secs(10),
            "players on the other server",
            || {
                lab_players[..2].iter().all(|p| {
                    let st = p.status(lab);
                    st["control"]["state"] == "connected"
                        && st["control"]["server"] == urls[1].as_str()
                })
            },
        );
        let moved_after = killed.elapsed();
        (ping.join().unwrap(), moved_after)
    });
    eprintln!("players on the other server {moved_after:?} after the kill");
    assert!(moved_after < Duration::from_secs(10), "{moved_after:?}");
    let received: u32 = pings
        .lines()
        .find_map(|l| {
            l.split(" received")
                .next()?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no ping summary: {pings}"));
    eprintln!("{received} of 200 pings (20 Hz) answered across the kill");
    assert!(received >= 195, "pings lost across the kill: {pings}");
    w.lab.kill(servers[0]);

    // The party is whole on the other server, and takes a newcomer through it.
    let st = w.players[0].status(&w.lab);
    assert_eq!(st["party"]["name"], "lan");
    let (lab, players) = (&mut w.lab, &mut w.players);
    players[2].up(lab, Some(&both), "Late");
    let code = players[0].invite(lab);
    players[2].ok(lab, &["party", "join", &code]);
    lab.wait_ping("p2", "10.66.0.1", Duration::from_secs(5));
    lab.wait_ping("p1", "10.66.0.3", Duration::from_secs(5));
    drop(pg);
}
