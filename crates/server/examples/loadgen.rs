//! Load generator for the control server (issue 4's benchmark, driven by `scripts/bench-party`).
//!
//! One process opens `--devices` WebSocket connections to a running `lanrage server`, each with
//! its own X25519 key and the real handshake (challenge -> hello -> auth -> welcome, see
//! `lanrage_proto::auth`). Devices form parties of `--party-size`: the first creates the party,
//! the others join with the invite code from the host's pushed `party` snapshot. Everyone
//! heartbeats every `--heartbeat-ms`. Once the whole population is in, every device sends a
//! `signal` to a party mate every `--signal-ms` (round robin over its mates) carrying the send
//! time on this process's monotonic clock; the receiver records the one-way latency. After
//! `--warmup-s` a `--window-s` steady window starts, over which it measures signaling latency,
//! the server's CPU (utime+stime from /proc/PID/stat) and memory (VmRSS), then it drains for
//! two seconds and exits on its own. Connecting runs with bounded concurrency and gives up after
//! `--connect-timeout-s`, so the whole run is bounded.
//!
//!   cargo run --release -p lanrage-server --example loadgen -- \
//!       --url ws://127.0.0.1:18667 --server-pid PID [--devices 10000] [--party-size 4]
//!
//! `--url` and `--server-pid` repeat for several servers sharing a bus: device N connects to
//! the (N mod count)-th URL, so party mates sit on different servers, and latencies between
//! devices on different servers are reported apart (`latency_cross_*`), with each server's
//! memory and CPU (`per_server`).
//!
//! Progress goes to stderr; the last line on stdout is `RESULT {json}`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use lanrage_proto::message::{self, ClientMsg, Op, ServerMsg};
use lanrage_proto::{auth, PROTOCOL_VERSION};
use serde_json::json;
use tokio::sync::{oneshot, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use x25519_dalek::{PublicKey, StaticSecret};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Any single step of the setup (connect, a reply) must finish within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_ATTEMPTS: u32 = 4;
/// What a signal carries besides the timestamp: about the size of an ICE candidate.
const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 198.51.100.11 51820 typ srflx raddr 10.0.0.2 rport 51820 generation 0";

#[derive(Debug, Clone)]
struct Args {
    urls: Vec<String>,
    devices: usize,
    party_size: usize,
    concurrency: usize,
    heartbeat_ms: u64,
    signal_ms: u64,
    warmup_s: u64,
    window_s: u64,
    connect_timeout_s: u64,
    server_pids: Vec<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --url ws://HOST:PORT [--server-pid PID] [--devices 10000] [--party-size 4]\n\
         \x20      [--concurrency 256] [--heartbeat-ms 3000] [--signal-ms 1000] [--warmup-s 5]\n\
         \x20      [--window-s 20] [--connect-timeout-s 120]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        urls: Vec::new(),
        devices: 10_000,
        party_size: 4,
        concurrency: 256,
        heartbeat_ms: 3000,
        signal_ms: 1000,
        warmup_s: 5,
        window_s: 20,
        connect_timeout_s: 120,
        server_pids: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else { usage() };
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--url" => a.urls.push(v),
            "--devices" => a.devices = num(&v) as usize,
            "--party-size" => a.party_size = num(&v) as usize,
            "--concurrency" => a.concurrency = num(&v) as usize,
            "--heartbeat-ms" => a.heartbeat_ms = num(&v),
            "--signal-ms" => a.signal_ms = num(&v),
            "--warmup-s" => a.warmup_s = num(&v),
            "--window-s" => a.window_s = num(&v),
            "--connect-timeout-s" => a.connect_timeout_s = num(&v),
            "--server-pid" => a.server_pids.push(num(&v) as u32),
            _ => usage(),
        }
    }
    if a.urls.is_empty()
        || a.party_size < 2
        || a.devices < a.party_size
        || a.concurrency == 0
        || a.heartbeat_ms == 0
        || a.signal_ms == 0
        || a.window_s == 0
    {
        usage()
    }
    a
}

/// Microseconds on this process's monotonic clock: senders and receivers share it.
fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[derive(Default)]
struct Stats {
    connected: AtomicU64,
    joined: AtomicU64,
    setup_failed: AtomicU64,
    connect_retries: AtomicU64,
    /// Signals sent (and received) whose send time fell in the window.
    sent_in_window: AtomicU64,
    received_in_window: AtomicU64,
    received_total: AtomicU64,
    server_errors: AtomicU64,
    dropped_by_server: AtomicU64,
    party_gone: AtomicU64,
    snapshots: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn note_error(&self, e: String) {
        *self.last_error.lock().unwrap() = Some(e);
    }
}

struct Phase {
    /// Set when signaling starts (the whole population is in).
    go: CancellationToken,
    /// Ends every device's loop.
    stop: CancellationToken,
    window_start_us: AtomicU64,
    window_end_us: AtomicU64,
}

impl Phase {
    fn in_window(&self, t: u64) -> bool {
        t >= self.window_start_us.load(Ordering::Relaxed)
            && t < self.window_end_us.load(Ordering::Relaxed)
    }
}

struct Device {
    ws: Ws,
    key: String,
    /// Party mates' public keys, from the latest snapshot.
    mates: Vec<String>,
    invite: Option<String>,
}

async fn recv(ws: &mut Ws) -> Result<ServerMsg, String> {
    loop {
        match tokio::time::timeout(STEP_TIMEOUT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return message::decode_server(&t).map_err(|e| format!("undecodable frame: {e}"))
            }
            Ok(Some(Ok(Message::Close(c)))) => return Err(format!("closed by server: {c:?}")),
            Ok(None) => return Err("connection ended".into()),
            Ok(Some(Err(e))) => return Err(format!("websocket: {e}")),
            Ok(Some(Ok(_))) => continue,
            Err(_) => return Err(format!("no message within {STEP_TIMEOUT:?}")),
        }
    }
}

async fn send(ws: &mut Ws, m: &ClientMsg) -> Result<(), String> {
    ws.send(Message::Text(message::encode(m).into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: 10,000 connections in one process.
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(lanrage_proto::MAX_FRAME_BYTES))
}

/// Connect, answer the challenge, get the welcome.
async fn connect(url: &str, n: usize) -> Result<Device, String> {
    let secret = StaticSecret::random_from_rng(rand_core::OsRng);
    let public = PublicKey::from(&secret);
    let (mut ws, _) = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    let ServerMsg::Challenge {
        nonce, server_key, ..
    } = recv(&mut ws).await?
    else {
        return Err("expected a challenge".into());
    };
    let nonce = B64.decode(nonce).map_err(|e| e.to_string())?;
    let server_key: [u8; 32] = B64
        .decode(server_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("bad server key")?;
    let key = B64.encode(public.as_bytes());
    send(
        &mut ws,
        &ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            public_key: key.clone(),
            name: format!("load{n}"),
        },
    )
    .await?;
    let proof = auth::prove(&secret, &PublicKey::from(server_key), &nonce);
    send(&mut ws, &ClientMsg::Auth { proof }).await?;
    match recv(&mut ws).await? {
        ServerMsg::Welcome { .. } => {}
        ServerMsg::Error { error } => return Err(format!("refused: {}", error.code)),
        other => return Err(format!("expected welcome, got {other:?}")),
    }
    Ok(Device {
        ws,
        key,
        mates: Vec::new(),
        invite: None,
    })
}

impl Device {
    fn apply(&mut self, msg: &ServerMsg, stats: &Stats) {
        if let ServerMsg::Party { party } = msg {
            stats.snapshots.fetch_add(1, Ordering::Relaxed);
            self.mates = party
                .members
                .iter()
                .filter(|m| m.public_key != self.key)
                .map(|m| m.public_key.clone())
                .collect();
            if let Some(inv) = &party.invite {
                self.invite = Some(inv.code.clone());
            }
        }
    }

    /// Sends a request and waits for its response, applying snapshots that arrive meanwhile.
    async fn request(&mut self, id: u64, op: Op, stats: &Stats) -> Result<(), String> {
        send(&mut self.ws, &ClientMsg::Request { id, op }).await?;
        loop {
            let m = recv(&mut self.ws).await?;
            self.apply(&m, stats);
            match m {
                ServerMsg::Response { id: rid, error, .. } if rid == id => {
                    return match error {
                        None => Ok(()),
                        Some(e) => Err(format!("{}: {}", e.code, e.message)),
                    };
                }
                ServerMsg::Error { error } => return Err(format!("server error: {}", error.code)),
                _ => {}
            }
        }
    }
}

async fn connect_with_retries(url: &str, n: usize, stats: &Stats) -> Result<Device, String> {
    let mut last = String::new();
    for attempt in 0..CONNECT_ATTEMPTS {
        if attempt > 0 {
            stats.connect_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match connect(url, n).await {
            Ok(d) => return Ok(d),
            Err(e) => last = e,
        }
    }
    Err(last)
}

struct Setup {
    device: Device,
    /// Connect + auth + create/join, excluding a joiner's wait for its host.
    busy_us: u64,
}

/// Connects device `n` and puts it in its party. The host hands the code to its joiners.
async fn setup(
    args: &Args,
    n: usize,
    host_code: Option<oneshot::Sender<String>>,
    joiner_code: Option<oneshot::Receiver<String>>,
    gate: &Semaphore,
    stats: &Stats,
) -> Result<Setup, String> {
    let permit = gate.acquire().await.map_err(|e| e.to_string())?;
    let t0 = now_us();
    let mut d = connect_with_retries(&args.urls[n % args.urls.len()], n, stats).await?;
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let mut busy = now_us() - t0;
    drop(permit);
    if let Some(tx) = host_code {
        let t1 = now_us();
        d.request(
            1,
            Op::CreateParty {
                name: format!("bench party {}", n / args.party_size),
                max_members: Some(args.party_size as u16),
                invite_ttl_secs: None,
            },
            stats,
        )
        .await?;
        // The snapshot with the invite comes before the response, but be lenient.
        while d.invite.is_none() {
            let m = recv(&mut d.ws).await?;
            d.apply(&m, stats);
        }
        busy += now_us() - t1;
        let _ = tx.send(d.invite.clone().unwrap_or_default());
    } else if let Some(rx) = joiner_code {
        let code = rx.await.map_err(|_| "the host failed".to_string())?;
        let t1 = now_us();
        d.request(1, Op::JoinParty { code }, stats).await?;
        busy += now_us() - t1;
    }
    stats.joined.fetch_add(1, Ordering::Relaxed);
    Ok(Setup {
        device: d,
        busy_us: busy,
    })
}

/// The steady state: heartbeats, signals, recording latencies, until `stop`.
async fn steady(
    args: Arc<Args>,
    n: usize,
    mut d: Device,
    phase: Arc<Phase>,
    stats: Arc<Stats>,
) -> (Vec<u32>, Vec<u32>) {
    let mut lat = Vec::new();
    // Latencies between devices on different servers (their sessions cross the bus).
    let mut cross = Vec::new();
    let servers = args.urls.len();
    // Spread everyone's timers over their periods so load is even.
    let spread =
        |period: u64| Duration::from_millis((n as u64).wrapping_mul(2_654_435_761) % period.max(1));
    let hb_period = Duration::from_millis(args.heartbeat_ms);
    let mut hb = tokio::time::interval_at(
        tokio::time::Instant::now() + spread(args.heartbeat_ms),
        hb_period,
    );
    hb.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sig_period = Duration::from_millis(args.signal_ms);
    let mut sig: Option<tokio::time::Interval> = None;
    let mut seq: u64 = 0;
    let heartbeat = message::encode(&ClientMsg::Heartbeat);
    loop {
        tokio::select! {
            _ = phase.stop.cancelled() => break,
            _ = phase.go.cancelled(), if sig.is_none() => {
                let mut i = tokio::time::interval_at(
                    tokio::time::Instant::now() + spread(args.signal_ms),
                    sig_period,
                );
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                sig = Some(i);
            }
            _ = hb.tick() => {
                if d.ws.send(Message::Text(heartbeat.clone().into())).await.is_err() {
                    stats.dropped_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            _ = async { sig.as_mut().unwrap().tick().await }, if sig.is_some() => {
                if d.mates.is_empty() {
                    continue;
                }
                let to = d.mates[(seq as usize) % d.mates.len()].clone();
                seq += 1;
                let t = now_us();
                let m = ClientMsg::Signal {
                    to,
                    // A real candidate signal (the server relays nothing else), the send time
                    // as its last extension attribute.
                    payload: json!({
                        "kind": "cand",
                        "leg": "direct",
                        "gen": seq % u64::from(u32::MAX),
                        "c": format!("{CANDIDATE} lanrage-sent-us {n} {t}"),
                    }),
                };
                if phase.in_window(t) {
                    stats.sent_in_window.fetch_add(1, Ordering::Relaxed);
                }
                if send(&mut d.ws, &m).await.is_err() {
                    stats.dropped_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            frame = d.ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        if !phase.stop.is_cancelled() {
                            stats.dropped_by_server.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let now = now_us();
                let Ok(m) = message::decode_server(&text) else {
                    stats.server_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match &m {
                    ServerMsg::Signal { payload, .. } => {
                        stats.received_total.fetch_add(1, Ordering::Relaxed);
                        let mut tail = payload["c"].as_str().unwrap_or("").rsplit(' ');
                        let sent = tail.next().and_then(|t| t.parse::<u64>().ok());
                        let from = tail.next().and_then(|f| f.parse::<usize>().ok());
                        if let Some(t) = sent {
                            if phase.in_window(t) {
                                stats.received_in_window.fetch_add(1, Ordering::Relaxed);
                                let us = now.saturating_sub(t).min(u32::MAX as u64) as u32;
                                lat.push(us);
                                if from.is_some_and(|f| f % servers != n % servers) {
                                    cross.push(us);
                                }
                            }
                        }
                    }
                    ServerMsg::Error { error } => {
                        stats.server_errors.fetch_add(1, Ordering::Relaxed);
                        stats.note_error(format!("{}: {}", error.code, error.message));
                    }
                    ServerMsg::PartyGone { .. } => {
                        stats.party_gone.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                d.apply(&m, &stats);
            }
        }
    }
    // Closing 10,000 sockets politely is not what we measure: just drop them.
    (lat, cross)
}

/// (utime + stime) in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A `Vm*:` line of /proc/PID/status, in kB.
fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks of the whole machine (all CPUs) from /proc/stat: (user+nice+system+steal,
/// irq+softirq). Loopback traffic's softirq work is mostly not charged to any process.
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let g = |i: usize| f.get(i).copied().unwrap_or(0);
    Some((g(0) + g(1) + g(2) + g(7), g(5) + g(6)))
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn pct(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[i]) / 1000.0)
}

fn pct_u64(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i] as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let args = Arc::new(parse_args());
    let _ = now_us();
    let tck = clk_tck();
    let pids: Vec<String> = args.server_pids.iter().map(|p| p.to_string()).collect();
    let stats = Arc::new(Stats::default());
    let phase = Arc::new(Phase {
        go: CancellationToken::new(),
        stop: CancellationToken::new(),
        window_start_us: AtomicU64::new(u64::MAX),
        window_end_us: AtomicU64::new(u64::MAX),
    });
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let parties = args.devices / args.party_size;
    let devices = parties * args.party_size;
    eprintln!(
        "loadgen: {devices} devices in {parties} parties of {} against {}, {} connecting at a time",
        args.party_size,
        args.urls.join(" "),
        args.concurrency
    );

    // Setup: every device its own task; each returns its steady-state latencies.
    let (setup_tx, mut setup_rx) = tokio::sync::mpsc::unbounded_channel::<Result<u64, String>>();
    let t_start = now_us();
    let mut handles = Vec::with_capacity(devices);
    for p in 0..parties {
        let (code_tx, code_rx) = oneshot::channel::<String>();
        // One code channel per joiner: the host sends the same code to each.
        let mut joiner_rx = Vec::new();
        let mut joiner_tx = Vec::new();
        for _ in 1..args.party_size {
            let (tx, rx) = oneshot::channel::<String>();
            joiner_tx.push(tx);
            joiner_rx.push(rx);
        }
        // Fan the host's code out to the joiners.
        tokio::spawn(async move {
            if let Ok(code) = code_rx.await {
                for tx in joiner_tx {
                    let _ = tx.send(code.clone());
                }
            }
        });
        let mut host_code = Some(code_tx);
        let mut joiner_rx = joiner_rx.into_iter();
        for i in 0..args.party_size {
            let n = p * args.party_size + i;
            let (hc, jc) = if i == 0 {
                (host_code.take(), None)
            } else {
                (None, joiner_rx.next())
            };
            let (args, gate, stats, phase, setup_tx) = (
                args.clone(),
                gate.clone(),
                stats.clone(),
                phase.clone(),
                setup_tx.clone(),
            );
            handles.push(tokio::spawn(async move {
                match setup(&args, n, hc, jc, &gate, &stats).await {
                    Ok(s) => {
                        let _ = setup_tx.send(Ok(s.busy_us));
                        steady(args, n, s.device, phase, stats).await
                    }
                    Err(e) => {
                        stats.setup_failed.fetch_add(1, Ordering::Relaxed);
                        let _ = setup_tx.send(Err(e));
                        (Vec::new(), Vec::new())
                    }
                }
            }));
        }
    }
    drop(setup_tx);

    // Wait for the whole population (or the connect deadline).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.connect_timeout_s);
    let mut busy: Vec<u64> = Vec::with_capacity(devices);
    let mut errors: Vec<String> = Vec::new();
    let mut done = 0usize;
    let mut last_report = Instant::now();
    while done < devices {
        match tokio::time::timeout_at(deadline, setup_rx.recv()).await {
            Ok(Some(Ok(us))) => {
                busy.push(us);
                done += 1;
            }
            Ok(Some(Err(e))) => {
                if errors.len() < 5 {
                    errors.push(e);
                }
                done += 1;
            }
            Ok(None) => break,
            Err(_) => {
                eprintln!("loadgen: connect deadline reached with {done} of {devices} set up");
                break;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "loadgen: {} connected, {} in parties, {} failed ({:.1} s)",
                stats.connected.load(Ordering::Relaxed),
                stats.joined.load(Ordering::Relaxed),
                stats.setup_failed.load(Ordering::Relaxed),
                (now_us() - t_start) as f64 / 1e6
            );
        }
    }
    let setup_s = (now_us() - t_start) as f64 / 1e6;
    let joined = stats.joined.load(Ordering::Relaxed);
    eprintln!(
        "loadgen: {joined} of {devices} devices in parties after {setup_s:.1} s ({} failed)",
        stats.setup_failed.load(Ordering::Relaxed)
    );
    for e in &errors {
        eprintln!("loadgen: setup error: {e}");
    }
    let sum = |v: Vec<Option<u64>>| v.into_iter().sum::<Option<u64>>();
    let rss_connected: Vec<Option<u64>> = pids.iter().map(|p| status_kb(p, "VmRSS:")).collect();

    // Steady state: signaling on, warm up, then the measured window.
    let go_at = now_us();
    phase
        .window_start_us
        .store(go_at + args.warmup_s * 1_000_000, Ordering::Relaxed);
    phase.window_end_us.store(
        go_at + (args.warmup_s + args.window_s) * 1_000_000,
        Ordering::Relaxed,
    );
    phase.go.cancel();
    eprintln!(
        "loadgen: signaling every {} ms per device, heartbeats every {} ms; warm-up {} s, window {} s",
        args.signal_ms, args.heartbeat_ms, args.warmup_s, args.window_s
    );
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;
    let cpu0: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(p)).collect();
    let self_cpu0 = cpu_ticks("self");
    let machine0 = machine_ticks();
    let w0 = Instant::now();
    let mut rss_max: Vec<Option<u64>> = vec![None; pids.len()];
    let window_end = tokio::time::Instant::now() + Duration::from_secs(args.window_s);
    while tokio::time::Instant::now() < window_end {
        for (i, p) in pids.iter().enumerate() {
            if let Some(kb) = status_kb(p, "VmRSS:") {
                rss_max[i] = Some(rss_max[i].map_or(kb, |m| m.max(kb)));
            }
        }
        tokio::time::sleep_until(
            (tokio::time::Instant::now() + Duration::from_secs(1)).min(window_end),
        )
        .await;
    }
    let wsecs = w0.elapsed().as_secs_f64();
    let cpu1: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(p)).collect();
    let self_cpu1 = cpu_ticks("self");
    let machine1 = machine_ticks();
    let pct_of = |ticks: u64| ticks as f64 / tck / wsecs * 100.0;
    let server_ticks: Vec<Option<u64>> = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| Some(b.as_ref()? - a.as_ref()?))
        .collect();
    let servers_ticks = if pids.is_empty() {
        None
    } else {
        sum(server_ticks.clone())
    };
    let server_cpu_pct = servers_ticks.map(pct_of);
    let self_ticks = match (self_cpu0, self_cpu1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let self_cpu_pct = self_ticks.map(pct_of);
    // Everything else on the machine in the same window (builds, tests): noise to know about.
    let (others_cpu_pct, irq_cpu_pct) = match (machine0, machine1, servers_ticks, self_ticks) {
        (Some(m0), Some(m1), Some(s), Some(l)) => {
            let other = (m1.0 - m0.0) as f64 - s as f64 - l as f64;
            let irq = (m1.1 - m0.1) as f64;
            (
                Some(pct_of(other.max(0.0) as u64)),
                Some(pct_of(irq as u64)),
            )
        }
        _ => (None, None),
    };
    let server_alive = pids
        .iter()
        .all(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
    let hwm: Vec<Option<u64>> = pids.iter().map(|p| status_kb(p, "VmHWM:")).collect();
    let mb = |kb: Option<u64>| kb.map(|k| k as f64 / 1024.0);
    let per_server: Vec<serde_json::Value> = (0..pids.len())
        .map(|i| {
            json!({
                "url": args.urls.get(i),
                "rss_connected_mb": mb(rss_connected[i]),
                "rss_steady_mb": mb(rss_max[i]),
                "rss_peak_mb": mb(hwm[i]),
                "cpu_pct": server_ticks[i].map(pct_of),
            })
        })
        .collect();
    let (rss_connected_kb, rss_steady_kb, hwm_kb) = if pids.is_empty() {
        (None, None, None)
    } else {
        (sum(rss_connected), sum(rss_max), sum(hwm))
    };
    // Let in-flight signals arrive, then stop everyone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    phase.stop.cancel();
    let mut lat: Vec<u32> = Vec::new();
    let mut cross: Vec<u32> = Vec::new();
    let collect = async {
        for h in handles {
            if let Ok((v, c)) = h.await {
                lat.extend(v);
                cross.extend(c);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), collect).await;
    lat.sort_unstable();
    cross.sort_unstable();
    busy.sort_unstable();

    let sent = stats.sent_in_window.load(Ordering::Relaxed);
    let received = stats.received_in_window.load(Ordering::Relaxed);
    let mut result = json!({
        "devices": devices,
        "parties": parties,
        "party_size": args.party_size,
        "joined": joined,
        "setup_failed": stats.setup_failed.load(Ordering::Relaxed),
        "connect_retries": stats.connect_retries.load(Ordering::Relaxed),
        "setup_s": setup_s,
        "setup_rate_per_s": joined as f64 / setup_s,
        "device_setup_p50_ms": pct_u64(&busy, 50.0),
        "device_setup_p99_ms": pct_u64(&busy, 99.0),
        "heartbeat_ms": args.heartbeat_ms,
        "signal_ms": args.signal_ms,
        "window_s": wsecs,
        "signals_per_s": sent as f64 / wsecs,
        "signals_sent": sent,
        "signals_received": received,
        "signals_lost": sent.saturating_sub(received),
        "latency_samples": lat.len(),
        "latency_p50_ms": pct(&lat, 50.0),
        "latency_p90_ms": pct(&lat, 90.0),
        "latency_p99_ms": pct(&lat, 99.0),
        "latency_p999_ms": pct(&lat, 99.9),
        "latency_over_25ms": lat.iter().filter(|&&v| v > 25_000).count(),
        "latency_max_ms": lat.last().map(|v| f64::from(*v) / 1000.0),

        "server_rss_connected_mb": mb(rss_connected_kb),
        "server_rss_steady_mb": mb(rss_steady_kb),
        "server_rss_peak_mb": mb(hwm_kb),
        "server_cpu_pct": server_cpu_pct,
        "loadgen_cpu_pct": self_cpu_pct,
        "others_cpu_pct": others_cpu_pct,
        "irq_cpu_pct": irq_cpu_pct,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "server_alive": server_alive,
        "dropped_by_server": stats.dropped_by_server.load(Ordering::Relaxed),
        "server_errors": stats.server_errors.load(Ordering::Relaxed),
        "party_gone": stats.party_gone.load(Ordering::Relaxed),
        "snapshots": stats.snapshots.load(Ordering::Relaxed),
        "last_server_error": stats.last_error.lock().unwrap().clone(),
        "setup_errors": errors,
    });
    // Kept apart: one `json!` this big exceeds the macro's recursion limit.
    result["latency_cross_samples"] = json!(cross.len());
    result["latency_cross_p50_ms"] = json!(pct(&cross, 50.0));
    result["latency_cross_p99_ms"] = json!(pct(&cross, 99.0));
    result["servers"] = json!(args.urls.len());
    result["per_server"] = json!(per_server);
    eprintln!(
        "loadgen: window {wsecs:.1} s: {sent} signals sent, {received} received; p50 {:?} ms p99 {:?} ms",
        pct(&lat, 50.0),
        pct(&lat, 99.0)
    );
    println!("RESULT {result}");
    // Dropping 10,000 connections one by one in the runtime's shutdown is slow: just exit.
    std::process::exit(0);
}
