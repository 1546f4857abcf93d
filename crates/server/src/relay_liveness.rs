//! Which TURN allocations belong to clients that are gone.
//!
//! A client that exits cleanly deletes its allocations, but one that is killed, crashes or
//! loses its network leaves them behind, each holding a relay socket, for the allocation's
//! lifetime (ten minutes by default, up to an hour if the client asked). A churning crowd, or
//! one hostile device restarting in a loop, would pile them up until the relay's limits turn
//! everyone away. A LANrage client with a relay path talks to the relay several times a second
//! (ICE keepalives and checks) and at least every two minutes in any case (permission
//! refreshes), so an allocation whose client has sent nothing for [`CLIENT_SILENCE`] is dead.
//!
//! The `turn` crate deletes allocations only by username, and a username is one credential of
//! one device, which a live client shares between its allocations. So a credential's
//! allocations are deleted together, and only when every one of their clients is silent.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A client silent this long no longer holds its allocations.
pub const CLIENT_SILENCE: Duration = Duration::from_secs(30);
/// How often the relay looks for allocations of silent clients.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// When each client address that holds an allocation was last heard from. Only addresses the
/// sweep put in are tracked, so strangers' datagrams cannot grow it.
#[derive(Default)]
pub struct Liveness {
    heard: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Liveness {
    /// A datagram arrived from `from`.
    pub fn heard(&self, from: SocketAddr, now: Instant) {
        if let Some(t) = self.heard.lock().get_mut(&from) {
            *t = now;
        }
    }

    /// Given every allocation as (client address, username), returns the usernames whose
    /// clients have all been silent for [`CLIENT_SILENCE`]. Allocations seen for the first
    /// time count as heard now; addresses without an allocation are forgotten.
    pub fn sweep(&self, allocations: &[(SocketAddr, String)], now: Instant) -> Vec<String> {
        let mut heard = self.heard.lock();
        let current: HashSet<SocketAddr> = allocations.iter().map(|(a, _)| *a).collect();
        heard.retain(|addr, _| current.contains(addr));
        let mut alive: HashMap<&str, bool> = HashMap::new();
        for (addr, username) in allocations {
            let last = *heard.entry(*addr).or_insert(now);
            let silent = now.saturating_duration_since(last) >= CLIENT_SILENCE;
            *alive.entry(username.as_str()).or_insert(false) |= !silent;
        }
        let mut dead: Vec<String> = alive
            .into_iter()
            .filter(|(_, alive)| !alive)
            .map(|(u, _)| u.to_string())
            .collect();
        dead.sort();
        dead
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn a_credential_whose_clients_all_fell_silent_is_dead() {
        let l = Liveness::default();
        let t0 = Instant::now();
        let allocs = vec![
            (addr(1), "100:dead".to_string()),
            (addr(2), "100:dead".to_string()),
            (addr(3), "100:live".to_string()),
        ];
        assert!(l.sweep(&allocs, t0).is_empty(), "new allocations are alive");
        l.heard(addr(3), t0 + Duration::from_secs(20));
        assert_eq!(l.sweep(&allocs, t0 + CLIENT_SILENCE), ["100:dead"]);
        assert!(l
            .sweep(&allocs, t0 + Duration::from_secs(20) + CLIENT_SILENCE / 2)
            .contains(&"100:dead".to_string()));
    }

    #[test]
    fn one_live_client_keeps_its_credentials_other_allocations() {
        let l = Liveness::default();
        let t0 = Instant::now();
        let allocs = vec![
            (addr(1), "100:dev".to_string()),
            (addr(2), "100:dev".to_string()),
        ];
        l.sweep(&allocs, t0);
        l.heard(addr(2), t0 + CLIENT_SILENCE);
        assert!(l.sweep(&allocs, t0 + CLIENT_SILENCE).is_empty());
    }

    #[test]
    fn strangers_are_not_tracked_and_gone_allocations_are_forgotten() {
        let l = Liveness::default();
        let t0 = Instant::now();
        for p in 0..1000 {
            l.heard(addr(p), t0);
        }
        assert!(l.heard.lock().is_empty());
        l.sweep(&[(addr(1), "1:a".to_string())], t0);
        assert_eq!(l.heard.lock().len(), 1);
        l.sweep(&[], t0);
        assert!(l.heard.lock().is_empty());
    }
}
