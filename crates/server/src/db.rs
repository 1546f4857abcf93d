//! Parties, members, reserved addresses and invites in SQLite, so a restarted server has every
//! party back. The registry lists each change as rows (`Write`); a dedicated thread applies them
//! in order, a batch per transaction, so the async workers and the registry lock never wait
//! for the disk.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use lanrage_proto::invite::InviteCode;
use parking_lot::{Condvar, Mutex};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::registry::{Invite, Member, Party, PartySettings, Reservation, Write};

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

/// Writes stored in one transaction at most: batches that queued up while the disk was slow
/// are taken together, but a huge backlog does not become one huge transaction.
const MAX_WRITES_PER_TRANSACTION: usize = 4096;
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub struct Db {
    conn: Connection,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("server database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("server database: written by a newer server (schema {0}); update LANrage")]
    Newer(i64),
    #[error("server database: cannot start its writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL keeps writes cheap while thousands of devices come and go.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(Db { conn })
    }

    pub fn load(&self) -> Result<Vec<Party>, DbError> {
        let mut parties: HashMap<String, Party> = HashMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms FROM parties",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u16>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        for row in rows {
            let (id, name, host, max_members, created, code, expires) = row?;
            let invite = code
                .and_then(|c| InviteCode::parse(&c).ok())
                .map(|code| Invite {
                    code,
                    expires_at_ms: expires.map(|e| e.max(0) as u64),
                });
            parties.insert(
                id.clone(),
                Party {
                    id,
                    name,
                    host,
                    max_members,
                    created_at_ms: created.max(0) as u64,
                    members: Vec::new(),
                    reserved: HashMap::new(),
                    invite,
                },
            );
        }
        let mut stmt = self.conn.prepare(
            "SELECT party_id, public_key, name, ip, joined_at_ms, endpoints FROM members ORDER BY party_id, position",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (pid, key, name, ip, joined, eps) = row?;
            let (Some(p), Ok(ip)) = (parties.get_mut(&pid), ip.parse::<Ipv4Addr>()) else {
                continue;
            };
            let endpoints: Vec<SocketAddr> = serde_json::from_str(&eps).unwrap_or_default();
            p.members.push(Member {
                key,
                name,
                ip,
                joined_at_ms: joined.max(0) as u64,
                endpoints,
                last_seen_ms: 0,
                online: false,
                game: None,
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT party_id, public_key, ip, left_at_ms FROM reserved")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (pid, key, ip, left_at) = row?;
            if let (Some(p), Ok(ip)) = (parties.get_mut(&pid), ip.parse()) {
                let reservation = Reservation {
                    ip,
                    left_at_ms: left_at.max(0) as u64,
                };
                p.reserved.insert(key, reservation);
            }
        }
        // A party whose members are all gone is not restored (the registry deletes such a
        // party in the same batch as its last member, so only a database edited by hand has one).
        Ok(parties
            .into_values()
            .filter(|p| !p.members.is_empty())
            .collect())
    }

    /// Applies `writes` in order in one transaction; returns the rows changed.
    pub fn apply(&mut self, writes: &[Write]) -> Result<u64, DbError> {
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

    /// Moves the database to its own thread; from now on it is written through the `Writer`.
    pub fn into_writer(self) -> Result<Writer, DbError> {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let state = Arc::new(State::default());
        let thread_state = state.clone();
        std::thread::Builder::new()
            .name("lanrage-db".into())
            .spawn(move || {
                write_loop(self, &rx, &thread_state);
                drop(done_tx);
            })
            .map_err(DbError::Thread)?;
        Ok(Writer {
            queue: Mutex::new(Queue {
                tx: Some(tx),
                submitted: 0,
            }),
            state,
            done: Mutex::new(Some(done_rx)),
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    // Immediate: two servers started on one data directory do not both upgrade it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(DbError::Newer(version));
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

fn endpoints_json(m: &Member) -> String {
    serde_json::to_string(&m.endpoints).unwrap_or_else(|_| "[]".into())
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

/// Figures for the metrics page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes handed over and not stored yet.
    pub pending: u64,
    /// Rows inserted, updated or deleted.
    pub rows: u64,
    /// Failed transactions (each is retried).
    pub errors: u64,
    /// Writes given up: the server stopped while the database still failed.
    pub lost: u64,
}

/// The handle to the writer thread. `submit` never blocks; batches are stored in the order
/// they were submitted.
pub struct Writer {
    queue: Mutex<Queue>,
    state: Arc<State>,
    /// Disconnects when the thread has finished.
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

struct Queue {
    tx: Option<mpsc::Sender<Vec<Write>>>,
    /// Batches submitted so far.
    submitted: u64,
}

#[derive(Default)]
struct State {
    /// Batches the thread is done with (stored or given up).
    finished: Mutex<u64>,
    changed: Condvar,
    pending: AtomicU64,
    rows: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    abandon: AtomicBool,
}

impl Writer {
    /// Queues `writes` behind everything submitted before. Callers submit while they still
    /// hold the registry, so the queue has the registry's order.
    pub fn submit(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let n = writes.len() as u64;
        let mut queue = self.queue.lock();
        self.state.pending.fetch_add(n, Ordering::Relaxed);
        let sent = queue.tx.as_ref().is_some_and(|tx| tx.send(writes).is_ok());
        if sent {
            queue.submitted += 1;
        } else {
            self.state.pending.fetch_sub(n, Ordering::Relaxed);
            self.state.lost.fetch_add(n, Ordering::Relaxed);
            tracing::error!(
                writes = n,
                "party changes after the database closed are not stored"
            );
        }
    }

    /// Waits until everything submitted so far is stored (or given up); false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.queue.lock().submitted;
        let deadline = std::time::Instant::now() + timeout;
        let mut finished = self.state.finished.lock();
        while *finished < target {
            if self
                .state
                .changed
                .wait_until(&mut finished, deadline)
                .timed_out()
            {
                return *finished >= target;
            }
        }
        true
    }

    /// Stores what is queued and stops the thread. Waits at most `timeout` (a database locked
    /// by another process must not hang the shutdown); false when writes were given up.
    pub fn close(&self, timeout: Duration) -> bool {
        drop(self.queue.lock().tx.take());
        let Some(done) = self.done.lock().take() else {
            return true;
        };
        match done.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                {
                    // Under the lock the thread checks the flag with, so it cannot miss it.
                    let _finished = self.state.finished.lock();
                    self.state.abandon.store(true, Ordering::Relaxed);
                    self.state.changed.notify_all();
                }
                tracing::error!(
                    writes = self.state.pending.load(Ordering::Relaxed),
                    "the database did not take the last party changes in time; they are lost"
                );
                false
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        }
    }

    pub fn stats(&self) -> WriterStats {
        let s = &self.state;
        WriterStats {
            pending: s.pending.load(Ordering::Relaxed),
            rows: s.rows.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
        }
    }
}

/// The writer thread: takes batches in order, several at a time when they queued up, and
/// retries a failed transaction (a locked or full disk) until it lands, so a later change never
/// lands before an earlier one. Ends when the queue is closed and empty.
fn write_loop(mut db: Db, rx: &mpsc::Receiver<Vec<Write>>, state: &State) {
    while let Ok(mut batch) = rx.recv() {
        let mut batches = 1u64;
        while batch.len() < MAX_WRITES_PER_TRANSACTION {
            match rx.try_recv() {
                Ok(more) => {
                    batch.extend(more);
                    batches += 1;
                }
                Err(_) => break,
            }
        }
        let mut backoff = RETRY_FIRST;
        loop {
            if state.abandon.load(Ordering::Relaxed) {
                state.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                break;
            }
            match db.apply(&batch) {
                Ok(rows) => {
                    state.rows.fetch_add(rows, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    state.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        error = %e,
                        writes = batch.len(),
                        retry_in_ms = backoff.as_millis() as u64,
                        "storing party changes failed; retrying"
                    );
                    let mut finished = state.finished.lock();
                    if !state.abandon.load(Ordering::Relaxed) {
                        state.changed.wait_for(&mut finished, backoff);
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
        state
            .pending
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        *state.finished.lock() += batches;
        state.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Registry, MAX_RESERVATIONS};
    use std::net::IpAddr;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    fn code(r: &Registry, id: &str) -> String {
        r.party(id).unwrap().invite.as_ref().unwrap().code.display()
    }

    /// What a restart must bring back of a party: everything stored, in order.
    fn stored(p: &Party) -> impl PartialEq + std::fmt::Debug {
        let mut reserved: Vec<_> = p.reserved.iter().map(|(k, r)| (k.clone(), *r)).collect();
        reserved.sort_by(|a, b| a.0.cmp(&b.0));
        (
            p.settings(),
            p.members
                .iter()
                .map(|m| {
                    (
                        m.key.clone(),
                        m.name.clone(),
                        m.ip,
                        m.joined_at_ms,
                        m.endpoints.clone(),
                    )
                })
                .collect::<Vec<_>>(),
            reserved,
        )
    }

    fn load_sorted(path: &Path) -> Vec<Party> {
        let mut parties = Db::open(path).unwrap().load().unwrap();
        parties.sort_by(|a, b| a.id.cmp(&b.id));
        parties
    }

    #[test]
    fn parties_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let mut db = Db::open(&path).unwrap();
        let mut r = Registry::default();
        let (id, ch) = r
            .create("A", "Ana", "friday", Some(8), Some(60_000), 5)
            .unwrap();
        db.apply(&ch.writes).unwrap();
        let c = code(&r, &id);
        for (key, t) in [("B", 6), ("C", 7), ("D", 8)] {
            let (_, ch) = r.join(key, key, &c, SRC, t).unwrap();
            db.apply(&ch.writes).unwrap();
        }
        let ch = r
            .set_endpoints("B", vec!["198.51.100.2:51820".parse().unwrap()])
            .unwrap();
        db.apply(&ch.writes).unwrap();
        // The host leaves (its address stays reserved); C leaves and comes back, behind D.
        db.apply(&r.leave("A").unwrap().writes).unwrap();
        db.apply(&r.leave("C").unwrap().writes).unwrap();
        db.apply(&r.join("C", "Cy", &c, SRC, 9).unwrap().1.writes)
            .unwrap();
        db.apply(&r.new_invite("B", None, 10).unwrap().writes)
            .unwrap();
        drop(db);
        let loaded = load_sorted(&path);
        assert_eq!(loaded.len(), 1);
        let orig = r.party(&id).unwrap();
        assert_eq!(stored(&loaded[0]), stored(orig));
        let order: Vec<_> = loaded[0].members.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(order, ["B", "D", "C"]);
        assert_eq!(loaded[0].host, "B");
        assert_eq!(loaded[0].reserved.keys().collect::<Vec<_>>(), ["A"]);
    }

    #[test]
    fn a_change_to_one_member_is_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("server.db")).unwrap();
        let mut r = Registry::default();
        let (id, ch) = r.create("H", "Host", "p", Some(64), None, 0).unwrap();
        db.apply(&ch.writes).unwrap();
        let c = code(&r, &id);
        for i in 0..(MAX_RESERVATIONS + 60) {
            let key = format!("m{i}");
            db.apply(&r.join(&key, "x", &c, SRC, 1).unwrap().1.writes)
                .unwrap();
            if i >= 60 {
                db.apply(&r.leave(&key).unwrap().writes).unwrap();
            }
        }
        let p = r.party(&id).unwrap();
        assert_eq!((p.members.len(), p.reserved.len()), (61, MAX_RESERVATIONS));
        let ch = r
            .set_endpoints("m5", vec!["192.0.2.1:1".parse().unwrap()])
            .unwrap();
        assert_eq!(db.apply(&ch.writes).unwrap(), 1);
        assert_eq!(db.apply(&r.rename("m6", "Six").unwrap().writes).unwrap(), 1);
        // A join and a leave: the member's row and the reservation's, whatever the party's size.
        let (_, ch) = r.join("new", "n", &c, SRC, 2).unwrap();
        assert_eq!(db.apply(&ch.writes).unwrap(), 1);
        let ch = r.leave("new").unwrap();
        // ...plus the oldest reservation, evicted to stay within the cap.
        assert_eq!(db.apply(&ch.writes).unwrap(), 3);
    }

    #[test]
    fn the_writer_stores_in_order_and_a_clean_stop_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let writer = Db::open(&path).unwrap().into_writer().unwrap();
        let mut r = Registry::default();
        let mut ids = Vec::new();
        for h in 0..20 {
            let host = format!("host{h}");
            let (id, ch) = r.create(&host, "H", "p", None, None, h).unwrap();
            writer.submit(ch.writes);
            let c = code(&r, &id);
            for m in 0..10 {
                let key = format!("{host}-m{m}");
                writer.submit(r.join(&key, "x", &c, SRC, h).unwrap().1.writes);
                // Changes that only make sense after the join, and one that undoes it.
                let eps = vec![SocketAddr::from(([192, 0, 2, m as u8], 1000 + m as u16))];
                writer.submit(r.set_endpoints(&key, eps).unwrap().writes);
                if m % 3 == 0 {
                    writer.submit(r.leave(&key).unwrap().writes);
                }
            }
            writer.submit(r.leave(&host).unwrap().writes);
            ids.push(id);
        }
        // A closed party leaves nothing behind.
        let (gone, ch) = r.create("short", "S", "p", None, None, 0).unwrap();
        writer.submit(ch.writes);
        writer.submit(r.close("short").unwrap().writes);
        assert!(writer.close(Duration::from_secs(30)));
        let stats = writer.stats();
        assert_eq!((stats.pending, stats.errors, stats.lost), (0, 0, 0));
        let loaded = load_sorted(&path);
        assert!(loaded.iter().all(|p| p.id != gone));
        let mut expected: Vec<&Party> = ids.iter().map(|id| r.party(id).unwrap()).collect();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(loaded.len(), expected.len());
        for (l, e) in loaded.iter().zip(expected) {
            assert_eq!(stored(l), stored(e));
        }
        // Writes after the close are refused and counted, not silently dropped.
        writer.submit(r.leave("host0-m2").unwrap().writes);
        assert_eq!(writer.stats().lost, 2);
    }

    #[test]
    fn a_locked_database_is_retried_then_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = Db::open(&path).unwrap();
        db.conn.busy_timeout(Duration::from_millis(50)).unwrap();
        let writer = db.into_writer().unwrap();
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
        let db = Db::open(&path).unwrap();
        db.conn.busy_timeout(Duration::from_millis(50)).unwrap();
        let writer = db.into_writer().unwrap();
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
        assert!(matches!(Db::open(&path), Err(DbError::Newer(99))));
    }
}
