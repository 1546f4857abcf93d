//! Tests of the network-lab harness itself (tests/support/lab.rs): topologies work, NAT behaves
//! like the routers it stands for, and everything is cleaned up, also when a test panics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::io::Write;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use support::lab::{netns_list, pid_alive, Lab, Nat, ProcId};
use support::world::{Home, HomeSpec, Wire, World};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn root() -> bool {
    support::require(
        support::is_root(),
        "network labs need root (ip netns, veth, nftables)",
    )
}

fn assert_gone(namespaces: &[String], pids: &[u32]) {
    let left = netns_list();
    for ns in namespaces {
        assert!(!left.contains(ns), "namespace {ns} still exists: {left:?}");
    }
    for pid in pids {
        assert!(!pid_alive(*pid), "process {pid} still exists");
    }
}

#[test]
fn veth_pair_pings_and_everything_goes_at_drop() {
    if !root() {
        return;
    }
    let mut lab = Lab::new("veth");
    let a = lab.ns("a");
    let b = lab.ns("b");
    assert!(a.starts_with(&lab.prefix) && b.ends_with("-b"), "{a} {b}");
    assert!(netns_list().contains(&a) && netns_list().contains(&b));
    let (ia, ib) = lab.link("a", "198.51.100.1/24", "b", "198.51.100.2/24");
    assert!(ia.len() <= 15 && ib.len() <= 15 && ia != ib, "{ia} {ib}");
    lab.wait_ping("a", "198.51.100.2", secs(5));
    lab.wait_ping("b", "198.51.100.1", secs(5));
    // Not a fluke of routing: an address nobody has gets no reply.
    assert!(!lab.pings("a", "198.51.100.3"));
    // The pair lives only in the lab's namespaces.
    let root_links = std::process::Command::new("ip")
        .args(["-br", "link"])
        .output()
        .unwrap();
    let root_links = String::from_utf8_lossy(&root_links.stdout);
    assert!(
        !root_links.contains(&ia) && !root_links.contains(&ib),
        "{root_links}"
    );

    // Processes: stop (SIGTERM) returns the exit status, logs are per run, kill is a crash.
    // (The log starts with the command line: wait for text that only the running script makes.)
    let script =
        "trap 'echo terminated; exit 3' TERM; echo up$((40 + 2)); while :; do sleep 0.05; done";
    let p = lab.spawn("a", "trapper", &["sh", "-c", script], &[("LAB_TEST", "1")]);
    lab.wait_log(p, "up42", secs(5));
    let status = lab.stop(p);
    assert_eq!(status.code(), Some(3), "log: {}", lab.log(p));
    assert!(lab.log(p).contains("terminated"));
    let e = lab.spawn(
        "b",
        "env",
        &["sh", "-c", "echo value=$LAB_TEST; ip -br addr"],
        &[("LAB_TEST", "42")],
    );
    assert!(lab.wait_exit(e, secs(5)).success());
    let log = lab.log(e);
    assert!(
        log.contains("value=42") && log.contains("198.51.100.2/24"),
        "{log}"
    );
    let k = lab.spawn("b", "victim", &["sleep", "600"], &[]);
    assert!(lab.is_running(k));
    lab.kill(k);
    assert!(!lab.is_running(k));

    let sleeper = lab.spawn("a", "sleeper", &["sleep", "600"], &[]);
    let pid = lab.pid(sleeper);
    // A process that leaves its process group is still inside the namespace: also killed.
    let escapee = lab.spawn(
        "b",
        "escapee",
        &["setsid", "-f", "sh", "-c", "echo $$; exec sleep 600"],
        &[],
    );
    lab.wait_exit(escapee, secs(5));
    support::wait_for(secs(5), "the escapee's pid", || {
        lab.log(escapee).lines().count() >= 2
    });
    let escaped: u32 = lab
        .log(escapee)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid) && pid_alive(escaped));
    let namespaces = lab.namespaces().to_vec();
    assert_eq!(namespaces.len(), 2);
    drop(lab);
    assert_gone(&namespaces, &[pid, escaped]);
}

#[test]
fn a_panicking_test_still_cleans_up() {
    if !root() {
        return;
    }
    let seen: Mutex<(Vec<String>, Vec<u32>)> = Mutex::new((Vec::new(), Vec::new()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = Lab::new("panic");
        lab.ns("x");
        lab.ns("y");
        lab.link("x", "10.9.0.1/30", "y", "10.9.0.2/30");
        let p = lab.spawn("y", "sleeper", &["sleep", "600"], &[]);
        let mut s = seen.lock().unwrap();
        s.0 = lab.namespaces().to_vec();
        s.1.push(lab.pid(p));
        drop(s);
        lab.wait_ping("x", "10.9.0.2", secs(5));
        panic!("deliberate panic inside a lab");
    }));
    assert!(result.is_err());
    let (namespaces, pids) = seen.into_inner().unwrap();
    assert_eq!(namespaces.len(), 2);
    assert_gone(&namespaces, &pids);
}

#[test]
fn stale_labs_of_dead_processes_are_reaped() {
    if !root() {
        return;
    }
    // A lab left behind by a process that died without dropping it: a marker naming a dead
    // owner and a namespace under its prefix.
    let prefix = (0..=0xffffu32)
        .map(|n| format!("lr{:04x}", (n * 7919 + 4242) & 0xffff))
        .find(|p| {
            !std::path::Path::new(support::lab::MARKER_DIR)
                .join(p)
                .exists()
                && !netns_list().iter().any(|n| n.starts_with(p.as_str()))
        })
        .unwrap();
    let ns = format!("{prefix}-orphan");
    std::fs::create_dir_all(support::lab::MARKER_DIR).unwrap();
    let marker = std::path::Path::new(support::lab::MARKER_DIR).join(&prefix);
    // An owner that cannot exist (pids stop at 2^22).
    std::fs::write(&marker, "pid 4194304999 start 1\n").unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // A process inside it, as a crashed test would leave.
    let mut orphan = support::Proc::spawn(
        "orphan",
        std::process::Command::new("ip").args(["netns", "exec", &ns, "sleep", "600"]),
    );
    let orphan_pid = orphan.id();
    support::wait_for(secs(5), "the orphan in its namespace", || {
        let o = std::process::Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains(&orphan_pid.to_string())
    });
    // A live lab is left alone.
    let mut live = Lab::new("live");
    let live_ns = live.ns("keep");

    support::lab::reap_stale_labs();
    support::wait_for(secs(5), "the orphan to be killed", || !orphan.is_running());
    let left = netns_list();
    assert!(
        !left.contains(&ns),
        "stale namespace {ns} still there: {left:?}"
    );
    assert!(!marker.exists(), "stale marker still there");
    assert!(left.contains(&live_ns), "a live lab's namespace was reaped");
    drop(live);
    assert!(!netns_list().contains(&live_ns));
}

#[test]
fn loss_drops_what_an_interface_sends() {
    if !root() {
        return;
    }
    let mut lab = Lab::new("loss");
    lab.ns("a");
    lab.ns("b");
    let (ia, ib) = lab.link("a", "198.51.100.1/24", "b", "198.51.100.2/24");
    lab.wait_ping("a", "198.51.100.2", secs(5));
    // Through `netem`, which falls back to nftables where the kernel has no netem.
    lab.netem("a", &ia, "loss 100%");
    assert!(!lab.pings("a", "198.51.100.2"), "100% loss on a's side");
    lab.loss("a", &ia, 0.0);
    lab.wait_ping("a", "198.51.100.2", secs(5));
    // About half: 200 pings, the count must be well inside (and the impairment is one-way:
    // b's echo replies are not affected).
    lab.loss("b", &ib, 50.0);
    let out = lab.try_run(
        "a",
        &[
            "ping",
            "-n",
            "-q",
            "-c200",
            "-i0.002",
            "-W1",
            "198.51.100.2",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let received: u32 = text
        .split(" received")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text}"));
    assert!(
        (50..=150).contains(&received),
        "{received}/200 through 50% loss: {text}"
    );
}

#[test]
fn netem_delay_shows_in_the_rtt_or_is_refused_clearly() {
    if !root() {
        return;
    }
    let mut lab = Lab::new("netem");
    lab.ns("a");
    lab.ns("b");
    let (ia, _) = lab.link("a", "198.51.100.1/24", "b", "198.51.100.2/24");
    lab.wait_ping("a", "198.51.100.2", secs(5));
    if !support::lab::netem_supported() {
        // This machine's kernel: no netem. Asking for delay must say why, not half-work.
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lab.netem("a", &ia, "delay 40ms");
        }));
        let err = refused.expect_err("delay without netem must be refused");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("CONFIG_NET_SCH_NETEM"), "{msg}");
        return;
    }
    lab.netem("a", &ia, "delay 40ms");
    let out = lab.run_stdout("a", &["ping", "-n", "-c1", "-W2", "198.51.100.2"]);
    let ms: f64 = out
        .split("time=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {out}"));
    // netem never delivers early: a lower bound only.
    assert!(ms >= 40.0, "rtt {ms} ms with 40 ms of netem delay");
}

fn wg(args: &[&str], stdin: &str) -> String {
    let mut child = std::process::Command::new("wg")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "wg {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The pattern the interop tests use: a userspace WireGuard in each namespace under a
/// machine-wide unique name, configured with `wg setconf`; its UAPI socket goes with the lab.
#[test]
fn wireguard_go_tunnel_between_two_namespaces() {
    if !root()
        || !support::require(
            support::on_path("wireguard-go") && support::on_path("wg"),
            "wireguard-go and wg (wireguard-tools) are needed",
        )
    {
        return;
    }
    let mut lab = Lab::new("wg");
    lab.ns("a");
    lab.ns("b");
    lab.link("a", "198.51.100.1/24", "b", "198.51.100.2/24");
    let keys: Vec<(String, String)> = (0..2)
        .map(|_| {
            let private = wg(&["genkey"], "");
            let public = wg(&["pubkey"], &private);
            (private, public)
        })
        .collect();
    let mut sockets = Vec::new();
    for (i, (ns, peer)) in [("a", 1usize), ("b", 0)].into_iter().enumerate() {
        let ifname = lab.unique_ifname("wg");
        assert!(ifname.len() <= 15);
        lab.spawn(
            ns,
            &format!("wireguard-go-{ns}"),
            &["wireguard-go", "-f", &ifname],
            &[],
        );
        let sock = std::path::PathBuf::from(format!("/var/run/wireguard/{ifname}.sock"));
        support::wait_for(secs(10), "the UAPI socket", || sock.exists());
        sockets.push(sock);
        let conf = std::env::temp_dir().join(format!("{}-{ns}.conf", lab.prefix));
        std::fs::write(
            &conf,
            format!(
                "[Interface]\nPrivateKey = {}\nListenPort = 51820\n\n[Peer]\nPublicKey = {}\n\
                 AllowedIPs = 10.66.0.{}/32\nEndpoint = 198.51.100.{}:51820\n",
                keys[i].0,
                keys[peer].1,
                peer + 1,
                peer + 1
            ),
        )
        .unwrap();
        lab.run(ns, &["wg", "setconf", &ifname, conf.to_str().unwrap()]);
        let _ = std::fs::remove_file(&conf);
        lab.run(
            ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("10.66.0.{}/24", i + 1),
                "dev",
                &ifname,
            ],
        );
        lab.run(ns, &["ip", "link", "set", &ifname, "mtu", "1420", "up"]);
    }
    lab.wait_ping("a", "10.66.0.2", secs(10));
    lab.wait_ping("b", "10.66.0.1", secs(10));
    let shown = lab.run_stdout("a", &["wg", "show"]);
    assert!(shown.contains("latest handshake"), "{shown}");
    drop(lab);
    for sock in sockets {
        assert!(!sock.exists(), "{} left behind", sock.display());
    }
}

/// Sends `msg` from `ns` (source port `sport`) to `dst:port` over UDP and returns the reply.
/// Asks the echo server once, the way a game's query does: a datagram and a reply. UDP may lose
/// either under CI load (the echo forks a shell per datagram), so like a game it asks again, up
/// to three times, before it reports silence.
fn udp_ask(lab: &Lab, ns: &str, dst: &str, port: u16, sport: u16, msg: &str) -> String {
    let mut reply = String::new();
    for _ in 0..3 {
        reply = udp_ask_once(lab, ns, dst, port, sport, msg);
        if !reply.is_empty() {
            break;
        }
    }
    reply
}

fn udp_ask_once(lab: &Lab, ns: &str, dst: &str, port: u16, sport: u16, msg: &str) -> String {
    let target = format!("UDP:{dst}:{port},sourceport={sport},reuseaddr");
    let mut child = lab
        .command(ns, &["socat", "-t", "2", "-", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{msg}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "socat to {dst}:{port} from {ns}: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends one datagram, expecting no reply.
fn udp_send(lab: &Lab, ns: &str, dst: &str, port: u16, sport: u16, msg: &str) {
    let target = format!("UDP-SENDTO:{dst}:{port},sourceport={sport},reuseaddr");
    let mut child = lab
        .command(ns, &["socat", "-u", "-", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{msg}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "socat send from {ns}: {out:?}");
}

const WAN: &str = "203.0.113.2";
const SERVER: &str = "203.0.113.10";

/// home (192.168.1.2) - router (192.168.1.1 | WAN 203.0.113.2) - "internet" bridge - server
/// (203.0.113.10), with UDP echo servers on the server at ports 7000 and 7001 that answer with
/// the source address and port they saw ("addr port": socat would split a colon).
fn nat_lab(tag: &str, kind: Nat) -> (World, Vec<ProcId>) {
    let mut lab = World::new(tag);
    lab.home(HomeSpec {
        ns: "home",
        kind: Home::Behind(kind),
        router: "router",
        public_ip: WAN,
        lan: "192.168.1",
        wire: Wire::default(),
    });
    lab.host("server", SERVER);
    let mut echo = Vec::new();
    for port in [7000u16, 7001] {
        let listen = format!("UDP-RECVFROM:{port},fork,reuseaddr");
        echo.push(lab.spawn(
            "server",
            &format!("echo{port}"),
            &[
                "socat",
                &listen,
                "SYSTEM:echo $SOCAT_PEERADDR $SOCAT_PEERPORT",
            ],
            &[],
        ));
        lab.wait_listening("server", "udp", port, secs(5));
    }
    lab.wait_ping("home", SERVER, secs(5));
    (lab, echo)
}

fn seen_port(reply: &str) -> u16 {
    let (addr, port) = reply
        .split_once(' ')
        .unwrap_or_else(|| panic!("bad reply {reply:?}"));
    assert_eq!(
        addr, WAN,
        "the server must see the router's WAN address: {reply}"
    );
    port.parse().unwrap()
}

#[test]
fn cone_nat_maps_a_source_to_one_port_and_drops_unsolicited_traffic() {
    if !root() {
        return;
    }
    let (mut lab, echo) = nat_lab("cone", Nat::Cone);
    // The home host's address is private and unroutable from the server without the NAT.
    assert!(!lab.pings("server", "192.168.1.2"));

    // Endpoint-independent mapping: one source port, two destinations, one public port.
    let p1 = seen_port(&udp_ask(&lab, "home", SERVER, 7000, 40000, "hello"));
    let p2 = seen_port(&udp_ask(&lab, "home", SERVER, 7001, 40000, "hello"));
    assert_eq!(p1, p2, "a cone NAT keeps the mapping for every destination");

    // Filtering: with a listener on the home host's port, a datagram from a port the home host
    // never talked to (7002) must not arrive; one from the port it did talk to (7000) must.
    let sport = 40001;
    let public = seen_port(&udp_ask(&lab, "home", SERVER, 7000, sport, "open"));
    let listen = format!("UDP-RECV:{sport},reuseaddr");
    let listener = lab.spawn("home", "listener", &["socat", "-u", &listen, "STDOUT"], &[]);
    lab.wait_listening("home", "udp", sport, secs(5));
    udp_send(&lab, "server", WAN, public, 7002, "stranger");
    // The echo server holds port 7000: free it to answer from there.
    lab.stop(echo[0]);
    udp_send(&lab, "server", WAN, public, 7000, "friend");
    lab.wait_log(listener, "friend", secs(5));
    let got = lab.log(listener);
    assert!(
        !got.contains("stranger"),
        "unsolicited datagram delivered: {got}"
    );

    // The drop happens before conntrack confirms the flow, so it leaves no entry behind (an
    // entry would push a later outgoing mapping to another port and break hole punching).
    let ct = lab.try_run(
        "router",
        &["conntrack", "-L", "-p", "udp", "--orig-port-src", "7002"],
    );
    let (listed, summary) = (
        String::from_utf8_lossy(&ct.stdout),
        String::from_utf8_lossy(&ct.stderr),
    );
    assert!(
        summary.contains("flow entries have been shown"),
        "conntrack failed: {summary}"
    );
    assert!(
        listed.trim().is_empty(),
        "conntrack kept the unsolicited flow: {listed}"
    );
    // ...and the rule counted it.
    assert!(dropped_on_wan(&lab) >= 1);
}

/// Packets the router's WAN input rule dropped so far.
fn dropped_on_wan(lab: &Lab) -> u64 {
    let rules = lab.run_stdout(
        "router",
        &["nft", "list", "chain", "ip", "lanrage_nat", "input"],
    );
    let count = rules
        .split("counter packets ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    count.unwrap_or_else(|| panic!("no drop counter in {rules}"))
}

#[test]
fn symmetric_nat_gives_every_destination_its_own_port() {
    if !root() {
        return;
    }
    let (mut lab, _echo) = nat_lab("symm", Nat::Symmetric);
    let p1 = seen_port(&udp_ask(&lab, "home", SERVER, 7000, 40000, "hello"));
    let p2 = seen_port(&udp_ask(&lab, "home", SERVER, 7001, 40000, "hello"));
    assert_ne!(
        p1, p2,
        "a symmetric NAT maps each destination to its own port"
    );
    // The first flow again: it keeps its mapping.
    let p3 = seen_port(&udp_ask(&lab, "home", SERVER, 7000, 40000, "again"));
    assert_eq!(p1, p3, "an existing flow keeps its mapping");

    // Unsolicited traffic is filtered here too: from a port the home host never talked to.
    let listen = "UDP-RECV:40000,reuseaddr";
    let listener = lab.spawn("home", "listener", &["socat", "-u", listen, "STDOUT"], &[]);
    lab.wait_listening("home", "udp", 40000, secs(5));
    let before = dropped_on_wan(&lab);
    udp_send(&lab, "server", WAN, p1, 7002, "unsolicited");
    support::wait_for(secs(5), "the drop counter", || {
        dropped_on_wan(&lab) > before
    });
    std::thread::sleep(Duration::from_millis(200));
    let got = lab.log(listener);
    assert!(
        !got.contains("unsolicited"),
        "unsolicited datagram delivered: {got}"
    );
}

/// The world the labs build (tests/support/world.rs): a server on the bridge, a home behind a
/// cone NAT through a wire that delays, an open home, and everything gone after the drop.
#[test]
fn world_homes_reach_the_server_and_a_delayed_wire_delays() {
    if !root() {
        return;
    }
    let mut w = World::new("world");
    w.server("srv", "203.0.113.2");
    w.home(HomeSpec {
        ns: "h0",
        kind: Home::Behind(Nat::Cone),
        router: "r0",
        public_ip: "203.0.113.10",
        lan: "192.168.1",
        wire: Wire::delayed(20, 0),
    });
    w.home(HomeSpec {
        ns: "h1",
        kind: Home::Open,
        router: "r1",
        public_ip: "203.0.113.21",
        lan: "192.168.2",
        wire: Wire::default(),
    });
    assert_eq!(w.player("h0"), 0);
    assert_eq!(w.player("h1"), 1);
    assert_eq!(w.players[1].ns, "h1");
    w.wait_ping("h0", "203.0.113.2", secs(5));
    w.wait_ping("h1", "203.0.113.2", secs(5));
    // The open home is on the internet; the one behind the NAT is not reachable from it.
    assert!(w.pings("srv", "203.0.113.21"));
    assert!(!w.pings("srv", "192.168.1.2"));
    // 20 ms each way on the router's wire: at least 40 ms round trip from behind it.
    let out = w.run_stdout("h0", &["ping", "-n", "-c3", "-i0.2", "203.0.113.2"]);
    let rtts: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("time=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        rtts.len() == 3 && rtts.iter().all(|&ms| ms >= 40.0),
        "rtts through a 20 ms wire: {out}"
    );
    let namespaces = w.namespaces().to_vec();
    // The bridge, srv, h0, r0, the wire's own namespace and h1.
    assert_eq!(namespaces.len(), 6, "{namespaces:?}");
    drop(w);
    assert_gone(&namespaces, &[]);
}
