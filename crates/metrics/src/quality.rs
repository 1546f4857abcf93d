//! The connection quality score and grade: the one place where they are defined.
//!
//! # Formula
//!
//! Each measured component maps linearly from 100 (a perfect value, zero) down to 0 at its limit:
//!
//! ```text
//! component = clamp(100 × (1 − value / limit), 0, 100)
//!
//!   latency  value = RTT in ms        limit = 150 ms   (RTT_LIMIT_MS)
//!   jitter   value = jitter in ms     limit =  50 ms   (JITTER_LIMIT_MS)
//!   loss     value = lost share 0..1  limit = 0.05     (LOSS_LIMIT, i.e. 5 %)
//!
//! score = round(min(latency, jitter, loss))          an integer 0..=100
//! ```
//!
//! The score is the **minimum** of the components, not a mean: a game is as playable as its worst
//! property (perfect ping does not make 5 % loss acceptable), and the UI can say which component
//! limits the score ([`Quality::limited_by`]).
//!
//! Edge rules:
//! - a value at or beyond its limit gives that component 0, so the score is 0 (grade F);
//! - negative values count as 0 (perfect), `+∞` as beyond the limit;
//! - `NaN` counts as beyond the limit (a value that cannot be trusted is not good);
//! - a missing component (`None`, e.g. no jitter yet) is left out; with no component at all
//!   there is no score (`None`). A peer whose probes are all lost has loss 1.0 and scores 0.
//!
//! # Grade
//!
//! From the integer score, in even 20-point bands ([`Grade::from_score`]):
//!
//! | grade | score    | latency alone | jitter alone | loss alone |
//! |-------|----------|---------------|--------------|------------|
//! | A     | 80..=100 | ≤ 30 ms       | ≤ 10 ms      | ≤ 1 %      |
//! | B     | 60..=79  | ≤ 60 ms       | ≤ 20 ms      | ≤ 2 %      |
//! | C     | 40..=59  | ≤ 90 ms       | ≤ 30 ms      | ≤ 3 %      |
//! | D     | 20..=39  | ≤ 120 ms      | ≤ 40 ms      | ≤ 4 %      |
//! | F     | 0..=19   | worse         | worse        | worse      |
//!
//! # Party score
//!
//! The party's score is its **worst peer's** score ([`party_quality`]): a LAN game is only as
//! smooth as its worst link, so one bad connection must show.

use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;

/// Round-trip time at which the latency component reaches 0.
pub const RTT_LIMIT_MS: f64 = 150.0;
/// Jitter at which the jitter component reaches 0.
pub const JITTER_LIMIT_MS: f64 = 50.0;
/// Loss ratio (0..1) at which the loss component reaches 0.
pub const LOSS_LIMIT: f64 = 0.05;

/// Letter grade of a quality score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
pub enum Grade {
    A,
    B,
    C,
    D,
    F,
}

impl Grade {
    /// The grade for an integer score; see the module documentation for the bands.
    pub fn from_score(score: u8) -> Grade {
        match score {
            80.. => Grade::A,
            60..=79 => Grade::B,
            40..=59 => Grade::C,
            20..=39 => Grade::D,
            _ => Grade::F,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::F => "F",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the measured properties that make up the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Latency,
    Jitter,
    Loss,
}

/// A peer's quality: the score, its grade and the component scores it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct Quality {
    /// 0..=100, see the module documentation.
    pub score: u8,
    pub grade: Grade,
    /// Component scores 0.0..=100.0; `None` when that input was missing.
    pub latency: Option<f64>,
    pub jitter: Option<f64>,
    pub loss: Option<f64>,
    /// The component with the lowest score (the first of latency, jitter, loss on a tie).
    pub limited_by: Component,
}

/// One component: 100 at zero, 0 at `limit` and beyond. `NaN` counts as beyond the limit.
pub fn component_score(value: f64, limit: f64) -> f64 {
    if value.is_nan() {
        return 0.0;
    }
    let value = value.max(0.0);
    (100.0 * (1.0 - value / limit)).clamp(0.0, 100.0)
}

/// The quality from RTT (ms), jitter (ms) and loss (ratio 0..1); `None` when all are missing.
pub fn quality(rtt_ms: Option<f64>, jitter_ms: Option<f64>, loss: Option<f64>) -> Option<Quality> {
    let latency = rtt_ms.map(|v| component_score(v, RTT_LIMIT_MS));
    let jitter = jitter_ms.map(|v| component_score(v, JITTER_LIMIT_MS));
    let loss_c = loss.map(|v| component_score(v, LOSS_LIMIT));
    let mut worst: Option<(Component, f64)> = None;
    for (component, value) in [
        (Component::Latency, latency),
        (Component::Jitter, jitter),
        (Component::Loss, loss_c),
    ] {
        if let Some(v) = value {
            if worst.is_none_or(|(_, w)| v < w) {
                worst = Some((component, v));
            }
        }
    }
    let (limited_by, min) = worst?;
    // `min` is within 0.0..=100.0 by construction, so the cast cannot truncate.
    let score = min.round() as u8;
    Some(Quality {
        score,
        grade: Grade::from_score(score),
        latency,
        jitter,
        loss: loss_c,
        limited_by,
    })
}

/// [`quality`] with the loss in percent (0..100), as party status and the UI show it: the one
/// place that converts it to the ratio the formula takes.
pub fn quality_from_percent(
    rtt_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss_pct: Option<f64>,
) -> Option<Quality> {
    quality(rtt_ms, jitter_ms, loss_pct.map(|p| p / 100.0))
}

/// The party's quality: the worst peer's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PartyQuality {
    pub score: u8,
    pub grade: Grade,
    /// Public key of the peer with the worst score (the first one listed on a tie).
    pub worst_peer: String,
    /// How many peers have a score (peers without measurements yet are not counted).
    pub peers_scored: usize,
}

/// The party quality from `(peer public key, peer quality)` pairs; `None` when no peer is scored.
pub fn party_quality<'a, I>(peers: I) -> Option<PartyQuality>
where
    I: IntoIterator<Item = (&'a str, Option<&'a Quality>)>,
{
    let mut worst: Option<(&str, u8)> = None;
    let mut scored = 0;
    for (key, q) in peers {
        let Some(q) = q else { continue };
        scored += 1;
        if worst.is_none_or(|(_, s)| q.score < s) {
            worst = Some((key, q.score));
        }
    }
    let (key, score) = worst?;
    Some(PartyQuality {
        score,
        grade: Grade::from_score(score),
        worst_peer: key.to_string(),
        peers_scored: scored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rtt: f64, jitter: f64, loss: f64) -> Quality {
        quality(Some(rtt), Some(jitter), Some(loss)).unwrap()
    }

    #[test]
    fn perfect_inputs_are_100_and_a() {
        let p = q(0.0, 0.0, 0.0);
        assert_eq!(p.score, 100);
        assert_eq!(p.grade, Grade::A);
        assert_eq!(p.latency, Some(100.0));
        assert_eq!(p.jitter, Some(100.0));
        assert_eq!(p.loss, Some(100.0));
    }

    #[test]
    fn each_limit_alone_drives_the_score_to_zero() {
        let at_rtt = q(RTT_LIMIT_MS, 0.0, 0.0);
        assert_eq!((at_rtt.score, at_rtt.grade), (0, Grade::F));
        assert_eq!(at_rtt.latency, Some(0.0));
        assert_eq!(at_rtt.limited_by, Component::Latency);

        let at_jitter = q(0.0, JITTER_LIMIT_MS, 0.0);
        assert_eq!((at_jitter.score, at_jitter.grade), (0, Grade::F));
        assert_eq!(at_jitter.jitter, Some(0.0));
        assert_eq!(at_jitter.limited_by, Component::Jitter);

        let at_loss = q(0.0, 0.0, LOSS_LIMIT);
        assert_eq!((at_loss.score, at_loss.grade), (0, Grade::F));
        assert_eq!(at_loss.loss, Some(0.0));
        assert_eq!(at_loss.limited_by, Component::Loss);
    }

    #[test]
    fn beyond_the_limits_stays_at_zero() {
        assert_eq!(q(1000.0, 0.0, 0.0).score, 0);
        assert_eq!(q(0.0, 500.0, 0.0).score, 0);
        assert_eq!(q(0.0, 0.0, 1.0).score, 0);
        assert_eq!(q(f64::INFINITY, 0.0, 0.0).score, 0);
        assert_eq!(q(0.0, 0.0, 1.0).loss, Some(0.0));
    }

    #[test]
    fn linear_in_between() {
        // Half the limit is half the component.
        assert_eq!(q(75.0, 0.0, 0.0).score, 50);
        assert_eq!(q(0.0, 25.0, 0.0).score, 50);
        assert_eq!(q(0.0, 0.0, 0.025).score, 50);
        let c = component_score(15.0, RTT_LIMIT_MS);
        assert!((c - 90.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn minimum_of_the_components() {
        // 30 ms RTT (80), 5 ms jitter (90), 2 % loss (60): loss limits it.
        let x = q(30.0, 5.0, 0.02);
        assert_eq!(x.score, 60);
        assert_eq!(x.grade, Grade::B);
        assert_eq!(x.limited_by, Component::Loss);
    }

    #[test]
    fn nan_and_negative_inputs_clamp() {
        // Negative is treated as zero: perfect.
        let neg = q(-5.0, -1.0, -0.5);
        assert_eq!(neg.score, 100);
        assert_eq!(neg.latency, Some(100.0));
        assert_eq!(q(f64::NEG_INFINITY, 0.0, 0.0).score, 100);
        // NaN is not trusted: it counts as beyond the limit.
        let nan = q(f64::NAN, 0.0, 0.0);
        assert_eq!((nan.score, nan.grade), (0, Grade::F));
        assert_eq!(nan.latency, Some(0.0));
        assert_eq!(q(0.0, f64::NAN, 0.0).score, 0);
        assert_eq!(q(0.0, 0.0, f64::NAN).score, 0);
        // Every component score stays inside 0..=100 whatever the input.
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e300,
            1e300,
            0.0,
        ] {
            for limit in [RTT_LIMIT_MS, JITTER_LIMIT_MS, LOSS_LIMIT] {
                let c = component_score(v, limit);
                assert!((0.0..=100.0).contains(&c), "{v} -> {c}");
            }
        }
    }

    #[test]
    fn missing_components_are_left_out() {
        assert_eq!(quality(None, None, None), None);
        let rtt_only = quality(Some(15.0), None, None).unwrap();
        assert_eq!(rtt_only.score, 90);
        assert_eq!(rtt_only.jitter, None);
        // All probes lost: no RTT, loss 100 %.
        let dead = quality(None, None, Some(1.0)).unwrap();
        assert_eq!((dead.score, dead.grade), (0, Grade::F));
        assert_eq!(dead.limited_by, Component::Loss);
    }

    #[test]
    fn grade_boundaries() {
        let cases = [
            (100, Grade::A),
            (80, Grade::A),
            (79, Grade::B),
            (60, Grade::B),
            (59, Grade::C),
            (40, Grade::C),
            (39, Grade::D),
            (20, Grade::D),
            (19, Grade::F),
            (0, Grade::F),
        ];
        for (score, grade) in cases {
            assert_eq!(Grade::from_score(score), grade, "score {score}");
        }
        // The documented per-component thresholds for each grade.
        assert_eq!(q(30.0, 0.0, 0.0).grade, Grade::A);
        assert_eq!(q(60.0, 0.0, 0.0).grade, Grade::B);
        assert_eq!(q(90.0, 0.0, 0.0).grade, Grade::C);
        assert_eq!(q(120.0, 0.0, 0.0).grade, Grade::D);
        assert_eq!(q(0.0, 10.0, 0.0).grade, Grade::A);
        assert_eq!(q(0.0, 40.0, 0.0).grade, Grade::D);
        assert_eq!(q(0.0, 0.0, 0.01).grade, Grade::A);
        assert_eq!(q(0.0, 0.0, 0.04).grade, Grade::D);
        // Grade and score always agree, including after rounding.
        for rtt in 0..=200 {
            let x = q(f64::from(rtt) + 0.4, 0.0, 0.0);
            assert_eq!(x.grade, Grade::from_score(x.score));
        }
    }

    #[test]
    fn grades_order_from_best_to_worst() {
        assert!(Grade::A < Grade::B && Grade::D < Grade::F);
        assert_eq!(Grade::C.to_string(), "C");
        assert_eq!(serde_json::to_string(&Grade::A).unwrap(), "\"A\"");
    }

    /// Loss in percent, as the UI passes it.
    fn pct(rtt: Option<f64>, jitter: Option<f64>, loss_pct: Option<f64>) -> Option<Quality> {
        quality_from_percent(rtt, jitter, loss_pct)
    }

    #[test]
    fn component_scores_at_and_around_the_limits() {
        assert_eq!(component_score(0.0, RTT_LIMIT_MS), 100.0);
        assert_eq!(component_score(75.0, RTT_LIMIT_MS), 50.0);
        assert_eq!(component_score(150.0, RTT_LIMIT_MS), 0.0);
        assert_eq!(component_score(400.0, RTT_LIMIT_MS), 0.0);
        assert_eq!(component_score(-3.0, RTT_LIMIT_MS), 100.0);
        assert_eq!(component_score(f64::NAN, RTT_LIMIT_MS), 0.0);
        assert_eq!(component_score(f64::INFINITY, JITTER_LIMIT_MS), 0.0);
    }

    #[test]
    fn band_edges_for_each_component_alone() {
        let grade = |q: Option<Quality>| q.map(|q| q.grade);
        // Latency: A up to 30 ms, B to 60, C to 90, D to 120.
        assert_eq!(grade(pct(Some(30.0), None, None)), Some(Grade::A));
        // 79.47 rounds to 79.
        assert_eq!(grade(pct(Some(30.8), None, None)), Some(Grade::B));
        assert_eq!(grade(pct(Some(60.0), None, None)), Some(Grade::B));
        assert_eq!(grade(pct(Some(90.0), None, None)), Some(Grade::C));
        assert_eq!(grade(pct(Some(120.0), None, None)), Some(Grade::D));
        assert_eq!(grade(pct(Some(121.0), None, None)), Some(Grade::F));
        let at = pct(Some(150.0), None, None).unwrap();
        assert_eq!((at.score, at.grade), (0, Grade::F));
        // Jitter: A up to 10 ms.
        assert_eq!(grade(pct(None, Some(10.0), None)), Some(Grade::A));
        assert_eq!(grade(pct(None, Some(10.5), None)), Some(Grade::B));
        assert_eq!(grade(pct(None, Some(50.0), None)), Some(Grade::F));
        // Loss in percent: A up to 1 %.
        assert_eq!(grade(pct(None, None, Some(1.0))), Some(Grade::A));
        assert_eq!(grade(pct(None, None, Some(2.0))), Some(Grade::B));
        assert_eq!(grade(pct(None, None, Some(4.0))), Some(Grade::D));
        assert_eq!(grade(pct(None, None, Some(5.0))), Some(Grade::F));
        assert_eq!(pct(None, None, Some(100.0)).map(|q| q.score), Some(0));
    }

    #[test]
    fn the_minimum_says_which_component_limits_it() {
        let x = pct(Some(15.0), Some(20.0), Some(0.5)).unwrap();
        let close = |c: Option<f64>, v: f64| c.is_some_and(|c| (c - v).abs() < 1e-9);
        assert!(close(x.latency, 90.0), "{x:?}");
        assert!(close(x.jitter, 60.0), "{x:?}");
        assert!(close(x.loss, 90.0), "{x:?}");
        assert_eq!(
            (x.score, x.grade, x.limited_by),
            (60, Grade::B, Component::Jitter)
        );
        // Perfect ping does not hide 5 % loss.
        let lossy = pct(Some(1.0), Some(0.0), Some(5.0)).unwrap();
        assert_eq!((lossy.grade, lossy.limited_by), (Grade::F, Component::Loss));
        // Ties go to the first of latency, jitter, loss.
        let tie = pct(Some(75.0), Some(25.0), Some(2.5)).unwrap();
        assert_eq!(tie.limited_by, Component::Latency);
        // One component alone.
        let rtt = pct(Some(20.0), None, None).unwrap();
        assert_eq!((rtt.grade, rtt.limited_by), (Grade::A, Component::Latency));
        assert_eq!(pct(None, None, None), None);
    }

    #[test]
    fn quality_as_the_ui_reads_it() {
        let json = serde_json::to_value(pct(Some(100.0), Some(1.0), Some(0.0))).unwrap();
        assert_eq!(json["score"], 33);
        assert_eq!(json["grade"], "D");
        assert_eq!(json["limited_by"], "latency");
        assert_eq!(json["loss"], 100.0);
        let partial = serde_json::to_value(pct(Some(15.0), None, None)).unwrap();
        assert_eq!(partial["jitter"], serde_json::Value::Null);
        assert_eq!(
            serde_json::to_value(pct(None, None, None)).unwrap(),
            serde_json::Value::Null
        );
    }

    /// The fake engine of the UI tests gives its simulated friends these gradings instead of
    /// computing them: every entry must be what the formula says.
    #[test]
    fn the_ui_fixture_grades_are_what_the_formula_says() {
        #[derive(Deserialize)]
        struct Table {
            grades: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            rtt_ms: Option<f64>,
            jitter_ms: Option<f64>,
            loss_pct: Option<f64>,
            quality: Quality,
        }
        let table: Table =
            serde_json::from_str(include_str!("../../../ui/src/lib/fixtures/grades.json")).unwrap();
        assert!(!table.grades.is_empty());
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        for e in &table.grades {
            let q = pct(e.rtt_ms, e.jitter_ms, e.loss_pct).unwrap();
            let f = &e.quality;
            assert_eq!(
                (q.score, q.grade, q.limited_by),
                (f.score, f.grade, f.limited_by),
                "{}",
                e.name
            );
            assert!(close(q.latency, f.latency), "{}: {q:?}", e.name);
            assert!(close(q.jitter, f.jitter), "{}: {q:?}", e.name);
            assert!(close(q.loss, f.loss), "{}: {q:?}", e.name);
        }
    }

    #[test]
    fn party_is_the_worst_peer() {
        let good = q(10.0, 1.0, 0.0);
        let bad = q(100.0, 1.0, 0.0);
        let party = party_quality([
            ("a", Some(&good)),
            ("b", Some(&bad)),
            ("c", None),
            ("d", Some(&good)),
        ])
        .unwrap();
        assert_eq!(party.score, bad.score);
        assert_eq!(party.grade, bad.grade);
        assert_eq!(party.worst_peer, "b");
        assert_eq!(party.peers_scored, 3);
        assert_eq!(party_quality([("a", None)]), None);
        assert_eq!(party_quality(std::iter::empty()), None);
    }
}
