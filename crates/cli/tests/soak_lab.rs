//! A churn soak: a party whose members leave and rejoin, whose daemons are killed and
//! restarted, and whose newcomers are new devices, for minutes, against one control server.
//! The server's memory and open files must stay flat and, at the end, every member reaches
//! every other. `LANRAGE_SOAK_SECS` sets how long it churns (default 120). Needs root;
//! skipped with a reason elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::players::{create, Player};
use support::world::World;

const SERVER_IP: &str = "198.51.100.10";
const SERVER_URL: &str = "ws://198.51.100.10:8667";
const PLAYERS: usize = 4;

/// What the server holds at one moment.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    rss_kib: u64,
    fds: usize,
}

fn footprint(pid: u32) -> Footprint {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    Footprint { rss_kib, fds }
}

fn ip_of(i: usize) -> String {
    format!("198.51.100.{}", 11 + i)
}

/// A member's virtual address once its daemon says it is in the party.
fn party_ip(lab: &support::lab::Lab, p: &Player) -> String {
    let mut ip = String::new();
    support::wait_for(Duration::from_secs(15), "in the party", || {
        let st = p.status(lab);
        ip = st["device"]["virtual_ip"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        st["party"]["name"] == "soak" && !ip.is_empty()
    });
    ip
}

#[test]
fn churn_keeps_the_server_flat_and_every_member_reachable() {
    if !support::require(
        support::is_root(),
        "the soak lab needs root (network namespaces, TUN devices)",
    ) {
        return;
    }
    let secs: u64 = std::env::var("LANRAGE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut w = World::new("soak");
    w.server("srv", SERVER_IP);
    let srv = w.start_server(&[]);
    let server_pid = w.lab.pid(srv);
    for i in 0..PLAYERS {
        let ns = format!("p{i}");
        w.host(&ns, &ip_of(i));
        w.player(&ns);
    }
    for (i, p) in w.players.iter_mut().enumerate() {
        p.up(&mut w.lab, Some(SERVER_URL), &format!("P{i}"));
    }
    let (code, _) = create(&w.lab, &w.players[0], &["soak"]);
    for p in &w.players[1..] {
        p.ok(&w.lab, &["party", "join", &code]);
    }
    let host_ip = party_ip(&w.lab, &w.players[0]);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut baseline: Option<Footprint> = None;
    let mut peak = footprint(server_pid);
    let (mut leaves, mut restarts, mut new_devices) = (0u32, 0u32, 0u32);
    let mut round = 0usize;
    while Instant::now() < deadline {
        // The host stays; the others take turns.
        let k = 1 + round % (PLAYERS - 1);
        match round % 3 {
            0 => {
                w.players[k].ok(&w.lab, &["party", "leave"]);
                w.players[k].ok(&w.lab, &["party", "join", &code]);
                leaves += 1;
            }
            1 => {
                // Killed without a goodbye: the daemon comes back into its party by itself.
                let id = w.players[k].proc.take().unwrap();
                w.lab.kill(id);
                w.players[k].up(&mut w.lab, Some(SERVER_URL), &format!("P{k}"));
                restarts += 1;
            }
            _ => {
                // A different device takes this seat (a new data directory is a new key);
                // the old one said goodbye (a killed member keeps its seat for minutes).
                w.players[k].ok(&w.lab, &["party", "leave"]);
                let id = w.players[k].proc.take().unwrap();
                w.lab.kill(id);
                let ns = w.players[k].ns.clone();
                w.players[k] = Player::new(&ns);
                w.players[k].up(&mut w.lab, Some(SERVER_URL), &format!("New{round}"));
                w.players[k].ok(&w.lab, &["party", "join", &code]);
                new_devices += 1;
            }
        }
        let ip = party_ip(&w.lab, &w.players[k]);
        w.lab
            .wait_ping(&w.players[k].ns, &host_ip, Duration::from_secs(10));
        w.lab.wait_ping("p0", &ip, Duration::from_secs(10));
        round += 1;

        let now = footprint(server_pid);
        peak.rss_kib = peak.rss_kib.max(now.rss_kib);
        peak.fds = peak.fds.max(now.fds);
        // The first third warms the allocator and the database; flat means flat after it.
        if baseline.is_none() && started.elapsed() > Duration::from_secs(secs / 3) {
            baseline = Some(now);
        }
    }
    let baseline = baseline.unwrap_or(peak);

    // Everyone reaches everyone.
    let ips: Vec<String> = w.players.iter().map(|p| party_ip(&w.lab, p)).collect();
    for (i, p) in w.players.iter().enumerate() {
        for (j, ip) in ips.iter().enumerate() {
            if i != j {
                w.lab.wait_ping(&p.ns, ip, Duration::from_secs(10));
            }
        }
    }
    // Allocations of the last killed daemons close once their clients have been silent
    // for 30 s: measure after that.
    std::thread::sleep(Duration::from_secs(36));
    let end = footprint(server_pid);
    eprintln!(
        "soak: {secs} s, {round} rounds ({leaves} leave+join, {restarts} daemon kills, \
         {new_devices} new devices); server RSS {} KiB after warm-up, {} KiB at the end, \
         {} KiB peak; open files {} after warm-up, {} at the end, {} peak",
        baseline.rss_kib, end.rss_kib, peak.rss_kib, baseline.fds, end.fds, peak.fds
    );
    assert!(
        round >= 6,
        "the soak churned only {round} times in {secs} s"
    );
    assert!(
        end.fds <= baseline.fds + 8,
        "the server's open files grew from {} to {}; its sockets:\n{}",
        baseline.fds,
        end.fds,
        w.lab.run_stdout("srv", &["ss", "-tuanp"])
    );
    assert!(
        end.rss_kib <= baseline.rss_kib + baseline.rss_kib / 4 + 4096,
        "the server's memory grew from {} KiB to {} KiB",
        baseline.rss_kib,
        end.rss_kib
    );
}
