//! The connection manager: one state machine per peer that decides which path carries the
//! peer's WireGuard datagrams.
//!
//! Each peer has two legs, each an ICE agent run by the shell in [`crate::ice`]: `direct`
//! (host and server-reflexive candidates: LAN or a hole punched through both NATs) and `relay`
//! (TURN relay candidates only). Both start together, so a player behind a symmetric NAT is
//! connected through the relay in the time a TURN allocation takes, while a direct path, when
//! one exists, takes over as soon as it works. This module is plain code: it takes events and
//! the time and returns actions; it never touches a socket, so tests drive it with a fake clock.

use std::time::{Duration, Instant};

use serde::Serialize;
use ts_rs::TS;

/// Nothing worked for this long after the start: say so instead of "connecting" forever.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(8);
/// Probes on the path in use unanswered this long mean it is dead: a game notices a second,
/// and at ten probes a second this is five lost in a row, which loss alone almost never does.
pub const SILENCE_MIN: Duration = Duration::from_millis(500);

/// ...and at least this many probes unanswered: one lost probe of an idle party (probed once a
/// second) is not a dead path.
pub const SILENT_PROBES: u32 = 3;

/// How long the path in use may leave probes unanswered: [`SILENCE_MIN`], or on a slow path
/// twice its round trip and a margin, so a friend far away is not dropped for being far. A
/// path with no answer yet (just switched to) has no known round trip: it gets
/// [`SILENCE_UNKNOWN_RTT`], as long as a probe may take before it counts as lost.
pub fn silence_limit(srtt: Option<Duration>) -> Duration {
    match srtt {
        Some(r) => SILENCE_MIN.max(r * 2 + Duration::from_millis(200)),
        None => SILENCE_UNKNOWN_RTT,
    }
}

pub const SILENCE_UNKNOWN_RTT: Duration = Duration::from_secs(2);

/// The first retry of a failed leg; doubled after every further failure.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    Direct,
    Relay,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Direct => "direct",
            Leg::Relay => "relay",
        }
    }
}

/// What a player sees about a peer's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PathState {
    /// No path has worked yet.
    Connecting,
    Direct,
    Relayed,
    /// The path in use stopped answering and no other one works (yet).
    Degraded,
    /// Nothing works; legs are retried with backoff.
    Failed,
    /// Paths are being set up again (network change, or every leg failed after working).
    Reconnecting,
}

impl PathState {
    pub fn as_str(self) -> &'static str {
        match self {
            PathState::Connecting => "connecting",
            PathState::Direct => "direct",
            PathState::Relayed => "relayed",
            PathState::Degraded => "degraded",
            PathState::Failed => "failed",
            PathState::Reconnecting => "reconnecting",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// Not run (relay-only setting, or no server for it).
    Off,
    Checking,
    Up,
    /// Was up, stopped answering; ICE may still recover it.
    Down,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The leg's ICE connection works (first time, or again).
    Up(Leg),
    /// The leg's ICE connection stopped answering.
    Down(Leg),
    /// The leg's ICE agent gave up (or could not start).
    Failed(Leg),
    /// The leg's agent was replaced (our restart, or the peer restarted it).
    Restarted(Leg),
    /// The in-tunnel probe on the path in use has gone unanswered for `silent_for` (its
    /// smoothed round trip was `srtt`). ICE can call a path up that does not carry the tunnel:
    /// a middlebox that passes STUN but not WireGuard, or a path that fails one way only (ICE
    /// still hears the peer's checks; only a request that needs an answer shows it).
    Unanswered {
        silent_for: Duration,
        /// Probes sent in that time.
        probes: u32,
        srtt: Option<Duration>,
    },
    /// Our network changed (address, interface): every leg starts over.
    NetworkChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the peer's datagrams through this leg's connection (`None`: hold them).
    Use(Option<Leg>),
    /// Replace the leg's ICE agent with a fresh one (new credentials, signalled to the peer).
    Restart(Leg),
    /// Log once and tell the UI.
    Changed {
        from: PathState,
        to: PathState,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Option<Instant>,
    delay: Duration,
}

impl Retry {
    fn new() -> Self {
        Self {
            at: None,
            delay: RETRY_MIN,
        }
    }

    fn schedule(&mut self, now: Instant) {
        self.at = Some(now + self.delay);
        self.delay = (self.delay * 2).min(RETRY_MAX);
    }
}

#[derive(Debug)]
pub struct Connection {
    direct: LegState,
    relay: LegState,
    direct_retry: Retry,
    relay_retry: Retry,
    using: Option<Leg>,
    state: PathState,
    reason: String,
    started: Instant,
    since: Instant,
    ever_up: bool,
    /// The direct leg has worked at some point: losing it is news, not a NAT limitation.
    direct_worked: bool,
    /// The last network change, until a leg is up again.
    network_changed: bool,
}

impl Connection {
    /// `direct`: run the direct leg (off with the relay-only setting); `relay`: a TURN server
    /// is configured.
    pub fn new(now: Instant, direct: bool, relay: bool) -> Self {
        let leg = |on: bool| {
            if on {
                LegState::Checking
            } else {
                LegState::Off
            }
        };
        let mut c = Self {
            direct: leg(direct),
            relay: leg(relay),
            direct_retry: Retry::new(),
            relay_retry: Retry::new(),
            using: None,
            state: PathState::Connecting,
            reason: String::new(),
            started: now,
            since: now,
            ever_up: false,
            direct_worked: false,
            network_changed: false,
        };
        c.reason = c.explain(PathState::Connecting);
        c
    }

    pub fn state(&self) -> PathState {
        self.state
    }

    pub fn using(&self) -> Option<Leg> {
        self.using
    }

    /// Why the peer is in its state, in words for the player.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn since(&self) -> Instant {
        self.since
    }

    /// Whether a leg runs at all (it may be off by setting or for want of a server).
    pub fn runs(&self, leg: Leg) -> bool {
        self.leg(leg) != LegState::Off
    }

    fn leg(&self, leg: Leg) -> LegState {
        match leg {
            Leg::Direct => self.direct,
            Leg::Relay => self.relay,
        }
    }

    fn set(&mut self, leg: Leg, s: LegState) {
        match leg {
            Leg::Direct => self.direct = s,
            Leg::Relay => self.relay = s,
        }
    }

    fn retry(&mut self, leg: Leg) -> &mut Retry {
        match leg {
            Leg::Direct => &mut self.direct_retry,
            Leg::Relay => &mut self.relay_retry,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Up(leg) if self.runs(leg) => {
                self.set(leg, LegState::Up);
                *self.retry(leg) = Retry::new();
                self.ever_up = true;
                self.direct_worked |= leg == Leg::Direct;
                self.network_changed = false;
            }
            Event::Down(leg) if self.leg(leg) == LegState::Up => {
                self.set(leg, LegState::Down);
            }
            Event::Failed(leg) if self.runs(leg) => {
                self.set(leg, LegState::Failed);
                self.retry(leg).schedule(now);
            }
            Event::Restarted(leg) if self.runs(leg) => {
                self.set(leg, LegState::Checking);
                self.retry(leg).at = None;
            }
            Event::Unanswered {
                silent_for,
                probes,
                srtt,
            } if silent_for >= silence_limit(srtt) && probes >= SILENT_PROBES => {
                // ICE thinks the path is fine but the tunnel gets nothing through it: leave it
                // for the other leg (kept up, so the switch is instant) and try it again later
                // from scratch, as after a failure.
                if let Some(leg) = self.using {
                    let other = match leg {
                        Leg::Direct => Leg::Relay,
                        Leg::Relay => Leg::Direct,
                    };
                    if self.leg(other) == LegState::Up {
                        self.set(leg, LegState::Failed);
                        self.retry(leg).schedule(now);
                    }
                }
            }
            Event::NetworkChanged => {
                for leg in [Leg::Direct, Leg::Relay] {
                    if self.runs(leg) {
                        self.set(leg, LegState::Checking);
                        *self.retry(leg) = Retry::new();
                        actions.push(Action::Restart(leg));
                    }
                }
                self.network_changed = true;
                self.started = now;
            }
            // Events for a leg that does not run are stale news from a closed agent.
            _ => {}
        }
        self.decide(now, &mut actions);
        actions
    }

    /// Timers: retries that are due, and the connect deadline. Call it every few hundred ms.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for leg in [Leg::Direct, Leg::Relay] {
            let due = self.retry(leg).at.is_some_and(|t| t <= now);
            if due {
                self.retry(leg).at = None;
                self.set(leg, LegState::Checking);
                actions.push(Action::Restart(leg));
            }
        }
        self.decide(now, &mut actions);
        actions
    }

    /// The next time [`Connection::poll`] has something to do.
    pub fn next_timer(&self) -> Option<Instant> {
        let deadline =
            (!self.ever_up || self.network_changed).then_some(self.started + CONNECT_DEADLINE);
        [self.direct_retry.at, self.relay_retry.at, deadline]
            .into_iter()
            .flatten()
            .min()
    }

    fn decide(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let up = |s: LegState| s == LegState::Up;
        let (using, state) = if up(self.direct) {
            (Some(Leg::Direct), PathState::Direct)
        } else if up(self.relay) {
            (Some(Leg::Relay), PathState::Relayed)
        } else if self.using.is_some_and(|l| self.leg(l) == LegState::Down) {
            // Keep sending where it last worked: it may come back before anything else does.
            (self.using, PathState::Degraded)
        } else {
            let all_failed = [self.direct, self.relay]
                .iter()
                .all(|s| matches!(s, LegState::Failed | LegState::Off));
            let waiting = !self.ever_up || self.network_changed;
            let state = if all_failed || (waiting && now >= self.started + CONNECT_DEADLINE) {
                PathState::Failed
            } else if self.network_changed || self.ever_up {
                PathState::Reconnecting
            } else {
                PathState::Connecting
            };
            (None, state)
        };
        if using != self.using {
            self.using = using;
            actions.push(Action::Use(using));
        }
        let reason = self.explain(state);
        if state != self.state || reason != self.reason {
            if state != self.state {
                actions.push(Action::Changed {
                    from: self.state,
                    to: state,
                    reason: reason.clone(),
                });
                self.since = now;
            }
            self.state = state;
            self.reason = reason;
        }
    }

    fn explain(&self, state: PathState) -> String {
        let s = match state {
            PathState::Connecting => "looking for a path to this player",
            PathState::Direct => "connected directly, peer to peer",
            PathState::Relayed => match self.direct {
                LegState::Off => "relay only is on in settings: no direct path is tried",
                // Checking again after it worked is the retry, not a first attempt.
                LegState::Down | LegState::Failed | LegState::Checking if self.direct_worked => {
                    "the direct path stopped working; traffic goes through the relay while it is retried"
                }
                LegState::Checking => "the relay answered first; still trying a direct path",
                _ => "no direct path through the NATs on the two sides (a symmetric NAT or a strict firewall); traffic goes through the relay",
            },
            PathState::Degraded => "the path in use stopped answering and no other path works yet",
            PathState::Failed => {
                if self.relay == LegState::Off {
                    "no path to this player: no direct path, and no relay is configured"
                } else {
                    "no path to this player: neither a direct path nor the relay works (is UDP blocked?); retrying"
                }
            }
            PathState::Reconnecting => {
                if self.network_changed {
                    "the network changed; finding paths again"
                } else {
                    "every path stopped working; finding paths again"
                }
            }
        };
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(actions: &[Action]) -> Option<Option<Leg>> {
        actions.iter().find_map(|a| match a {
            Action::Use(l) => Some(*l),
            _ => None,
        })
    }

    fn restarts(actions: &[Action]) -> Vec<Leg> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Restart(l) => Some(*l),
                _ => None,
            })
            .collect()
    }

    fn changes(actions: &[Action]) -> Vec<(PathState, PathState)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Changed { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn direct_first_is_used_and_announced_once() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        assert_eq!(c.state(), PathState::Connecting);
        let a = c.handle(Event::Up(Leg::Direct), t0 + Duration::from_millis(30));
        assert_eq!(uses(&a), Some(Some(Leg::Direct)));
        assert_eq!(changes(&a), [(PathState::Connecting, PathState::Direct)]);
        // The relay coming up later changes nothing a player would see.
        let a = c.handle(Event::Up(Leg::Relay), t0 + Duration::from_millis(200));
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(c.using(), Some(Leg::Direct));
    }

    #[test]
    fn relay_first_then_direct_takes_over() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        let a = c.handle(Event::Up(Leg::Relay), t0 + Duration::from_millis(100));
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
        assert_eq!(c.state(), PathState::Relayed);
        assert!(c.reason().contains("still trying a direct path"));
        let a = c.handle(Event::Up(Leg::Direct), t0 + Duration::from_millis(300));
        assert_eq!(uses(&a), Some(Some(Leg::Direct)));
        assert_eq!(changes(&a), [(PathState::Relayed, PathState::Direct)]);
    }

    #[test]
    fn a_dead_direct_path_moves_to_the_relay_at_once_and_back_when_it_answers() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        c.handle(Event::Up(Leg::Relay), t0);
        let t1 = t0 + Duration::from_secs(10);
        let a = c.handle(Event::Down(Leg::Direct), t1);
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
        assert_eq!(changes(&a), [(PathState::Direct, PathState::Relayed)]);
        assert!(c.reason().contains("stopped working"), "{}", c.reason());
        let a = c.handle(Event::Up(Leg::Direct), t1 + Duration::from_secs(3));
        assert_eq!(uses(&a), Some(Some(Leg::Direct)));
        assert_eq!(changes(&a), [(PathState::Relayed, PathState::Direct)]);
    }

    #[test]
    fn a_failed_direct_leg_is_retried_with_growing_backoff_while_relayed() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Relay), t0);
        let mut t = t0 + Duration::from_secs(5);
        let mut gaps = Vec::new();
        for _ in 0..7 {
            assert!(c.handle(Event::Failed(Leg::Direct), t).is_empty());
            assert_eq!(c.state(), PathState::Relayed);
            let due = c.next_timer().unwrap();
            assert!(c.poll(due - Duration::from_millis(1)).is_empty());
            let a = c.poll(due);
            assert_eq!(restarts(&a), [Leg::Direct]);
            gaps.push((due - t).as_secs());
            t = due + Duration::from_secs(5);
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30]);
        // Success resets the backoff.
        c.handle(Event::Up(Leg::Direct), t);
        c.handle(Event::Down(Leg::Direct), t);
        c.handle(Event::Failed(Leg::Direct), t);
        assert_eq!(c.next_timer(), Some(t + RETRY_MIN));
    }

    #[test]
    fn symmetric_nat_ends_relayed_with_a_reason() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Relay), t0 + Duration::from_millis(400));
        c.handle(Event::Failed(Leg::Direct), t0 + Duration::from_secs(5));
        assert_eq!(c.state(), PathState::Relayed);
        assert!(c.reason().contains("symmetric NAT"), "{}", c.reason());
    }

    #[test]
    fn relay_only_never_uses_a_direct_path() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, false, true);
        assert!(!c.runs(Leg::Direct));
        assert!(c.handle(Event::Up(Leg::Direct), t0).is_empty());
        let a = c.handle(Event::Up(Leg::Relay), t0);
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
        assert!(c.reason().starts_with("relay only"));
    }

    #[test]
    fn nothing_working_says_failed_by_the_deadline_instead_of_spinning() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        assert_eq!(c.next_timer(), Some(t0 + CONNECT_DEADLINE));
        assert!(c.poll(t0 + CONNECT_DEADLINE / 2).is_empty());
        let a = c.poll(t0 + CONNECT_DEADLINE);
        assert_eq!(changes(&a), [(PathState::Connecting, PathState::Failed)]);
        assert!(c.reason().contains("UDP blocked"), "{}", c.reason());
        // Both legs failing schedules retries of both, and it stays failed meanwhile.
        let t1 = t0 + CONNECT_DEADLINE;
        c.handle(Event::Failed(Leg::Direct), t1);
        c.handle(Event::Failed(Leg::Relay), t1);
        let a = c.poll(t1 + RETRY_MIN);
        assert_eq!(restarts(&a), [Leg::Direct, Leg::Relay]);
        assert_eq!(c.state(), PathState::Failed);
        // And recovers when the relay works after all.
        let a = c.handle(Event::Up(Leg::Relay), t1 + Duration::from_secs(2));
        assert_eq!(changes(&a), [(PathState::Failed, PathState::Relayed)]);
    }

    #[test]
    fn without_any_relay_a_failed_direct_path_is_failed_at_once() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, false);
        let a = c.handle(Event::Failed(Leg::Direct), t0 + Duration::from_secs(5));
        assert_eq!(changes(&a), [(PathState::Connecting, PathState::Failed)]);
        assert!(c.reason().contains("no relay is configured"));
    }

    #[test]
    fn a_silent_path_is_degraded_until_another_one_works() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        let a = c.handle(Event::Down(Leg::Direct), t0 + Duration::from_secs(1));
        // Nothing else works: keep trying the old path rather than dropping everything.
        assert_eq!(uses(&a), None);
        assert_eq!(c.using(), Some(Leg::Direct));
        assert_eq!(c.state(), PathState::Degraded);
        let a = c.handle(Event::Up(Leg::Relay), t0 + Duration::from_secs(2));
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
    }

    /// `ms` of silence on a path probed ten times a second.
    fn unanswered(ms: u64, srtt_ms: Option<u64>) -> Event {
        Event::Unanswered {
            silent_for: Duration::from_millis(ms),
            probes: u32::try_from(ms / 100).unwrap(),
            srtt: srtt_ms.map(Duration::from_millis),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A path that fails one way (or both) while ICE still calls it up: the probe's silence
    /// moves the traffic to the warm relay within half a second, and a direct path that answers
    /// again takes it back.
    #[test]
    fn unanswered_probes_move_traffic_to_the_relay_within_half_a_second_and_back() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        c.handle(Event::Up(Leg::Relay), t0);
        assert_eq!(c.using(), Some(Leg::Direct));
        // Cut at t0 + 10 s: probes go unanswered from then on (LAN round trip 1 ms).
        let cut = t0 + Duration::from_secs(10);
        for silent in [100, 200, 300, 400] {
            let a = c.handle(unanswered(silent, Some(1)), cut + ms(silent));
            assert!(
                a.is_empty(),
                "{silent} ms of silence is not yet a dead path: {a:?}"
            );
        }
        let a = c.handle(unanswered(500, Some(1)), cut + ms(500));
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
        assert_eq!(changes(&a), [(PathState::Direct, PathState::Relayed)]);
        assert!(
            c.reason().contains("direct path stopped working"),
            "{}",
            c.reason()
        );
        // The direct leg is tried again from scratch a second later; while the cut lasts the
        // new attempt fails, and the next waits twice as long.
        let retry = cut + ms(500) + RETRY_MIN;
        assert_eq!(c.next_timer(), Some(retry));
        assert_eq!(restarts(&c.poll(retry)), [Leg::Direct]);
        assert_eq!(c.state(), PathState::Relayed);
        assert!(
            c.reason().contains("direct path stopped working"),
            "{}",
            c.reason()
        );
        c.handle(Event::Failed(Leg::Direct), retry + Duration::from_secs(3));
        assert_eq!(
            c.next_timer(),
            Some(retry + Duration::from_secs(3) + RETRY_MIN * 2)
        );
        // The cut is lifted: the next attempt connects and traffic goes back to direct.
        let healed = retry + Duration::from_secs(3) + RETRY_MIN * 2;
        assert_eq!(restarts(&c.poll(healed)), [Leg::Direct]);
        let a = c.handle(Event::Up(Leg::Direct), healed + ms(200));
        assert_eq!(uses(&a), Some(Some(Leg::Direct)));
        assert_eq!(changes(&a), [(PathState::Relayed, PathState::Direct)]);
    }

    #[test]
    fn a_slow_path_is_given_twice_its_round_trip_before_it_counts_as_dead() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        c.handle(Event::Up(Leg::Relay), t0);
        // A friend 600 ms away: every probe is out for 600 ms before its answer comes.
        assert!(c.handle(unanswered(700, Some(600)), t0).is_empty());
        assert!(c.handle(unanswered(1300, Some(600)), t0).is_empty());
        let a = c.handle(unanswered(1400, Some(600)), t0);
        assert_eq!(uses(&a), Some(Some(Leg::Relay)));
        assert_eq!(silence_limit(Some(ms(1))), SILENCE_MIN);
        // A path not answered yet (a friend 600 ms away just switched to) is not judged by
        // the last path's round trip.
        assert!(c.handle(unanswered(700, None), t0).is_empty());
        assert_eq!(silence_limit(None), SILENCE_UNKNOWN_RTT);
    }

    #[test]
    fn a_single_lost_probe_is_not_a_dead_path() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        c.handle(Event::Up(Leg::Relay), t0);
        // An idle party's probe (once a second) lost: long silence, one probe.
        let one = Event::Unanswered {
            silent_for: ms(900),
            probes: 1,
            srtt: Some(ms(1)),
        };
        assert!(c.handle(one, t0).is_empty());
        let three = Event::Unanswered {
            silent_for: ms(900),
            probes: 3,
            srtt: Some(ms(1)),
        };
        assert_eq!(uses(&c.handle(three, t0)), Some(Some(Leg::Relay)));
    }

    #[test]
    fn a_silent_relay_gives_way_to_a_working_direct_path_and_silence_alone_changes_nothing() {
        let t0 = Instant::now();
        // Only the relay is up yet and it stops carrying the tunnel: nothing else works, so
        // it stays (dropping it would help no one).
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Relay), t0);
        assert!(c.handle(unanswered(5_000, Some(20)), t0).is_empty());
        assert_eq!(c.using(), Some(Leg::Relay));
        // Without a relay at all, the same.
        let mut d = Connection::new(t0, true, false);
        d.handle(Event::Up(Leg::Direct), t0);
        assert!(d.handle(unanswered(5_000, Some(1)), t0).is_empty());
        assert_eq!(d.using(), Some(Leg::Direct));
    }

    #[test]
    fn a_network_change_restarts_every_leg() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, true);
        c.handle(Event::Up(Leg::Direct), t0);
        let a = c.handle(Event::NetworkChanged, t0 + Duration::from_secs(60));
        assert_eq!(restarts(&a), [Leg::Direct, Leg::Relay]);
        assert_eq!(uses(&a), Some(None));
        assert_eq!(changes(&a), [(PathState::Direct, PathState::Reconnecting)]);
        let a = c.handle(Event::Up(Leg::Relay), t0 + Duration::from_secs(61));
        assert_eq!(changes(&a), [(PathState::Reconnecting, PathState::Relayed)]);
        // A network change after which nothing works ends failed, not reconnecting forever.
        let t1 = t0 + Duration::from_secs(100);
        c.handle(Event::NetworkChanged, t1);
        c.handle(Event::Failed(Leg::Relay), t1 + Duration::from_secs(5));
        let a = c.poll(t1 + CONNECT_DEADLINE);
        assert_eq!(changes(&a), [(PathState::Reconnecting, PathState::Failed)]);
    }

    #[test]
    fn stale_events_for_a_leg_that_does_not_run_are_ignored() {
        let t0 = Instant::now();
        let mut c = Connection::new(t0, true, false);
        assert!(c.handle(Event::Up(Leg::Relay), t0).is_empty());
        assert!(c.handle(Event::Failed(Leg::Relay), t0).is_empty());
        assert_eq!(c.next_timer(), Some(t0 + CONNECT_DEADLINE));
    }
}
