//! Parties, members, reserved addresses and invites in SQLite, written through on every change
//! so a restarted server has every party back.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use lanrage_proto::invite::InviteCode;
use rusqlite::{params, Connection};

use crate::registry::{Invite, Member, Party};

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
    PRIMARY KEY (party_id, public_key)
);
PRAGMA user_version = 1;
";

pub struct Db {
    conn: Connection,
}

#[derive(Debug, thiserror::Error)]
#[error("server database: {0}")]
pub struct DbError(#[from] rusqlite::Error);

impl Db {
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL keeps writes cheap while thousands of devices come and go.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
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
            .prepare("SELECT party_id, public_key, ip FROM reserved")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (pid, key, ip) = row?;
            if let (Some(p), Ok(ip)) = (parties.get_mut(&pid), ip.parse()) {
                p.reserved.insert(key, ip);
            }
        }
        // A party whose members are all gone (crash between writes) is not restored.
        Ok(parties
            .into_values()
            .filter(|p| !p.members.is_empty())
            .collect())
    }

    /// Replaces everything stored about `party` in one transaction.
    pub fn save(&mut self, party: &Party) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO parties (id, name, host, max_members, created_at_ms, invite_code, invite_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, host = excluded.host,
               max_members = excluded.max_members, invite_code = excluded.invite_code,
               invite_expires_at_ms = excluded.invite_expires_at_ms",
            params![
                party.id,
                party.name,
                party.host,
                party.max_members,
                party.created_at_ms as i64,
                party.invite.as_ref().map(|i| i.code.display()),
                party
                    .invite
                    .as_ref()
                    .and_then(|i| i.expires_at_ms)
                    .map(|e| e as i64),
            ],
        )?;
        tx.execute("DELETE FROM members WHERE party_id = ?1", params![party.id])?;
        for (pos, m) in party.members.iter().enumerate() {
            tx.execute(
                "INSERT INTO members (party_id, public_key, name, ip, joined_at_ms, endpoints, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    party.id,
                    m.key,
                    m.name,
                    m.ip.to_string(),
                    m.joined_at_ms as i64,
                    serde_json::to_string(&m.endpoints).unwrap_or_else(|_| "[]".into()),
                    pos as i64,
                ],
            )?;
        }
        for (key, ip) in &party.reserved {
            tx.execute(
                "INSERT INTO reserved (party_id, public_key, ip) VALUES (?1, ?2, ?3)
                 ON CONFLICT(party_id, public_key) DO NOTHING",
                params![party.id, key, ip.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn delete(&mut self, party_id: &str) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        for table in [
            "parties WHERE id",
            "members WHERE party_id",
            "reserved WHERE party_id",
        ] {
            tx.execute(&format!("DELETE FROM {table} = ?1"), params![party_id])?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn parties_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let mut r = Registry::default();
        let (id, _) = r
            .create("A", "Ana", "friday", Some(8), Some(60_000), 5)
            .unwrap();
        let code = r
            .party(&id)
            .unwrap()
            .invite
            .as_ref()
            .unwrap()
            .code
            .display();
        r.join("B", "Bo", &code, "198.51.100.1".parse().unwrap(), 6)
            .unwrap();
        r.set_endpoints("B", vec!["198.51.100.2:51820".parse().unwrap()])
            .unwrap();
        let mut db = Db::open(&path).unwrap();
        db.save(r.party(&id).unwrap()).unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        let loaded = db.load().unwrap();
        assert_eq!(loaded.len(), 1);
        let p = &loaded[0];
        let orig = r.party(&id).unwrap();
        assert_eq!(p.name, "friday");
        assert_eq!(p.max_members, 8);
        assert_eq!(p.invite, orig.invite);
        assert_eq!(p.reserved, orig.reserved);
        let keys: Vec<_> = p.members.iter().map(|m| (m.key.as_str(), m.ip)).collect();
        assert_eq!(keys, [("A", orig.members[0].ip), ("B", orig.members[1].ip)]);
        assert_eq!(p.members[1].endpoints, orig.members[1].endpoints);
    }
}
