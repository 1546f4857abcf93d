//! The default store: SQLite in the server's data directory (WAL, one writer thread).

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use super::{assemble, endpoints_json, MemberRow, PartyRow, ReservedRow, Store, StoreError};
use crate::registry::{Party, PartySettings, Write};

const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS parties (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    max_members INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    invite_code TEXT,
    invite_expires_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS members (
    party_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT NOT NULL,
    ip TEXT NOT NULL,
    joined_at_ms INTEGER NOT NULL,
    endpoints TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (party_id, public_key)
);
CREATE TABLE IF NOT EXISTS reserved (
    party_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    ip TEXT NOT NULL,
    left_at_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (party_id, public_key)
);
";

/// Version 1 kept every member's address in `reserved`, live members' too, with no time; what
/// is left counts as having left at the upgrade.
const FROM_V1: &str = "
ALTER TABLE reserved ADD COLUMN left_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE reserved SET left_at_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
DELETE FROM reserved WHERE EXISTS (
    SELECT 1 FROM members m WHERE m.party_id = reserved.party_id AND m.public_key = reserved.public_key
);
";

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL keeps writes cheap while thousands of devices come and go.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }

    /// How long a statement waits for another process's lock before it fails (and the
    /// writer retries it).
    pub fn set_busy_timeout(&self, t: Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(t)?)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Vec<Party>, StoreError> {
        let parties = self
            .conn
            .prepare(
                "SELECT id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms FROM parties",
            )?
            .query_map([], |r| {
                Ok(PartyRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    host: r.get(2)?,
                    max_members: r.get(3)?,
                    created_at_ms: r.get(4)?,
                    invite_code: r.get(5)?,
                    invite_expires_at_ms: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let members = self
            .conn
            .prepare(
                "SELECT party_id, public_key, name, ip, joined_at_ms, endpoints FROM members ORDER BY party_id, position",
            )?
            .query_map([], |r| {
                Ok(MemberRow {
                    party_id: r.get(0)?,
                    key: r.get(1)?,
                    name: r.get(2)?,
                    ip: r.get(3)?,
                    joined_at_ms: r.get(4)?,
                    endpoints: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let reserved = self
            .conn
            .prepare("SELECT party_id, public_key, ip, left_at_ms FROM reserved")?
            .query_map([], |r| {
                Ok(ReservedRow {
                    party_id: r.get(0)?,
                    key: r.get(1)?,
                    ip: r.get(2)?,
                    left_at_ms: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(assemble(parties, members, reserved))
    }

    fn apply(&mut self, writes: &[Write]) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rows = 0;
        for w in writes {
            rows += apply_one(&tx, w)? as u64;
        }
        tx.commit()?;
        Ok(rows)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Immediate: two servers started on one data directory do not both upgrade it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer(version));
    }
    tx.execute_batch(SCHEMA)?;
    let has_left_at: i64 = tx.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('reserved') WHERE name = 'left_at_ms'",
        [],
        |r| r.get(0),
    )?;
    if has_left_at == 0 {
        tx.execute_batch(FROM_V1)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

fn upsert_party(tx: &rusqlite::Transaction, p: &PartySettings) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO parties (id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, host = excluded.host,
           max_members = excluded.max_members, invite_code = excluded.invite_code,
           invite_expires_at_ms = excluded.invite_expires_at_ms",
    )?
    .execute(params![
        p.id,
        p.name,
        p.host,
        p.max_members,
        p.created_at_ms as i64,
        p.invite.as_ref().map(|i| i.code.display()),
        p.invite
            .as_ref()
            .and_then(|i| i.expires_at_ms)
            .map(|e| e as i64),
    ])
}

/// Every statement is idempotent (upserts, deletes), so retrying a batch after a failure
/// cannot fail on its own half-applied rows.
fn apply_one(tx: &rusqlite::Transaction, w: &Write) -> rusqlite::Result<usize> {
    match w {
        Write::PartyCreated(p) | Write::PartyChanged(p) => upsert_party(tx, p),
        Write::PartyRemoved { party } => {
            let mut n = 0;
            for sql in [
                "DELETE FROM parties WHERE id = ?1",
                "DELETE FROM members WHERE party_id = ?1",
                "DELETE FROM reserved WHERE party_id = ?1",
            ] {
                n += tx.prepare_cached(sql)?.execute(params![party])?;
            }
            Ok(n)
        }
        // Position keeps join order (the host passes to the longest present): one past the
        // party's last, so a member who returns lines up behind everyone present.
        Write::MemberAdded { party, member: m } => tx
            .prepare_cached(
                "INSERT INTO members (party_id, public_key, name, ip, joined_at_ms, endpoints, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                   (SELECT COALESCE(MAX(position) + 1, 0) FROM members WHERE party_id = ?1))
                 ON CONFLICT(party_id, public_key) DO UPDATE SET name = excluded.name,
                   ip = excluded.ip, joined_at_ms = excluded.joined_at_ms,
                   endpoints = excluded.endpoints",
            )?
            .execute(params![
                party,
                m.key,
                m.name,
                m.ip.to_string(),
                m.joined_at_ms as i64,
                endpoints_json(m),
            ]),
        Write::MemberUpdated { party, member: m } => tx
            .prepare_cached(
                "UPDATE members SET name = ?3, ip = ?4, endpoints = ?5
                 WHERE party_id = ?1 AND public_key = ?2",
            )?
            .execute(params![
                party,
                m.key,
                m.name,
                m.ip.to_string(),
                endpoints_json(m),
            ]),
        Write::MemberRemoved { party, key } => tx
            .prepare_cached("DELETE FROM members WHERE party_id = ?1 AND public_key = ?2")?
            .execute(params![party, key]),
        Write::ReservationAdded {
            party,
            key,
            reservation: r,
        } => tx
            .prepare_cached(
                "INSERT INTO reserved (party_id, public_key, ip, left_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(party_id, public_key) DO UPDATE SET ip = excluded.ip,
                   left_at_ms = excluded.left_at_ms",
            )?
            .execute(params![party, key, r.ip.to_string(), r.left_at_ms as i64]),
        Write::ReservationRemoved { party, key } => tx
            .prepare_cached("DELETE FROM reserved WHERE party_id = ?1 AND public_key = ?2")?
            .execute(params![party, key]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::store::Writer;
    use std::net::Ipv4Addr;

    fn load_sorted(path: &Path) -> Vec<Party> {
        let mut parties = SqliteStore::open(path).unwrap().load().unwrap();
        parties.sort_by(|a, b| a.id.cmp(&b.id));
        parties
    }

    #[test]
    fn a_locked_database_is_retried_then_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = SqliteStore::open(&path).unwrap();
        db.set_busy_timeout(Duration::from_millis(50)).unwrap();
        let writer = Writer::start(Box::new(db)).unwrap();
        let locker = Connection::open(&path).unwrap();
        locker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut r = Registry::default();
        let started = std::time::Instant::now();
        let (id, ch) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        writer.submit(ch.writes);
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "submitting waited for the database"
        );
        assert!(!writer.flush(Duration::from_millis(500)));
        let stats = writer.stats();
        assert!(stats.errors >= 1, "{stats:?}");
        assert_eq!(stats.pending, 2);
        locker.execute_batch("COMMIT").unwrap();
        assert!(writer.flush(Duration::from_secs(10)));
        assert!(writer.close(Duration::from_secs(10)));
        assert_eq!(writer.stats().pending, 0);
        assert_eq!(load_sorted(&path)[0].id, id);
    }

    #[test]
    fn a_stop_does_not_hang_on_a_database_locked_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = SqliteStore::open(&path).unwrap();
        db.set_busy_timeout(Duration::from_millis(50)).unwrap();
        let writer = Writer::start(Box::new(db)).unwrap();
        let locker = Connection::open(&path).unwrap();
        locker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut r = Registry::default();
        writer.submit(r.create("A", "Ana", "p", None, None, 0).unwrap().1.writes);
        let started = std::time::Instant::now();
        assert!(!writer.close(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(2));
        // The thread gives up at its next attempt and says how much.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while writer.stats().lost < 2 {
            assert!(std::time::Instant::now() < deadline, "{:?}", writer.stats());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_version_1_database_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE parties (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
                host TEXT NOT NULL, max_members INTEGER NOT NULL, created_at_ms INTEGER NOT NULL,
                invite_code TEXT, invite_expires_at_ms INTEGER);
             CREATE TABLE members (party_id TEXT NOT NULL, public_key TEXT NOT NULL,
                name TEXT NOT NULL, ip TEXT NOT NULL, joined_at_ms INTEGER NOT NULL,
                endpoints TEXT NOT NULL, position INTEGER NOT NULL,
                PRIMARY KEY (party_id, public_key));
             CREATE TABLE reserved (party_id TEXT NOT NULL, public_key TEXT NOT NULL,
                ip TEXT NOT NULL, PRIMARY KEY (party_id, public_key));
             PRAGMA user_version = 1;
             INSERT INTO parties VALUES ('P', 'old', 'A', 8, 0, NULL, NULL);
             INSERT INTO members VALUES ('P', 'A', 'Ana', '10.66.0.1', 0, '[]', 0);
             INSERT INTO reserved VALUES ('P', 'A', '10.66.0.1');
             INSERT INTO reserved VALUES ('P', 'B', '10.66.0.2');",
        )
        .unwrap();
        drop(old);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let loaded = load_sorted(&path);
        let reserved = &loaded[0].reserved;
        assert_eq!(reserved.len(), 1, "only the member who left: {reserved:?}");
        let b = reserved["B"];
        assert_eq!(b.ip, Ipv4Addr::new(10, 66, 0, 2));
        // Counted as left at the upgrade, not in 1970 (which would drop it at once).
        assert!(now.abs_diff(b.left_at_ms) < 60_000, "{b:?}");
        // Opening it again changes nothing.
        assert_eq!(load_sorted(&path)[0].reserved, *reserved);
    }

    #[test]
    fn a_database_from_a_newer_server_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::Newer(99))
        ));
    }
}
