//! The world every network lab builds (see DESIGN.md, "Labs"): a public bridge standing for the
//! internet, a control server on it (`lanrage server`), coturn, homes on the bridge or behind
//! their own NAT router, wires that delay or lose packets, and players running `lanrage up`.
//!
//! A [`World`] is a [`Lab`] (it dereferences to one) that knows this layout, so each lab says
//! only what its world is made of:
//!
//! ```ignore
//! let mut w = World::new("cc");
//! w.server("srv", "203.0.113.2");
//! w.start_server(&["--public-ip", "203.0.113.2"]);
//! w.home(HomeSpec {
//!     ns: "h0",
//!     kind: Home::Behind(Nat::Cone),
//!     router: "r0",
//!     public_ip: "203.0.113.10",
//!     lan: "192.168.1",
//!     wire: Wire::default(),
//! });
//! w.player("h0");
//! ```
//!
//! Everything is built at once (there is no separate build step) and belongs to the lab: when
//! the world drops, also while a test panics, the lab ends its processes and deletes its
//! namespaces first, then the players' and the server's data directories go.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::lab::{Lab, Nat, ProcId};
use super::players::{lanrage, Player};

/// The namespace holding the public bridge.
pub const BRIDGE: &str = "net";
/// The control server's port (TCP, WebSocket).
pub const SERVER_PORT: u16 = 8667;

/// How a home reaches the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// On the public bridge itself.
    Open,
    /// Behind a NAT router.
    Behind(Nat),
    /// Behind a cone NAT whose router drops all UDP.
    UdpBlocked,
}

/// What the wire between a namespace and the bridge does to packets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Wire {
    /// Added each direction, by a userspace hop (see [`Lab::attach_delayed`]).
    pub delay_ms: u32,
    /// ± this much on top of `delay_ms`, each direction.
    pub jitter_ms: u32,
    /// Percent dropped of what the namespace sends out of each of its links (nftables): for a
    /// home, its router's WAN and LAN links, so both directions are lost.
    pub loss_pct: f64,
}

impl Wire {
    /// A wire that only delays.
    pub fn delayed(delay_ms: u32, jitter_ms: u32) -> Wire {
        Wire {
            delay_ms,
            jitter_ms,
            loss_pct: 0.0,
        }
    }
}

/// A home: its own namespace `ns` (where its player lives) and how it reaches the internet.
#[derive(Clone, Copy, Debug)]
pub struct HomeSpec<'a> {
    pub ns: &'a str,
    pub kind: Home,
    /// The router's namespace (not made for [`Home::Open`]).
    pub router: &'a str,
    /// The address on the bridge: the router's WAN address, or the home's own when open.
    pub public_ip: &'a str,
    /// The home's /24 behind the router, e.g. "192.168.1": the router is .1, the home .2.
    pub lan: &'a str,
    /// The router's wire to the bridge (the home's own when open).
    pub wire: Wire,
}

pub struct World {
    /// First, so it is dropped first: processes end before their directories go.
    pub lab: Lab,
    pub players: Vec<Player>,
    bridge: bool,
    server_ns: Option<String>,
    server_dir: tempfile::TempDir,
}

impl Deref for World {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }
}

impl World {
    /// An empty world; `tag` names its lab in logs. Requires root (skip first). The bridge is
    /// made with the first namespace attached to it.
    pub fn new(tag: &str) -> World {
        World {
            lab: Lab::new(tag),
            players: Vec::new(),
            bridge: false,
            server_ns: None,
            server_dir: tempfile::tempdir()
                .unwrap_or_else(|e| panic!("a temporary directory: {e}")),
        }
    }

    fn bridge(&mut self) -> &'static str {
        if !self.bridge {
            self.lab.bridge(BRIDGE);
            self.bridge = true;
        }
        BRIDGE
    }

    /// A new namespace `ns` on the bridge at `ip` (/24); returns its interface name.
    pub fn host(&mut self, ns: &str, ip: &str) -> String {
        self.host_via(ns, ip, Wire::default())
    }

    /// Like [`World::host`], through `wire`.
    pub fn host_via(&mut self, ns: &str, ip: &str, wire: Wire) -> String {
        self.lab.ns(ns);
        let iface = self.attach(ns, ip, wire);
        self.lose(ns, wire);
        iface
    }

    /// Attaches the existing namespace `ns` to the bridge at `ip` (/24), delayed as `wire` says.
    fn attach(&mut self, ns: &str, ip: &str, wire: Wire) -> String {
        let bridge = self.bridge();
        let addr = format!("{ip}/24");
        if wire.delay_ms > 0 || wire.jitter_ms > 0 {
            self.lab
                .attach_delayed(bridge, ns, &addr, wire.delay_ms, wire.jitter_ms)
        } else {
            self.lab.attach(bridge, ns, &addr)
        }
    }

    /// The wire's loss on every link `ns` has now.
    fn lose(&mut self, ns: &str, wire: Wire) {
        if wire.loss_pct > 0.0 {
            let ifaces = self.lab.run_stdout(ns, &["ls", "/sys/class/net"]);
            for iface in ifaces.split_whitespace().filter(|i| *i != "lo") {
                self.lab.loss(ns, iface, wire.loss_pct);
            }
        }
    }

    /// Two new namespaces joined by one cable (no bridge), at `a_ip` and `b_ip` (/24).
    pub fn cable(&mut self, a: &str, a_ip: &str, b: &str, b_ip: &str) -> (String, String) {
        self.lab.ns(a);
        self.lab.ns(b);
        self.lab
            .link(a, &format!("{a_ip}/24"), b, &format!("{b_ip}/24"))
    }

    /// A home (see [`HomeSpec`]). Behind a router: forwarding and NAT in the router, the home's
    /// default route through it. Returns the interface on the bridge (the router's WAN).
    pub fn home(&mut self, spec: HomeSpec) -> String {
        let HomeSpec {
            ns,
            kind,
            router,
            public_ip,
            lan,
            wire,
        } = spec;
        let nat = match kind {
            Home::Open => return self.host_via(ns, public_ip, wire),
            Home::Behind(nat) => nat,
            Home::UdpBlocked => Nat::Cone,
        };
        self.lab.ns(ns);
        self.lab.ns(router);
        let wan = self.attach(router, public_ip, wire);
        let gateway = format!("{lan}.1");
        self.lab
            .link(router, &format!("{gateway}/24"), ns, &format!("{lan}.2/24"));
        self.lab.route_default(ns, &gateway);
        self.lab.nat(router, &wan, nat);
        self.lose(router, wire);
        if kind == Home::UdpBlocked {
            self.lab.nft(
                router,
                "table ip lanrage_block {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n    meta l4proto udp drop\n  }\n}\n",
            );
        }
        wan
    }

    /// Where the control server runs: a new namespace `ns` on the bridge at `ip`.
    pub fn server(&mut self, ns: &str, ip: &str) -> String {
        self.server_via(ns, ip, Wire::default())
    }

    /// Like [`World::server`], through `wire`.
    pub fn server_via(&mut self, ns: &str, ip: &str, wire: Wire) -> String {
        let iface = self.host_via(ns, ip, wire);
        self.server_ns = Some(ns.to_string());
        iface
    }

    /// Starts `lanrage server --listen 0.0.0.0:8667 <args>` where [`World::server`] said, with
    /// this world's server data directory (the same for every start, so a restarted server
    /// keeps its state), and waits until it listens.
    pub fn start_server(&mut self, args: &[&str]) -> ProcId {
        let bin = lanrage();
        self.start_server_with(&[bin.as_str()], args, &[], Duration::from_secs(10))
    }

    /// Like [`World::start_server`], with the server program given as `program` (for example
    /// a Windows build under Wine: `["scripts/windows/wine", "lanrage.exe"]`), extra
    /// environment, and how long it may take to listen.
    pub fn start_server_with(
        &mut self,
        program: &[&str],
        args: &[&str],
        envs: &[(&str, &str)],
        listen_within: Duration,
    ) -> ProcId {
        let ns = self
            .server_ns
            .clone()
            .unwrap_or_else(|| panic!("start_server before World::server"));
        let dir = self.server_dir.path().display().to_string();
        let listen = format!("0.0.0.0:{SERVER_PORT}");
        let mut full: Vec<&str> = program.to_vec();
        full.extend_from_slice(&["--data-dir", &dir, "server", "--listen", &listen]);
        full.extend_from_slice(args);
        let mut all_envs = vec![("RUST_LOG", "info")];
        all_envs.extend_from_slice(envs);
        let id = self.lab.spawn(&ns, "server", &full, &all_envs);
        self.lab
            .wait_listening(&ns, "tcp", SERVER_PORT, listen_within);
        id
    }

    /// coturn (STUN and TURN on UDP 3478, with `secret` for TURN REST credentials) in a new
    /// namespace `ns` on the bridge at `ip`; returns once it listens.
    pub fn coturn(&mut self, ns: &str, ip: &str, secret: &str) -> ProcId {
        self.host(ns, ip);
        let id = self.lab.spawn(
            ns,
            "coturn",
            &[
                "turnserver",
                "-n",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--listening-ip",
                ip,
                "--relay-ip",
                ip,
                "--listening-port",
                "3478",
                "--use-auth-secret",
                "--static-auth-secret",
                secret,
                "--realm",
                "lanrage",
                "--fingerprint",
                "--log-file",
                "stdout",
                "--simple-log",
                "--pidfile",
                "/dev/null",
            ],
            &[],
        );
        self.lab
            .wait_listening(ns, "udp", 3478, Duration::from_secs(10));
        id
    }

    /// A player living in the existing namespace `ns` (not started: see [`Player::up`]);
    /// returns its index in `players`.
    pub fn player(&mut self, ns: &str) -> usize {
        self.players.push(Player::new(ns));
        self.players.len() - 1
    }
}
