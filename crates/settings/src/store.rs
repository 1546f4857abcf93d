//! The SQLite side of settings.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::spec::{self, SPECS};
use crate::typed::{SettingView, Settings, SettingsError};

/// Schema migrations; the database's `user_version` is the number already applied.
const MIGRATIONS: &[&str] = &[
    // 1: settings, saved configurations, small bookkeeping values.
    "CREATE TABLE settings (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE configs (
        name TEXT PRIMARY KEY NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
     );
     CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
     );",
    // 2: favorite game servers of the server browser.
    "CREATE TABLE favorites (
        key TEXT PRIMARY KEY NOT NULL,
        added_at TEXT NOT NULL
     );",
    // 3: the session log: who joined and left, and every path change.
    "CREATE TABLE session_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        detail TEXT NOT NULL
     );",
    // 4: game sessions: each run of a game during a party (the summary as JSON, which the
    //    games crate defines; the columns are what lists are sorted and pruned by).
    "CREATE TABLE game_sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        game_id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        data TEXT NOT NULL
     );",
];

/// Every table the migrations make.
const TABLES: [&str; 6] = [
    "settings",
    "configs",
    "meta",
    "favorites",
    "session_log",
    "game_sessions",
];

/// Game sessions kept; older ones go.
const GAME_SESSIONS_MAX: i64 = 2_000;

/// Entries kept in the session log; older ones go.
const SESSION_LOG_MAX: i64 = 5_000;

/// One line of the session log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionEntry {
    /// RFC 3339, UTC.
    pub at: String,
    /// `party_created`, `joined`, `left` or `path_changed`.
    pub kind: String,
    /// The member it is about.
    pub name: String,
    pub detail: String,
}

/// Something the store had to repair while opening, to be told to the user.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recovery {
    pub message: String,
    pub moved_to: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct ConfigView {
    pub name: String,
    pub created_at: String,
    pub active: bool,
}

pub struct SettingsStore {
    conn: Connection,
    path: PathBuf,
}

enum OpenFailure {
    /// The file is not a usable settings database: move it aside and start again.
    Corrupt(String),
    /// Something around the file is wrong (permissions, disk): moving it would not help.
    Fatal(SettingsError),
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl SettingsStore {
    /// Opens (or creates) the database. A corrupt or foreign file is renamed to
    /// `<name>.corrupt-<timestamp>` and replaced by defaults; the returned recoveries say so.
    pub fn open(path: &Path) -> Result<(Self, Vec<Recovery>), SettingsError> {
        let mut recoveries = Vec::new();
        let conn = match Self::open_checked(path) {
            Ok(conn) => conn,
            Err(OpenFailure::Fatal(e)) => return Err(e),
            Err(OpenFailure::Corrupt(reason)) => {
                let moved_to = Self::move_aside(path)?;
                tracing::warn!(path = %path.display(), moved_to = %moved_to.display(), %reason, "settings database unusable; starting with defaults");
                recoveries.push(Recovery {
                    message: format!(
                        "Your settings could not be read ({reason}), so LANrage started with default settings. The old file was kept as {}.",
                        moved_to.display()
                    ),
                    moved_to: Some(moved_to),
                });
                Self::open_checked(path).map_err(|f| match f {
                    OpenFailure::Fatal(e) => e,
                    OpenFailure::Corrupt(reason) => SettingsError::Io {
                        path: path.display().to_string(),
                        source: std::io::Error::other(reason),
                    },
                })?
            }
        };
        let store = Self {
            conn,
            path: path.to_path_buf(),
        };
        recoveries.extend(store.repair_values()?);
        Ok((store, recoveries))
    }

    fn open_checked(path: &Path) -> Result<Connection, OpenFailure> {
        let db_err = |source: rusqlite::Error| {
            let corrupt = matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            );
            if corrupt {
                OpenFailure::Corrupt(source.to_string())
            } else {
                OpenFailure::Fatal(SettingsError::Database {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let mut conn = Connection::open(path).map_err(db_err)?;
        // The database holds secrets (webhook URLs): owner-only, like the device key.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| {
                    OpenFailure::Fatal(SettingsError::Io {
                        path: path.display().to_string(),
                        source,
                    })
                },
            )?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(db_err)?;
        if check != "ok" {
            return Err(OpenFailure::Corrupt(format!("integrity check: {check}")));
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        let latest = MIGRATIONS.len() as i64;
        if version > latest {
            return Err(OpenFailure::Corrupt(format!(
                "it was written by a newer LANrage (schema {version}, this one knows {latest})"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            // The app and the daemon may open the file at the same moment: each migration takes
            // the write lock first and looks again, so only one of them runs it.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let now: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(db_err)?;
            if now > i as i64 {
                continue;
            }
            // A migration that fails is this program's problem, not a broken file: keep the
            // file (the transaction rolls back) and say so.
            tx.execute_batch(sql).map_err(|source| {
                OpenFailure::Fatal(SettingsError::Migration {
                    path: path.display().to_string(),
                    version: i + 1,
                    source,
                })
            })?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            tracing::info!(version = i + 1, "settings database migrated");
        }
        // The tables must be what we expect, whatever user_version claims: each one on its own
        // (one query over all of them would walk their cross product).
        for table in TABLES {
            conn.prepare(&format!("SELECT * FROM {table} LIMIT 0"))
                .map_err(|e| OpenFailure::Corrupt(format!("unexpected tables: {e}")))?;
        }
        Ok(conn)
    }

    fn move_aside(path: &Path) -> Result<PathBuf, SettingsError> {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("settings.db");
        let target = path.with_file_name(format!("{name}.corrupt-{stamp}"));
        std::fs::rename(path, &target).map_err(|source| SettingsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        for suffix in ["-journal", "-wal", "-shm"] {
            let side = path.with_file_name(format!("{name}{suffix}"));
            if side.exists() {
                let _ = std::fs::rename(
                    &side,
                    target.with_file_name(format!("{name}.corrupt-{stamp}{suffix}")),
                );
            }
        }
        Ok(target)
    }

    /// Stored values that no longer validate (hand edits, older rules) fall back to defaults.
    fn repair_values(&self) -> Result<Vec<Recovery>, SettingsError> {
        let mut out = Vec::new();
        for (key, raw) in self.raw_rows()? {
            let Some(spec) = spec::find(&key) else {
                self.delete_row(&key)?;
                continue;
            };
            let ok = serde_json::from_str::<Value>(&raw)
                .ok()
                .map(|v| spec.validate(&v).is_ok())
                .unwrap_or(false);
            if !ok {
                self.delete_row(&key)?;
                out.push(Recovery {
                    message: format!(
                        "The stored value of `{key}` was not valid, so it was reset to its default."
                    ),
                    moved_to: None,
                });
            }
        }
        Ok(out)
    }

    fn db_err(&self) -> impl Fn(rusqlite::Error) -> SettingsError + '_ {
        move |source| SettingsError::Database {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn raw_rows(&self) -> Result<Vec<(String, String)>, SettingsError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM settings")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    fn delete_row(&self, key: &str) -> Result<(), SettingsError> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", params![key])
            .map_err(self.db_err())?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every write is its own committed transaction; this only checkpoints and tidies so the
    /// file on disk is complete when the process exits.
    pub fn flush(&self) -> Result<(), SettingsError> {
        self.conn
            .execute_batch("PRAGMA optimize;")
            .map_err(self.db_err())
    }

    /// Every key with its current value (defaults filled in).
    fn values(&self) -> Result<Map<String, Value>, SettingsError> {
        let mut map: Map<String, Value> = SPECS
            .iter()
            .map(|s| (s.key.to_string(), s.default.to_value()))
            .collect();
        for (key, raw) in self.raw_rows()? {
            if let (Some(spec), Ok(v)) = (spec::find(&key), serde_json::from_str::<Value>(&raw)) {
                if let Ok(v) = spec.validate(&v) {
                    map.insert(key, v);
                }
            }
        }
        Ok(map)
    }

    pub fn typed(&self) -> Result<Settings, SettingsError> {
        Settings::from_values(self.values()?).map_err(|e| SettingsError::invalid("settings", e))
    }

    pub fn list(&self) -> Result<Vec<SettingView>, SettingsError> {
        let values = self.values()?;
        Ok(SPECS
            .iter()
            .map(|s| SettingView::new(s, &values[s.key]))
            .collect())
    }

    pub fn get(&self, key: &str) -> Result<SettingView, SettingsError> {
        let spec = spec::find(key).ok_or_else(|| SettingsError::Unknown(key.to_string()))?;
        let values = self.values()?;
        Ok(SettingView::new(spec, &values[spec.key]))
    }

    /// Validates and stores one value.
    pub fn set(&self, key: &str, value: &Value) -> Result<SettingView, SettingsError> {
        let spec = spec::find(key).ok_or_else(|| SettingsError::Unknown(key.to_string()))?;
        let value = spec
            .validate(value)
            .map_err(|m| SettingsError::invalid(key, m))?;
        self.conn
            .execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key, value.to_string(), now()],
            )
            .map_err(self.db_err())?;
        Ok(SettingView::new(spec, &value))
    }

    /// Like [`Self::set`], from text a person typed.
    pub fn set_from_text(&self, key: &str, text: &str) -> Result<SettingView, SettingsError> {
        let spec = spec::find(key).ok_or_else(|| SettingsError::Unknown(key.to_string()))?;
        let value = spec
            .parse_input(text)
            .map_err(|m| SettingsError::invalid(key, m))?;
        self.set(key, &value)
    }

    pub fn reset(&self, key: &str) -> Result<SettingView, SettingsError> {
        let spec = spec::find(key).ok_or_else(|| SettingsError::Unknown(key.to_string()))?;
        self.delete_row(key)?;
        Ok(SettingView::new(spec, &spec.default.to_value()))
    }

    pub fn reset_all(&self) -> Result<Vec<SettingView>, SettingsError> {
        self.conn
            .execute("DELETE FROM settings", [])
            .map_err(self.db_err())?;
        self.list()
    }

    /// Every non-secret value, as a JSON object a person can keep or share.
    pub fn export(&self) -> Result<Value, SettingsError> {
        let values = self.values()?;
        let map: Map<String, Value> = SPECS
            .iter()
            .filter(|s| !s.secret)
            .map(|s| (s.key.to_string(), values[s.key].clone()))
            .collect();
        Ok(serde_json::json!({ "lanrage_settings": 1, "settings": map }))
    }

    /// Applies an export: every value is checked first, then all are written in one transaction,
    /// so a bad file changes nothing. Keys missing from the file keep their current value.
    pub fn import(&mut self, doc: &Value) -> Result<Vec<SettingView>, SettingsError> {
        let map = doc
            .get("settings")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                SettingsError::Import("expected an object with a `settings` object inside".into())
            })?;
        let mut checked = Vec::new();
        for (key, v) in map {
            let spec = spec::find(key).ok_or_else(|| SettingsError::Unknown(key.clone()))?;
            if spec.secret {
                continue;
            }
            let v = spec
                .validate(v)
                .map_err(|m| SettingsError::invalid(key, m))?;
            checked.push((key.clone(), v));
        }
        let path = self.path.display().to_string();
        let db_err = |source| SettingsError::Database {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(db_err)?;
        for (key, v) in &checked {
            tx.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key, v.to_string(), now()],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        self.list()
    }

    pub fn favorites(&self) -> Result<Vec<String>, SettingsError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM favorites ORDER BY added_at")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Appends to the session log, keeping the newest [`SESSION_LOG_MAX`] entries.
    pub fn log_session(&self, kind: &str, name: &str, detail: &str) -> Result<(), SettingsError> {
        self.conn
            .execute(
                "INSERT INTO session_log (at, kind, name, detail) VALUES (?1, ?2, ?3, ?4)",
                params![now(), kind, name, detail],
            )
            .map_err(self.db_err())?;
        self.conn
            .execute(
                "DELETE FROM session_log WHERE id <= (SELECT max(id) FROM session_log) - ?1",
                params![SESSION_LOG_MAX],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Keeps one finished game session (`data`: its summary).
    pub fn record_game_session(
        &self,
        game_id: &str,
        started_at: u64,
        data: &Value,
    ) -> Result<(), SettingsError> {
        self.conn
            .execute(
                "INSERT INTO game_sessions (game_id, started_at, data) VALUES (?1, ?2, ?3)",
                params![game_id, started_at as i64, data.to_string()],
            )
            .map_err(self.db_err())?;
        self.conn
            .execute(
                "DELETE FROM game_sessions WHERE id <= (SELECT max(id) FROM game_sessions) - ?1",
                params![GAME_SESSIONS_MAX],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// The newest `limit` game sessions, newest first (a row that is not JSON is skipped).
    pub fn game_sessions(&self, limit: usize) -> Result<Vec<Value>, SettingsError> {
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM game_sessions ORDER BY started_at DESC, id DESC LIMIT ?1")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![limit as i64], |r| r.get::<_, String>(0))
            .map_err(self.db_err())?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(self.db_err())?;
            match serde_json::from_str(&text) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(error = %e, "a stored game session is not readable"),
            }
        }
        Ok(out)
    }

    /// The newest `limit` session log entries, newest first.
    pub fn session_log(&self, limit: usize) -> Result<Vec<SessionEntry>, SettingsError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, kind, name, detail FROM session_log ORDER BY id DESC LIMIT ?1")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(SessionEntry {
                    at: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    detail: r.get(3)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    pub fn set_favorite(&self, key: &str, on: bool) -> Result<(), SettingsError> {
        if key.is_empty() || key.len() > 256 {
            return Err(SettingsError::invalid("favorite", "not a server key"));
        }
        if on {
            self.conn.execute(
                "INSERT INTO favorites (key, added_at) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                params![key, now()],
            )
        } else {
            self.conn
                .execute("DELETE FROM favorites WHERE key = ?1", params![key])
        }
        .map_err(self.db_err())?;
        Ok(())
    }

    // Saved configurations: named snapshots of every setting (secrets included: they stay in
    // this database and are never returned).

    fn check_config_name(name: &str) -> Result<&str, SettingsError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(SettingsError::BadConfigName);
        }
        Ok(name)
    }

    fn active_config(&self) -> Result<Option<String>, SettingsError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'active_config'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())
    }

    fn set_active_config(&self, name: Option<&str>) -> Result<(), SettingsError> {
        match name {
            Some(n) => self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('active_config', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![n],
            ),
            None => self
                .conn
                .execute("DELETE FROM meta WHERE key = 'active_config'", []),
        }
        .map_err(self.db_err())?;
        Ok(())
    }

    pub fn list_configs(&self) -> Result<Vec<ConfigView>, SettingsError> {
        let active = self.active_config()?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, created_at FROM configs ORDER BY name COLLATE NOCASE")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.db_err())?;
        rows.map(|r| {
            r.map(|(name, created_at)| ConfigView {
                active: active.as_deref() == Some(name.as_str()),
                name,
                created_at,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(self.db_err())
    }

    /// Saves the current settings under `name` (replacing a configuration of that name).
    pub fn save_config(&self, name: &str) -> Result<Vec<ConfigView>, SettingsError> {
        let name = Self::check_config_name(name)?;
        let data = Value::Object(self.values()?).to_string();
        self.conn
            .execute(
                "INSERT INTO configs (name, data, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET data = excluded.data, created_at = excluded.created_at",
                params![name, data, now()],
            )
            .map_err(self.db_err())?;
        self.set_active_config(Some(name))?;
        self.list_configs()
    }

    /// Replaces the current settings by the saved configuration `name`.
    pub fn activate_config(&mut self, name: &str) -> Result<Vec<ConfigView>, SettingsError> {
        let name = Self::check_config_name(name)?;
        let data: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM configs WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())?;
        let data = data.ok_or_else(|| SettingsError::ConfigNotFound(name.to_string()))?;
        let values: Map<String, Value> = serde_json::from_str(&data).map_err(|e| {
            SettingsError::Import(format!("saved configuration `{name}` is unreadable: {e}"))
        })?;
        let path = self.path.display().to_string();
        let db_err = |source| SettingsError::Database {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(db_err)?;
        tx.execute("DELETE FROM settings", []).map_err(db_err)?;
        for (key, v) in values {
            // Values from an older catalogue that no longer validate keep their defaults.
            let Some(spec) = spec::find(&key) else {
                continue;
            };
            let Ok(v) = spec.validate(&v) else { continue };
            tx.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)",
                params![key, v.to_string(), now()],
            )
            .map_err(db_err)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('active_config', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![name],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        self.list_configs()
    }

    pub fn delete_config(&self, name: &str) -> Result<Vec<ConfigView>, SettingsError> {
        let name = Self::check_config_name(name)?;
        let n = self
            .conn
            .execute("DELETE FROM configs WHERE name = ?1", params![name])
            .map_err(self.db_err())?;
        if n == 0 {
            return Err(SettingsError::ConfigNotFound(name.to_string()));
        }
        if self.active_config()?.as_deref() == Some(name) {
            self.set_active_config(None)?;
        }
        self.list_configs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fresh() -> (tempfile::TempDir, SettingsStore) {
        let dir = tempfile::tempdir().unwrap();
        let (store, rec) = SettingsStore::open(&dir.path().join("settings.db")).unwrap();
        assert!(rec.is_empty());
        (dir, store)
    }

    #[test]
    fn values_survive_reopening() {
        let (dir, store) = fresh();
        store.set("mtu", &json!(1380)).unwrap();
        store
            .set_from_text("display_name", "  Frag Queen ")
            .unwrap();
        drop(store);
        let (store, rec) = SettingsStore::open(&dir.path().join("settings.db")).unwrap();
        assert!(rec.is_empty());
        let s = store.typed().unwrap();
        assert_eq!(s.mtu, 1380);
        assert_eq!(s.display_name, "Frag Queen");
    }

    #[test]
    fn bad_value_names_the_field_and_changes_nothing() {
        let (_dir, store) = fresh();
        let err = store.set("mtu", &json!(70000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mtu: must be from 1280 to 9000 (got 70000)"
        );
        assert_eq!(store.typed().unwrap().mtu, 1420);
        assert!(matches!(
            store.set("nope", &json!(1)),
            Err(SettingsError::Unknown(_))
        ));
    }

    #[test]
    fn secrets_are_stored_but_never_shown() {
        let (_dir, store) = fresh();
        let url = "https://discord.com/api/webhooks/123/secret-token";
        let view = store.set("discord_webhook_url", &json!(url)).unwrap();
        assert_eq!(view.value, Value::Null);
        assert!(view.is_set);
        let listed = store.list().unwrap();
        let text = serde_json::to_string(&listed).unwrap();
        assert!(!text.contains("secret-token"));
        assert!(!store.export().unwrap().to_string().contains("secret-token"));
        assert_eq!(store.typed().unwrap().discord_webhook_url.expose(), url);
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_defaults_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        std::fs::write(
            &path,
            b"this is not a database, it is a sandwich".repeat(200),
        )
        .unwrap();
        let (store, rec) = SettingsStore::open(&path).unwrap();
        assert_eq!(rec.len(), 1);
        let moved = rec[0].moved_to.clone().unwrap();
        assert!(moved.exists());
        assert!(moved
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("settings.db.corrupt-"));
        assert!(rec[0].message.contains("default settings"));
        assert_eq!(store.typed().unwrap().mtu, 1420);
        store.set("mtu", &json!(1300)).unwrap();
    }

    #[test]
    fn the_app_and_the_daemon_opening_together_both_get_the_settings() {
        for _round in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("settings.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        SettingsStore::open(&path).map(|(_, rec)| rec.len())
                    })
                })
                .collect();
            for o in openers {
                assert_eq!(
                    o.join().unwrap().unwrap(),
                    0,
                    "a good database was set aside"
                );
            }
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.contains("corrupt"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    #[test]
    fn a_failing_migration_is_an_error_that_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&MIGRATIONS[..3].join("\n")).unwrap();
            // Schema 3 says game_sessions does not exist yet; here it does, so migration 4
            // cannot run.
            conn.execute_batch(
                "CREATE TABLE game_sessions (x TEXT); INSERT INTO settings VALUES ('mtu', '1300', 'now'); PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let err = SettingsStore::open(&path)
            .err()
            .expect("migration must fail");
        let msg = err.to_string();
        assert!(msg.contains("schema 4"), "{msg}");
        // Nothing was moved aside or lost.
        let conn = Connection::open(&path).unwrap();
        let mtu: String = conn
            .query_row("SELECT value FROM settings WHERE key = 'mtu'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(mtu, "1300");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn newer_schema_is_moved_aside_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let (_store, rec) = SettingsStore::open(&path).unwrap();
        assert!(
            rec[0].message.contains("newer LANrage"),
            "{}",
            rec[0].message
        );
    }

    #[test]
    fn hand_edited_invalid_value_resets_that_key_only() {
        let (dir, store) = fresh();
        store.set("display_name", &json!("Ana")).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ('mtu', '\"huge\"', 'x')",
                [],
            )
            .unwrap();
        drop(store);
        let (store, rec) = SettingsStore::open(&dir.path().join("settings.db")).unwrap();
        assert_eq!(rec.len(), 1);
        assert!(rec[0].message.contains("`mtu`"));
        let s = store.typed().unwrap();
        assert_eq!((s.mtu, s.display_name.as_str()), (1420, "Ana"));
    }

    #[test]
    fn named_configs_round_trip() {
        let (_dir, mut store) = fresh();
        store.set("display_name", &json!("Home")).unwrap();
        store.save_config("home").unwrap();
        store.set("display_name", &json!("LAN box")).unwrap();
        store.set("relay_only", &json!(true)).unwrap();
        let list = store.save_config("lan party").unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().any(|c| c.name == "lan party" && c.active));
        let list = store.activate_config("home").unwrap();
        assert!(list.iter().any(|c| c.name == "home" && c.active));
        let s = store.typed().unwrap();
        assert_eq!(s.display_name, "Home");
        assert!(!s.relay_only);
        assert!(matches!(
            store.activate_config("missing"),
            Err(SettingsError::ConfigNotFound(_))
        ));
        let list = store.delete_config("home").unwrap();
        assert_eq!(list.len(), 1);
        assert!(!list[0].active);
        assert!(store.delete_config("home").is_err());
        assert!(matches!(
            store.save_config("  "),
            Err(SettingsError::BadConfigName)
        ));
    }

    #[test]
    fn import_is_all_or_nothing() {
        let (_dir, mut store) = fresh();
        store.set("mtu", &json!(1300)).unwrap();
        let exported = store.export().unwrap();
        store.set("mtu", &json!(1500)).unwrap();
        let bad = json!({"settings": {"mtu": 1400, "keepalive_secs": -1}});
        let err = store.import(&bad).unwrap_err();
        assert!(err.to_string().starts_with("keepalive_secs:"), "{err}");
        assert_eq!(store.typed().unwrap().mtu, 1500);
        store.import(&exported).unwrap();
        assert_eq!(store.typed().unwrap().mtu, 1300);
        assert!(store.import(&json!([1, 2])).is_err());
    }

    #[test]
    fn favorites_persist_and_version_one_databases_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        // A database as the first release wrote it (schema 1) still opens, with its values.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ('mtu', '1300', 'x')",
                [],
            )
            .unwrap();
        }
        let (store, rec) = SettingsStore::open(&path).unwrap();
        assert!(rec.is_empty(), "{rec:?}");
        assert_eq!(store.typed().unwrap().mtu, 1300);
        store.set_favorite("key/mc", true).unwrap();
        store.set_favorite("key/mc", true).unwrap();
        drop(store);
        let (store, _) = SettingsStore::open(&path).unwrap();
        assert_eq!(store.favorites().unwrap(), ["key/mc"]);
        store.set_favorite("key/mc", false).unwrap();
        assert!(store.favorites().unwrap().is_empty());
        assert!(store.set_favorite("", true).is_err());
    }

    #[test]
    fn the_session_log_keeps_order_survives_reopening_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        let (store, _) = SettingsStore::open(&path).unwrap();
        store.log_session("joined", "Ana", "10.66.0.2").unwrap();
        store
            .log_session(
                "path_changed",
                "Ana",
                "connecting -> direct: connected directly",
            )
            .unwrap();
        drop(store);
        let (store, _) = SettingsStore::open(&path).unwrap();
        let log = store.session_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].kind, "path_changed");
        assert_eq!(log[1].name, "Ana");
        for i in 0..(SESSION_LOG_MAX + 20) {
            store.log_session("left", &format!("p{i}"), "").unwrap();
        }
        let all = store.session_log(usize::MAX >> 1).unwrap();
        assert_eq!(all.len() as i64, SESSION_LOG_MAX);
        assert_eq!(all[0].name, format!("p{}", SESSION_LOG_MAX + 19));
    }

    #[test]
    fn game_sessions_are_kept_newest_first_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.db");
        let (store, _) = SettingsStore::open(&path).unwrap();
        store
            .record_game_session(
                "openttd",
                100,
                &json!({"game_id": "openttd", "started_at": 100}),
            )
            .unwrap();
        store
            .record_game_session(
                "teeworlds",
                200,
                &json!({"game_id": "teeworlds", "started_at": 200}),
            )
            .unwrap();
        drop(store);
        let (store, recoveries) = SettingsStore::open(&path).unwrap();
        assert!(recoveries.is_empty());
        let sessions = store.game_sessions(10).unwrap();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0]["game_id"], "teeworlds");
        assert_eq!(store.game_sessions(1).unwrap().len(), 1);
    }

    #[test]
    fn reset_restores_defaults() {
        let (_dir, store) = fresh();
        store.set("mtu", &json!(1300)).unwrap();
        store.set("relay_only", &json!(true)).unwrap();
        assert_eq!(store.reset("mtu").unwrap().value, json!(1420));
        assert!(store.typed().unwrap().relay_only);
        store.reset_all().unwrap();
        assert!(!store.typed().unwrap().relay_only);
    }
}
