//! Detection: which catalogue games are running, from process scans.
//!
//! [`Matcher`] decides whether one process is a game; [`Detector`] is a plain state machine (no
//! I/O, no clock) that turns successive scans into [`GameEvent`]s. The scan itself is
//! [`crate::scan_processes`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::catalogue::{match_key, Catalogue, Origin};

/// How often the engine scans processes.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// A running game is reported stopped after this many scans in a row without any of its
/// processes (2 to 4 s after it quits, at [`SCAN_INTERVAL`]); a game that restarts within that
/// time stays one run, with no stopped/started pair.
pub const MISSED_SCANS_BEFORE_STOP: u32 = 2;

/// How many bytes of a process name Linux keeps (`comm`, `/proc/PID/stat`): longer executable
/// names are cut to this length.
pub const COMM_LEN: usize = 15;

/// One running process, as the scan saw it: plain data, so tests need no processes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// What the OS calls the process. On Linux that is the kernel's `comm`: the executable's
    /// (or, for a script, the script's) file name cut to [`COMM_LEN`] bytes, or what the program
    /// set with `prctl` (Wine sets the Windows executable's name). On Windows and macOS, the
    /// executable's file name.
    pub name: String,
    /// The file name of the executable the process runs (`/proc/PID/exe` on Linux), when
    /// readable. For a script this is the interpreter; under Wine, the Wine loader.
    pub exe_name: Option<String>,
    /// The file name in the first command-line word (`argv[0]`), when readable: Wine and Proton
    /// put the Windows executable's path there. Windows separators are understood.
    pub cmd_name: Option<String>,
}

impl ProcessInfo {
    /// A process known by its name only.
    pub fn new(pid: u32, name: impl Into<String>) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: name.into(),
            exe_name: None,
            cmd_name: None,
        }
    }

    pub fn with_exe(mut self, exe_name: impl Into<String>) -> ProcessInfo {
        self.exe_name = Some(exe_name.into());
        self
    }

    pub fn with_cmd(mut self, cmd_name: impl Into<String>) -> ProcessInfo {
        self.cmd_name = Some(cmd_name.into());
        self
    }
}

/// A game the detector reports: its catalogue id and name, and one of its processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedGame {
    pub id: String,
    pub name: String,
    /// For `Started`, the lowest pid of the game's processes in that scan; afterwards the same
    /// pid while it lives, else the lowest of the game's processes still running.
    pub pid: u32,
}

/// What a scan changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GameEvent {
    Started(DetectedGame),
    Stopped(DetectedGame),
}

/// Which catalogue game, if any, a process is.
///
/// Rules, in order:
/// 1. Exact: the executable's file name, then the process name, then `argv[0]`'s file name,
///    each compared with every catalogue executable name (all OSes), case-insensitively, a
///    trailing `.exe` stripped from both. The first that matches decides.
/// 2. Cut short: a process name of exactly [`COMM_LEN`] bytes may be Linux's cut of a longer
///    name; it then matches a catalogue name longer than [`COMM_LEN`] bytes (as written, `.exe`
///    included) that begins with it, provided one game has such names. Not when the executable's
///    or `argv[0]`'s full file name begins with the process name: the full name is then known,
///    and it did not match.
///
/// Never by ports, never by substrings or similarity. A player's entries win over built-in ones
/// when both claim a name.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    games: Vec<(String, String)>,
    /// Match key -> game index; `[0]` the player's entries, `[1]` the built-in ones.
    exact: [HashMap<String, usize>; 2],
    /// First [`COMM_LEN`] bytes (lowercase) -> game index, `None` when games disagree.
    cut: [HashMap<String, Option<usize>>; 2],
}

impl Matcher {
    pub fn new(catalogue: &Catalogue) -> Matcher {
        let mut matcher = Matcher::default();
        for game in catalogue.games() {
            let index = matcher.games.len();
            matcher.games.push((game.id.clone(), game.name.clone()));
            let layer = match game.origin {
                Origin::User => 0,
                Origin::BuiltIn => 1,
            };
            for name in game.executables.all() {
                matcher.exact[layer].insert(match_key(name), index);
                let lower = name.to_lowercase();
                if lower.len() > COMM_LEN {
                    if let Some(prefix) = lower.get(..COMM_LEN) {
                        matcher.cut[layer]
                            .entry(prefix.to_owned())
                            .and_modify(|claim| {
                                if *claim != Some(index) {
                                    *claim = None;
                                }
                            })
                            .or_insert(Some(index));
                    }
                }
            }
        }
        matcher
    }

    /// The game (id, name) this process is, if any.
    pub fn game_of(&self, process: &ProcessInfo) -> Option<(&str, &str)> {
        let index = self.index_of(process)?;
        self.games
            .get(index)
            .map(|(id, name)| (id.as_str(), name.as_str()))
    }

    fn index_of(&self, process: &ProcessInfo) -> Option<usize> {
        let names = [
            process.exe_name.as_deref(),
            Some(process.name.as_str()),
            process.cmd_name.as_deref(),
        ];
        for name in names.into_iter().flatten().filter(|n| !n.is_empty()) {
            let key = match_key(name);
            if let Some(&index) = self.exact.iter().find_map(|layer| layer.get(&key)) {
                return Some(index);
            }
        }
        if process.name.len() != COMM_LEN {
            return None;
        }
        let cut = process.name.as_bytes();
        let explained = [process.exe_name.as_deref(), process.cmd_name.as_deref()]
            .into_iter()
            .flatten()
            .any(|full| {
                full.len() > COMM_LEN && full.as_bytes()[..COMM_LEN].eq_ignore_ascii_case(cut)
            });
        if explained {
            return None;
        }
        let key = process.name.to_lowercase();
        self.cut
            .iter()
            .find_map(|layer| layer.get(&key))
            .copied()
            .flatten()
    }
}

#[derive(Debug, Clone)]
struct Running {
    name: String,
    pid: u32,
    missed: u32,
}

/// Turns process scans into started/stopped events.
///
/// A game is one game however many of its processes run (a wrapper script and its binary, a
/// client and its own server): it starts when the first appears and stops when none is left.
/// A game whose process is replaced between scans (a restart, a launcher handing over, a script
/// exec'ing the binary) stays running without events: what matters to the party is the game,
/// not the pid. Only [`MISSED_SCANS_BEFORE_STOP`] scans in a row without it stop it.
///
/// Events of one scan come stopped first, then started, each sorted by game id.
#[derive(Debug, Clone)]
pub struct Detector {
    matcher: Matcher,
    running: BTreeMap<String, Running>,
}

impl Detector {
    pub fn new(catalogue: &Catalogue) -> Detector {
        Detector {
            matcher: Matcher::new(catalogue),
            running: BTreeMap::new(),
        }
    }

    /// Uses a new catalogue from the next scan on (the player edited their file). Running games
    /// that it no longer knows stop after the usual missed scans.
    pub fn set_catalogue(&mut self, catalogue: &Catalogue) {
        self.matcher = Matcher::new(catalogue);
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Feeds one scan: every process running now.
    pub fn scan(&mut self, processes: &[ProcessInfo]) -> Vec<GameEvent> {
        let mut seen: BTreeMap<&str, (&str, Vec<u32>)> = BTreeMap::new();
        for process in processes {
            if let Some((id, name)) = self.matcher.game_of(process) {
                seen.entry(id)
                    .or_insert((name, Vec::new()))
                    .1
                    .push(process.pid);
            }
        }
        let mut events = Vec::new();
        self.running.retain(|id, game| match seen.get(id.as_str()) {
            Some((_, pids)) => {
                game.missed = 0;
                if !pids.contains(&game.pid) {
                    if let Some(&pid) = pids.iter().min() {
                        game.pid = pid;
                    }
                }
                true
            }
            None => {
                game.missed += 1;
                if game.missed < MISSED_SCANS_BEFORE_STOP {
                    return true;
                }
                events.push(GameEvent::Stopped(DetectedGame {
                    id: id.clone(),
                    name: game.name.clone(),
                    pid: game.pid,
                }));
                false
            }
        });
        for (id, (name, pids)) in seen {
            if self.running.contains_key(id) {
                continue;
            }
            let Some(&pid) = pids.iter().min() else {
                continue;
            };
            self.running.insert(
                id.to_owned(),
                Running {
                    name: name.to_owned(),
                    pid,
                    missed: 0,
                },
            );
            events.push(GameEvent::Started(DetectedGame {
                id: id.to_owned(),
                name: name.to_owned(),
                pid,
            }));
        }
        events
    }

    /// The games running now, sorted by id.
    pub fn running(&self) -> Vec<DetectedGame> {
        self.running
            .iter()
            .map(|(id, game)| DetectedGame {
                id: id.clone(),
                name: game.name.clone(),
                pid: game.pid,
            })
            .collect()
    }

    /// Stops every running game at once (detection turned off, the engine shutting down).
    pub fn stop_all(&mut self) -> Vec<GameEvent> {
        std::mem::take(&mut self.running)
            .into_iter()
            .map(|(id, game)| {
                GameEvent::Stopped(DetectedGame {
                    id,
                    name: game.name,
                    pid: game.pid,
                })
            })
            .collect()
    }
}
