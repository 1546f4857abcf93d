//! Network labs: small internets built from network namespaces on this machine (see DESIGN.md,
//! "Labs" and "Network rule").
//!
//! A [`Lab`] owns everything it creates: namespaces named `<prefix>-<name>`, the veth pairs
//! between them (created directly inside the namespaces, so nothing ever appears in the root
//! namespace), and the processes it started. Dropping the lab — also while a test panics — kills
//! those processes and every other process still inside its namespaces, and deletes the
//! namespaces. A lab whose test process died without dropping it (SIGKILL, Ctrl-C of `cargo
//! test`) is removed by [`reap_stale_labs`] at the next [`Lab::new`].
//!
//! Ownership is recorded in a marker file `/run/lanrage-lab/<prefix>` holding the owner's pid
//! and start time (so a reused pid is not mistaken for the owner).
//!
//! Only root may build labs: tests skip first with
//! `support::require(support::is_root(), "...")`.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::artifacts_dir;

/// Where the ownership markers of live labs are kept.
pub const MARKER_DIR: &str = "/run/lanrage-lab";
/// Where wireguard-go and boringtun-cli put their UAPI sockets (shared by all namespaces).
const WG_SOCKET_DIR: &str = "/var/run/wireguard";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The kind of NAT [`Lab::nat`] sets up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping (Linux masquerade keeps a flow's source port and reuses a
    /// source's mapping for every destination), filtering of unsolicited inbound traffic: a
    /// port-restricted cone, as most home routers behave.
    Cone,
    /// `masquerade random`: every new flow (destination address and port) gets its own
    /// randomly chosen source port, plus the same filtering.
    Symmetric,
}

/// A process started by [`Lab::spawn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId(usize);

struct LabProc {
    name: String,
    ns: String,
    child: Child,
    log: PathBuf,
    /// Where this run's output starts in the log (a restarted process appends to its log).
    log_start: u64,
    status: Option<ExitStatus>,
}

impl LabProc {
    fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.status = Some(st);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    fn signal_group(&self, sig: &str) {
        // "--": without it procps kill reads "-<pid>" as option digits (kill -KILL -12345
        // becomes kill(-1, SIGKILL): every process on the machine).
        if self.child.id() <= 1 {
            return;
        }
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILL to the process group, then reap. Never panics.
    fn kill_now(&mut self) -> Option<ExitStatus> {
        if self.running() {
            self.signal_group("-KILL");
            let _ = self.child.kill();
            if let Ok(st) = self.child.wait() {
                self.status = Some(st);
            }
        }
        self.status
    }
}

pub struct Lab {
    /// `lr` + 4 hex digits, unique on this machine while the lab lives.
    pub prefix: String,
    pub tag: String,
    /// Full names of the namespaces, in creation order.
    namespaces: Vec<String>,
    procs: Vec<LabProc>,
    links: usize,
    ifnames: usize,
    /// Names handed out by `unique_ifname`, whose UAPI sockets are removed at drop.
    wg_names: Vec<String>,
    marker: PathBuf,
}

impl Lab {
    /// Starts a lab; `tag` names it in logs. Requires root (panics otherwise: skip first).
    pub fn new(tag: &str) -> Lab {
        assert!(
            super::is_root(),
            "network labs need root: skip with support::require(support::is_root(), ..)"
        );
        reap_stale_labs();
        std::fs::create_dir_all(MARKER_DIR)
            .unwrap_or_else(|e| panic!("creating {MARKER_DIR}: {e}"));
        let pid = std::process::id();
        let me = owner_line(pid).expect("reading /proc/self/stat");
        for _ in 0..4096 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let h = mix(pid as u64, n as u64) as u16;
            let prefix = format!("lr{h:04x}");
            // Another lab's leftovers under this prefix (being reaped right now, or owned by a
            // process we may not touch): take another prefix.
            if netns_list()
                .iter()
                .any(|ns| ns.starts_with(&format!("{prefix}-")))
            {
                continue;
            }
            // Claimed atomically: write a temporary file, then hard-link it (fails if taken).
            let marker = Path::new(MARKER_DIR).join(&prefix);
            let tmp = Path::new(MARKER_DIR).join(format!(".{prefix}.{pid}.{n}"));
            std::fs::write(&tmp, format!("{me}\ntag {tag}\n"))
                .unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
            let claimed = std::fs::hard_link(&tmp, &marker).is_ok();
            let _ = std::fs::remove_file(&tmp);
            if claimed {
                return Lab {
                    prefix,
                    tag: tag.to_string(),
                    namespaces: Vec::new(),
                    procs: Vec::new(),
                    links: 0,
                    ifnames: 0,
                    wg_names: Vec::new(),
                    marker,
                };
            }
        }
        panic!("no free lab prefix under {MARKER_DIR}");
    }

    /// The full namespace name for a short one (a full name is returned as it is).
    pub fn full(&self, ns: &str) -> String {
        if ns.starts_with(&format!("{}-", self.prefix)) {
            ns.to_string()
        } else {
            format!("{}-{ns}", self.prefix)
        }
    }

    /// The namespaces this lab created (full names).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Creates a namespace with its loopback up and returns its full name.
    pub fn ns(&mut self, name: &str) -> String {
        let full = self.full(name);
        assert!(
            !self.namespaces.contains(&full),
            "namespace {name} exists already in this lab"
        );
        let mut last = None;
        // Concurrent first uses of `ip netns add` can race on the /run/netns mount: retry.
        for _ in 0..5 {
            let out = Command::new("ip")
                .args(["netns", "add", &full])
                .output()
                .expect("running ip netns add");
            if out.status.success() {
                last = None;
                break;
            }
            last = Some(out);
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(out) = last {
            panic!("ip netns add {full} failed: {}", describe(&out));
        }
        self.namespaces.push(full.clone());
        self.run(&full, &["ip", "link", "set", "lo", "up"]);
        full
    }

    /// A veth pair between namespaces `a` and `b` (created earlier) with interface names of
    /// this lab's choosing (`v<n>-<peer name>`, at most 15 characters); addresses such as
    /// "198.51.100.1/24" (empty: none). Both ends are up. Returns (name in a, name in b).
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) -> (String, String) {
        let n = self.links;
        let a_if = ifname(&format!("v{n}-{}", short(b)));
        let b_if = ifname(&format!("v{n}-{}", short(a)));
        self.link_named(a, &a_if, a_addr, b, &b_if, b_addr)
    }

    /// Like [`Lab::link`] with interface names chosen by the caller (unique inside each
    /// namespace, at most 15 characters).
    pub fn link_named(
        &mut self,
        a: &str,
        a_if: &str,
        a_addr: &str,
        b: &str,
        b_if: &str,
        b_addr: &str,
    ) -> (String, String) {
        assert!(
            a_if.len() <= 15 && b_if.len() <= 15,
            "interface names over 15 characters"
        );
        let (fa, fb) = (self.full(a), self.full(b));
        for ns in [&fa, &fb] {
            assert!(
                self.namespaces.contains(ns),
                "namespace {ns} is not in this lab"
            );
        }
        self.links += 1;
        // Created inside namespace a with its peer directly in namespace b: no veth end ever
        // exists in the root namespace, so no clash with its eth0 and nothing to leak there.
        self.run(
            &fa,
            &[
                "ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &fb,
            ],
        );
        for (ns, ifn, addr) in [(&fa, a_if, a_addr), (&fb, b_if, b_addr)] {
            if !addr.is_empty() {
                self.run(ns, &["ip", "addr", "add", addr, "dev", ifn]);
            }
            self.run(ns, &["ip", "link", "set", ifn, "up"]);
        }
        (a_if.to_string(), b_if.to_string())
    }

    /// A namespace `name` holding a Linux bridge `br0`: "the internet" or a LAN switch.
    pub fn bridge(&mut self, name: &str) {
        let full = self.ns(name);
        self.run(
            &full,
            &[
                "ip",
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ],
        );
        self.run(&full, &["ip", "link", "set", "br0", "up"]);
    }

    /// Connects namespace `host` to bridge namespace `bridge` with address `addr` on the host
    /// side; returns the host-side interface name.
    pub fn attach(&mut self, bridge: &str, host: &str, addr: &str) -> String {
        let (host_if, br_if) = self.link(host, addr, bridge, "");
        self.run(bridge, &["ip", "link", "set", &br_if, "master", "br0"]);
        host_if
    }

    /// Like [`Lab::attach`], through a wire with delay and jitter (each direction gets
    /// `delay_ms` ± `jitter_ms`): a namespace `w<host>` between the host and the bridge where
    /// `delay_hop.py` copies frames between two TAP devices, each bridged to one side. Layer 2,
    /// so addresses and routes are as with `attach`. netem would do this, but this machine's
    /// kernel has none. Returns the host's interface name.
    pub fn attach_delayed(
        &mut self,
        bridge: &str,
        host: &str,
        addr: &str,
        delay_ms: u32,
        jitter_ms: u32,
    ) -> String {
        let wire = format!("w{host}");
        self.ns(&wire);
        let (host_if, w_in) = self.link(host, addr, &wire, "");
        let (w_out, br_if) = self.link(&wire, "", bridge, "");
        self.run(bridge, &["ip", "link", "set", &br_if, "master", "br0"]);
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|p| p.join("tests/support/delay_hop.py"))
            .find(|p| p.exists())
            .expect("tests/support/delay_hop.py in the workspace");
        let (d, j) = (delay_ms.to_string(), jitter_ms.to_string());
        let hop = self.spawn(
            &wire,
            "delay-hop",
            &[
                "python3",
                script.to_str().unwrap_or_default(),
                "ta",
                "tb",
                &d,
                &j,
            ],
            &[],
        );
        self.wait_log(hop, "ready", Duration::from_secs(10));
        for cmd in [
            "ip link add bra type bridge",
            "ip link add brb type bridge",
            "ip link set ta master bra",
            "ip link set tb master brb",
        ] {
            self.run(&wire, &cmd.split(' ').collect::<Vec<_>>());
        }
        self.run(&wire, &["ip", "link", "set", &w_in, "master", "bra"]);
        self.run(&wire, &["ip", "link", "set", &w_out, "master", "brb"]);
        for dev in ["bra", "brb", "ta", "tb", w_in.as_str(), w_out.as_str()] {
            self.run(&wire, &["ip", "link", "set", dev, "up"]);
        }
        host_if
    }

    /// A name for a WireGuard/TUN interface that is unique on the whole machine (their UAPI
    /// sockets under /var/run/wireguard are shared by all namespaces), e.g. "wg3fa21".
    pub fn unique_ifname(&mut self, base: &str) -> String {
        let name = format!("{base}{}{}", &self.prefix[2..], self.ifnames);
        assert!(name.len() <= 15, "interface name {name} over 15 characters");
        self.ifnames += 1;
        self.wg_names.push(name.clone());
        // Recorded in the marker too, so a reaper can remove the socket of a crashed lab.
        if let Ok(mut f) = OpenOptions::new().append(true).open(&self.marker) {
            let _ = writeln!(f, "wg {name}");
        }
        name
    }

    /// A `Command` that runs `args` inside namespace `ns` (for callers that need stdin, pipes
    /// or their own waiting).
    pub fn command(&self, ns: &str, args: &[&str]) -> Command {
        assert!(!args.is_empty(), "no command given");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.full(ns)]).args(args);
        cmd
    }

    /// Runs a command in a namespace; panics with the command, stdout and stderr if it fails.
    pub fn run(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.try_run(ns, args);
        if !out.status.success() {
            panic!(
                "in namespace {}: `{}` failed: {}",
                self.full(ns),
                args.join(" "),
                describe(&out)
            );
        }
        out
    }

    /// Runs a command in a namespace and returns its output, whatever its exit status.
    pub fn try_run(&self, ns: &str, args: &[&str]) -> Output {
        self.command(ns, args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running `{}` in {}: {e}", args.join(" "), self.full(ns)))
    }

    /// Stdout of `run` as a string.
    pub fn run_stdout(&self, ns: &str, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(ns, args).stdout).into_owned()
    }

    /// Starts a long-running process in a namespace, in its own process group, with stdout and
    /// stderr appended to `artifacts_dir()/<prefix>-<name>.log`. It is killed when the lab
    /// drops.
    pub fn spawn(&mut self, ns: &str, name: &str, args: &[&str], envs: &[(&str, &str)]) -> ProcId {
        use std::os::unix::process::CommandExt;
        let full = self.full(ns);
        assert!(
            self.namespaces.contains(&full),
            "namespace {full} is not in this lab"
        );
        let log = artifacts_dir().join(format!("{}-{name}.log", self.prefix));
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let log_start = f.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = writeln!(f, "=== {} in {full}: {}", self.tag, args.join(" "));
        let mut cmd = self.command(&full, args);
        cmd.envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("cloning log file handle"))
            .stderr(f)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({}) in {full}: {e}", args.join(" ")));
        self.procs.push(LabProc {
            name: name.to_string(),
            ns: full,
            child,
            log,
            log_start,
            status: None,
        });
        ProcId(self.procs.len() - 1)
    }

    fn proc(&mut self, id: ProcId) -> &mut LabProc {
        self.procs.get_mut(id.0).expect("a ProcId of this lab")
    }

    /// The process id (`ip netns exec` execs the command, so it is the command's own pid).
    pub fn pid(&self, id: ProcId) -> u32 {
        self.procs[id.0].child.id()
    }

    pub fn is_running(&mut self, id: ProcId) -> bool {
        self.proc(id).running()
    }

    /// SIGKILL to the process and its group, as a crash would; returns once it is reaped.
    pub fn kill(&mut self, id: ProcId) {
        self.proc(id).kill_now();
    }

    /// SIGTERM to the process group, waits up to 5 s for the exit and returns its status; one
    /// still running then is killed (its status then shows SIGKILL).
    pub fn stop(&mut self, id: ProcId) -> ExitStatus {
        let p = self.proc(id);
        if p.running() {
            p.signal_group("-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while p.running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if p.running() {
                eprintln!(
                    "lab: {} did not stop within 5 s of SIGTERM: killing it",
                    p.name
                );
            }
        }
        let name = p.name.clone();
        p.kill_now()
            .unwrap_or_else(|| panic!("no exit status for {name}"))
    }

    /// Waits for the process to exit by itself (panics after `timeout`).
    pub fn wait_exit(&mut self, id: ProcId, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let p = self.proc(id);
        while p.running() {
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                p.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p.status.expect("exit status")
    }

    /// What this run of the process wrote so far (stdout and stderr interleaved).
    pub fn log(&self, id: ProcId) -> String {
        let p = &self.procs[id.0];
        let mut s = String::new();
        if let Ok(mut f) = File::open(&p.log) {
            let _ = f.seek(SeekFrom::Start(p.log_start));
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            s = String::from_utf8_lossy(&buf).into_owned();
        }
        s
    }

    pub fn log_path(&self, id: ProcId) -> PathBuf {
        self.procs[id.0].log.clone()
    }

    /// Waits until the process's log contains `needle`; panics with the log on timeout.
    pub fn wait_log(&self, id: ProcId, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log(id).contains(needle) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {needle:?} in the log of {}:\n{}",
                    self.procs[id.0].name,
                    self.log(id)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Default route in `ns` via `gw`.
    pub fn route_default(&self, ns: &str, gw: &str) {
        self.run(ns, &["ip", "route", "replace", "default", "via", gw]);
    }

    /// Impairs what `iface` in `ns` sends: `tc qdisc replace ... root netem <spec>`, e.g.
    /// "delay 20ms loss 2%". Where the kernel has no netem (this machine's kernel is built
    /// without CONFIG_NET_SCH_NETEM), the parts that can be emulated otherwise are: `loss P%`
    /// (nftables, see [`Lab::loss`]) and `rate R` (tbf); anything else (delay, jitter,
    /// reordering, duplication) panics saying so: check [`netem_supported`] first.
    pub fn netem(&self, ns: &str, iface: &str, spec: &str) {
        let mut args = vec!["tc", "qdisc", "replace", "dev", iface, "root", "netem"];
        args.extend(spec.split_whitespace());
        let out = self.try_run(ns, &args);
        if out.status.success() {
            return;
        }
        if !String::from_utf8_lossy(&out.stderr).contains("qdisc kind is unknown") {
            panic!(
                "in {}: `{}` failed: {}",
                self.full(ns),
                args.join(" "),
                describe(&out)
            );
        }
        let words: Vec<&str> = spec.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            match (words[i], words.get(i + 1)) {
                ("loss", Some(p)) => {
                    let pct: f64 = p
                        .trim_end_matches('%')
                        .parse()
                        .unwrap_or_else(|_| panic!("bad loss {p:?} in {spec:?}"));
                    self.loss(ns, iface, pct);
                }
                ("rate", Some(r)) => {
                    self.run(
                        ns,
                        &[
                            "tc", "qdisc", "replace", "dev", iface, "root", "tbf", "rate", r,
                            "burst", "32kbit", "latency", "400ms",
                        ],
                    );
                }
                (w, _) => panic!(
                    "netem {spec:?}: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is \
                     not set) and `{w}` cannot be emulated without it; only `loss P%` and \
                     `rate R` can. Skip with support::require(lab::netem_supported(), ..)"
                ),
            }
            i += 2;
        }
    }

    /// Drops `percent` % of the packets `iface` in `ns` sends (routed or local), at random,
    /// with nftables; 0 removes the impairment. Works without netem.
    pub fn loss(&self, ns: &str, iface: &str, percent: f64) {
        assert!(
            (0.0..=100.0).contains(&percent),
            "loss {percent}% out of range"
        );
        let chain: String = iface
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let chain = format!("loss_{chain}");
        let per_million = (percent * 10_000.0).round() as u64;
        let mut rules = format!(
            "add table inet lanrage_impair\n\
             add chain inet lanrage_impair {chain} {{ type filter hook postrouting priority 0; }}\n\
             flush chain inet lanrage_impair {chain}\n"
        );
        if per_million >= 1_000_000 {
            rules +=
                &format!("add rule inet lanrage_impair {chain} oifname \"{iface}\" counter drop\n");
        } else if per_million > 0 {
            rules += &format!(
                "add rule inet lanrage_impair {chain} oifname \"{iface}\" \
                 numgen random mod 1000000 < {per_million} counter drop\n"
            );
        }
        self.nft(ns, &rules);
    }

    /// Makes `router` a NAT router out of `wan_iface`: forwarding on, masquerade (random for
    /// [`Nat::Symmetric`]), and unsolicited inbound traffic on the WAN dropped both when routed
    /// and when addressed to the router itself (so it creates no conntrack entry that would
    /// move a later mapping to another port). Echo requests to the router are answered. All
    /// in nftables inside the router namespace.
    pub fn nat(&self, router: &str, wan_iface: &str, kind: Nat) {
        self.run(router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        let masq = match kind {
            Nat::Cone => "masquerade",
            Nat::Symmetric => "masquerade random",
        };
        let rules = format!(
            r#"table ip lanrage_nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{wan}" {masq}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{wan}" ct state established,related accept
    iifname "{wan}" counter drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{wan}" ct state established,related accept
    iifname "{wan}" icmp type echo-request accept
    iifname "{wan}" counter drop
  }}
}}
"#,
            wan = wan_iface
        );
        self.nft(router, &rules);
    }

    /// Loads an nftables ruleset (`nft -f -`) in a namespace.
    pub fn nft(&self, ns: &str, rules: &str) {
        let mut child = self
            .command(ns, &["nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nft");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .expect("writing nft rules");
        let out = child.wait_with_output().expect("waiting for nft");
        if !out.status.success() {
            panic!(
                "nft in {} failed: {}\nrules:\n{rules}",
                self.full(ns),
                describe(&out)
            );
        }
    }

    /// Forgets every NAT/conntrack entry in `ns` (`conntrack -F`).
    pub fn conntrack_flush(&self, ns: &str) {
        // Exits non-zero when the table is already empty on some versions: not an error.
        let _ = self.try_run(ns, &["conntrack", "-F"]);
    }

    /// Waits until `ping -c1 -W1 dst` from `ns` succeeds; panics with the last output after
    /// `timeout`.
    pub fn wait_ping(&self, ns: &str, dst: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.try_run(ns, &["ping", "-n", "-c1", "-W1", dst]);
            if out.status.success() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no ping reply from {dst} in namespace {} within {timeout:?}: {}",
                    self.full(ns),
                    describe(&out)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether one `ping -c1 -W1 dst` from `ns` gets a reply.
    pub fn pings(&self, ns: &str, dst: &str) -> bool {
        self.try_run(ns, &["ping", "-n", "-c1", "-W1", dst])
            .status
            .success()
    }

    /// A TCP listener on 127.0.0.1 inside namespace `ns`, for a test's own server (a fake
    /// Discord) that a program in the namespace must reach on its loopback. Bound from a thread
    /// that joins the namespace: a socket stays in the namespace it was made in.
    pub fn tcp_listener_in(&self, ns: &str) -> std::net::TcpListener {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.full(ns));
        std::thread::spawn(move || {
            let netns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns with a valid namespace fd changes only this short-lived thread.
            let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("a listener in {path}: {e}"))
        })
        .join()
        .unwrap_or_else(|_| panic!("binding in {ns} failed"))
    }

    /// Waits until something in `ns` listens on `port` (`proto` "udp" or "tcp").
    pub fn wait_listening(&self, ns: &str, proto: &str, port: u16, timeout: Duration) {
        let flag = match proto {
            "udp" => "-Hlun",
            "tcp" => "-Hltn",
            _ => panic!("proto must be udp or tcp"),
        };
        let filter = format!("sport = :{port}");
        super::wait_for(
            timeout,
            &format!("{proto} port {port} in {}", self.full(ns)),
            || !self.try_run(ns, &["ss", flag, &filter]).stdout.is_empty(),
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.kill_now();
        }
        for ns in self.namespaces.iter().rev() {
            destroy_netns(ns);
        }
        for name in &self.wg_names {
            let _ = std::fs::remove_file(Path::new(WG_SOCKET_DIR).join(format!("{name}.sock")));
        }
        let left: Vec<String> = netns_list()
            .into_iter()
            .filter(|n| self.namespaces.contains(n))
            .collect();
        if left.is_empty() {
            let _ = std::fs::remove_file(&self.marker);
        } else {
            // Keep the marker: the next reap_stale_labs sees the owner gone and retries.
            eprintln!("lab {}: could not delete namespaces {left:?}", self.prefix);
        }
    }
}

/// Removes the leftovers of labs whose owning process is gone: kills the processes inside
/// their namespaces, deletes the namespaces, the UAPI sockets of their WireGuard interfaces
/// and the markers. Namespaces named like a lab's (`lr` + 4 hex digits + `-`) without any
/// marker are leftovers too (a marker is always written before a lab's first namespace).
/// Never panics.
pub fn reap_stale_labs() {
    let mut live = Vec::new();
    let mut stale: Vec<(String, Vec<String>)> = Vec::new();
    // Namespaces first: any namespace listed now had its marker written before it.
    let all = netns_list();
    if let Ok(dir) = std::fs::read_dir(MARKER_DIR) {
        for entry in dir.flatten() {
            let prefix = entry.file_name().to_string_lossy().into_owned();
            if !is_prefix(&prefix) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let mut lines = text.lines();
            let owner = lines.next().unwrap_or("");
            if owner_alive(owner) {
                live.push(prefix);
            } else {
                let wg = lines
                    .filter_map(|l| l.strip_prefix("wg "))
                    .map(str::to_string)
                    .collect();
                stale.push((prefix, wg));
            }
        }
    }
    for ns in &all {
        let Some(prefix) = ns.get(..6) else { continue };
        if is_prefix(prefix)
            && ns.as_bytes().get(6) == Some(&b'-')
            && !live.iter().any(|l| l == prefix)
            && !stale.iter().any(|(s, _)| s == prefix)
        {
            stale.push((prefix.to_string(), Vec::new()));
        }
    }
    for (prefix, wg) in stale {
        let mut ok = true;
        for ns in all.iter().filter(|n| n.starts_with(&format!("{prefix}-"))) {
            eprintln!("lab: removing stale namespace {ns}");
            ok &= destroy_netns(ns);
        }
        for name in wg {
            let _ = std::fs::remove_file(Path::new(WG_SOCKET_DIR).join(format!("{name}.sock")));
        }
        if ok {
            let _ = std::fs::remove_file(Path::new(MARKER_DIR).join(&prefix));
        }
    }
}

/// Whether the kernel has the netem qdisc (delay, jitter, reordering). Checked once, in a
/// throwaway namespace.
pub fn netem_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let mut lab = Lab::new("netem-probe");
        lab.ns("probe");
        lab.try_run(
            "probe",
            &[
                "tc", "qdisc", "replace", "dev", "lo", "root", "netem", "delay", "1ms",
            ],
        )
        .status
        .success()
    })
}

/// Names of all namespaces (`ip netns list`).
pub fn netns_list() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a process with this pid is alive (a zombie waiting for its parent to reap it is
/// not: processes that left their parent are reaped by init whenever init gets to it).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
    }
}

/// Kills every process in the namespace and deletes it; true when it is gone.
fn destroy_netns(ns: &str) -> bool {
    for _ in 0..3 {
        let pids = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        // Plain positive pids only, never ourselves or init (kill's "-1" would be everyone).
        let me = std::process::id();
        let pids: Vec<String> = pids
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|&p| p > 1 && p != me)
            .map(|p| p.to_string())
            .collect();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .args(["-KILL", "--"])
                .args(&pids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !netns_list().iter().any(|n| n == ns) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn is_prefix(s: &str) -> bool {
    s.len() == 6
        && s.starts_with("lr")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// "pid <pid> start <starttime>" for a live process (start time from /proc/<pid>/stat, in
/// clock ticks since boot), so a reused pid does not look like the owner.
fn owner_line(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields after the command: state is field 3, starttime field 22.
    let start = after.split_whitespace().nth(19)?;
    Some(format!("pid {pid} start {start}"))
}

fn owner_alive(line: &str) -> bool {
    let mut it = line.split_whitespace();
    let pid = match (it.next(), it.next()) {
        (Some("pid"), Some(p)) => p.parse::<u32>().ok(),
        _ => None,
    };
    match pid {
        // Markers are written completely before they are linked into place: an unreadable
        // one is garbage.
        None => false,
        Some(pid) => owner_line(pid).as_deref() == Some(line.trim()),
    }
}

fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of both: neighbouring pids and counters give unrelated prefixes.
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn short(ns: &str) -> &str {
    // A full name's short part.
    if is_prefix(ns.get(..6).unwrap_or("")) && ns.as_bytes().get(6) == Some(&b'-') {
        &ns[7..]
    } else {
        ns
    }
}

fn ifname(s: &str) -> String {
    s.chars().take(15).collect()
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
