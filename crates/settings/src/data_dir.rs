//! Where LANrage keeps its files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory for every host (app, daemon, CLI).
pub const DATA_DIR_ENV: &str = "LANRAGE_DATA_DIR";

/// The files inside one data directory. Every host agrees on these names, which is how the CLI
/// finds the daemon's token and the app finds the device key.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the directory: an explicit path wins, then `LANRAGE_DATA_DIR`, then the user's
    /// data directory (`$XDG_DATA_HOME/lanrage` on Linux), or the machine's on Windows.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self, std::io::Error> {
        if let Some(p) = explicit {
            return Ok(Self::at(p));
        }
        if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::at(PathBuf::from(p)));
        }
        default_root().map(Self::at)
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory (owner-only on Unix: it holds the device's private key).
    pub fn ensure(&self) -> Result<(), std::io::Error> {
        std::fs::create_dir_all(&self.root)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn settings_db(&self) -> PathBuf {
        self.root.join("settings.db")
    }
    pub fn device_key(&self) -> PathBuf {
        self.root.join("device.key")
    }
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api.token")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// Held by the one process (app, daemon or service) that runs the engine on this directory.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lanrage.lock")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data directory {} is in use by another LANrage process ({}): quit it first \
         (the app, `lanrage up` or the LANrage service), or give this one another data directory",
        dir.display(),
        pid.map_or_else(|| "its pid is unknown".to_string(), |p| format!("pid {p}"))
    )]
    InUse { dir: PathBuf, pid: Option<u32> },
    #[error("cannot lock the data directory ({}): {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The data directory's lock, held for as long as this value lives (the OS drops it when the
/// process ends, however it ends, so a crash leaves no stale lock, only a stale file).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDir {
    /// Takes the directory for this process, creating it if needed: two engines on one
    /// directory would race the settings database's migrations and the first-run key. The
    /// lock file holds the owner's pid so the refusal can name it.
    pub fn lock(&self) -> Result<DataDirLock, LockError> {
        let path = self.lock_file();
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        self.ensure().map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // Windows forbids reading a locked file: the pid is then unknown.
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(LockError::InUse {
                    dir: self.root.clone(),
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

/// The user's data directory (`$XDG_DATA_HOME/lanrage` on Linux).
#[cfg(not(windows))]
fn default_root() -> Result<PathBuf, std::io::Error> {
    let dirs = directories::ProjectDirs::from("", "", "lanrage").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no home directory found: pass --data-dir or set LANRAGE_DATA_DIR",
        )
    })?;
    Ok(dirs.data_dir().to_path_buf())
}

/// On Windows the engine runs in the LANrage service, one per machine: its data is the
/// machine's, and the app and CLI of whoever plays find its API token there.
#[cfg(windows)]
fn default_root() -> Result<PathBuf, std::io::Error> {
    Ok(machine_dir(std::env::var_os("ProgramData")))
}

/// `%ProgramData%\LANrage`, where the Windows service keeps its data.
pub fn machine_dir(program_data: Option<std::ffi::OsString>) -> PathBuf {
    let base = program_data
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    base.join("LANrage")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_process_on_one_data_dir_is_refused_until_the_first_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::at(tmp.path().join("data"));
        let first = dir.lock().unwrap();
        let err = dir.lock().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&tmp.path().join("data").display().to_string()),
            "{text}"
        );
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(matches!(err, LockError::InUse { pid: Some(p), .. } if p == std::process::id()));
        drop(first);
        let again = dir.lock().unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_left_by_a_crashed_process_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::at(tmp.path());
        // What a killed process leaves: the file with its pid, and no lock held on it.
        std::fs::write(dir.lock_file(), "4000000\n").unwrap();
        let lock = dir.lock().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.lock_file()).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(lock);
    }

    #[test]
    fn the_windows_service_keeps_its_data_under_program_data() {
        assert_eq!(
            machine_dir(Some(r"D:\Data".into())),
            PathBuf::from(r"D:\Data").join("LANrage")
        );
        assert_eq!(
            machine_dir(None),
            PathBuf::from(r"C:\ProgramData").join("LANrage")
        );
        assert_eq!(
            machine_dir(Some("".into())),
            PathBuf::from(r"C:\ProgramData").join("LANrage")
        );
    }
}
