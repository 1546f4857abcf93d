//! The server browser: game servers party members announce, listed with the latency measured
//! through the tunnel to their host, filtered and sorted; favorites kept in the settings
//! database. Announcements are refreshed every 30 s while this device is in the party (the
//! control server forgets them 90 s after the last one).

use std::sync::Arc;
use std::time::Duration;

pub use lanrage_proto::message::GameServer;
use lanrage_proto::message::{Op, ServerEntry};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::control::ControlClient;
use crate::error::EngineError;
use crate::runtime::Runtime;
use crate::session::Session;

const REANNOUNCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, TS)]
pub struct ServerListing {
    #[serde(flatten)]
    pub entry: ServerEntry,
    /// Smoothed in-tunnel RTT to the host, milliseconds (0 for this device's own servers).
    pub latency_ms: Option<f64>,
    pub favorite: bool,
    /// `<host key>/<server id>`, stable across restarts: what favorites remember.
    pub key: String,
}

/// Absent fields do not filter (the UI sends only what it filters by).
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct ServerFilter {
    #[ts(optional)]
    pub game: Option<String>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub has_players: bool,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub not_full: bool,
    #[ts(optional)]
    pub max_latency_ms: Option<f64>,
}

/// Keeps what matches and sorts: favorites first, then lowest latency, then name.
pub fn filter_and_sort(mut list: Vec<ServerListing>, f: &ServerFilter) -> Vec<ServerListing> {
    list.retain(|s| {
        let g = f
            .game
            .as_deref()
            .is_none_or(|g| s.entry.server.game.eq_ignore_ascii_case(g.trim()));
        let players = !f.has_players || s.entry.server.players > 0;
        let room = !f.not_full
            || s.entry.server.max_players == 0
            || s.entry.server.players < s.entry.server.max_players;
        let near = f
            .max_latency_ms
            .is_none_or(|m| s.latency_ms.is_some_and(|l| l <= m));
        g && players && room && near
    });
    list.sort_by(|a, b| {
        b.favorite
            .cmp(&a.favorite)
            .then(
                a.latency_ms
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.latency_ms.unwrap_or(f64::MAX)),
            )
            .then(a.entry.server.name.cmp(&b.entry.server.name))
    });
    list
}

/// The server browser's operations, over the party's control session.
pub(crate) struct Browser {
    rt: Arc<Runtime>,
    session: Arc<Session>,
}

impl Browser {
    pub(crate) fn new(rt: Arc<Runtime>, session: Arc<Session>) -> Self {
        Self { rt, session }
    }

    fn control(&self) -> Result<ControlClient, EngineError> {
        self.session.control_client().ok_or(EngineError::NotInParty)
    }

    /// Announces a game server this device hosts to its party (and keeps it announced).
    pub(crate) async fn announce(&self, server: GameServer) -> Result<(), EngineError> {
        if !self.session.in_party() {
            return Err(EngineError::NotInParty);
        }
        self.control()?
            .request(Op::AnnounceServer {
                server: server.clone(),
            })
            .await?;
        if self.session.remember_announced(server) {
            let session = self.session.clone();
            let cancel = self.rt.cancellation();
            self.rt.spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(REANNOUNCE) => {}
                    }
                    let Some(client) = session.control_client() else {
                        continue;
                    };
                    for server in session.announced() {
                        if let Err(e) = client.request(Op::AnnounceServer { server }).await {
                            tracing::debug!(error = %e, "refreshing a game server announcement");
                        }
                    }
                }
            });
        }
        Ok(())
    }

    pub(crate) async fn remove(&self, id: &str) -> Result<(), EngineError> {
        self.session.forget_announced(id);
        self.control()?
            .request(Op::RemoveServer { id: id.to_string() })
            .await?;
        Ok(())
    }

    pub(crate) async fn list(
        &self,
        filter: &ServerFilter,
    ) -> Result<Vec<ServerListing>, EngineError> {
        let data = self.control()?.request(Op::ListServers).await?;
        let entries: Vec<ServerEntry> = serde_json::from_value(data).unwrap_or_default();
        let me = self.rt.own_key();
        let peers = self
            .session
            .party_status(self.rt.tunnel_stats().as_ref())
            .map(|p| p.peers)
            .unwrap_or_default();
        let favorites = self.rt.settings.lock().favorites()?;
        let list = entries
            .into_iter()
            .map(|entry| {
                let latency_ms = if entry.host_key == me {
                    Some(0.0)
                } else {
                    peers
                        .iter()
                        .find(|p| p.public_key == entry.host_key)
                        .and_then(|p| p.rtt_ms)
                };
                let key = format!("{}/{}", entry.host_key, entry.server.id);
                ServerListing {
                    favorite: favorites.contains(&key),
                    latency_ms,
                    key,
                    entry,
                }
            })
            .collect();
        Ok(filter_and_sort(list, filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(
        name: &str,
        game: &str,
        players: u32,
        max: u32,
        latency: Option<f64>,
        fav: bool,
    ) -> ServerListing {
        ServerListing {
            entry: ServerEntry {
                server: GameServer {
                    id: name.into(),
                    game: game.into(),
                    name: name.into(),
                    port: 1,
                    map: None,
                    players,
                    max_players: max,
                    password: false,
                },
                host_key: "k".into(),
                host_name: "h".into(),
                host_ip: "10.66.0.1".parse().unwrap(),
                expires_at: 0,
            },
            latency_ms: latency,
            favorite: fav,
            key: format!("k/{name}"),
        }
    }

    #[test]
    fn filters_and_sorting() {
        let all = vec![
            listing("far", "Minecraft", 1, 8, Some(80.0), false),
            listing("near", "Minecraft", 0, 8, Some(5.0), false),
            listing("full", "Minecraft", 8, 8, Some(10.0), false),
            listing("fav", "Factorio", 2, 4, Some(120.0), true),
            listing("unknown", "Minecraft", 3, 0, None, false),
        ];
        let names = |v: Vec<ServerListing>| {
            v.into_iter()
                .map(|s| s.entry.server.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(filter_and_sort(all.clone(), &ServerFilter::default())),
            ["fav", "near", "full", "far", "unknown"]
        );
        let f = ServerFilter {
            game: Some("minecraft".into()),
            ..Default::default()
        };
        assert_eq!(
            names(filter_and_sort(all.clone(), &f)),
            ["near", "full", "far", "unknown"]
        );
        let f = ServerFilter {
            has_players: true,
            not_full: true,
            ..Default::default()
        };
        assert_eq!(
            names(filter_and_sort(all.clone(), &f)),
            ["fav", "far", "unknown"]
        );
        let f = ServerFilter {
            max_latency_ms: Some(50.0),
            ..Default::default()
        };
        assert_eq!(names(filter_and_sort(all, &f)), ["near", "full"]);
    }
}
