//! A game session: one run of a game during a party, with who was there and how good the
//! connection to them was. [`Recorder`] is plain code: it is started, fed a sample a second
//! and finished with the times the caller gives it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// At most this many round-trip samples are kept per session (a day at one per second per
/// member of a full party is far beyond any game night); later ones still count in min/max.
const MAX_SAMPLES: usize = 200_000;

/// Round trips to the other members during the session, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RttSummary {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
}

/// One finished session, as stored and as `lanrage games --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct GameSession {
    pub game_id: String,
    pub game_name: String,
    /// Unix seconds.
    pub started_at: u64,
    pub ended_at: u64,
    pub duration_secs: u64,
    /// Display names of the members present at any time during it.
    pub members: Vec<String>,
    /// `None` when nothing was measured (alone in the party, or no path yet).
    pub rtt_ms: Option<RttSummary>,
    /// Average loss to the members, percent.
    pub loss_pct: Option<f64>,
}

/// A session being recorded.
#[derive(Debug, Clone)]
pub struct Recorder {
    game_id: String,
    game_name: String,
    started_at: u64,
    members: BTreeSet<String>,
    rtts: Vec<f64>,
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
    loss_sum: f64,
    loss_count: u64,
}

/// One member's measurements at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSample<'a> {
    pub name: &'a str,
    pub rtt_ms: Option<f64>,
    pub loss_pct: Option<f64>,
}

impl Recorder {
    pub fn start(game_id: &str, game_name: &str, at: u64) -> Recorder {
        Recorder {
            game_id: game_id.to_string(),
            game_name: game_name.to_string(),
            started_at: at,
            members: BTreeSet::new(),
            rtts: Vec::new(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            count: 0,
            loss_sum: 0.0,
            loss_count: 0,
        }
    }

    pub fn game_id(&self) -> &str {
        &self.game_id
    }

    /// The members now in the party and what was measured to each.
    pub fn sample(&mut self, members: &[MemberSample<'_>]) {
        for m in members {
            self.members.insert(m.name.to_string());
            if let Some(rtt) = m.rtt_ms.filter(|r| r.is_finite() && *r >= 0.0) {
                self.min = self.min.min(rtt);
                self.max = self.max.max(rtt);
                self.sum += rtt;
                self.count += 1;
                if self.rtts.len() < MAX_SAMPLES {
                    self.rtts.push(rtt);
                }
            }
            if let Some(loss) = m.loss_pct.filter(|l| l.is_finite()) {
                self.loss_sum += loss.clamp(0.0, 100.0);
                self.loss_count += 1;
            }
        }
    }

    pub fn finish(mut self, at: u64) -> GameSession {
        let rtt_ms = (self.count > 0).then(|| {
            self.rtts.sort_by(f64::total_cmp);
            // Nearest rank: the smallest sample with at least 95 % of samples at or below it.
            let rank = (self.rtts.len() * 95).div_ceil(100).max(1);
            RttSummary {
                avg: self.sum / self.count as f64,
                min: self.min,
                max: self.max,
                p95: self.rtts.get(rank - 1).copied().unwrap_or(self.max),
            }
        });
        GameSession {
            game_id: self.game_id,
            game_name: self.game_name,
            started_at: self.started_at,
            ended_at: at.max(self.started_at),
            duration_secs: at.saturating_sub(self.started_at),
            members: self.members.into_iter().collect(),
            rtt_ms,
            loss_pct: (self.loss_count > 0).then(|| self.loss_sum / self.loss_count as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, rtt: Option<f64>, loss: Option<f64>) -> MemberSample<'_> {
        MemberSample {
            name,
            rtt_ms: rtt,
            loss_pct: loss,
        }
    }

    #[test]
    fn a_session_sums_up_who_was_there_and_the_connection() {
        let mut r = Recorder::start("openttd", "OpenTTD", 1_000);
        for i in 1..=100 {
            r.sample(&[s("bob", Some(f64::from(i)), Some(0.0))]);
        }
        r.sample(&[s("bob", None, None), s("cat", Some(50.0), Some(10.0))]);
        let g = r.finish(1_600);
        assert_eq!(g.duration_secs, 600);
        assert_eq!(g.members, ["bob", "cat"]);
        let rtt = g.rtt_ms.unwrap();
        assert_eq!((rtt.min, rtt.max), (1.0, 100.0));
        assert_eq!(rtt.p95, 95.0);
        assert!((rtt.avg - (5050.0 + 50.0) / 101.0).abs() < 1e-9);
        assert!((g.loss_pct.unwrap() - 10.0 / 101.0).abs() < 1e-9);
    }

    #[test]
    fn alone_nothing_is_measured_and_a_clock_going_back_is_no_negative_time() {
        let r = Recorder::start("openttd", "OpenTTD", 1_000);
        let g = r.finish(900);
        assert_eq!(g.duration_secs, 0);
        assert_eq!(g.ended_at, 1_000);
        assert!(g.members.is_empty());
        assert_eq!(g.rtt_ms, None);
        assert_eq!(g.loss_pct, None);
    }

    #[test]
    fn nonsense_measurements_are_ignored() {
        let mut r = Recorder::start("x", "X", 0);
        r.sample(&[
            s("bob", Some(f64::NAN), Some(f64::INFINITY)),
            s("bob", Some(-1.0), None),
        ]);
        let g = r.finish(10);
        assert_eq!(g.rtt_ms, None);
        assert_eq!(g.loss_pct, None);
    }
}
