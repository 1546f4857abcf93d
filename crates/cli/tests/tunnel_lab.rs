//! The tunnel in network-namespace labs: real TUN devices, real WireGuard peers
//! (wireguard-go, boringtun-cli), real traffic. Needs root; skipped with a reason elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::lab::{Lab, ProcId};
use support::world::World;

const LANRAGE: &str = env!("CARGO_BIN_EXE_lanrage");

/// The labs share two cores and time-sensitive checks: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn lab_ready(tools: &[&str]) -> bool {
    if !support::require(
        support::is_root(),
        "tunnel labs need root (network namespaces, TUN devices)",
    ) {
        return false;
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !support::on_path(t))
        .collect();
    support::require(
        missing.is_empty(),
        &format!("tunnel labs need {missing:?} (run scripts/setup)"),
    )
}

fn genkey() -> (String, String) {
    let out = std::process::Command::new("wg")
        .arg("genkey")
        .output()
        .unwrap();
    let private = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut child = std::process::Command::new("wg")
        .arg("pubkey")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(private.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        private,
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

/// One machine of the lab: a namespace with an underlay address and a tunnel address.
struct Node {
    ns: String,
    underlay: String,
    tun_ip: String,
    private: String,
    public: String,
    port: u16,
    dir: tempfile::TempDir,
    ifname: String,
    proc: Option<ProcId>,
}

impl Node {
    fn new(lab: &mut Lab, ns: &str, underlay: &str, tun_ip: &str) -> Node {
        let (private, public) = genkey();
        Node {
            ns: ns.to_string(),
            underlay: underlay.to_string(),
            tun_ip: tun_ip.to_string(),
            private,
            public,
            port: 51820,
            dir: tempfile::tempdir().unwrap(),
            ifname: lab.unique_ifname("lr"),
            proc: None,
        }
    }

    fn peer_section(&self, with_endpoint: bool) -> String {
        let mut s = format!(
            "[Peer]\nPublicKey = {}\nAllowedIPs = {}/32\n",
            self.public, self.tun_ip
        );
        if with_endpoint {
            s += &format!(
                "Endpoint = {}:{}\nPersistentKeepalive = 25\n",
                self.underlay, self.port
            );
        }
        s
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.conf", self.ifname))
    }

    /// Writes this node's configuration with `peers` (and whether it knows their endpoints).
    fn write_conf(&self, peers: &[(&Node, bool)]) {
        let mut s = format!(
            "[Interface]\nPrivateKey = {}\nAddress = {}/24\nListenPort = {}\n\n",
            self.private, self.tun_ip, self.port
        );
        for (p, ep) in peers {
            s += &p.peer_section(*ep);
            s += "\n";
        }
        std::fs::write(self.conf_path(), s).unwrap();
    }

    fn start_lanrage(&mut self, lab: &mut Lab) {
        self.start_lanrage_with(lab, &[]);
    }

    /// `lanrage wg-up` with extra environment variables.
    fn start_lanrage_with(&mut self, lab: &mut Lab, envs: &[(&str, &str)]) {
        self.proc = Some(self.spawn_wg_up(lab, envs));
        lab.wait_listening(&self.ns, "tcp", 8666, Duration::from_secs(15));
    }

    fn spawn_wg_up(&self, lab: &mut Lab, envs: &[(&str, &str)]) -> ProcId {
        let data = self.dir.path().join("data");
        let conf = self.conf_path();
        lab.spawn(
            &self.ns,
            &format!("lanrage-{}", self.ns),
            &[
                LANRAGE,
                "--data-dir",
                data.to_str().unwrap(),
                "wg-up",
                conf.to_str().unwrap(),
                "--interface",
                &self.ifname,
            ],
            &[&[("RUST_LOG", "info")], envs].concat(),
        )
    }

    /// The kernel's details of the node's TUN (`ip -d link show`).
    fn tun_details(&self, lab: &Lab) -> String {
        lab.run_stdout(&self.ns, &["ip", "-d", "link", "show", &self.ifname])
    }

    /// Packets and bytes the kernel received from the node's TUN so far: a coalesced write
    /// counts as one packet.
    fn tun_received(&self, lab: &Lab) -> (u64, u64) {
        let counter = |name: &str| {
            let path = format!("/sys/class/net/{}/statistics/{name}", self.ifname);
            let text = lab.run_stdout(&self.ns, &["cat", &path]);
            text.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}"))
        };
        (counter("rx_packets"), counter("rx_bytes"))
    }

    /// `lanrage status --json` inside the node's namespace.
    fn status(&self, lab: &Lab) -> serde_json::Value {
        let data = self.dir.path().join("data");
        let out = lab.run(
            &self.ns,
            &[
                LANRAGE,
                "--data-dir",
                data.to_str().unwrap(),
                "status",
                "--json",
            ],
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn peer_stats(&self, lab: &Lab, peer: &Node) -> serde_json::Value {
        let status = self.status(lab);
        status["tunnel"]["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["public_key"] == peer.public.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no peer {} in {status:#}", peer.public))
    }
}

/// Two namespaces on one link: 198.51.100.1 and .2.
fn pair(w: &mut World) -> (Node, Node) {
    w.cable("a", "198.51.100.1", "b", "198.51.100.2");
    let a = Node::new(w, "a", "198.51.100.1", "10.66.0.1");
    let b = Node::new(w, "b", "198.51.100.2", "10.66.0.2");
    (a, b)
}

/// Three namespaces on one bridge: 198.51.100.1, .2 and .3.
fn bridged_three(w: &mut World) {
    for (ns, ip) in [
        ("a", "198.51.100.1"),
        ("b", "198.51.100.2"),
        ("c", "198.51.100.3"),
    ] {
        w.host(ns, ip);
    }
}

fn lanrage_pair(lab: &mut World) -> (Node, Node) {
    let (mut a, mut b) = pair(lab);
    a.write_conf(&[(&b, true)]);
    b.write_conf(&[(&a, true)]);
    a.start_lanrage(lab);
    b.start_lanrage(lab);
    lab.wait_ping("a", "10.66.0.2", Duration::from_secs(10));
    (a, b)
}

/// Three LANrage peers on one bridge, each knowing the other two, all reachable.
fn lanrage_three(lab: &mut World) -> (Node, Node, Node) {
    bridged_three(lab);
    let mut a = Node::new(lab, "a", "198.51.100.1", "10.66.0.1");
    let mut b = Node::new(lab, "b", "198.51.100.2", "10.66.0.2");
    let mut c = Node::new(lab, "c", "198.51.100.3", "10.66.0.3");
    a.write_conf(&[(&b, true), (&c, true)]);
    b.write_conf(&[(&a, true), (&c, true)]);
    c.write_conf(&[(&a, true), (&b, true)]);
    for n in [&mut a, &mut b, &mut c] {
        n.start_lanrage(lab);
    }
    for (from, to) in [("a", "10.66.0.2"), ("a", "10.66.0.3"), ("b", "10.66.0.3")] {
        lab.wait_ping(from, to, Duration::from_secs(10));
    }
    lab.wait_ping("c", "10.66.0.1", Duration::from_secs(5));
    (a, b, c)
}

/// Sends `bytes` of random data from `from` to `to` over TCP through the tunnel and checks it
/// arrives byte-identical.
fn tcp_transfer(lab: &Lab, from: &Node, to: &Node, bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.bin");
    let dst = dir.path().join("out.bin");
    let mut data = vec![0u8; bytes];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    std::fs::write(&src, &data).unwrap();
    let mut server = lab
        .command(
            &to.ns,
            &[
                "socat",
                "-u",
                &format!("TCP4-LISTEN:5001,bind={},reuseaddr", to.tun_ip),
                &format!("CREATE:{}", dst.display()),
            ],
        )
        .spawn()
        .unwrap();
    lab.wait_listening(&to.ns, "tcp", 5001, Duration::from_secs(5));
    let started = Instant::now();
    lab.run(
        &from.ns,
        &[
            "timeout",
            "120",
            "socat",
            "-u",
            &format!("OPEN:{}", src.display()),
            &format!("TCP4:{}:5001", to.tun_ip),
        ],
    );
    let status = server.wait().unwrap();
    assert!(status.success(), "receiver failed: {status:?}");
    let got = std::fs::read(&dst).unwrap();
    assert_eq!(got.len(), data.len(), "transfer length");
    assert!(got == data, "transferred bytes differ");
    eprintln!(
        "{} MB from {} to {} in {:?}",
        bytes / 1_000_000,
        from.ns,
        to.ns,
        started.elapsed()
    );
}

#[test]
fn two_lanrage_peers_ping_transfer_and_measure() {
    if !lab_ready(&["socat", "wg"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("pair");
    let (a, b) = lanrage_pair(&mut lab);
    lab.wait_ping("b", "10.66.0.1", Duration::from_secs(5));
    tcp_transfer(&lab, &a, &b, 50_000_000);

    // The in-tunnel probe measures each peer about once a second.
    support::wait_for(Duration::from_secs(10), "probe answers", || {
        a.peer_stats(&lab, &b)["probe"]["answered"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    });
    let p = a.peer_stats(&lab, &b);
    let rtt = p["probe"]["rtt_ms"].as_f64().unwrap();
    assert!(rtt > 0.0 && rtt < 100.0, "rtt {rtt}");
    assert!(p["probe"]["jitter_ms"].as_f64().is_some());
    assert_eq!(p["probe"]["loss"].as_f64(), Some(0.0));
    assert!(p["tx_bytes"].as_u64().unwrap() > 50_000_000, "{p:#}");
    assert!(p["last_handshake_secs"].as_f64().is_some());
    assert_eq!(p["endpoint"], "198.51.100.2:51820");

    // The same measurements in Prometheus form, from `lanrage metrics`.
    let data = a.dir.path().join("data");
    // Metrics are sampled once a second, so a scrape can be up to a second behind the status.
    let scrape = || {
        lab.run_stdout(
            "a",
            &[LANRAGE, "--data-dir", data.to_str().unwrap(), "metrics"],
        )
    };
    let rtt_line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("lanrage_peer_rtt_seconds{") && l.contains(&b.public))
            .map(str::to_owned)
    };
    let mut text = String::new();
    support::wait_for(Duration::from_secs(5), "an rtt metric for b", || {
        text = scrape();
        rtt_line(&text).is_some()
    });
    let line = rtt_line(&text).unwrap_or_else(|| panic!("no rtt metric for b in:\n{text}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value > 0.0 && value < 1.0, "{line}");
    assert!(text.contains("lanrage_peer_quality_score{"), "{text}");

    // SIGTERM tears the tunnel down: the process exits cleanly and the device is gone.
    let status = lab.stop(a.proc.unwrap());
    assert!(status.success(), "wg-up exit: {status:?}");
    let links = lab.run_stdout("a", &["ip", "-o", "link"]);
    assert!(!links.contains(&a.ifname), "TUN left behind: {links}");
    let routes = lab.run_stdout("a", &["ip", "route"]);
    assert!(
        !routes.contains("255.255.255.255"),
        "route left behind: {routes}"
    );
}

/// WireGuard datagrams that arrived in `ns` so far with DSCP EF and unmarked, counted by the
/// nftables table `mark_counters` loads.
fn arrived_by_mark(lab: &Lab, ns: &str) -> (u64, u64) {
    let count = |name: &str| -> u64 {
        let text = lab.run_stdout(ns, &["nft", "list", "counter", "inet", "marks", name]);
        text.split("packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {text}"))
    };
    (count("ef"), count("unmarked"))
}

fn mark_counters(lab: &Lab, ns: &str) {
    lab.nft(
        ns,
        r#"table inet marks {
    counter ef { }
    counter unmarked { }
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 51820 ip dscp ef counter name "ef"
        udp dport 51820 ip dscp cs0 counter name "unmarked"
    }
}
"#,
    );
}

/// A game or voice chat that marks its packets EF (as `ping -Q` does, with IP_TOS on its
/// socket) keeps that mark on the encrypted datagrams, both ways, so a home router or Wi-Fi
/// access point that honours DSCP still puts it ahead of a download; unmarked traffic stays
/// unmarked.
#[test]
fn a_games_dscp_mark_rides_on_the_encrypted_datagrams_both_ways() {
    if !lab_ready(&["socat", "wg", "nft"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("dscp");
    let (_a, _b) = lanrage_pair(&mut lab);
    mark_counters(&lab, "a");
    mark_counters(&lab, "b");

    let ping = |tos: Option<&str>| {
        let mut args = vec!["ping", "-c", "20", "-i", "0.05", "-W", "2"];
        if let Some(t) = tos {
            args.extend(["-Q", t]);
        }
        args.push("10.66.0.2");
        let out = lab.run_stdout("a", &args);
        assert!(out.contains(" 0% packet loss"), "{out}");
    };
    ping(Some("0xb8"));
    let (ef_b, _) = arrived_by_mark(&lab, "b");
    let (ef_a, _) = arrived_by_mark(&lab, "a");
    assert!(
        ef_b >= 20,
        "a's marked requests reached b marked {ef_b} times"
    );
    // The kernel answers an echo request with its type of service: b's engine marks the reply.
    assert!(
        ef_a >= 20,
        "b's marked replies reached a marked {ef_a} times"
    );

    let (_, plain_b) = arrived_by_mark(&lab, "b");
    ping(None);
    let (ef_b_after, plain_b_after) = arrived_by_mark(&lab, "b");
    assert_eq!(ef_b_after, ef_b, "unmarked pings arrived marked");
    assert!(
        plain_b_after >= plain_b + 20,
        "unmarked pings: {plain_b} then {plain_b_after} unmarked datagrams"
    );
}

/// Median of `ping -c COUNT -i 0.01` round trips from `ns` to `dst`, in ms.
fn ping_p50(lab: &Lab, ns: &str, dst: &str, count: u32) -> f64 {
    let out = lab.run_stdout(
        ns,
        &["ping", "-n", "-i", "0.01", "-c", &count.to_string(), dst],
    );
    let mut rtts: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        rtts.len() as u32 >= count * 9 / 10,
        "more than a tenth of the pings lost: {out}"
    );
    rtts.sort_by(f64::total_cmp);
    rtts[rtts.len() / 2]
}

/// The fast lane: while C's download to B saturates the tunnel (CPU-bound on these machines,
/// so the queue is the tunnel's own), A's ping to B, like a game's packets, goes ahead of it.
/// Without the lane the ping waits in the same queues as the download's segments and sees
/// about their round trip (measured, debug build: 0.67 and 0.68 of it; release: 0.68); with
/// it, 0.23 to 0.34 (release: 0.18). The assertion compares the two in the same run, never an
/// absolute time.
#[test]
fn a_download_from_one_member_does_not_hold_up_another_members_ping() {
    if !lab_ready(&["socat", "wg", "iperf3"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("lane");
    let (_a, b, _c) = lanrage_three(&mut lab);

    let rejected_before = b.status(&lab)["tunnel"]["rx_rejected"].as_u64().unwrap();
    // Two tries: a loaded two-core machine can stall any one run; a broken lane fails both.
    let mut runs = Vec::new();
    for attempt in 0..2 {
        let idle = ping_p50(&lab, "a", "10.66.0.2", 200);
        let server = format!("iperf3-s{attempt}");
        lab.spawn("b", &server, &["iperf3", "-s", "-1", "-p", "5201"], &[]);
        lab.wait_listening("b", "tcp", 5201, Duration::from_secs(5));
        let client = format!("iperf3-c{attempt}");
        let download = lab.spawn(
            "c",
            &client,
            &["iperf3", "-c", "10.66.0.2", "-p", "5201", "-t", "6", "-J"],
            &[],
        );
        // Past TCP's slow start: the queue stands.
        std::thread::sleep(Duration::from_millis(1500));
        let loaded = ping_p50(&lab, "a", "10.66.0.2", 300);
        let status = lab.wait_exit(download, Duration::from_secs(30));
        let log = lab.log(download);
        assert!(status.success(), "iperf3: {log}");
        let json = &log[log.find('{').unwrap_or(0)..];
        let report: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("iperf3's report: {e}: {log}"));
        let download_rtt = report["end"]["streams"][0]["sender"]["mean_rtt"]
            .as_f64()
            .unwrap_or(0.0)
            / 1000.0;
        let mbits = report["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            / 1e6;
        eprintln!(
            "ping p50 idle {idle:.2} ms, beside the download {loaded:.2} ms; \
             the download: {mbits:.0} Mbit/s, its own mean round trip {download_rtt:.2} ms"
        );
        assert!(
            mbits > 0.0 && download_rtt > 0.0,
            "no download measured: {report}"
        );
        runs.push((loaded, idle, download_rtt));
        if loaded < 0.5 * download_rtt {
            break;
        }
    }
    assert!(
        runs.iter().any(|&(loaded, _, rtt)| loaded < 0.5 * rtt),
        "the ping waited with the download (p50 beside it, idle, the download's own round \
         trip, ms): {runs:?}"
    );
    // Nothing was taken out of order: B refused none of C's datagrams as replays (the lanes
    // keep each member's datagrams in order; WireGuard's window is 1,024 counters).
    let rejected = b.status(&lab)["tunnel"]["rx_rejected"].as_u64().unwrap();
    assert_eq!(rejected, rejected_before, "B refused datagrams as replays");
}

#[test]
fn three_peer_mesh_survives_removing_one_at_run_time() {
    if !lab_ready(&["wg"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("mesh");
    let (a, b, _c) = lanrage_three(&mut lab);

    // While a pings b steadily, remove c from a's configuration and reload it.
    let pinger = lab
        .command("a", &["ping", "-n", "-i", "0.02", "-c", "150", "10.66.0.2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    a.write_conf(&[(&b, true)]);
    let pid = lab.pid(a.proc.unwrap()).to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    let out = pinger.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("150 received"),
        "a -> b lost packets while c was removed: {text}"
    );
    support::wait_for(Duration::from_secs(5), "c removed from a", || {
        a.status(&lab)["tunnel"]["peers"].as_array().unwrap().len() == 1
    });
    assert!(
        !lab.pings("a", "10.66.0.3"),
        "a still reaches the removed peer"
    );
    assert!(lab.pings("a", "10.66.0.2"));
    assert!(lab.pings("b", "10.66.0.3"), "b and c are untouched");
}

/// Which real WireGuard implementation to interoperate with.
#[derive(Clone, Copy, Debug)]
enum Other {
    /// Debian's (a 2022 release).
    WireguardGo,
    /// A current build with the batching and offload data path, given by path in
    /// `WIREGUARD_GO_CURRENT` (built by hand: the project ships none; see `scripts/bench-tunnel`).
    WireguardGoCurrent,
    BoringtunCli,
}

/// The current wireguard-go `WIREGUARD_GO_CURRENT` names, if any.
fn current_wireguard_go() -> Option<String> {
    std::env::var("WIREGUARD_GO_CURRENT")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Brings up `other` in `node`'s namespace as a kernel-style WireGuard interface configured
/// with `wg`, peered with `peer` (knowing its endpoint or not).
fn start_other(lab: &mut Lab, kind: Other, node: &mut Node, peer: &Node, with_endpoint: bool) {
    let conf = node.dir.path().join("wg.conf");
    let mut s = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {}\n\n[Peer]\nPublicKey = {}\nAllowedIPs = {}/32\n",
        node.private, node.port, peer.public, peer.tun_ip
    );
    if with_endpoint {
        s += &format!("Endpoint = {}:{}\n", peer.underlay, peer.port);
    }
    std::fs::write(&conf, s).unwrap();
    let ifname = node.ifname.clone();
    let id = match kind {
        Other::WireguardGo => lab.spawn(
            &node.ns,
            "wireguard-go",
            &["wireguard-go", "-f", &ifname],
            &[("LOG_LEVEL", "error")],
        ),
        Other::WireguardGoCurrent => {
            let bin = current_wireguard_go().unwrap();
            lab.spawn(
                &node.ns,
                "wireguard-go-current",
                &[&bin, "-f", &ifname],
                &[("LOG_LEVEL", "error")],
            )
        }
        Other::BoringtunCli => {
            let bin = support::find_on_path("boringtun-cli").unwrap();
            lab.spawn(
                &node.ns,
                "boringtun-cli",
                &[
                    bin.to_str().unwrap(),
                    "--foreground",
                    "--disable-drop-privileges",
                    &ifname,
                ],
                &[("WG_SUDO", "1")],
            )
        }
    };
    node.proc = Some(id);
    let sock = format!("/var/run/wireguard/{ifname}.sock");
    support::wait_for(Duration::from_secs(10), &sock, || {
        std::path::Path::new(&sock).exists()
    });
    lab.run(
        &node.ns,
        &["wg", "setconf", &ifname, conf.to_str().unwrap()],
    );
    lab.run(
        &node.ns,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/24", node.tun_ip),
            "dev",
            &ifname,
        ],
    );
    lab.run(
        &node.ns,
        &["ip", "link", "set", &ifname, "mtu", "1420", "up"],
    );
}

fn interop(kind: Other, lanrage_initiates: bool) {
    // What the lab needs besides `wg` and `socat`: the other implementation, if on the path.
    let tool: &[&str] = match kind {
        Other::WireguardGo => &["wireguard-go"],
        Other::WireguardGoCurrent => {
            let Some(bin) = current_wireguard_go() else {
                eprintln!(
                    "skipped: no WIREGUARD_GO_CURRENT=/path/to/wireguard-go given (a current \
                     build, made by hand; Debian's is tested by the other interop tests)"
                );
                return;
            };
            assert!(
                std::path::Path::new(&bin).is_file(),
                "WIREGUARD_GO_CURRENT={bin} is not a file (give an absolute path)"
            );
            &[]
        }
        Other::BoringtunCli => &["boringtun-cli"],
    };
    if !lab_ready(&[&["wg", "socat"], tool].concat()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("interop");
    let (mut a, mut b) = pair(&mut lab);
    // The side that knows the other's endpoint is the one that can start the handshake.
    start_other(&mut lab, kind, &mut b, &a, !lanrage_initiates);
    a.write_conf(&[(&b, lanrage_initiates)]);
    a.start_lanrage(&mut lab);
    let (first, target) = if lanrage_initiates {
        ("a", "10.66.0.2")
    } else {
        ("b", "10.66.0.1")
    };
    // wireguard-go's first initiation may go out before LANrage listens; it retries every 5 s
    // (REKEY_TIMEOUT), so allow a few retries.
    lab.wait_ping(first, target, Duration::from_secs(20));
    lab.wait_ping("a", "10.66.0.2", Duration::from_secs(5));
    lab.wait_ping("b", "10.66.0.1", Duration::from_secs(5));
    tcp_transfer(&lab, &a, &b, 5_000_000);
    tcp_transfer(&lab, &b, &a, 5_000_000);
}

#[test]
fn interop_wireguard_go_lanrage_initiates() {
    interop(Other::WireguardGo, true);
}

#[test]
fn interop_wireguard_go_initiates() {
    interop(Other::WireguardGo, false);
}

#[test]
fn interop_current_wireguard_go_lanrage_initiates() {
    interop(Other::WireguardGoCurrent, true);
}

#[test]
fn interop_current_wireguard_go_initiates() {
    interop(Other::WireguardGoCurrent, false);
}

#[test]
fn interop_boringtun_cli_lanrage_initiates() {
    interop(Other::BoringtunCli, true);
}

#[test]
fn interop_boringtun_cli_initiates() {
    interop(Other::BoringtunCli, false);
}

#[test]
fn killed_peer_resumes_within_two_seconds_of_restart() {
    if !lab_ready(&["wg"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("restart");
    let (a, mut b) = lanrage_pair(&mut lab);
    lab.wait_ping("b", "10.66.0.1", Duration::from_secs(5));
    lab.kill(b.proc.unwrap());
    std::thread::sleep(Duration::from_secs(1));
    assert!(!lab.pings("a", "10.66.0.2"), "b is down");
    let restarted = Instant::now();
    b.start_lanrage(&mut lab);
    // a still holds the old session; b's forced handshake on start must fix that at once.
    loop {
        if lab.pings("a", "10.66.0.2") {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "traffic did not resume within 2 s of the restart"
        );
    }
    eprintln!(
        "traffic resumed {:?} after the restart",
        restarted.elapsed()
    );
    drop(a);
}

/// Python in the attacker's namespace: garbage, truncated handshakes, and a captured datagram
/// replayed, all at `target`.
const ATTACK: &str = r#"
import os, socket, sys, time
target = (sys.argv[1], int(sys.argv[2]))
replay = bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else b""
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    s.sendto(os.urandom(i % 1600), target)
    s.sendto(bytes([1, 0, 0, 0]) + os.urandom(i % 148), target)  # truncated handshake init
    s.sendto(bytes([4, 0, 0, 0]) + os.urandom(40), target)        # data for unknown index
    if replay:
        s.sendto(replay, target)
    if i % 100 == 0:
        time.sleep(0.01)
"#;

/// Captures one WireGuard data datagram (type 4) arriving at `port`, printed as hex.
const CAPTURE: &str = r#"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.settimeout(10)
while True:
    pkt = s.recv(65535)
    ihl = (pkt[0] & 15) * 4
    if pkt[9] != 17: continue
    udp = pkt[ihl:]
    if int.from_bytes(udp[2:4], "big") != port: continue
    payload = udp[8:]
    if len(payload) > 32 and payload[0] == 4:
        print(payload.hex()); break
"#;

#[test]
fn hostile_datagrams_and_spoofed_sources_do_not_disturb_the_tunnel() {
    if !lab_ready(&["wg", "wireguard-go", "python3"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("hostile");
    bridged_three(&mut lab);
    let mut a = Node::new(&mut lab, "a", "198.51.100.1", "10.66.0.1");
    let mut b = Node::new(&mut lab, "b", "198.51.100.2", "10.66.0.2");
    // c is a real WireGuard peer (wireguard-go) that a knows, owning only 10.66.0.3.
    let mut c = Node::new(&mut lab, "c", "198.51.100.3", "10.66.0.3");
    a.write_conf(&[(&b, true), (&c, false)]);
    b.write_conf(&[(&a, true)]);
    a.start_lanrage(&mut lab);
    b.start_lanrage(&mut lab);
    start_other(&mut lab, Other::WireguardGo, &mut c, &a, true);
    lab.wait_ping("a", "10.66.0.2", Duration::from_secs(10));
    lab.wait_ping("c", "10.66.0.1", Duration::from_secs(10));

    // Capture a real datagram from b to a, to replay it from the attacker.
    let cap = lab
        .command("a", &["python3", "-c", CAPTURE, "51820"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    lab.run("b", &["ping", "-n", "-c", "2", "10.66.0.1"]);
    let captured = String::from_utf8(cap.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        captured.trim().len() > 64,
        "captured a datagram: {captured}"
    );

    // A steady ping a -> b runs through the whole attack.
    let pinger = lab
        .command("a", &["ping", "-n", "-i", "0.02", "-c", "200", "10.66.0.2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Attacker 1: garbage, truncated handshakes, unknown indexes, replays, from c's address.
    lab.run(
        "c",
        &[
            "python3",
            "-c",
            ATTACK,
            "198.51.100.1",
            "51820",
            captured.trim(),
        ],
    );
    // Attacker 2: a genuine WireGuard handshake from a key a does not know.
    let mut stranger = Node::new(&mut lab, "c", "198.51.100.3", "10.66.0.9");
    stranger.port = 51999;
    start_other(&mut lab, Other::WireguardGo, &mut stranger, &a, true);
    let _ = lab.try_run(
        "c",
        &[
            "ping",
            "-n",
            "-c",
            "2",
            "-W",
            "1",
            "-I",
            &stranger.ifname,
            "10.66.0.1",
        ],
    );
    let out = pinger.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let received: u32 = text
        .split(", ")
        .find_map(|p| p.strip_suffix(" received").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    assert!(received >= 198, "tunnel disturbed by the attack: {text}");

    let status = a.status(&lab);
    let t = &status["tunnel"];
    assert!(t["rx_invalid"].as_u64().unwrap() > 1000, "{t:#}");
    assert!(t["rx_unknown_peer"].as_u64().unwrap() > 0, "{t:#}");
    assert!(
        t["rx_rejected"].as_u64().unwrap() > 0,
        "replays refused: {t:#}"
    );
    // The replays came from c's address: b's endpoint must not have moved there.
    assert_eq!(a.peer_stats(&lab, &b)["endpoint"], "198.51.100.2:51820");

    // c may only send from 10.66.0.3: a packet from 10.66.0.99 through c's tunnel is dropped.
    lab.run(
        "c",
        &["ip", "addr", "add", "10.66.0.99/32", "dev", &c.ifname],
    );
    let spoofed = lab.try_run(
        "c",
        &[
            "ping",
            "-n",
            "-c",
            "2",
            "-W",
            "1",
            "-I",
            "10.66.0.99",
            "10.66.0.1",
        ],
    );
    assert!(!spoofed.status.success(), "a answered a spoofed source");
    assert!(a.peer_stats(&lab, &c)["dropped_spoofed"].as_u64().unwrap() >= 1);
    assert!(lab.pings("c", "10.66.0.1"), "c's real address still works");
    assert!(lab.pings("a", "10.66.0.2"), "a <-> b still works");
}

#[test]
fn broadcast_and_multicast_reach_the_other_peer_once() {
    if !lab_ready(&["wg", "socat"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("bcast");
    let (a, b) = lanrage_pair(&mut lab);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, String, String); 3] = [
        (
            "limited broadcast",
            "UDP4-RECV:4445,reuseaddr".to_string(),
            "UDP4-DATAGRAM:255.255.255.255:4445,broadcast".to_string(),
        ),
        (
            "subnet broadcast",
            "UDP4-RECV:4446,reuseaddr".to_string(),
            "UDP4-DATAGRAM:10.66.0.255:4446,broadcast".to_string(),
        ),
        // As Minecraft sends its LAN-world announcement: no interface chosen on either side
        // (the listener joins on 0.0.0.0, the sender sets no multicast interface); the routes
        // the tunnel adds for the catalogue's groups carry both into it.
        (
            "multicast 224.0.2.60 (Minecraft LAN)",
            "UDP4-RECV:4447,reuseaddr,ip-add-membership=224.0.2.60:0.0.0.0".to_string(),
            "UDP4-DATAGRAM:224.0.2.60:4447".to_string(),
        ),
    ];
    for (i, (name, recv, send)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("got{i}"));
        let mut rx = lab
            .command(
                &b.ns,
                &[
                    "socat",
                    "-u",
                    recv,
                    &format!("OPEN:{},creat,append", file.display()),
                ],
            )
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let msg = format!("LANRAGE-DISCOVERY-{i}\n");
        let mut tx = lab
            .command(&a.ns, &["socat", "-u", "STDIN", send])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            tx.stdin.take().unwrap().write_all(msg.as_bytes()).unwrap();
        }
        let _ = tx.wait();
        std::thread::sleep(Duration::from_millis(500));
        let _ = rx.kill();
        let _ = rx.wait();
        let got = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            got.matches("LANRAGE-DISCOVERY").count(),
            1,
            "{name}: expected exactly one copy on the other peer, got {got:?}"
        );
    }
}

/// Captures the WireGuard handshake messages (init, type 1; response, type 2) that `src`
/// sends from `port` for a few seconds and prints the last one as hex: the one whose mac1 the
/// sender remembers for a cookie reply.
const CAPTURE_HANDSHAKE: &str = r#"
import socket, sys, time
src, port = sys.argv[1], int(sys.argv[2])
# ETH_P_ALL: only taps for every protocol see what this machine sends.
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
s.settimeout(0.5)
last, end = "", time.time() + float(sys.argv[3])
while time.time() < end:
    try:
        pkt, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[1] != 0x0800: continue
    ihl = (pkt[0] & 15) * 4
    if pkt[9] != 17 or socket.inet_ntoa(pkt[12:16]) != src: continue
    udp = pkt[ihl:]
    if int.from_bytes(udp[0:2], "big") != port: continue
    payload = udp[8:]
    if (payload[0] == 1 and len(payload) == 148) or (payload[0] == 2 and len(payload) == 92):
        last = payload.hex()
print(last)
"#;

/// Sends a hex datagram to `target`, then counts the datagrams that come back to this socket
/// within a second.
const SEND_AND_COUNT: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes.fromhex(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
s.settimeout(0.1)
got, end = 0, time.time() + 1
while time.time() < end:
    try:
        s.recv(2048)
        got += 1
    except socket.timeout:
        pass
print(got)
"#;

/// A cookie reply is authenticated only by a key derived from the peer's public key and the
/// mac1 of our last handshake, both visible to anyone on the path: such an observer can forge
/// one (as this test does). It must not move the peer's endpoint to the forger's address.
#[test]
fn a_forged_cookie_reply_does_not_move_a_peer() {
    use base64::Engine as _;
    use blake2::Digest as _;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};

    if !lab_ready(&["wg", "python3"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("cookie");
    bridged_three(&mut lab);
    let mut a = Node::new(&mut lab, "a", "198.51.100.1", "10.66.0.1");
    let mut b = Node::new(&mut lab, "b", "198.51.100.2", "10.66.0.2");
    a.write_conf(&[(&b, true)]);
    b.write_conf(&[(&a, true)]);
    let capture = lab
        .command(
            "a",
            &[
                "python3",
                "-c",
                CAPTURE_HANDSHAKE,
                "198.51.100.1",
                "51820",
                "6",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    a.start_lanrage(&mut lab);
    b.start_lanrage(&mut lab);
    lab.wait_ping("a", "10.66.0.2", Duration::from_secs(10));
    let hs = String::from_utf8(capture.wait_with_output().unwrap().stdout).unwrap();
    let hs = hex_decode(hs.trim());
    assert!(
        hs.len() == 148 || hs.len() == 92,
        "captured a's handshake: {hs:?}"
    );
    let mac1_at = hs.len() - 32;
    let (sender_idx, mac1) = (&hs[4..8], &hs[mac1_at..mac1_at + 16]);

    // msg.encrypted_cookie = XAEAD(HASH("cookie--" || responder.static_public), nonce, cookie, mac1)
    let b_public = base64::engine::general_purpose::STANDARD
        .decode(&b.public)
        .unwrap();
    let key = blake2::Blake2s256::new()
        .chain_update(b"cookie--")
        .chain_update(&b_public)
        .finalize();
    let nonce = [7u8; 24];
    let sealed = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key)
        .unwrap()
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &[0x42; 16],
                aad: mac1,
            },
        )
        .unwrap();
    let mut forged = vec![3u8, 0, 0, 0];
    forged.extend_from_slice(sender_idx);
    forged.extend_from_slice(&nonce);
    forged.extend_from_slice(&sealed);
    assert_eq!(forged.len(), 64);
    let forged: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    // While a pings b every 10 ms, a's traffic for b must not come to the forger.
    let pinger = lab
        .command(
            "a",
            &["ping", "-n", "-q", "-i", "0.01", "-c", "150", "10.66.0.2"],
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stolen = lab.run_stdout(
        "c",
        &[
            "python3",
            "-c",
            SEND_AND_COUNT,
            "198.51.100.1",
            "51820",
            &forged,
        ],
    );
    pinger.wait_with_output().unwrap();
    assert_eq!(
        stolen.trim(),
        "0",
        "datagrams for b went to the forger of a cookie reply"
    );
    assert_eq!(a.peer_stats(&lab, &b)["endpoint"], "198.51.100.2:51820");
    assert!(lab.pings("a", "10.66.0.2"), "a <-> b still works");
}

/// A stranger who knows our public key can make handshakes that pass the mac1 check, each
/// costing us a Diffie-Hellman. Past the limit per second, strangers get cookie replies instead.
const HANDSHAKE_FLOOD: &str = r#"
import base64, hashlib, os, socket, sys, time
target = (sys.argv[1], int(sys.argv[2]))
pub, count, secs = base64.b64decode(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
key = hashlib.blake2s(b"mac1----" + pub).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
cookies, start = 0, time.time()
for i in range(count):
    msg = bytes([1, 0, 0, 0]) + os.urandom(112)
    s.sendto(msg + hashlib.blake2s(msg, key=key, digest_size=16).digest() + bytes(16), target)
    while True:
        try:
            reply = s.recv(2048)
        except BlockingIOError:
            break
        cookies += reply[0] == 3 and len(reply) == 64
    time.sleep(max(0, start + secs * (i + 1) / count - time.time()))
end = time.time() + 0.5
while time.time() < end:
    try:
        reply = s.recv(2048)
        cookies += reply[0] == 3 and len(reply) == 64
    except BlockingIOError:
        time.sleep(0.01)
print(cookies)
"#;

#[test]
fn a_handshake_flood_is_limited_to_a_hundred_a_second() {
    if !lab_ready(&["wg", "python3"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("hsflood");
    bridged_three(&mut lab);
    let a = {
        let (mut a, b) = (
            Node::new(&mut lab, "a", "198.51.100.1", "10.66.0.1"),
            Node::new(&mut lab, "b", "198.51.100.2", "10.66.0.2"),
        );
        a.write_conf(&[(&b, true)]);
        a.start_lanrage(&mut lab);
        a
    };
    // 800 handshakes over two seconds: with a limit of 100 a second, 200 to 300 pass
    // (depending on where the one-second windows fall) and the rest get a cookie; a limiter
    // reset four times a second would let nearly all of them through.
    let out = lab.run_stdout(
        "c",
        &[
            "python3",
            "-c",
            HANDSHAKE_FLOOD,
            "198.51.100.1",
            "51820",
            &a.public,
            "800",
            "2",
        ],
    );
    let cookies: u32 = out.trim().parse().unwrap();
    eprintln!("{cookies} of 800 handshakes answered with a cookie");
    assert!(
        (400..=800).contains(&cookies),
        "{cookies} cookie replies to 800 handshakes in 2 s"
    );
}

/// A game server's socket on B (bound to no address, the game's port): takes `count`
/// datagrams or stops after 3 s without one, then prints how many arrived, how many were
/// whole (each carries its number and a pattern made from it) and whether they came in order.
const GAME_RECEIVER: &str = r#"
import socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.settimeout(3)
got, whole, last, ordered = 0, 0, -1, True
while got < count:
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        break
    got += 1
    seq = struct.unpack("!I", data[:4])[0]
    if len(data) == 1200 and data[4:] == bytes((seq + k) % 251 for k in range(1196)):
        whole += 1
    ordered = ordered and seq > last
    last = seq
print(got, whole, int(ordered))
"#;

/// A game's server sending a tick's worth of snapshots at once: `bursts` bursts of `size`
/// datagrams of 1,200 bytes to one client, from an unbound socket, 5 ms apart.
const GAME_SENDER: &str = r#"
import socket, struct, sys, time
dst, port, bursts, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
seq = 0
for _ in range(bursts):
    for _ in range(size):
        s.sendto(struct.pack("!I", seq) + bytes((seq + k) % 251 for k in range(1196)), (dst, port))
        seq += 1
    time.sleep(0.005)
"#;

#[test]
fn bursts_of_game_datagrams_arrive_whole_and_in_order() {
    if !lab_ready(&["wg", "python3"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("burst");
    let (_a, b) = lanrage_pair(&mut lab);
    let (bursts, size) = (20, 24);
    let total = bursts * size;
    let receiver = lab
        .command(
            "b",
            &["python3", "-c", GAME_RECEIVER, "27960", &total.to_string()],
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    lab.wait_listening("b", "udp", 27960, Duration::from_secs(5));
    let before = b.tun_received(&lab);
    lab.run(
        "a",
        &[
            "python3",
            "-c",
            GAME_SENDER,
            "10.66.0.2",
            "27960",
            &bursts.to_string(),
            &size.to_string(),
        ],
    );
    let out = receiver.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<usize> = report
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let (got, whole, ordered) = (fields[0], fields[1], fields[2] == 1);
    let (packets, _) = b.tun_received(&lab);
    let writes = packets - before.0;
    eprintln!("{got} of {total} datagrams, {whole} whole, in {writes} TUN writes");
    // Equal-sized datagrams of one flow read in one batch may reach B's kernel as one UDP
    // segmentation super-packet (where the TUN offers it); the game must still get each one.
    assert_eq!(got, total, "datagrams lost: {report}");
    assert_eq!(whole, total, "datagrams damaged: {report}");
    assert!(ordered, "datagrams reordered: {report}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2 * 2)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_tunnel_without_kernel_offload_talks_to_one_with_it() {
    if !lab_ready(&["socat", "wg"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("nooff");
    let (mut a, mut b) = pair(&mut lab);
    a.write_conf(&[(&b, true)]);
    b.write_conf(&[(&a, true)]);
    // A as on a kernel or driver without TUN offload and UDP GSO/GRO; B with them.
    a.start_lanrage_with(&mut lab, &[("LANRAGE_OFFLOAD", "off")]);
    b.start_lanrage(&mut lab);
    assert!(
        a.tun_details(&lab).contains("vnet_hdr off"),
        "A's TUN still has offload: {}",
        a.tun_details(&lab)
    );
    assert!(
        b.tun_details(&lab).contains("vnet_hdr on"),
        "B's TUN has no offload: {}",
        b.tun_details(&lab)
    );
    // And its socket sends and receives one datagram at a time (no GSO, no GRO), as the
    // tunnel's start says in its log.
    for n in [&a, &b] {
        support::wait_for(Duration::from_secs(5), "the tunnel-up line", || {
            lab.log(n.proc.unwrap()).contains("tunnel up")
        });
    }
    let (log_a, log_b) = (lab.log(a.proc.unwrap()), lab.log(b.proc.unwrap()));
    let said = |log: &str, field: &str| log.split_whitespace().any(|w| w == field);
    assert!(said(&log_a, "udp_gso_segments=1"), "{log_a}");
    assert!(said(&log_a, "udp_gro_segments=1"), "{log_a}");
    assert!(!said(&log_b, "udp_gso_segments=1"), "{log_b}");
    lab.wait_ping("a", "10.66.0.2", Duration::from_secs(10));
    lab.wait_ping("b", "10.66.0.1", Duration::from_secs(5));
    // Bulk both ways: B's coalesced super-packets and GSO sends meet A's one-by-one path.
    // What reaches each kernel: B coalesces a download into super-packets before its TUN
    // write (a download costs its kernel one pass per 64 KB, not per 1,400 bytes), A
    // without offload writes each packet on its own.
    let average = |n: &Node, before: (u64, u64)| {
        let (packets, bytes) = n.tun_received(&lab);
        (bytes - before.1) / (packets - before.0).max(1)
    };
    let before = b.tun_received(&lab);
    tcp_transfer(&lab, &a, &b, 20_000_000);
    let coalesced = average(&b, before);
    eprintln!("B wrote the download to its TUN {coalesced} bytes at a time");
    assert!(
        coalesced > 3 * 1_420,
        "B wrote the download to its TUN {coalesced} bytes at a time: not coalesced"
    );
    let before = a.tun_received(&lab);
    tcp_transfer(&lab, &b, &a, 20_000_000);
    let single = average(&a, before);
    assert!(
        single <= 1_420,
        "A without offload wrote {single} bytes at a time, more than its MTU"
    );
    for n in [&a, &b] {
        assert_eq!(n.status(&lab)["tunnel"]["rx_rejected"].as_u64(), Some(0));
    }
}

#[test]
fn a_udp_port_in_use_is_a_clear_error_and_leaves_no_device() {
    if !lab_ready(&["socat", "wg"]) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = World::new("inuse");
    let (a, b) = pair(&mut lab);
    a.write_conf(&[(&b, true)]);
    lab.spawn(
        "a",
        "holder",
        &["socat", "-u", "UDP4-RECV:51820", "STDOUT"],
        &[],
    );
    lab.wait_listening("a", "udp", 51820, Duration::from_secs(5));
    let up = a.spawn_wg_up(&mut lab, &[]);
    let status = lab.wait_exit(up, Duration::from_secs(15));
    let log = lab.log(up);
    assert!(!status.success(), "wg-up ran on a port in use: {log}");
    assert!(log.contains("cannot use UDP port 51820"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let links = lab.run_stdout("a", &["ip", "-o", "link"]);
    assert!(!links.contains(&a.ifname), "the TUN stayed: {links}");
}
