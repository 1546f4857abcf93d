//! The in-tunnel probe's bookkeeping: a plain state machine driven by the caller's clock, so it
//! is tested without a network or real time.
//!
//! The probe does two jobs. It measures the path (RTT, jitter, loss, for the status and the
//! grade), and it is the path's liveness: a probe is a request that needs an answer, so a path
//! that fails in one direction only (our packets vanish, the friend's still arrive) shows as
//! unanswered probes, where counting received packets would see nothing wrong. While traffic
//! flows a peer is probed ten times a second, so a dead path is noticed within half a second;
//! an idle party is probed once a second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often a peer is probed while data flows to or from it.
pub const PROBE_INTERVAL_ACTIVE: Duration = Duration::from_millis(100);
/// How often a peer is probed while the party is idle.
pub const PROBE_INTERVAL_IDLE: Duration = Duration::from_secs(1);
/// Data seen within this long makes a peer active.
const ACTIVE_FOR: Duration = Duration::from_secs(2);
/// The caller polls on a tick as long as the active interval: a tick that fires a little early
/// must not push a probe to the next one.
const TICK_SLACK: Duration = Duration::from_millis(20);
/// A probe not answered within this time counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Loss is the share of the probes resolved within this long that went unanswered.
const LOSS_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct ProbeStats {
    /// Last measured round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Smoothed round trip (RFC 6298 style, 1/8 gain), milliseconds.
    pub srtt_ms: Option<f64>,
    /// Interarrival jitter of the RTT (RFC 3550 estimator), milliseconds.
    pub jitter_ms: Option<f64>,
    /// Lost share of the last probes, 0.0 to 1.0; `None` until a probe resolved.
    pub loss: Option<f64>,
    pub sent: u64,
    pub answered: u64,
}

/// How the path answers right now, for failover (read often, so no history in it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Liveness {
    /// How long probes have gone unanswered: since the first probe sent after the newest one
    /// answered. `None` while every probe sent has been answered.
    pub silent_for: Option<Duration>,
    /// How many probes went out since then (one lost probe is not a dead path).
    pub unanswered: u32,
    /// The smoothed round trip, to tell a slow path from a dead one.
    pub srtt: Option<Duration>,
}

#[derive(Debug)]
pub struct ProbeTracker {
    next_seq: u32,
    last_sent: Option<Instant>,
    outstanding: VecDeque<(u32, Instant)>,
    /// Resolved probes (when, answered) within [`LOSS_WINDOW`].
    window: VecDeque<(Instant, bool)>,
    /// The first probe sent after the newest answered one, and how many went out since.
    unanswered_since: Option<Instant>,
    unanswered: u32,
    /// When the newest answered probe was sent: an older probe's late answer says nothing
    /// about the path now.
    newest_answered: Option<Instant>,
    /// The peer's data packet count at the last poll, and when it last changed.
    data_packets: u64,
    data_at: Option<Instant>,
    stats: ProbeStats,
}

impl Default for ProbeTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ProbeTracker {
    pub fn new() -> Self {
        Self {
            next_seq: 1,
            last_sent: None,
            outstanding: VecDeque::new(),
            window: VecDeque::new(),
            unanswered_since: None,
            unanswered: 0,
            newest_answered: None,
            data_packets: 0,
            data_at: None,
            stats: ProbeStats::default(),
        }
    }

    /// Called on every tick of the caller's timer; returns the sequence number of a probe to
    /// send when one is due. `data_packets`: the peer's data packets so far, both ways, probes
    /// not counted (a change means traffic flows, and the path is watched closely).
    pub fn poll(&mut self, now: Instant, data_packets: u64) -> Option<u32> {
        self.expire(now);
        if data_packets != self.data_packets {
            self.data_packets = data_packets;
            self.data_at = Some(now);
        }
        // A probe unanswered past the fast interval is checked at it too, so an idle peer's
        // lost probe is told from a dead path in a fraction of a second either way.
        let active = self
            .data_at
            .is_some_and(|t| now.saturating_duration_since(t) < ACTIVE_FOR)
            || self
                .unanswered_since
                .is_some_and(|t| now.saturating_duration_since(t) >= PROBE_INTERVAL_ACTIVE);
        let interval = if active {
            PROBE_INTERVAL_ACTIVE
        } else {
            PROBE_INTERVAL_IDLE
        };
        if self
            .last_sent
            .is_some_and(|t| now.saturating_duration_since(t) + TICK_SLACK < interval)
        {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        self.last_sent = Some(now);
        self.outstanding.push_back((seq, now));
        self.unanswered_since.get_or_insert(now);
        self.unanswered = self.unanswered.saturating_add(1);
        self.stats.sent += 1;
        Some(seq)
    }

    fn resolve(&mut self, answered: bool, now: Instant) {
        self.window.push_back((now, answered));
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > LOSS_WINDOW)
        {
            self.window.pop_front();
        }
        let lost = self.window.iter().filter(|(_, a)| !*a).count();
        self.stats.loss = Some(lost as f64 / self.window.len().max(1) as f64);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(_, sent)) = self.outstanding.front() {
            if now.saturating_duration_since(sent) < PROBE_TIMEOUT {
                break;
            }
            self.outstanding.pop_front();
            self.resolve(false, now);
        }
    }

    /// How the path answers now.
    pub fn liveness(&self, now: Instant) -> Liveness {
        Liveness {
            silent_for: self
                .unanswered_since
                .map(|t| now.saturating_duration_since(t)),
            unanswered: self.unanswered,
            srtt: self
                .stats
                .srtt_ms
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok()),
        }
    }

    /// The peer's traffic moved to another path: the old path's silence and round trip say
    /// nothing about the new one, which is judged from its own first probes.
    pub fn path_changed(&mut self) {
        self.unanswered_since = None;
        self.unanswered = 0;
        self.newest_answered = self.last_sent;
        self.stats.srtt_ms = None;
    }

    /// A reply arrived. Unknown or late sequence numbers (already counted lost) are ignored.
    pub fn on_reply(&mut self, seq: u32, now: Instant) {
        let Some(pos) = self.outstanding.iter().position(|(s, _)| *s == seq) else {
            return;
        };
        let Some((_, sent)) = self.outstanding.remove(pos) else {
            return;
        };
        self.stats.answered += 1;
        self.resolve(true, now);
        // An older probe's late answer is an answer for the loss figure, but says nothing about
        // the path now (and after a path change, nothing about this path at all).
        if self.newest_answered.is_some_and(|t| sent <= t) {
            return;
        }
        // The path worked both ways when this probe went out; probes sent after it and still
        // out count from the next one.
        self.newest_answered = Some(sent);
        let later = self.outstanding.iter().filter(|&&(_, t)| t > sent);
        self.unanswered_since = later.clone().map(|&(_, t)| t).next();
        self.unanswered = u32::try_from(later.count()).unwrap_or(u32::MAX);
        let rtt = now.saturating_duration_since(sent).as_secs_f64() * 1000.0;
        if let Some(prev) = self.stats.rtt_ms {
            let d = (rtt - prev).abs();
            let j = self.stats.jitter_ms.unwrap_or(0.0);
            self.stats.jitter_ms = Some(j + (d - j) / 16.0);
        } else {
            self.stats.jitter_ms = Some(0.0);
        }
        self.stats.srtt_ms = Some(match self.stats.srtt_ms {
            Some(s) => s + (rtt - s) / 8.0,
            None => rtt,
        });
        self.stats.rtt_ms = Some(rtt);
    }

    pub fn stats(&self) -> ProbeStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_idle_peer_is_probed_once_a_second() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        assert_eq!(p.poll(t0, 0), Some(1));
        p.on_reply(1, t0 + ms(1));
        assert_eq!(p.poll(t0 + ms(500), 0), None);
        assert_eq!(p.poll(t0 + ms(1000), 0), Some(2));
        assert_eq!(p.stats().sent, 2);
    }

    #[test]
    fn rtt_jitter_and_loss_from_replies_and_timeouts() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        // Four probes: RTT 20 ms, 30 ms, lost, 20 ms.
        let s1 = p.poll(t0, 0).unwrap();
        p.on_reply(s1, t0 + ms(20));
        let s2 = p.poll(t0 + ms(1000), 0).unwrap();
        p.on_reply(s2, t0 + ms(1030));
        let _lost = p.poll(t0 + ms(2000), 0).unwrap();
        let s4 = p.poll(t0 + ms(3000), 0).unwrap();
        p.on_reply(s4, t0 + ms(3020));
        p.poll(t0 + ms(4500), 0); // expires the lost one (sent at 2.0 s, timeout 2 s)
        let s = p.stats();
        assert!((s.rtt_ms.unwrap() - 20.0).abs() < 0.01);
        assert!((s.loss.unwrap() - 0.25).abs() < 1e-9, "{s:?}");
        // Jitter: |30-20|/16 = 0.625, then + (10 - 0.625)/16.
        let expected = 0.625 + (10.0 - 0.625) / 16.0;
        assert!((s.jitter_ms.unwrap() - expected).abs() < 0.01, "{s:?}");
        assert_eq!(s.answered, 3);
    }

    #[test]
    fn late_and_unknown_replies_are_ignored() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        let s1 = p.poll(t0, 0).unwrap();
        p.poll(t0 + ms(2500), 0); // s1 expired
        p.on_reply(s1, t0 + ms(2600));
        p.on_reply(999, t0 + ms(2600));
        let s = p.stats();
        assert_eq!(s.answered, 0);
        assert_eq!(s.loss, Some(1.0));
        assert_eq!(s.rtt_ms, None);
    }

    #[test]
    fn loss_window_forgets_old_losses() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        p.poll(t0, 0);
        let mut t = t0;
        for _ in 0..40 {
            t += ms(1000);
            if let Some(s) = p.poll(t, 0) {
                p.on_reply(s, t + ms(5));
            }
        }
        assert_eq!(p.stats().loss, Some(0.0));
    }

    #[test]
    fn while_data_flows_the_peer_is_probed_ten_times_a_second() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        // Every probe answered within a millisecond: the cadence follows the data alone.
        let mut poll = |at: u64, data: u64| {
            let seq = p.poll(t0 + ms(at), data);
            if let Some(s) = seq {
                p.on_reply(s, t0 + ms(at + 1));
            }
            seq
        };
        assert_eq!(poll(0, 0), Some(1));
        // Data flows from 0.1 s on: a probe every tick of 100 ms (one that fires a few ms
        // early included).
        assert_eq!(poll(100, 5), Some(2));
        assert_eq!(poll(195, 9), Some(3));
        assert_eq!(poll(250, 12), None);
        assert_eq!(poll(300, 14), Some(4));
        // No data for two seconds: back to once a second.
        assert_eq!(poll(2400, 14), Some(5));
        assert_eq!(poll(2600, 14), None);
        assert_eq!(poll(3400, 14), Some(6));
    }

    #[test]
    fn silence_counts_from_the_first_probe_after_the_last_answer() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        assert_eq!(p.liveness(t0).silent_for, None);
        let s1 = p.poll(t0, 1).unwrap();
        p.on_reply(s1, t0 + ms(5));
        assert_eq!(p.liveness(t0 + ms(10)).silent_for, None);
        assert_eq!(p.liveness(t0 + ms(10)).srtt, Some(ms(5)));
        // The path dies one way: probes keep going out, none come back.
        let mut t = t0;
        for i in 2..=6 {
            t = t0 + ms(100 * (i - 1));
            assert!(p.poll(t, i).is_some());
        }
        assert_eq!(p.liveness(t + ms(50)).silent_for, Some(ms(450)));
        assert_eq!(p.liveness(t + ms(50)).unanswered, 5);
        // A late answer to the second probe: silence counts from the third.
        p.on_reply(2, t + ms(60));
        assert_eq!(p.liveness(t + ms(100)).silent_for, Some(ms(400)));
        assert_eq!(p.liveness(t + ms(100)).unanswered, 4);
        // The newest one answered: the path works.
        p.on_reply(6, t + ms(70));
        assert_eq!(p.liveness(t + ms(100)).silent_for, None);
        // An older probe's answer after it changes nothing.
        let s7 = p.poll(t + ms(100), 7).unwrap();
        p.on_reply(3, t + ms(120));
        let live = p.liveness(t + ms(150));
        assert_eq!((live.silent_for, live.unanswered), (Some(ms(50)), 1));
        p.on_reply(s7, t + ms(160));
        assert_eq!(p.liveness(t + ms(170)).silent_for, None);
    }

    #[test]
    fn an_idle_peers_unanswered_probe_is_followed_up_at_once() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        let s1 = p.poll(t0, 0).unwrap();
        p.on_reply(s1, t0 + ms(1));
        // The next idle probe is lost: instead of waiting a second, the next goes 100 ms
        // later, so one loss is told from a dead path quickly.
        assert_eq!(p.poll(t0 + ms(1000), 0), Some(2));
        assert_eq!(p.poll(t0 + ms(1050), 0), None);
        assert_eq!(p.poll(t0 + ms(1100), 0), Some(3));
        p.on_reply(3, t0 + ms(1101));
        assert_eq!(p.liveness(t0 + ms(1150)).silent_for, None);
        // Answered again: back to once a second.
        assert_eq!(p.poll(t0 + ms(1300), 0), None);
        assert_eq!(p.poll(t0 + ms(2100), 0), Some(4));
    }

    #[test]
    fn a_new_path_is_judged_by_its_own_probes() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        let s1 = p.poll(t0, 1).unwrap();
        p.on_reply(s1, t0 + ms(1));
        p.poll(t0 + ms(100), 2);
        p.poll(t0 + ms(200), 3);
        assert_eq!(p.liveness(t0 + ms(900)).silent_for, Some(ms(800)));
        p.path_changed();
        let live = p.liveness(t0 + ms(900));
        assert_eq!(
            (live.silent_for, live.unanswered, live.srtt),
            (None, 0, None)
        );
        // A late answer from the old path does not count for the new one either way.
        p.on_reply(2, t0 + ms(950));
        assert_eq!(p.liveness(t0 + ms(960)).silent_for, None);
        let s = p.poll(t0 + ms(1000), 4).unwrap();
        assert_eq!(p.liveness(t0 + ms(1100)).silent_for, Some(ms(100)));
        p.on_reply(s, t0 + ms(1200));
        assert_eq!(p.liveness(t0 + ms(1200)).srtt, Some(ms(200)));
    }
}
