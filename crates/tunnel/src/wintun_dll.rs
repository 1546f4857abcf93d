//! The WinTUN driver's DLL, checked before Windows loads it.
//!
//! `wintun.dll` is loaded from LANrage's own folder, never by name (the DLL search order would
//! take one from the PATH or the working directory), and only when its SHA-256 is the one
//! pinned here: the signed build WireGuard LLC ships (as inside the `wintun` crate 0.5.1,
//! `wintun/bin/amd64/wintun.dll`). A DLL that was swapped runs as LocalSystem in the engine, so
//! a wrong one is refused, not loaded.
//!
//! Pure file checks, compiled on every OS so Linux CI tests them too.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// SHA-256 of WinTUN 0.14.1's signed amd64 `wintun.dll`. `scripts/windows/fetch-wintun` pins the
/// same value; change both together.
pub const WINTUN_SHA256: &str = "e5da8447dc2c320edc0fc52fa01885c103de8c118481f683643cacc3220dafce";

pub const WINTUN_FILE: &str = "wintun.dll";

#[derive(Debug, thiserror::Error)]
pub enum WintunError {
    #[error("{} is missing: LANrage cannot create its network adapter without it. Reinstall LANrage to put it back", .0.display())]
    Missing(PathBuf),
    #[error("cannot read {}: {source}. Reinstall LANrage", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not the WinTUN driver LANrage ships (SHA-256 {found}); it was not loaded. Reinstall LANrage", path.display())]
    WrongHash { path: PathBuf, found: String },
}

/// Where the DLL must be: beside the running program.
pub fn beside_program() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(WINTUN_FILE))
}

/// Checks the DLL at `path` against the pinned hash.
pub fn verify(path: &Path) -> Result<(), WintunError> {
    verify_against(path, WINTUN_SHA256)
}

fn verify_against(path: &Path, want: &str) -> Result<(), WintunError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WintunError::Missing(path.to_path_buf()))
        }
        Err(source) => {
            return Err(WintunError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let found: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found == want {
        Ok(())
    } else {
        Err(WintunError::WrongHash {
            path: path.to_path_buf(),
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lanrage-wintun-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn the_pinned_dll_passes() {
        // SHA-256 of "abc" stands in for the DLL's bytes.
        let p = temp_file("good.dll", b"abc");
        verify_against(
            &p,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap();
    }

    #[test]
    fn a_swapped_dll_is_refused_and_the_message_says_what_to_do() {
        let p = temp_file("wintun.dll", b"not the driver");
        let e = verify(&p).unwrap_err();
        assert!(matches!(e, WintunError::WrongHash { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("not the WinTUN driver"), "{msg}");
        assert!(msg.contains("Reinstall LANrage"), "{msg}");
    }

    #[test]
    fn a_missing_dll_says_so() {
        let p = std::env::temp_dir().join("lanrage-no-such-dir/wintun.dll");
        let e = verify(&p).unwrap_err();
        assert!(matches!(e, WintunError::Missing(_)), "{e:?}");
        assert!(e.to_string().contains("is missing"), "{e}");
    }

    #[test]
    fn the_pin_is_a_sha256() {
        assert_eq!(WINTUN_SHA256.len(), 64);
        assert!(WINTUN_SHA256.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
