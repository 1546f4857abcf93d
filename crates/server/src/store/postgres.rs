//! PostgreSQL as the registry's store (`--store postgres://…`): the same three tables as
//! SQLite, created and upgraded by numbered migrations. The client is the `postgres` crate's
//! blocking one, which suits the writer's own thread. When PostgreSQL goes away the batch fails,
//! the writer retries it, and the next attempt connects again (and prepares the statements
//! again, since they belong to a connection).

use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, Config, Statement, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    assemble, endpoints_json, redact, MemberRow, PartyRow, ReservedRow, Store, StoreError,
};
use crate::registry::{Party, PartySettings, Write};

/// The migrations, in order; each runs once, in one transaction with its version's row, so a
/// database is always exactly at one of these versions. Append, never edit.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE parties (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        max_members INTEGER NOT NULL,
        created_at_ms BIGINT NOT NULL,
        invite_code TEXT,
        invite_expires_at_ms BIGINT
    );
    CREATE TABLE members (
        party_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        name TEXT NOT NULL,
        ip TEXT NOT NULL,
        joined_at_ms BIGINT NOT NULL,
        endpoints TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (party_id, public_key)
    );
    CREATE TABLE reserved (
        party_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        ip TEXT NOT NULL,
        left_at_ms BIGINT NOT NULL,
        PRIMARY KEY (party_id, public_key)
    );",
    ),
    (
        2,
        // The serving server's term (see `take_over`); one row.
        "CREATE TABLE serving (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        term BIGINT NOT NULL
    );
    INSERT INTO serving (id, term) VALUES (1, 0);",
    ),
];

/// Taken for the migrations: servers started together against one database upgrade it one at
/// a time, and the later ones find it done.
const MIGRATION_LOCK: i64 = 0x4c41_4e52_6167_6501;

/// How long a connection attempt may take before the batch counts as failed (and is retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    config: Config,
    tls: MakeRustlsConnect,
    /// The term this server serves in, once it took over: every write checks it is still the
    /// current one, so a server that lost the serving lock can never write after the next one
    /// loaded the parties.
    term: Option<i64>,
    /// The connection string without its password, for messages.
    target: String,
    conn: Option<Connection>,
}

struct Connection {
    client: Client,
    sql: Statements,
}

struct Statements {
    upsert_party: Statement,
    delete_party: [Statement; 3],
    add_member: Statement,
    update_member: Statement,
    remove_member: Statement,
    add_reservation: Statement,
    remove_reservation: Statement,
}

/// The client's settings for `url`, and the url without its password for messages. A
/// connection to a PostgreSQL that vanished (a machine gone, not just its process) fails within
/// seconds instead of waiting for TCP's retransmissions to give up.
pub(super) fn config_for(url: &str) -> Result<(Config, String, MakeRustlsConnect), StoreError> {
    let target = redact(url);
    let bad = |message: String| StoreError::Postgres {
        target: target.clone(),
        message,
    };
    let (library_url, tls) = super::postgres_tls::split_tls(url).map_err(bad)?;
    let tls = super::postgres_tls::connector(&tls).map_err(bad)?;
    let mut config: Config = library_url.parse().map_err(|e| bad(format!("{e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("lanrage-server");
    }
    config
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(10));
    Ok((config, target, tls))
}

/// The error for a failed call, with PostgreSQL's own message.
pub(super) fn error(target: &str, e: &postgres::Error) -> StoreError {
    // The source chain carries the server's message ("database … does not exist").
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    StoreError::Postgres {
        target: target.to_owned(),
        message,
    }
}

/// Whether `url` is a connection string the client understands.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let (library_url, _) = super::postgres_tls::split_tls(url)?;
    library_url
        .parse::<Config>()
        .map(drop)
        .map_err(|e| e.to_string())
}

impl PostgresStore {
    /// Connects and brings the tables to the current version; blocking.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let (config, target, tls) = config_for(url)?;
        let mut store = PostgresStore {
            config,
            tls,
            term: None,
            target,
            conn: None,
        };
        let mut client = store.dial()?;
        migrate(&mut client).map_err(|e| match e {
            Migration::Newer(v) => StoreError::Newer(v),
            Migration::Sql(e) => store.error(&e),
        })?;
        // The statements can be prepared now that their tables exist.
        let sql = Statements::prepare(&mut client).map_err(|e| store.error(&e))?;
        store.conn = Some(Connection { client, sql });
        Ok(store)
    }

    fn error(&self, e: &postgres::Error) -> StoreError {
        error(&self.target, e)
    }

    /// Starts this server's term, before it loads the parties: called while it holds the
    /// serving lock. A previous server's write still in flight holds the term's row (`FOR
    /// SHARE`), so this waits for it to commit, and the load then sees it; any later write of
    /// that server finds the term changed and is refused.
    pub fn start_term(&mut self) -> Result<i64, StoreError> {
        let term = self
            .connection()?
            .client
            .query_one(
                "UPDATE serving SET term = term + 1 WHERE id = 1 RETURNING term",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(|e| self.error(&e))?;
        self.term = Some(term);
        Ok(term)
    }

    fn dial(&self) -> Result<Client, StoreError> {
        self.config
            .connect(self.tls.clone())
            .map_err(|e| self.error(&e))
    }

    /// The connection, made first when there is none or PostgreSQL closed it.
    fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        let conn = match self.conn.take() {
            Some(c) if !c.client.is_closed() => c,
            lost => {
                if lost.is_some() {
                    tracing::warn!(store = %self.target, "the connection to PostgreSQL was lost; connecting again");
                }
                let mut client = self.dial()?;
                let sql = Statements::prepare(&mut client).map_err(|e| self.error(&e))?;
                Connection { client, sql }
            }
        };
        Ok(self.conn.insert(conn))
    }
}

enum Migration {
    Newer(i64),
    Sql(postgres::Error),
}

impl From<postgres::Error> for Migration {
    fn from(e: postgres::Error) -> Self {
        Migration::Sql(e)
    }
}

fn migrate(client: &mut Client) -> Result<(), Migration> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS lanrage_schema (
            version BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )?;
    let current: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM lanrage_schema", &[])?
        .get(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Err(Migration::Newer(current));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO lanrage_schema (version) VALUES ($1)",
            &[version],
        )?;
        tracing::info!(version, "PostgreSQL schema upgraded");
    }
    tx.commit()?;
    Ok(())
}

impl Statements {
    fn prepare(c: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            upsert_party: c.prepare(
                "INSERT INTO parties (id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, host = excluded.host,
                   max_members = excluded.max_members, invite_code = excluded.invite_code,
                   invite_expires_at_ms = excluded.invite_expires_at_ms",
            )?,
            delete_party: [
                c.prepare("DELETE FROM parties WHERE id = $1")?,
                c.prepare("DELETE FROM members WHERE party_id = $1")?,
                c.prepare("DELETE FROM reserved WHERE party_id = $1")?,
            ],
            // Position keeps join order (the host passes to the longest present): one past
            // the party's last, so a member who returns lines up behind everyone present.
            add_member: c.prepare(
                "INSERT INTO members (party_id, public_key, name, ip, joined_at_ms, endpoints, position)
                 VALUES ($1, $2, $3, $4, $5, $6,
                   (SELECT COALESCE(MAX(position) + 1, 0) FROM members WHERE party_id = $1))
                 ON CONFLICT (party_id, public_key) DO UPDATE SET name = excluded.name,
                   ip = excluded.ip, joined_at_ms = excluded.joined_at_ms,
                   endpoints = excluded.endpoints",
            )?,
            update_member: c.prepare(
                "UPDATE members SET name = $3, ip = $4, endpoints = $5
                 WHERE party_id = $1 AND public_key = $2",
            )?,
            remove_member: c
                .prepare("DELETE FROM members WHERE party_id = $1 AND public_key = $2")?,
            add_reservation: c.prepare(
                "INSERT INTO reserved (party_id, public_key, ip, left_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (party_id, public_key) DO UPDATE SET ip = excluded.ip,
                   left_at_ms = excluded.left_at_ms",
            )?,
            remove_reservation: c
                .prepare("DELETE FROM reserved WHERE party_id = $1 AND public_key = $2")?,
        })
    }
}

fn upsert_party(
    tx: &mut Transaction,
    sql: &Statements,
    p: &PartySettings,
) -> Result<u64, postgres::Error> {
    let code = p.invite.as_ref().map(|i| i.code.display());
    let expires = p
        .invite
        .as_ref()
        .and_then(|i| i.expires_at_ms)
        .map(|e| e as i64);
    let params: [&(dyn ToSql + Sync); 7] = [
        &p.id,
        &p.name,
        &p.host,
        &i32::from(p.max_members),
        &(p.created_at_ms as i64),
        &code,
        &expires,
    ];
    tx.execute(&sql.upsert_party, &params)
}

/// The same statements as SQLite's, and as idempotent.
fn apply_one(tx: &mut Transaction, sql: &Statements, w: &Write) -> Result<u64, postgres::Error> {
    match w {
        Write::PartyCreated(p) | Write::PartyChanged(p) => upsert_party(tx, sql, p),
        Write::PartyRemoved { party } => {
            let mut n = 0;
            for stmt in &sql.delete_party {
                n += tx.execute(stmt, &[party])?;
            }
            Ok(n)
        }
        Write::MemberAdded { party, member: m } => tx.execute(
            &sql.add_member,
            &[
                party,
                &m.key,
                &m.name,
                &m.ip.to_string(),
                &(m.joined_at_ms as i64),
                &endpoints_json(m),
            ],
        ),
        Write::MemberUpdated { party, member: m } => tx.execute(
            &sql.update_member,
            &[
                party,
                &m.key,
                &m.name,
                &m.ip.to_string(),
                &endpoints_json(m),
            ],
        ),
        Write::MemberRemoved { party, key } => tx.execute(&sql.remove_member, &[party, key]),
        Write::ReservationAdded {
            party,
            key,
            reservation: r,
        } => tx.execute(
            &sql.add_reservation,
            &[party, key, &r.ip.to_string(), &(r.left_at_ms as i64)],
        ),
        Write::ReservationRemoved { party, key } => {
            tx.execute(&sql.remove_reservation, &[party, key])
        }
    }
}

impl Store for PostgresStore {
    fn take_over(&mut self) -> Result<(), StoreError> {
        self.start_term().map(drop)
    }

    fn load(&mut self) -> Result<Vec<Party>, StoreError> {
        let client = &mut self.connection()?.client;
        let result = (|| -> Result<_, postgres::Error> {
            let mut tx = client.build_transaction().read_only(true).start()?;
            let parties = tx
                .query(
                    "SELECT id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms FROM parties",
                    &[],
                )?
                .into_iter()
                .map(|r| {
                    Ok(PartyRow {
                        id: r.try_get(0)?,
                        name: r.try_get(1)?,
                        host: r.try_get(2)?,
                        max_members: u16::try_from(r.try_get::<_, i32>(3)?).unwrap_or(u16::MAX),
                        created_at_ms: r.try_get(4)?,
                        invite_code: r.try_get(5)?,
                        invite_expires_at_ms: r.try_get(6)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            let members = tx
                .query(
                    "SELECT party_id, public_key, name, ip, joined_at_ms, endpoints FROM members ORDER BY party_id, position",
                    &[],
                )?
                .into_iter()
                .map(|r| {
                    Ok(MemberRow {
                        party_id: r.try_get(0)?,
                        key: r.try_get(1)?,
                        name: r.try_get(2)?,
                        ip: r.try_get(3)?,
                        joined_at_ms: r.try_get(4)?,
                        endpoints: r.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            let reserved = tx
                .query(
                    "SELECT party_id, public_key, ip, left_at_ms FROM reserved",
                    &[],
                )?
                .into_iter()
                .map(|r| {
                    Ok(ReservedRow {
                        party_id: r.try_get(0)?,
                        key: r.try_get(1)?,
                        ip: r.try_get(2)?,
                        left_at_ms: r.try_get(3)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            tx.commit()?;
            Ok(assemble(parties, members, reserved))
        })();
        result.map_err(|e| self.error(&e))
    }

    fn apply(&mut self, writes: &[Write]) -> Result<u64, StoreError> {
        let term = self.term;
        let conn = self.connection()?;
        let result = (|| {
            let mut tx = conn.client.transaction()?;
            if let Some(ours) = term {
                let current: i64 = tx
                    .query_one("SELECT term FROM serving WHERE id = 1 FOR SHARE", &[])?
                    .try_get(0)?;
                if current != ours {
                    return Ok(Err(StoreError::Fenced));
                }
            }
            let mut rows = 0;
            for w in writes {
                rows += apply_one(&mut tx, &conn.sql, w)?;
            }
            tx.commit()?;
            Ok(Ok(rows))
        })();
        match result {
            Ok(done) => done,
            Err(e) => Err(self.error(&e)),
        }
    }
}
