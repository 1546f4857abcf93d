//! The engine's side of game detection: the catalogue it loaded, the detector it feeds with
//! process scans (from the tick, every `SCAN_INTERVAL`), and the game this device plays now.
//! Which process is which game is `lanrage-games`' decision; this module only runs the scan off
//! the async workers and keeps the answer.

use std::sync::Arc;

use lanrage_games::{Catalogue, Detector, GameEvent, ProcessScanner};
use lanrage_proto::message::GameRef;
use parking_lot::Mutex;

pub(crate) struct Games {
    catalogue: Catalogue,
    scan: Arc<Mutex<(ProcessScanner, Detector)>>,
    /// What this device plays now (the first of its running games).
    current: Mutex<Option<GameRef>>,
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
        };
        (games, problems)
    }

    /// The groups games discover each other on, routed into the tunnel.
    pub(crate) fn multicast_groups(&self) -> Vec<std::net::Ipv4Addr> {
        self.catalogue.multicast_groups()
    }

    pub(crate) fn current(&self) -> Option<GameRef> {
        self.current.lock().clone()
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
