//! The engine's one clock: once a second it reads the tunnel's statistics and builds the
//! party's status once, then feeds everyone who needs them: hosts (`tunnel_stats`, and
//! `party_changed` when a member's path changed without a new snapshot), the metrics
//! collector, the party machine's timers and NAT traversal's probe watch; every other second it
//! runs the game scan.

use std::sync::Arc;
use std::time::Duration;

use lanrage_metrics::{MetricsCollector, PeerInput, SystemSampler};
use lanrage_tunnel::DeviceStats;
use parking_lot::Mutex;

use crate::events::EngineEvent;
use crate::games::Games;
use crate::runtime::Runtime;
use crate::session::Session;
use lanrage_party::{path_state, PartyStatus};

const TICK: Duration = Duration::from_secs(1);

pub(crate) fn start(
    rt: Arc<Runtime>,
    session: Arc<Session>,
    games: Arc<Games>,
    metrics: Arc<Mutex<MetricsCollector>>,
) {
    let settings = rt.settings().ok();
    let metrics_on = settings.as_ref().is_none_or(|s| s.metrics);
    if !metrics_on {
        tracing::info!("metrics are switched off in settings");
    }
    let mut sampler = SystemSampler::new();
    if let Some(s) = settings {
        // Tunnel traffic is counted per peer; counting the TUN too would double it.
        sampler.exclude_interface(s.interface_name);
    }
    let cancel = rt.cancellation();
    let task_rt = rt.clone();
    rt.spawn(async move {
        let rt = task_rt;
        let mut tick = tokio::time::interval(TICK);
        let mut connections: Vec<(String, &'static str)> = Vec::new();
        let mut last_scan: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = tokio::time::Instant::now();
            if last_scan
                .is_none_or(|t| now.duration_since(t) + TICK / 2 >= lanrage_games::SCAN_INTERVAL)
            {
                last_scan = Some(now);
                let enabled = rt.settings().map(|s| s.game_detection).unwrap_or(true);
                for ev in games.scan(enabled).await {
                    rt.emit(game_event(ev));
                }
            }
            let stats = rt.tunnel_stats();
            session.tick();
            let party = session.party_status(stats.as_ref());
            match &party {
                Some(p) => {
                    let now = p.connections();
                    if now != connections {
                        log_path_changes(&connections, &now);
                        connections = now;
                        // A peer's path changing (first handshake, going quiet) is a party
                        // change the UI shows, though the server's snapshot did not change.
                        rt.emit(EngineEvent::PartyChanged {
                            party: Some(Box::new(p.clone())),
                        });
                    }
                }
                None => connections.clear(),
            }
            if let Some(ended) = games.follow_session(party.as_ref()) {
                crate::games::store_session(&rt, &ended);
            }
            if let Some(tunnel) = &stats {
                rt.emit(EngineEvent::TunnelStats {
                    tunnel: Box::new(tunnel.clone()),
                });
            }
            if metrics_on {
                let now = lanrage_metrics::unix_millis(std::time::SystemTime::now());
                let inputs = metrics_inputs(party.as_ref(), stats.as_ref());
                let system = sampler.sample(now);
                let snapshot = {
                    let mut m = metrics.lock();
                    for ev in m.on_tick(now, &inputs, system) {
                        tracing::debug!(?ev, "metrics");
                    }
                    m.snapshot_current()
                };
                rt.emit(EngineEvent::Metrics {
                    snapshot: Box::new(snapshot),
                });
            }
        }
    });
}

fn game_event(ev: lanrage_games::GameEvent) -> EngineEvent {
    use lanrage_games::GameEvent;
    use lanrage_proto::message::GameRef;
    match ev {
        GameEvent::Started(g) => {
            tracing::info!(game = %g.name, pid = g.pid, "game started");
            EngineEvent::GameStarted {
                game: GameRef {
                    id: g.id,
                    name: g.name,
                },
            }
        }
        GameEvent::Stopped(g) => {
            tracing::info!(game = %g.name, "game stopped");
            EngineEvent::GameStopped {
                game: GameRef {
                    id: g.id,
                    name: g.name,
                },
            }
        }
    }
}

fn log_path_changes(before: &[(String, &'static str)], now: &[(String, &'static str)]) {
    for (key, conn) in now {
        let was = before.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
        if let Some(was) = was.filter(|w| w != conn) {
            tracing::info!(peer = %key.get(..8).unwrap_or(""), from = was, to = conn, "path changed");
        }
    }
}

/// What the metrics collector sees: party members (with names and connection state) or,
/// without a party (`wg-up`), the tunnel's peers.
fn metrics_inputs(party: Option<&PartyStatus>, tunnel: Option<&DeviceStats>) -> Vec<PeerInput> {
    let input = |key: &str, name: Option<String>, connection: &str| {
        let t = tunnel.and_then(|t| t.peers.iter().find(|p| p.public_key == key));
        PeerInput {
            public_key: key.to_string(),
            name,
            connection: connection.to_string(),
            rtt_ms: t.and_then(|p| p.probe.srtt_ms.or(p.probe.rtt_ms)),
            jitter_ms: t.and_then(|p| p.probe.jitter_ms),
            loss: t.and_then(|p| p.probe.loss),
            rx_bytes: t.map_or(0, |p| p.rx_bytes),
            tx_bytes: t.map_or(0, |p| p.tx_bytes),
            rx_packets: t.map_or(0, |p| p.rx_packets),
            tx_packets: t.map_or(0, |p| p.tx_packets),
        }
    };
    if let Some(party) = party {
        return party
            .peers
            .iter()
            .map(|p| input(&p.public_key, Some(p.name.clone()), p.connection))
            .collect();
    }
    tunnel
        .map(|t| {
            t.peers
                .iter()
                // Without a party there is no server to say a peer is offline.
                .map(|p| input(&p.public_key, None, path_state(true, p.last_handshake_secs)))
                .collect()
        })
        .unwrap_or_default()
}
