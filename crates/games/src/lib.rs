//! LAN games: which games LANrage knows, and which of them are running.
//!
//! This crate owns two decisions and nothing else (no tokio, no engine types):
//!
//! - **The catalogue** ([`Catalogue`]): the games LANrage knows, as data in the repository
//!   (`crates/games/catalogue/games.toml`, embedded and parsed at start) plus a player's own
//!   entries in `DATA_DIR/games.toml` ([`user_file`]). Per game: an id, a name, executable file
//!   names per OS, how it finds LAN games ([`Discovery`]: limited broadcast, subnet broadcast or
//!   multicast group, with ports), its own ports, notes, and whether a test here runs the real
//!   game (`verified`). A player's entry with a built-in id replaces the built-in entry; a bad
//!   entry is left out with a [`CatalogueError`] naming its file, line and field, and the rest
//!   loads.
//! - **Detection** ([`Detector`]): a plain state machine (no I/O, no clock) fed with process
//!   scans ([`ProcessInfo`]) that answers started/stopped [`GameEvent`]s. The engine scans every
//!   [`SCAN_INTERVAL`] with a [`ProcessScanner`] (sysinfo: names every time, executable names
//!   only for new processes) and feeds the result. What a scan costs:
//!   `cargo run --release -p lanrage-games --example scan_cost` (about 8 ms for 500 processes on
//!   the 2-core CI machine, 0.4 % of one core at 2 s).
//!
//! # Matching rules
//!
//! A process is a game when one of its names equals one of the game's executable names:
//!
//! - the names compared are the executable's file name, the process name and `argv[0]`'s file
//!   name, in that order; catalogue names of every OS are used on every OS (Wine and Proton run
//!   Windows executables on Linux);
//! - exactly, case-insensitively, with a trailing `.exe` stripped from both sides;
//! - Linux keeps only [`COMM_LEN`] (15) bytes of a process name: a 15-byte name also matches a
//!   longer catalogue name it begins, but only when one game has such a name and the process's
//!   full executable name (when known) is not simply that longer name (see [`Matcher`]);
//! - never by ports (a program holding 27015 is not Counter-Strike), never by substrings or
//!   similarity (`openttd-helper` is not OpenTTD);
//! - programs that run many programs (java, python, wine, steam, shells) cannot be a game's
//!   executable, so Minecraft: Java Edition is in the catalogue for its LAN discovery only;
//! - no two games of one file share an executable name; a player's entry wins over a built-in
//!   one that claims the same name.
//!
//! **Sessions** ([`Recorder`], [`GameSession`]): one run of a game during a party, with the
//! members present and the round trip and loss to them, summed up when it ends.
//!
//! A game with several processes is one game; a game whose process is replaced between scans
//! stays one run; it stops after [`MISSED_SCANS_BEFORE_STOP`] scans without any of its
//! processes.

mod catalogue;
mod detect;
mod scan;
mod session;

pub use catalogue::{
    user_file, Catalogue, CatalogueError, Discovery, Executables, Game, Loaded, Origin, Ports,
    BUILTIN_PATH, BUILTIN_TOML, USER_FILE_NAME,
};
pub use detect::{
    DetectedGame, Detector, GameEvent, Matcher, ProcessInfo, COMM_LEN, MISSED_SCANS_BEFORE_STOP,
    SCAN_INTERVAL,
};
pub use scan::{scan_processes, ProcessScanner};
pub use session::{GameSession, MemberSample, Recorder, RttSummary};

#[cfg(test)]
mod tests;
