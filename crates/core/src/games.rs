//! The engine's side of game detection: the catalogue it loaded, the detector it feeds with
//! process scans (from the tick, every `SCAN_INTERVAL`), the game this device plays now, and
//! the session being recorded while it plays in a party.
//! Which process is which game is `lanrage-games`' decision; this module only runs the scan off
//! the async workers and keeps the answer.

use std::sync::Arc;

use lanrage_games::{
    Catalogue, Detector, GameEvent, GameSession, MemberSample, ProcessScanner, Recorder,
};
use lanrage_party::PartyStatus;
use lanrage_proto::message::GameRef;
use parking_lot::Mutex;

pub(crate) struct Games {
    catalogue: Catalogue,
    scan: Arc<Mutex<(ProcessScanner, Detector)>>,
    /// What this device plays now (the first of its running games).
    current: Mutex<Option<GameRef>>,
    /// The run of the current game during the current party.
    recording: Mutex<Option<Recorder>>,
}

impl Games {
    /// The built-in catalogue and the player's `games.toml`; each bad entry of that file comes
    /// back as a sentence for the user (the rest loads).
    pub(crate) fn load(data_dir: &std::path::Path) -> (Games, Vec<String>) {
        let loaded = Catalogue::with_user_file(&lanrage_games::user_file(data_dir));
        let problems = loaded
            .errors
            .iter()
            .map(|e| format!("A game in your games file was not loaded: {e}"))
            .collect();
        let detector = Detector::new(&loaded.catalogue);
        let games = Games {
            catalogue: loaded.catalogue,
            scan: Arc::new(Mutex::new((ProcessScanner::new(), detector))),
            current: Mutex::new(None),
            recording: Mutex::new(None),
        };
        (games, problems)
    }

    /// The groups games discover each other on, routed into the tunnel.
    pub(crate) fn multicast_groups(&self) -> Vec<std::net::Ipv4Addr> {
        self.catalogue.multicast_groups()
    }

    #[cfg(test)]
    pub(crate) fn knows(&self, id: &str) -> bool {
        self.catalogue.get(id).is_some()
    }

    pub(crate) fn current(&self) -> Option<GameRef> {
        self.current.lock().clone()
    }

    /// Once a second: a session runs while this device plays a game in a party; each second
    /// adds who is there and the round trip and loss to them. Returns a session that just
    /// ended (the game stopped or changed, or the party ended), to be stored.
    pub(crate) fn follow_session(&self, party: Option<&PartyStatus>) -> Option<GameSession> {
        let now = unix_now();
        let want = party.and(self.current());
        let mut recording = self.recording.lock();
        let same = matches!((&*recording, &want), (Some(r), Some(g)) if r.game_id() == g.id);
        let ended = if same {
            None
        } else {
            let ended = recording.take().map(|r| r.finish(now));
            *recording = want.map(|g| Recorder::start(&g.id, &g.name, now));
            ended
        };
        if let (Some(r), Some(p)) = (recording.as_mut(), party) {
            let samples: Vec<MemberSample<'_>> = p
                .peers
                .iter()
                .filter(|m| m.online)
                .map(|m| MemberSample {
                    name: &m.name,
                    rtt_ms: m.rtt_ms,
                    loss_pct: m.loss_pct,
                })
                .collect();
            r.sample(&samples);
        }
        ended
    }

    /// The session being recorded, ended now (at shutdown).
    pub(crate) fn end_session(&self) -> Option<GameSession> {
        self.recording.lock().take().map(|r| r.finish(unix_now()))
    }

    /// Scans the processes (on a blocking thread: it reads /proc) and returns what started and
    /// stopped since the last scan. With `enabled` false every running game stops.
    pub(crate) async fn scan(&self, enabled: bool) -> Vec<GameEvent> {
        let scan = self.scan.clone();
        let events = tokio::task::spawn_blocking(move || {
            let mut guard = scan.lock();
            let (scanner, detector) = &mut *guard;
            if enabled {
                let processes = scanner.scan();
                detector.scan(&processes)
            } else {
                detector.stop_all()
            }
        })
        .await
        .unwrap_or_default();
        let running = self.scan.lock().1.running();
        *self.current.lock() = running.first().map(|g| GameRef {
            id: g.id.clone(),
            name: g.name.clone(),
        });
        events
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Keeps a finished session in the settings database (and says so in the log).
pub(crate) fn store_session(rt: &crate::runtime::Runtime, session: &GameSession) {
    tracing::info!(
        game = %session.game_name,
        duration_secs = session.duration_secs,
        members = session.members.len(),
        "game session ended"
    );
    let data = match serde_json::to_value(session) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "a game session could not be written down");
            return;
        }
    };
    let stored =
        rt.settings
            .lock()
            .record_game_session(&session.game_id, session.started_at, &data);
    match stored {
        Ok(()) => rt.emit(crate::events::EngineEvent::GameSessionSaved {
            session: Box::new(session.clone()),
        }),
        Err(e) => tracing::warn!(error = %e, "storing a game session"),
    }
}
