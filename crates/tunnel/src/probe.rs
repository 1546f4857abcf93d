//! The in-tunnel probe's bookkeeping: a plain state machine driven by the caller's clock, so it
//! is tested without a network or real time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often each peer is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A probe not answered within this time counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Loss is the share of the last this-many resolved probes that went unanswered.
const LOSS_WINDOW: usize = 30;

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

#[derive(Debug)]
pub struct ProbeTracker {
    next_seq: u32,
    last_sent: Option<Instant>,
    outstanding: VecDeque<(u32, Instant)>,
    window: VecDeque<bool>,
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
            stats: ProbeStats::default(),
        }
    }

    /// Called often; returns the sequence number of a probe to send when one is due.
    pub fn poll(&mut self, now: Instant) -> Option<u32> {
        self.expire(now);
        if self
            .last_sent
            .is_some_and(|t| now.saturating_duration_since(t) < PROBE_INTERVAL)
        {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        self.last_sent = Some(now);
        self.outstanding.push_back((seq, now));
        self.stats.sent += 1;
        Some(seq)
    }

    fn resolve(&mut self, answered: bool) {
        self.window.push_back(answered);
        if self.window.len() > LOSS_WINDOW {
            self.window.pop_front();
        }
        let lost = self.window.iter().filter(|a| !**a).count();
        self.stats.loss = Some(lost as f64 / self.window.len() as f64);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(_, sent)) = self.outstanding.front() {
            if now.saturating_duration_since(sent) < PROBE_TIMEOUT {
                break;
            }
            self.outstanding.pop_front();
            self.resolve(false);
        }
    }

    /// A reply arrived. Unknown or late sequence numbers (already counted lost) are ignored.
    pub fn on_reply(&mut self, seq: u32, now: Instant) {
        let Some(pos) = self.outstanding.iter().position(|(s, _)| *s == seq) else {
            return;
        };
        let Some((_, sent)) = self.outstanding.remove(pos) else {
            return;
        };
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
        self.stats.answered += 1;
        self.resolve(true);
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
    fn probes_once_a_second() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        assert_eq!(p.poll(t0), Some(1));
        assert_eq!(p.poll(t0 + ms(500)), None);
        assert_eq!(p.poll(t0 + ms(1000)), Some(2));
        assert_eq!(p.stats().sent, 2);
    }

    #[test]
    fn rtt_jitter_and_loss_from_replies_and_timeouts() {
        let t0 = Instant::now();
        let mut p = ProbeTracker::new();
        // Four probes: RTT 20 ms, 30 ms, lost, 20 ms.
        let s1 = p.poll(t0).unwrap();
        p.on_reply(s1, t0 + ms(20));
        let s2 = p.poll(t0 + ms(1000)).unwrap();
        p.on_reply(s2, t0 + ms(1030));
        let _lost = p.poll(t0 + ms(2000)).unwrap();
        let s4 = p.poll(t0 + ms(3000)).unwrap();
        p.on_reply(s4, t0 + ms(3020));
        p.poll(t0 + ms(4500)); // expires the lost one (sent at 2.0 s, timeout 2 s)
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
        let s1 = p.poll(t0).unwrap();
        p.poll(t0 + ms(2500)); // s1 expired
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
        p.poll(t0);
        let mut t = t0;
        for _ in 0..40 {
            t += ms(1000);
            if let Some(s) = p.poll(t) {
                p.on_reply(s, t + ms(5));
            }
        }
        assert_eq!(p.stats().loss, Some(0.0));
    }
}
