//! Where the control server keeps parties, members, reserved addresses and invites, so a
//! restarted server has every party back: SQLite in the data directory (the default, and the
//! embedded LAN party's), or PostgreSQL (`--store postgres://…`). The registry lists each change
//! as rows (`Write`); the [`Writer`] applies them in order on a thread of its own, a batch per
//! transaction, so the async workers and the registry lock never wait for the database.
//!
//! Both stores keep the same three tables with the same meaning and apply a `Write` with the
//! same idempotent statements, so a batch retried after a failure cannot trip over its own
//! half-applied rows.

mod postgres;
mod postgres_tls;
mod serving;
mod sqlite;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lanrage_proto::invite::InviteCode;

use crate::registry::{Invite, Member, Party, Reservation, Write};

pub use postgres::PostgresStore;
pub use serving::{Patience, Reachability, ServingLock};
pub use sqlite::SqliteStore;
pub use writer::{Writer, WriterStats};

/// A place parties are stored. Implementations do blocking I/O: they live on the writer's
/// thread, and `open`/`load` run before the server serves anyone.
pub trait Store: Send + 'static {
    /// Every party that has members, with its members in join order.
    fn load(&mut self) -> Result<Vec<Party>, StoreError>;
    /// Applies `writes` in order in one transaction; returns the rows changed.
    fn apply(&mut self, writes: &[Write]) -> Result<u64, StoreError>;
    /// Called by the server that serves (it holds the serving lock), before `load`: from now on
    /// writes of a server that served before are refused ([`StoreError::Fenced`]). Only a store
    /// several servers share needs it.
    fn take_over(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("server database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL {target}: {message}")]
    Postgres { target: String, message: String },
    #[error("server database: written by a newer server (schema {0}); update LANrage")]
    Newer(i64),
    #[error("server database: cannot start its writer thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Another server took over the database: this one's writes are refused for good.
    #[error("another server serves this database now; this one's changes are not stored")]
    Fenced,
}

/// Which store a server uses: `--store` on the command line.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreLocation {
    /// `server.db` in the server's data directory.
    #[default]
    DataDir,
    /// A PostgreSQL database; the connection string may hold a password, so it is never
    /// printed whole (see the `Debug` and `Display` below).
    Postgres(String),
}

impl StoreLocation {
    /// Opens (creating or upgrading its tables) the store; blocking.
    pub fn open(&self, data_dir: &Path) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            StoreLocation::DataDir => Box::new(SqliteStore::open(&sqlite_path(data_dir))?),
            StoreLocation::Postgres(url) => Box::new(PostgresStore::connect(url)?),
        })
    }
}

pub fn sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join("server.db")
}

#[derive(Debug, thiserror::Error)]
#[error("--store takes a PostgreSQL address, postgres://USER@HOST[:PORT]/DATABASE (without it the server keeps SQLite in its data directory): {0}")]
pub struct BadStoreLocation(String);

impl FromStr for StoreLocation {
    type Err = BadStoreLocation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(BadStoreLocation(format!("{:?} is not one", redact(s))));
        }
        postgres::check_url(s).map_err(BadStoreLocation)?;
        Ok(StoreLocation::Postgres(s.to_owned()))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::DataDir => f.write_str("SQLite in the data directory"),
            StoreLocation::Postgres(url) => write!(f, "PostgreSQL {}", redact(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A connection string without its password (`postgres://user:secret@host` → `user:…@host`),
/// and without query parameters, which may carry one too. The login part runs to the last `@`
/// (a password may hold `?`, `/` or `@` unencoded, and the client library reads it so).
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split('?').next().unwrap_or(url).to_owned();
    };
    let (login, host) = match rest.rsplit_once('@') {
        Some((login, host)) => (Some(login), host),
        None => (None, rest),
    };
    let host = host.split('?').next().unwrap_or(host);
    match login {
        Some(login) if login.contains(':') => {
            let name = login.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:…@{host}")
        }
        Some(login) => format!("{scheme}://{login}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

/// A party's row, as both stores read it back.
pub(crate) struct PartyRow {
    pub id: String,
    pub name: String,
    pub host: String,
    pub max_members: u16,
    pub created_at_ms: i64,
    pub invite_code: Option<String>,
    pub invite_expires_at_ms: Option<i64>,
}

/// A member's row; `endpoints` is the JSON list of socket addresses.
pub(crate) struct MemberRow {
    pub party_id: String,
    pub key: String,
    pub name: String,
    pub ip: String,
    pub joined_at_ms: i64,
    pub endpoints: String,
}

pub(crate) struct ReservedRow {
    pub party_id: String,
    pub key: String,
    pub ip: String,
    pub left_at_ms: i64,
}

/// Builds parties from their rows; `members` must come in join order. Rows that no longer
/// parse (an address or code edited by hand) are skipped rather than failing the start.
pub(crate) fn assemble(
    parties: Vec<PartyRow>,
    members: Vec<MemberRow>,
    reserved: Vec<ReservedRow>,
) -> Vec<Party> {
    let ms = |v: i64| v.max(0) as u64;
    let mut out: HashMap<String, Party> = parties
        .into_iter()
        .map(|row| {
            let invite = row
                .invite_code
                .and_then(|c| InviteCode::parse(&c).ok())
                .map(|code| Invite {
                    code,
                    expires_at_ms: row.invite_expires_at_ms.map(ms),
                });
            let party = Party {
                id: row.id.clone(),
                name: row.name,
                host: row.host,
                max_members: row.max_members,
                created_at_ms: ms(row.created_at_ms),
                members: Vec::new(),
                reserved: HashMap::new(),
                invite,
            };
            (row.id, party)
        })
        .collect();
    for row in members {
        let (Some(p), Ok(ip)) = (out.get_mut(&row.party_id), row.ip.parse::<Ipv4Addr>()) else {
            continue;
        };
        let endpoints: Vec<SocketAddr> = serde_json::from_str(&row.endpoints).unwrap_or_default();
        p.members.push(Member {
            key: row.key,
            name: row.name,
            ip,
            joined_at_ms: ms(row.joined_at_ms),
            endpoints,
            last_seen_ms: 0,
            online: false,
            game: None,
        });
    }
    for row in reserved {
        if let (Some(p), Ok(ip)) = (out.get_mut(&row.party_id), row.ip.parse()) {
            let reservation = Reservation {
                ip,
                left_at_ms: ms(row.left_at_ms),
            };
            p.reserved.insert(row.key, reservation);
        }
    }
    // A party whose members are all gone is not restored (the registry deletes such a party in
    // the same batch as its last member, so only a database edited by hand has one).
    out.into_values()
        .filter(|p| !p.members.is_empty())
        .collect()
}

pub(crate) fn endpoints_json(m: &Member) -> String {
    serde_json::to_string(&m.endpoints).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        for (url, shown) in [
            (
                "postgres://lanrage:s3cret@db.example:5432/lanrage",
                "postgres://lanrage:…@db.example:5432/lanrage",
            ),
            (
                "postgresql://lanrage@10.0.0.5/parties?password=s3cret",
                "postgresql://lanrage@10.0.0.5/parties",
            ),
            ("postgres://a:b:c@h/d", "postgres://a:…@h/d"),
            (
                "postgres://u:s3cret?x/y@h/d?sslmode=require",
                "postgres://u:…@h/d",
            ),
        ] {
            let loc: StoreLocation = url.parse().unwrap();
            assert_eq!(loc.to_string(), format!("PostgreSQL {shown}"));
            assert!(!format!("{loc:?}").contains("s3cret"));
        }
    }

    #[test]
    fn only_postgres_addresses_are_taken() {
        for bad in [
            "mysql://u@h/d",
            "/var/lib/lanrage/server.db",
            "postgres://u@h:notaport/d",
        ] {
            let err = bad.parse::<StoreLocation>().unwrap_err().to_string();
            assert!(err.contains("postgres://USER@HOST"), "{err}");
        }
        let err = "mysql://u:pw@h/d"
            .parse::<StoreLocation>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("pw@"), "{err}");
    }
}
