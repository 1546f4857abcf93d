//! The server browser: game servers party members announce, listed with the latency measured
//! through the tunnel to their host, filtered and sorted; favorites kept in the settings
//! database. Announcements are refreshed every 30 s while this device is in the party (the
//! control server forgets them 90 s after the last one).

use std::time::Duration;

pub use lanrage_proto::message::GameServer;
use lanrage_proto::message::{Op, ServerEntry};
use serde::{Deserialize, Serialize};

use crate::engine::{lock, Engine, EngineError};

const REANNOUNCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct ServerListing {
    #[serde(flatten)]
    pub entry: ServerEntry,
    /// Smoothed in-tunnel RTT to the host, milliseconds (0 for this device's own servers).
    pub latency_ms: Option<f64>,
    pub favorite: bool,
    /// `<host key>/<server id>`, stable across restarts: what favorites remember.
    pub key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerFilter {
    pub game: Option<String>,
    #[serde(default)]
    pub has_players: bool,
    #[serde(default)]
    pub not_full: bool,
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

impl Engine {
    fn control(&self) -> Result<crate::control::ControlClient, EngineError> {
        lock(&self.inner.party)
            .control
            .as_ref()
            .map(|(c, _)| c.clone())
            .ok_or(EngineError::NotInParty)
    }

    /// Announces a game server this device hosts to its party (and keeps it announced).
    pub async fn announce_server(&self, server: GameServer) -> Result<(), EngineError> {
        if lock(&self.inner.party).view.is_none() {
            return Err(EngineError::NotInParty);
        }
        self.control()?
            .request(Op::AnnounceServer {
                server: server.clone(),
            })
            .await?;
        let first = {
            let mut st = lock(&self.inner.party);
            st.announced.retain(|s| s.id != server.id);
            st.announced.push(server);
            !std::mem::replace(&mut st.reannouncing, true)
        };
        if first {
            let engine = self.clone();
            let cancel = self.cancellation();
            self.spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(REANNOUNCE) => {}
                    }
                    let (servers, client) = {
                        let st = lock(&engine.inner.party);
                        (
                            st.announced.clone(),
                            st.control.as_ref().map(|(c, _)| c.clone()),
                        )
                    };
                    let Some(client) = client else { continue };
                    for server in servers {
                        if let Err(e) = client.request(Op::AnnounceServer { server }).await {
                            tracing::debug!(error = %e, "refreshing a game server announcement");
                        }
                    }
                }
            });
        }
        Ok(())
    }

    pub async fn remove_server(&self, id: &str) -> Result<(), EngineError> {
        lock(&self.inner.party).announced.retain(|s| s.id != id);
        self.control()?
            .request(Op::RemoveServer { id: id.to_string() })
            .await?;
        Ok(())
    }

    pub async fn list_servers(
        &self,
        filter: &ServerFilter,
    ) -> Result<Vec<ServerListing>, EngineError> {
        let data = self.control()?.request(Op::ListServers).await?;
        let entries: Vec<ServerEntry> = serde_json::from_value(data).unwrap_or_default();
        let me = self.own_key();
        let peers = self.party_status().map(|p| p.peers).unwrap_or_default();
        let favorites = self.favorites()?;
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

    pub fn favorites(&self) -> Result<Vec<String>, EngineError> {
        Ok(lock(&self.inner.settings).favorites()?)
    }

    pub fn set_favorite(&self, key: &str, on: bool) -> Result<(), EngineError> {
        Ok(lock(&self.inner.settings).set_favorite(key, on)?)
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
