//! Where LANrage keeps its files.

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
