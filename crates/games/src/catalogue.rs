//! The catalogue: which games LANrage knows, as data.
//!
//! The built-in catalogue is `crates/games/catalogue/games.toml`, embedded at compile time and
//! parsed at start; a player may add entries in `DATA_DIR/games.toml` ([`user_file`]), same
//! format. A player's entry whose id is a built-in one replaces the built-in entry whole, and a
//! player's executable names win over built-in ones.
//!
//! Why TOML and not JSON: the catalogue is edited by hand, by contributors and by players. TOML
//! has comments (the file explains its own fields), one `[[game]]` table per entry reads like a
//! form, a missing comma does not exist, and diffs stay line by line. Its parser also keeps the
//! position of every key and value, which is what lets an error name the line of a bad field.
//!
//! Loading goes entry by entry: the file is cut at each `[[game]]` header and every entry is
//! parsed and checked on its own, so one bad entry (even one that is not valid TOML) is reported
//! with its file, line and field, and every other entry still loads.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The built-in catalogue as shipped.
pub const BUILTIN_TOML: &str = include_str!("../catalogue/games.toml");
/// How errors in the built-in catalogue name its file.
pub const BUILTIN_PATH: &str = "crates/games/catalogue/games.toml";
/// The file name of a player's own entries in the data directory.
pub const USER_FILE_NAME: &str = "games.toml";

/// Where a player's own entries live: `DATA_DIR/games.toml`.
pub fn user_file(data_dir: &Path) -> PathBuf {
    data_dir.join(USER_FILE_NAME)
}

/// Programs that run many unrelated programs (interpreters, runtimes, shells, Wine, Steam):
/// an entry naming one would make every program it runs that game, so such names are refused.
const HOST_PROGRAMS: &[&str] = &[
    "java",
    "javaw",
    "python",
    "python3",
    "pythonw",
    "mono",
    "mono-sgen",
    "dotnet",
    "node",
    "wine",
    "wine64",
    "wine-preloader",
    "wine64-preloader",
    "wineserver",
    "proton",
    "steam",
    "steamwebhelper",
    "sh",
    "bash",
    "dash",
    "zsh",
    "fish",
    "cmd",
    "powershell",
    "pwsh",
    "explorer",
    "systemd",
    "init",
];

/// Longest id, name, executable name and notes accepted.
const MAX_ID: usize = 64;
const MAX_NAME: usize = 100;
const MAX_EXE: usize = 255;
const MAX_NOTES: usize = 2000;

/// One game LANrage knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Game {
    /// A slug: lowercase letters, digits and `-`.
    pub id: String,
    /// What people see ("playing OpenTTD").
    pub name: String,
    /// Its executables' file names per OS, as written in the catalogue.
    pub executables: Executables,
    /// How it finds LAN games; empty when unknown or none.
    pub discovery: Vec<Discovery>,
    /// Its own ports (informational: detection never uses ports).
    pub ports: Ports,
    /// MTU, keepalive and other hints.
    pub notes: String,
    /// True only when a test in this repository runs the real game and checks it.
    pub verified: bool,
    /// Built in, or from the player's file.
    pub origin: Origin,
}

/// A game's executable file names per OS. Detection matches all of them on every OS: Wine and
/// Proton run the Windows executables on Linux.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Executables {
    pub linux: Vec<String>,
    /// With `.exe`.
    pub windows: Vec<String>,
    pub macos: Vec<String>,
}

impl Executables {
    /// Every name, Linux first, then Windows, then macOS.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.linux
            .iter()
            .chain(&self.windows)
            .chain(&self.macos)
            .map(String::as_str)
    }
}

/// How a game finds LAN games: where it sends its announcement or query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discovery {
    /// Limited broadcast: 255.255.255.255, ports `port..=last_port`.
    Broadcast { port: u16, last_port: u16 },
    /// The subnet's broadcast address (e.g. 10.66.255.255), ports `port..=last_port`.
    SubnetBroadcast { port: u16, last_port: u16 },
    /// A multicast group, ports `port..=last_port`.
    Multicast {
        group: Ipv4Addr,
        port: u16,
        last_port: u16,
    },
}

impl Discovery {
    /// The ports it sends to.
    pub fn ports(&self) -> RangeInclusive<u16> {
        match *self {
            Discovery::Broadcast { port, last_port }
            | Discovery::SubnetBroadcast { port, last_port }
            | Discovery::Multicast {
                port, last_port, ..
            } => port..=last_port,
        }
    }

    /// The multicast group, for multicast discovery.
    pub fn group(&self) -> Option<Ipv4Addr> {
        match *self {
            Discovery::Multicast { group, .. } => Some(group),
            _ => None,
        }
    }
}

/// A game's own ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub udp: Vec<u16>,
    pub tcp: Vec<u16>,
}

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    /// The player's own file.
    User,
}

/// One problem in a catalogue file: the entry it is in was not loaded (the file, when `line` is
/// `None`, could not be read at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct CatalogueError {
    pub file: PathBuf,
    /// 1-based; `None` for the file as a whole.
    pub line: Option<usize>,
    /// The entry's id when it could be read.
    pub game: Option<String>,
    /// The field, as a path: `discovery[0].port`, `windows[2]`; `None` for a TOML syntax error.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(game) = &self.game {
            write!(f, "game `{game}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A catalogue and what went wrong loading it.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub catalogue: Catalogue,
    /// Each bad entry's problems; the entries themselves are left out of `catalogue`.
    pub errors: Vec<CatalogueError>,
}

/// The games LANrage knows, in file order (built-in first, then the player's new ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    games: Vec<Game>,
}

impl Catalogue {
    /// The built-in catalogue. Its entries are checked by this crate's tests; should one still
    /// fail to load, it is logged and left out.
    pub fn builtin() -> Catalogue {
        let loaded = Catalogue::parse(BUILTIN_TOML, Path::new(BUILTIN_PATH), Origin::BuiltIn);
        for error in &loaded.errors {
            tracing::error!(%error, "built-in game catalogue entry left out");
        }
        loaded.catalogue
    }

    /// The built-in catalogue with the player's file on top (see [`user_file`]). A missing file is
    /// no error; an unreadable one is one error, and the built-in catalogue still loads.
    pub fn with_user_file(path: &Path) -> Loaded {
        let mut catalogue = Catalogue::builtin();
        let user = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Catalogue::parse(&text, path, Origin::User),
                Err(_) => Loaded {
                    catalogue: Catalogue::default(),
                    errors: vec![file_error(path, "is not UTF-8 text".to_owned())],
                },
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::default(),
            Err(e) => Loaded {
                catalogue: Catalogue::default(),
                errors: vec![file_error(path, format!("cannot be read: {e}"))],
            },
        };
        catalogue.add_overriding(user.catalogue);
        Loaded {
            catalogue,
            errors: user.errors,
        }
    }

    /// Parses one catalogue file's text, entry by entry. `file` only names the file in errors.
    pub fn parse(source: &str, file: &Path, origin: Origin) -> Loaded {
        let mut parser = FileParser {
            file,
            origin,
            games: Vec::new(),
            errors: Vec::new(),
            ids: HashMap::new(),
            names: HashMap::new(),
        };
        for chunk in chunks(source) {
            parser.chunk(&chunk);
        }
        Loaded {
            catalogue: Catalogue {
                games: parser.games,
            },
            errors: parser.errors,
        }
    }

    /// Adds `other`'s games; one with the id of a game already here replaces it in place.
    pub fn add_overriding(&mut self, other: Catalogue) {
        for game in other.games {
            match self.games.iter_mut().find(|g| g.id == game.id) {
                Some(existing) => {
                    tracing::info!(id = %game.id, "a player's game entry replaces the built-in one");
                    *existing = game;
                }
                None => self.games.push(game),
            }
        }
    }

    pub fn games(&self) -> &[Game] {
        &self.games
    }

    pub fn get(&self, id: &str) -> Option<&Game> {
        self.games.iter().find(|g| g.id == id)
    }

    pub fn len(&self) -> usize {
        self.games.len()
    }

    pub fn is_empty(&self) -> bool {
        self.games.is_empty()
    }

    /// Every multicast group a game of the catalogue discovers on, sorted, once each.
    pub fn multicast_groups(&self) -> Vec<Ipv4Addr> {
        let mut groups: Vec<Ipv4Addr> = self
            .games
            .iter()
            .flat_map(|g| g.discovery.iter().filter_map(Discovery::group))
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

fn file_error(path: &Path, message: String) -> CatalogueError {
    CatalogueError {
        file: path.to_owned(),
        line: None,
        game: None,
        field: None,
        message,
    }
}

/// The key detection compares: lowercase, a trailing `.exe` stripped.
pub(crate) fn match_key(name: &str) -> String {
    let lower = name.to_lowercase();
    match lower.strip_suffix(".exe") {
        Some(stem) => stem.to_owned(),
        None => lower,
    }
}

/// A piece of the file: the text before the first `[[game]]` (`entry: false`), or one entry from
/// its header to the next.
struct Chunk<'a> {
    first_line: usize,
    text: &'a str,
    entry: bool,
}

fn is_game_header(line: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix("[[") else {
        return false;
    };
    let Some((inner, after)) = rest.split_once("]]") else {
        return false;
    };
    let after = after.trim();
    inner.trim() == "game" && (after.is_empty() || after.starts_with('#'))
}

fn chunks(source: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let (mut start, mut start_line, mut entry) = (0, 1, false);
    let mut offset = 0;
    for (index, line) in source.split_inclusive('\n').enumerate() {
        if is_game_header(line) {
            if offset > start || entry {
                out.push(Chunk {
                    first_line: start_line,
                    text: &source[start..offset],
                    entry,
                });
            }
            (start, start_line, entry) = (offset, index + 1, true);
        }
        offset += line.len();
    }
    if offset > start || entry {
        out.push(Chunk {
            first_line: start_line,
            text: &source[start..],
            entry,
        });
    }
    out
}

/// The id written in an entry that did not parse, for its error message.
fn sniff_id(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("id")?
            .trim_start()
            .strip_prefix('=')?;
        let rest = rest.trim_start().strip_prefix('"')?;
        let (id, _) = rest.split_once('"')?;
        Some(id.to_owned())
    })
}

struct FileParser<'f> {
    file: &'f Path,
    origin: Origin,
    games: Vec<Game>,
    errors: Vec<CatalogueError>,
    /// Ids loaded so far, with their line.
    ids: HashMap<String, usize>,
    /// Executable match keys loaded so far, with the id claiming them.
    names: HashMap<String, String>,
}

impl FileParser<'_> {
    fn chunk(&mut self, chunk: &Chunk<'_>) {
        let line_of = |offset: usize| line_at(chunk.text, offset, chunk.first_line);
        let doc = match DeTable::parse(chunk.text) {
            Ok(doc) => doc,
            Err(e) => {
                self.errors.push(CatalogueError {
                    file: self.file.to_owned(),
                    line: Some(e.span().map_or(chunk.first_line, |s| line_of(s.start))),
                    game: if chunk.entry {
                        sniff_id(chunk.text)
                    } else {
                        None
                    },
                    field: None,
                    message: e.message().trim().to_owned(),
                });
                return;
            }
        };
        for (key, value) in doc.get_ref().iter() {
            let key_name: &str = key.get_ref();
            let entries = match value.get_ref() {
                DeValue::Array(entries) if chunk.entry && key_name == "game" => entries,
                _ => {
                    self.errors.push(CatalogueError {
                        file: self.file.to_owned(),
                        line: Some(line_of(key.span().start)),
                        game: None,
                        field: Some(key_name.to_owned()),
                        message: "is not part of a game: each game is a [[game]] table".to_owned(),
                    });
                    continue;
                }
            };
            for entry in entries.iter() {
                match entry.get_ref() {
                    DeValue::Table(table) => {
                        let header_line = if entry.span().start < chunk.text.len() {
                            line_of(entry.span().start)
                        } else {
                            chunk.first_line
                        };
                        self.entry(table, chunk, header_line);
                    }
                    other => self.errors.push(CatalogueError {
                        file: self.file.to_owned(),
                        line: Some(line_of(entry.span().start)),
                        game: None,
                        field: Some("game".to_owned()),
                        message: format!("must be a table, not {}", other.type_str()),
                    }),
                }
            }
        }
    }

    fn entry(&mut self, table: &DeTable<'_>, chunk: &Chunk<'_>, header_line: usize) {
        let mut entry = EntryParser {
            text: chunk.text,
            first_line: chunk.first_line,
            problems: Vec::new(),
        };
        let mut game = Game {
            id: String::new(),
            name: String::new(),
            executables: Executables::default(),
            discovery: Vec::new(),
            ports: Ports::default(),
            notes: String::new(),
            verified: false,
            origin: self.origin,
        };
        let (mut has_id, mut has_name) = (false, false);
        // Where each executable name was written, to report a clash with another entry.
        let mut name_lines: Vec<(String, String, usize)> = Vec::new();
        for (key, value) in table.iter() {
            let field: &str = key.get_ref();
            match field {
                "id" => {
                    if let Some(id) = entry.string(field, value) {
                        has_id = true;
                        game.id = id.to_owned();
                        if let Err(message) = check_id(id) {
                            entry.problem(value.span(), field, message);
                        }
                    }
                }
                "name" => {
                    if let Some(name) = entry.string(field, value) {
                        has_name = true;
                        game.name = name.to_owned();
                        if let Err(message) = check_name(name) {
                            entry.problem(value.span(), field, message);
                        }
                    }
                }
                "linux" | "windows" | "macos" => {
                    let names = entry.executables(field, value, &mut name_lines);
                    match field {
                        "linux" => game.executables.linux = names,
                        "windows" => game.executables.windows = names,
                        _ => game.executables.macos = names,
                    }
                }
                "discovery" => game.discovery = entry.discovery(field, value),
                "udp" => game.ports.udp = entry.ports(field, value),
                "tcp" => game.ports.tcp = entry.ports(field, value),
                "notes" => {
                    if let Some(notes) = entry.string(field, value) {
                        game.notes = notes.to_owned();
                        if notes.chars().count() > MAX_NOTES {
                            entry.problem(
                                value.span(),
                                field,
                                format!("is longer than {MAX_NOTES} characters"),
                            );
                        }
                    }
                }
                "verified" => match value.get_ref() {
                    DeValue::Boolean(b) => game.verified = *b,
                    other => entry.problem(
                        value.span(),
                        field,
                        format!("must be true or false, not {}", other.type_str()),
                    ),
                },
                _ => entry.problem(
                    key.span(),
                    field,
                    "is not a known field (id, name, linux, windows, macos, discovery, udp, tcp, notes, verified)"
                        .to_owned(),
                ),
            }
        }
        for (field, missing) in [("id", !has_id), ("name", !has_name)] {
            if missing {
                entry.problems.push(Problem {
                    line: header_line,
                    field: field.to_owned(),
                    message: "is required".to_owned(),
                });
            }
        }
        if has_id && entry.problems.is_empty() {
            if let Some(first) = self.ids.get(&game.id) {
                entry.problems.push(Problem {
                    line: header_line,
                    field: "id".to_owned(),
                    message: format!("is already used by the entry at line {first}"),
                });
            }
            for (key, field, line) in &name_lines {
                if let Some(other) = self.names.get(key).filter(|other| **other != game.id) {
                    entry.problems.push(Problem {
                        line: *line,
                        field: field.clone(),
                        message: format!("is already the executable of `{other}`"),
                    });
                }
            }
        }
        if entry.problems.is_empty() {
            self.ids.insert(game.id.clone(), header_line);
            for (key, _, _) in name_lines {
                self.names.insert(key, game.id.clone());
            }
            self.games.push(game);
        } else {
            let id = has_id.then(|| game.id.clone());
            for problem in entry.problems {
                self.errors.push(CatalogueError {
                    file: self.file.to_owned(),
                    line: Some(problem.line),
                    game: id.clone(),
                    field: Some(problem.field),
                    message: problem.message,
                });
            }
        }
    }
}

fn line_at(text: &str, offset: usize, first_line: usize) -> usize {
    let end = offset.min(text.len());
    first_line
        + text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
}

struct Problem {
    line: usize,
    field: String,
    message: String,
}

/// Reads one entry's fields, collecting every problem with its line and field.
struct EntryParser<'a> {
    text: &'a str,
    first_line: usize,
    problems: Vec<Problem>,
}

impl EntryParser<'_> {
    fn problem(&mut self, span: Range<usize>, field: impl Into<String>, message: String) {
        self.problems.push(Problem {
            line: line_at(self.text, span.start, self.first_line),
            field: field.into(),
            message,
        });
    }

    fn string<'v>(&mut self, field: &str, value: &'v Spanned<DeValue<'_>>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s),
            other => {
                self.problem(
                    value.span(),
                    field,
                    format!("must be a string, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn array<'v, 'i>(
        &mut self,
        field: &str,
        value: &'v Spanned<DeValue<'i>>,
    ) -> &'v [Spanned<DeValue<'i>>] {
        match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                self.problem(
                    value.span(),
                    field,
                    format!("must be a list, not {}", other.type_str()),
                );
                &[]
            }
        }
    }

    fn executables(
        &mut self,
        field: &str,
        value: &Spanned<DeValue<'_>>,
        name_lines: &mut Vec<(String, String, usize)>,
    ) -> Vec<String> {
        let mut names = Vec::new();
        for (i, item) in self.array(field, value).iter().enumerate() {
            let path = format!("{field}[{i}]");
            let Some(name) = self.string(&path, item) else {
                continue;
            };
            match check_executable(name, field == "windows") {
                Ok(()) => {
                    let line = line_at(self.text, item.span().start, self.first_line);
                    name_lines.push((match_key(name), path, line));
                    names.push(name.to_owned());
                }
                Err(message) => self.problem(item.span(), path, message),
            }
        }
        names
    }

    fn port(&mut self, field: &str, value: &Spanned<DeValue<'_>>) -> Option<u16> {
        let number = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            other => {
                self.problem(
                    value.span(),
                    field,
                    format!("must be a port number, not {}", other.type_str()),
                );
                return None;
            }
        };
        match number
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&p| p != 0)
        {
            Some(port) => Some(port),
            None => {
                self.problem(
                    value.span(),
                    field,
                    "must be a port number from 1 to 65535".to_owned(),
                );
                None
            }
        }
    }

    fn ports(&mut self, field: &str, value: &Spanned<DeValue<'_>>) -> Vec<u16> {
        let mut ports = Vec::new();
        for (i, item) in self.array(field, value).iter().enumerate() {
            if let Some(port) = self.port(&format!("{field}[{i}]"), item) {
                ports.push(port);
            }
        }
        ports
    }

    fn discovery(&mut self, field: &str, value: &Spanned<DeValue<'_>>) -> Vec<Discovery> {
        let mut out = Vec::new();
        for (i, item) in self.array(field, value).iter().enumerate() {
            let path = format!("{field}[{i}]");
            match item.get_ref() {
                DeValue::Table(table) => {
                    if let Some(discovery) = self.discovery_entry(&path, item.span(), table) {
                        out.push(discovery);
                    }
                }
                other => self.problem(
                    item.span(),
                    path,
                    format!(
                        "must be a table like {{ kind = \"broadcast\", port = 1234 }}, not {}",
                        other.type_str()
                    ),
                ),
            }
        }
        out
    }

    fn discovery_entry(
        &mut self,
        path: &str,
        span: Range<usize>,
        table: &DeTable<'_>,
    ) -> Option<Discovery> {
        let before = self.problems.len();
        let (mut kind, mut group, mut port, mut last_port) = (None, None, None, None);
        let mut group_span = span.clone();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let field = format!("{path}.{name}");
            match name {
                "kind" => {
                    if let Some(k) = self.string(&field, value) {
                        match k {
                            "broadcast" | "subnet_broadcast" | "multicast" => kind = Some(k),
                            other => self.problem(
                                value.span(),
                                field,
                                format!(
                                    "`{other}` is not a discovery kind (broadcast, subnet_broadcast, multicast)"
                                ),
                            ),
                        }
                    }
                }
                "group" => {
                    group_span = value.span();
                    if let Some(g) = self.string(&field, value) {
                        match g.parse::<Ipv4Addr>() {
                            Ok(addr) if addr.is_multicast() => group = Some(addr),
                            Ok(_) => self.problem(
                                value.span(),
                                field,
                                format!("{g} is not a multicast address (224.0.0.0/4)"),
                            ),
                            Err(_) => self.problem(
                                value.span(),
                                field,
                                format!("`{g}` is not an IPv4 address"),
                            ),
                        }
                    }
                }
                "port" => port = self.port(&field, value),
                "last_port" => last_port = self.port(&field, value).map(|p| (p, value.span())),
                _ => self.problem(
                    key.span(),
                    field,
                    "is not a discovery field (kind, group, port, last_port)".to_owned(),
                ),
            }
        }
        let line_span = span.start..span.start;
        if kind.is_none() && self.problems.len() == before {
            self.problem(
                line_span.clone(),
                format!("{path}.kind"),
                "is required".to_owned(),
            );
        }
        if port.is_none() && self.problems.len() == before {
            self.problem(
                line_span.clone(),
                format!("{path}.port"),
                "is required".to_owned(),
            );
        }
        match (kind, group) {
            (Some("multicast"), None) if self.problems.len() == before => self.problem(
                line_span,
                format!("{path}.group"),
                "is required for multicast".to_owned(),
            ),
            (Some("broadcast" | "subnet_broadcast"), Some(_)) => self.problem(
                group_span,
                format!("{path}.group"),
                "is only for multicast".to_owned(),
            ),
            _ => {}
        }
        if let (Some(first), Some((last, last_span))) = (port, &last_port) {
            if *last < first {
                self.problem(
                    last_span.clone(),
                    format!("{path}.last_port"),
                    format!("must not be below port ({first})"),
                );
            }
        }
        if self.problems.len() != before {
            return None;
        }
        let port = port?;
        let last_port = last_port.map_or(port, |(p, _)| p);
        match kind? {
            "broadcast" => Some(Discovery::Broadcast { port, last_port }),
            "subnet_broadcast" => Some(Discovery::SubnetBroadcast { port, last_port }),
            _ => Some(Discovery::Multicast {
                group: group?,
                port,
                last_port,
            }),
        }
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let slug = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if slug {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a slug: 1 to {MAX_ID} of a-z, 0-9 and '-', not starting or ending with '-'"
        ))
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("is longer than {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

fn check_executable(name: &str, windows: bool) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > MAX_EXE {
        return Err(format!("is longer than {MAX_EXE} bytes"));
    }
    if name.contains(['/', '\\']) {
        return Err(format!(
            "`{name}` is a path: give the executable's file name only"
        ));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(format!(
            "`{name}` has control characters or leading/trailing spaces"
        ));
    }
    let key = match_key(name);
    if key.is_empty() || key == "." || key == ".." {
        return Err(format!("`{name}` is not a file name"));
    }
    if windows && !name.to_lowercase().ends_with(".exe") {
        return Err(format!("`{name}` must end in .exe"));
    }
    if HOST_PROGRAMS.contains(&key.as_str()) {
        return Err(format!(
            "`{name}` runs many programs, not one game: give the game's own executable"
        ));
    }
    Ok(())
}
