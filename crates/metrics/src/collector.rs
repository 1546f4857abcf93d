//! [`MetricsCollector`]: a plain state machine fed once per tick with the peers' counters and
//! probe results (and optionally a system reading); it keeps rates, totals, time per connection
//! state, quality scores and histories, and returns what changed as [`MetricsEvent`]s (for the
//! session log). No clock, no I/O: the caller passes `now_ms` (Unix milliseconds).

use crate::history::{History, Point, HOUR_STEP_MS, MINUTE_POINTS};
use crate::quality::{party_quality, quality, PartyQuality, Quality};
use crate::system::SystemSample;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use ts_rs::TS;

/// One peer's measurements at a tick, as the engine knows them.
///
/// From the tunnel (`lanrage_tunnel::PeerStats`): `public_key`, the four counters, and from
/// `probe` (`ProbeStats`): `rtt_ms` (prefer the smoothed `srtt_ms`, falling back to `rtt_ms`, so
/// the grade does not flicker), `jitter_ms` and `loss`. `connection` comes from the connection
/// manager ("direct", "relayed", ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerInput {
    pub public_key: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// Connection type or state, e.g. "direct", "relayed", "connecting".
    pub connection: String,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// Lost share of recent probes, 0.0..=1.0.
    pub loss: Option<f64>,
    /// Counters since the peer was added to the tunnel; a counter that goes down is taken as a
    /// reset (the peer was re-added) and counted from zero.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

/// Something that changed at a tick; the engine writes these to the session log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricsEvent {
    PeerAppeared {
        public_key: String,
        connection: String,
    },
    /// The peer was absent from a tick's input; its state and history are dropped.
    PeerGone {
        public_key: String,
        /// How long it was present, in milliseconds.
        present_ms: u64,
    },
    ConnectionChanged {
        public_key: String,
        from: String,
        to: String,
    },
}

/// A point of a peer's chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct PeerPoint {
    pub t_ms: u64,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss: Option<f64>,
    pub rx_bytes_per_sec: Option<f64>,
    pub tx_bytes_per_sec: Option<f64>,
    /// The quality score (0..=100; a mean over the bucket in the hour series).
    pub quality: Option<f64>,
}

const PEER_FIELDS: usize = 6;

impl From<&Point<PEER_FIELDS>> for PeerPoint {
    fn from(p: &Point<PEER_FIELDS>) -> Self {
        let [rtt_ms, jitter_ms, loss, rx, tx, quality] = p.values();
        Self {
            t_ms: p.t_ms,
            rtt_ms,
            jitter_ms,
            loss,
            rx_bytes_per_sec: rx,
            tx_bytes_per_sec: tx,
            quality,
        }
    }
}

/// A point of the system chart (party-wide values included).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct SystemPoint {
    pub t_ms: u64,
    pub cpu_ratio: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    pub net_rx_bytes_per_sec: Option<f64>,
    pub net_tx_bytes_per_sec: Option<f64>,
    pub process_cpu_cores: Option<f64>,
    pub party_quality: Option<f64>,
    pub peers: Option<f64>,
}

const SYSTEM_FIELDS: usize = 7;

impl From<&Point<SYSTEM_FIELDS>> for SystemPoint {
    fn from(p: &Point<SYSTEM_FIELDS>) -> Self {
        let [cpu, mem, rx, tx, proc_cpu, party, peers] = p.values();
        Self {
            t_ms: p.t_ms,
            cpu_ratio: cpu,
            memory_used_bytes: mem,
            net_rx_bytes_per_sec: rx,
            net_tx_bytes_per_sec: tx,
            process_cpu_cores: proc_cpu,
            party_quality: party,
            peers,
        }
    }
}

/// A peer's current values, quality and last minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PeerSnapshot {
    pub public_key: String,
    pub name: Option<String>,
    pub connection: String,
    /// When the current connection state began (Unix ms; first sight counts as a beginning).
    pub connection_since_ms: u64,
    pub first_seen_ms: u64,
    /// Time spent in each connection state while observed, milliseconds.
    pub time_in_state_ms: BTreeMap<String, u64>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// 0.0 to 1.0.
    pub loss: Option<f64>,
    /// Totals since the collector first saw the peer's counters (monotonic across resets).
    pub rx_bytes_total: u64,
    pub tx_bytes_total: u64,
    pub rx_packets_total: u64,
    pub tx_packets_total: u64,
    /// Rates over the last tick; `None` before the second tick.
    pub rx_bytes_per_sec: Option<f64>,
    pub tx_bytes_per_sec: Option<f64>,
    pub rx_packets_per_sec: Option<f64>,
    pub tx_packets_per_sec: Option<f64>,
    pub quality: Option<Quality>,
    /// The last minute at 1 s resolution, oldest first.
    pub minute: Vec<PeerPoint>,
}

/// Everything the dashboard and `/metrics` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Snapshot {
    /// Time of the last tick (Unix ms), `None` before the first.
    pub t_ms: Option<u64>,
    /// Peers ordered by public key.
    pub peers: Vec<PeerSnapshot>,
    pub party: Option<PartyQuality>,
    /// The latest system reading.
    pub system: Option<SystemSample>,
    /// The last minute of the system (and party) chart.
    pub system_minute: Vec<SystemPoint>,
}

/// Which series [`MetricsCollector::history`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The last minute, 1 s apart.
    Minute,
    /// About the last hour, 10 s apart (finished buckets only).
    Hour,
}

impl Window {
    /// The window a host names (`hour`; anything else, or nothing, is the minute), so the app
    /// and the local API read the dashboard's choice the same way.
    pub fn named(name: Option<&str>) -> Self {
        match name {
            Some("hour") => Window::Hour,
            _ => Window::Minute,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PeerHistory {
    pub public_key: String,
    pub name: Option<String>,
    pub points: Vec<PeerPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct HistoryView {
    pub window: Window,
    /// Nominal spacing of the points.
    pub step_ms: u64,
    pub system: Vec<SystemPoint>,
    pub peers: Vec<PeerHistory>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
}

impl Counters {
    fn of(p: &PeerInput) -> Self {
        Self {
            rx_bytes: p.rx_bytes,
            tx_bytes: p.tx_bytes,
            rx_packets: p.rx_packets,
            tx_packets: p.tx_packets,
        }
    }

    /// Per-counter increase from `prev` to `self`; a counter that went down restarted at zero.
    fn delta(self, prev: Counters) -> Counters {
        fn d(cur: u64, prev: u64) -> u64 {
            if cur >= prev {
                cur - prev
            } else {
                cur
            }
        }
        Counters {
            rx_bytes: d(self.rx_bytes, prev.rx_bytes),
            tx_bytes: d(self.tx_bytes, prev.tx_bytes),
            rx_packets: d(self.rx_packets, prev.rx_packets),
            tx_packets: d(self.tx_packets, prev.tx_packets),
        }
    }

    fn add(&mut self, d: Counters) {
        self.rx_bytes = self.rx_bytes.saturating_add(d.rx_bytes);
        self.tx_bytes = self.tx_bytes.saturating_add(d.tx_bytes);
        self.rx_packets = self.rx_packets.saturating_add(d.rx_packets);
        self.tx_packets = self.tx_packets.saturating_add(d.tx_packets);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Rates {
    rx_bytes: f64,
    tx_bytes: f64,
    rx_packets: f64,
    tx_packets: f64,
}

#[derive(Debug)]
struct PeerState {
    name: Option<String>,
    connection: String,
    connection_since_ms: u64,
    first_seen_ms: u64,
    time_in_state_ms: BTreeMap<String, u64>,
    rtt_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss: Option<f64>,
    last_counters: Counters,
    totals: Counters,
    rates: Option<Rates>,
    quality: Option<Quality>,
    history: History<PEER_FIELDS>,
}

/// The metrics state machine; see the module documentation.
#[derive(Debug, Default)]
pub struct MetricsCollector {
    last_t_ms: Option<u64>,
    peers: BTreeMap<String, PeerState>,
    party: Option<PartyQuality>,
    system: Option<SystemSample>,
    system_history: History<SYSTEM_FIELDS>,
}

/// Finite values only: NaN or infinite inputs are treated as missing in the stored values.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl MetricsCollector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one tick. `peers` is the complete current peer list: a peer missing from it is
    /// gone. A tick older than the previous one (the wall clock stepped back) is ignored.
    pub fn on_tick(
        &mut self,
        now_ms: u64,
        peers: &[PeerInput],
        system: Option<SystemSample>,
    ) -> Vec<MetricsEvent> {
        let mut events = Vec::new();
        let prev_t = match self.last_t_ms {
            Some(last) if now_ms < last => {
                tracing::debug!(now_ms, last, "metrics tick from the past ignored");
                return events;
            }
            prev => prev,
        };
        self.last_t_ms = Some(now_ms);
        let dt_ms = prev_t.map_or(0, |p| now_ms - p);

        let mut seen: HashSet<&str> = HashSet::with_capacity(peers.len());
        for input in peers {
            if !seen.insert(input.public_key.as_str()) {
                tracing::debug!(peer = %input.public_key, "duplicate peer in metrics input ignored");
                continue;
            }
            let counters = Counters::of(input);
            // Quality from the raw inputs (the formula defines how NaN and negatives count).
            let q = quality(input.rtt_ms, input.jitter_ms, input.loss);
            let state = match self.peers.get_mut(&input.public_key) {
                Some(state) => {
                    // The interval since the previous tick was spent in the previous state.
                    *state
                        .time_in_state_ms
                        .entry(state.connection.clone())
                        .or_insert(0) += dt_ms;
                    if state.connection != input.connection {
                        events.push(MetricsEvent::ConnectionChanged {
                            public_key: input.public_key.clone(),
                            from: std::mem::replace(
                                &mut state.connection,
                                input.connection.clone(),
                            ),
                            to: input.connection.clone(),
                        });
                        state.connection_since_ms = now_ms;
                    }
                    let delta = counters.delta(state.last_counters);
                    state.totals.add(delta);
                    state.rates = (dt_ms > 0).then(|| {
                        let secs = dt_ms as f64 / 1000.0;
                        Rates {
                            rx_bytes: delta.rx_bytes as f64 / secs,
                            tx_bytes: delta.tx_bytes as f64 / secs,
                            rx_packets: delta.rx_packets as f64 / secs,
                            tx_packets: delta.tx_packets as f64 / secs,
                        }
                    });
                    state
                }
                None => {
                    events.push(MetricsEvent::PeerAppeared {
                        public_key: input.public_key.clone(),
                        connection: input.connection.clone(),
                    });
                    self.peers
                        .entry(input.public_key.clone())
                        .or_insert_with(|| PeerState {
                            name: None,
                            connection: input.connection.clone(),
                            connection_since_ms: now_ms,
                            first_seen_ms: now_ms,
                            time_in_state_ms: BTreeMap::new(),
                            rtt_ms: None,
                            jitter_ms: None,
                            loss: None,
                            last_counters: counters,
                            totals: counters,
                            rates: None,
                            quality: None,
                            history: History::new(),
                        })
                }
            };
            state
                .time_in_state_ms
                .entry(input.connection.clone())
                .or_insert(0);
            state.name.clone_from(&input.name);
            state.rtt_ms = finite(input.rtt_ms);
            state.jitter_ms = finite(input.jitter_ms);
            state.loss = finite(input.loss);
            state.last_counters = counters;
            state.quality = q;
            state.history.record(
                now_ms,
                [
                    state.rtt_ms,
                    state.jitter_ms,
                    state.loss,
                    state.rates.map(|r| r.rx_bytes),
                    state.rates.map(|r| r.tx_bytes),
                    q.map(|q| f64::from(q.score)),
                ],
            );
        }

        let gone: Vec<String> = self
            .peers
            .keys()
            .filter(|k| !seen.contains(k.as_str()))
            .cloned()
            .collect();
        for key in gone {
            if let Some(state) = self.peers.remove(&key) {
                events.push(MetricsEvent::PeerGone {
                    public_key: key,
                    present_ms: now_ms.saturating_sub(state.first_seen_ms),
                });
            }
        }

        self.party = party_quality(
            self.peers
                .iter()
                .map(|(k, s)| (k.as_str(), s.quality.as_ref())),
        );
        if system.is_some() {
            self.system = system;
        }
        self.system_history.record(
            now_ms,
            [
                system.map(|s| s.cpu_ratio),
                system.map(|s| s.memory_used_bytes as f64),
                system.map(|s| s.net_rx_bytes_per_sec),
                system.map(|s| s.net_tx_bytes_per_sec),
                system.and_then(|s| s.process_cpu_cores),
                self.party.as_ref().map(|p| f64::from(p.score)),
                Some(self.peers.len() as f64),
            ],
        );
        events
    }

    /// Points of the minute ring that are within the last minute of the last tick.
    fn recent<const N: usize, T>(&self, h: &History<N>) -> Vec<T>
    where
        T: for<'a> From<&'a Point<N>>,
    {
        let horizon = self
            .last_t_ms
            .map_or(0, |t| t.saturating_sub(MINUTE_POINTS as u64 * 1000));
        h.minute()
            .iter()
            .filter(|p| p.t_ms > horizon)
            .map(T::from)
            .collect()
    }

    /// Current values, quality, party quality, the latest system reading and the minute charts.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_inner(true)
    }

    /// Like [`snapshot`](Self::snapshot) without the minute charts (`minute` and
    /// `system_minute` are empty): about a tenth of the JSON, for a per-second UI update whose
    /// charts append the new values (fetch [`snapshot`](Self::snapshot) or
    /// [`history`](Self::history) once when the dashboard opens).
    pub fn snapshot_current(&self) -> Snapshot {
        self.snapshot_inner(false)
    }

    fn snapshot_inner(&self, with_minute: bool) -> Snapshot {
        let peers = self
            .peers
            .iter()
            .map(|(key, s)| PeerSnapshot {
                public_key: key.clone(),
                name: s.name.clone(),
                connection: s.connection.clone(),
                connection_since_ms: s.connection_since_ms,
                first_seen_ms: s.first_seen_ms,
                time_in_state_ms: s.time_in_state_ms.clone(),
                rtt_ms: s.rtt_ms,
                jitter_ms: s.jitter_ms,
                loss: s.loss,
                rx_bytes_total: s.totals.rx_bytes,
                tx_bytes_total: s.totals.tx_bytes,
                rx_packets_total: s.totals.rx_packets,
                tx_packets_total: s.totals.tx_packets,
                rx_bytes_per_sec: s.rates.map(|r| r.rx_bytes),
                tx_bytes_per_sec: s.rates.map(|r| r.tx_bytes),
                rx_packets_per_sec: s.rates.map(|r| r.rx_packets),
                tx_packets_per_sec: s.rates.map(|r| r.tx_packets),
                quality: s.quality,
                minute: if with_minute {
                    self.recent(&s.history)
                } else {
                    Vec::new()
                },
            })
            .collect();
        Snapshot {
            t_ms: self.last_t_ms,
            peers,
            party: self.party.clone(),
            system: self.system,
            system_minute: if with_minute {
                self.recent(&self.system_history)
            } else {
                Vec::new()
            },
        }
    }

    /// The chart series of one window for the system and every current peer.
    pub fn history(&self, window: Window) -> HistoryView {
        match window {
            Window::Minute => HistoryView {
                window,
                step_ms: 1000,
                system: self.recent(&self.system_history),
                peers: self
                    .peers
                    .iter()
                    .map(|(k, s)| PeerHistory {
                        public_key: k.clone(),
                        name: s.name.clone(),
                        points: self.recent(&s.history),
                    })
                    .collect(),
            },
            Window::Hour => HistoryView {
                window,
                step_ms: HOUR_STEP_MS,
                system: self
                    .system_history
                    .hour()
                    .iter()
                    .map(SystemPoint::from)
                    .collect(),
                peers: self
                    .peers
                    .iter()
                    .map(|(k, s)| PeerHistory {
                        public_key: k.clone(),
                        name: s.name.clone(),
                        points: s.history.hour().iter().map(PeerPoint::from).collect(),
                    })
                    .collect(),
            },
        }
    }

    /// Number of peers currently tracked.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::Grade;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn a_window_is_named_hour_or_else_it_is_the_minute() {
        assert_eq!(Window::named(Some("hour")), Window::Hour);
        assert_eq!(Window::named(Some("minute")), Window::Minute);
        assert_eq!(Window::named(Some("day")), Window::Minute);
        assert_eq!(Window::named(None), Window::Minute);
        for w in [Window::Minute, Window::Hour] {
            assert_eq!(Window::named(Some(w.name())), w);
        }
    }

    fn peer(key: &str, conn: &str, rtt: f64, rx: u64, tx: u64) -> PeerInput {
        PeerInput {
            public_key: key.into(),
            name: Some(format!("name-{key}")),
            connection: conn.into(),
            rtt_ms: Some(rtt),
            jitter_ms: Some(1.0),
            loss: Some(0.0),
            rx_bytes: rx,
            tx_bytes: tx,
            rx_packets: rx / 100,
            tx_packets: tx / 100,
        }
    }

    #[test]
    fn throughput_from_counter_deltas() {
        let mut c = MetricsCollector::new();
        c.on_tick(T0, &[peer("a", "direct", 10.0, 1000, 500)], None);
        let s = c.snapshot();
        assert_eq!(s.peers[0].rx_bytes_per_sec, None);
        assert_eq!(s.peers[0].rx_bytes_total, 1000);
        // 2 s later: +4000 rx, +1000 tx.
        c.on_tick(T0 + 2000, &[peer("a", "direct", 10.0, 5000, 1500)], None);
        let p = &c.snapshot().peers[0];
        assert_eq!(p.rx_bytes_per_sec, Some(2000.0));
        assert_eq!(p.tx_bytes_per_sec, Some(500.0));
        assert_eq!(p.rx_packets_per_sec, Some(20.0));
        assert_eq!(p.rx_bytes_total, 5000);
        assert_eq!(p.tx_bytes_total, 1500);
    }

    #[test]
    fn counter_reset_counts_from_zero_and_totals_stay_monotonic() {
        let mut c = MetricsCollector::new();
        c.on_tick(T0, &[peer("a", "direct", 10.0, 10_000, 0)], None);
        c.on_tick(T0 + 1000, &[peer("a", "direct", 10.0, 12_000, 0)], None);
        // The tunnel re-added the peer: counters restart.
        c.on_tick(T0 + 2000, &[peer("a", "direct", 10.0, 300, 0)], None);
        let p = &c.snapshot().peers[0];
        assert_eq!(p.rx_bytes_per_sec, Some(300.0));
        assert_eq!(p.rx_bytes_total, 12_300);
    }

    #[test]
    fn same_timestamp_gives_no_rate_and_past_ticks_are_ignored() {
        let mut c = MetricsCollector::new();
        c.on_tick(T0, &[peer("a", "direct", 10.0, 0, 0)], None);
        c.on_tick(T0, &[peer("a", "direct", 10.0, 100, 0)], None);
        assert_eq!(c.snapshot().peers[0].rx_bytes_per_sec, None);
        assert!(c.on_tick(T0 - 1000, &[], None).is_empty());
        assert_eq!(c.peer_count(), 1);
        assert_eq!(c.snapshot().t_ms, Some(T0));
    }

    #[test]
    fn time_in_each_connection_state_and_events() {
        let mut c = MetricsCollector::new();
        let ev = c.on_tick(T0, &[peer("a", "connecting", 10.0, 0, 0)], None);
        assert_eq!(
            ev,
            vec![MetricsEvent::PeerAppeared {
                public_key: "a".into(),
                connection: "connecting".into()
            }]
        );
        c.on_tick(T0 + 1000, &[peer("a", "connecting", 10.0, 0, 0)], None);
        let ev = c.on_tick(T0 + 2000, &[peer("a", "relayed", 10.0, 0, 0)], None);
        assert_eq!(
            ev,
            vec![MetricsEvent::ConnectionChanged {
                public_key: "a".into(),
                from: "connecting".into(),
                to: "relayed".into()
            }]
        );
        for i in 3..=7 {
            c.on_tick(T0 + i * 1000, &[peer("a", "relayed", 10.0, 0, 0)], None);
        }
        c.on_tick(T0 + 8000, &[peer("a", "direct", 10.0, 0, 0)], None);
        c.on_tick(T0 + 9500, &[peer("a", "direct", 10.0, 0, 0)], None);
        let p = &c.snapshot().peers[0];
        assert_eq!(p.time_in_state_ms["connecting"], 2000);
        assert_eq!(p.time_in_state_ms["relayed"], 6000);
        assert_eq!(p.time_in_state_ms["direct"], 1500);
        assert_eq!(p.connection, "direct");
        assert_eq!(p.connection_since_ms, T0 + 8000);
        assert_eq!(p.first_seen_ms, T0);

        let ev = c.on_tick(T0 + 10_000, &[], None);
        assert_eq!(
            ev,
            vec![MetricsEvent::PeerGone {
                public_key: "a".into(),
                present_ms: 10_000
            }]
        );
        assert_eq!(c.peer_count(), 0);
        assert!(c.snapshot().party.is_none());
    }

    #[test]
    fn quality_and_party_quality() {
        let mut c = MetricsCollector::new();
        let mut far = peer("far", "relayed", 120.0, 0, 0);
        far.jitter_ms = Some(2.0);
        let near = peer("near", "direct", 12.0, 0, 0);
        let mut unmeasured = peer("new", "connecting", 0.0, 0, 0);
        unmeasured.rtt_ms = None;
        unmeasured.jitter_ms = None;
        unmeasured.loss = None;
        c.on_tick(T0, &[near, far, unmeasured], None);
        let s = c.snapshot();
        let by = |k: &str| s.peers.iter().find(|p| p.public_key == k).unwrap();
        assert_eq!(by("near").quality.unwrap().grade, Grade::A);
        assert_eq!(by("far").quality.unwrap().score, 20);
        assert_eq!(by("new").quality, None);
        let party = s.party.unwrap();
        assert_eq!(party.worst_peer, "far");
        assert_eq!(party.score, 20);
        assert_eq!(party.grade, Grade::D);
        assert_eq!(party.peers_scored, 2);
    }

    #[test]
    fn nan_inputs_are_not_stored_but_score_as_bad() {
        let mut c = MetricsCollector::new();
        let mut p = peer("a", "direct", f64::NAN, 0, 0);
        p.loss = Some(f64::INFINITY);
        c.on_tick(T0, &[p], None);
        let s = c.snapshot();
        assert_eq!(s.peers[0].rtt_ms, None);
        assert_eq!(s.peers[0].loss, None);
        assert_eq!(s.peers[0].quality.unwrap().score, 0);
        // And it serializes (NaN would not be valid JSON).
        serde_json::to_string(&s).unwrap();
    }

    #[test]
    fn minute_and_hour_histories() {
        let mut c = MetricsCollector::new();
        let sys = |t: u64| SystemSample {
            t_ms: t,
            cpu_ratio: 0.25,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            net_rx_bytes_per_sec: 1000.0,
            net_tx_bytes_per_sec: 2000.0,
            process_cpu_cores: Some(0.01),
            process_memory_bytes: Some(1 << 20),
        };
        // 15 minutes of ticks, RTT alternating 10/20 ms, 1000 B/s each way.
        for i in 0..900u64 {
            let rtt = if i % 2 == 0 { 10.0 } else { 20.0 };
            let t = T0 + i * 1000;
            c.on_tick(
                t,
                &[peer("a", "direct", rtt, i * 1000, i * 1000)],
                Some(sys(t)),
            );
        }
        let s = c.snapshot();
        assert_eq!(s.peers[0].minute.len(), 60);
        assert_eq!(s.system_minute.len(), 60);
        assert_eq!(s.system.unwrap().t_ms, T0 + 899_000);
        assert_eq!(s.system_minute.last().unwrap().cpu_ratio, Some(0.25));
        assert_eq!(s.system_minute.last().unwrap().peers, Some(1.0));
        let last = s.peers[0].minute.last().unwrap();
        assert_eq!(last.t_ms, T0 + 899_000);
        assert_eq!(last.rtt_ms, Some(20.0));
        assert_eq!(last.rx_bytes_per_sec, Some(1000.0));

        let h = c.history(Window::Hour);
        assert_eq!(h.step_ms, 10_000);
        assert_eq!(h.peers[0].points.len(), 89);
        assert_eq!(h.system.len(), 89);
        let p = h.peers[0].points[5];
        assert_eq!(p.rtt_ms, Some(15.0));
        assert_eq!(p.rx_bytes_per_sec, Some(1000.0));
        // Scores alternate 93 (10 ms) and 87 (20 ms): the bucket mean is 90.
        assert_eq!(h.system[5].party_quality, Some(90.0));
        let m = c.history(Window::Minute);
        assert_eq!(m.peers[0].points.len(), 60);
    }

    #[test]
    fn minute_view_drops_points_older_than_a_minute() {
        let mut c = MetricsCollector::new();
        for i in 0..10 {
            c.on_tick(T0 + i * 1000, &[peer("a", "direct", 10.0, 0, 0)], None);
        }
        // Two minutes later (the machine slept).
        c.on_tick(T0 + 130_000, &[peer("a", "direct", 10.0, 0, 0)], None);
        assert_eq!(c.snapshot().peers[0].minute.len(), 1);
    }

    #[test]
    fn duplicate_peers_count_once() {
        let mut c = MetricsCollector::new();
        let ev = c.on_tick(
            T0,
            &[
                peer("a", "direct", 10.0, 0, 0),
                peer("a", "relayed", 10.0, 5, 5),
            ],
            None,
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(c.snapshot().peers[0].connection, "direct");
    }

    #[test]
    fn snapshot_serializes_to_json() {
        let mut c = MetricsCollector::new();
        c.on_tick(T0, &[peer("a", "direct", 10.0, 0, 0)], None);
        let v = serde_json::to_value(c.snapshot()).unwrap();
        assert_eq!(v["peers"][0]["quality"]["grade"], "A");
        assert_eq!(v["peers"][0]["quality"]["limited_by"], "latency");
        assert_eq!(v["party"]["worst_peer"], "a");
        let back: Snapshot = serde_json::from_value(v).unwrap();
        assert_eq!(back, c.snapshot());
        let current = c.snapshot_current();
        assert!(current.peers[0].minute.is_empty() && current.system_minute.is_empty());
        assert_eq!(current.peers[0].quality, c.snapshot().peers[0].quality);
    }
}
