//! The device identity: a WireGuard (X25519) key pair created on first start.
//!
//! The private key never leaves this module except as the `StaticSecret` the tunnel needs; it is
//! never logged, serialized or shown.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::secret_file::{self, SecretFileError};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error("{path} does not hold a WireGuard private key (expected 32 bytes in base64); move it aside to create a new identity")]
    Malformed { path: String },
}

pub struct DeviceIdentity {
    secret: StaticSecret,
    public: PublicKey,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("public", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// Loads the key at `path`, or creates one there (mode 0600). Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), IdentityError> {
        if let Some(id) = Self::load(path)? {
            return Ok((id, false));
        }
        let secret = StaticSecret::random_from_rng(rand_core::OsRng);
        // The app and the daemon may both start for the first time at once: one key is
        // written, and the other takes it.
        if secret_file::write_new(path, &format!("{}\n", B64.encode(secret.to_bytes())))? {
            return Ok((Self::from_secret(secret), true));
        }
        let id = Self::load(path)?.ok_or_else(|| IdentityError::Malformed {
            path: path.display().to_string(),
        })?;
        Ok((id, false))
    }

    fn load(path: &Path) -> Result<Option<Self>, IdentityError> {
        let Some(text) = secret_file::read(path)? else {
            return Ok(None);
        };
        let secret = parse_key(text.trim()).ok_or_else(|| IdentityError::Malformed {
            path: path.display().to_string(),
        })?;
        Ok(Some(Self::from_secret(secret)))
    }

    pub fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public key as WireGuard tools print it (standard base64).
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public.as_bytes())
    }

    pub fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

/// Parses a base64 WireGuard key (as `wg genkey` writes it).
pub fn parse_key(text: &str) -> Option<StaticSecret> {
    let bytes: [u8; 32] = B64.decode(text).ok()?.try_into().ok()?;
    Some(StaticSecret::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_starting_together_for_the_first_time_get_one_identity() {
        for _round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("device.key");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let starts: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let (id, created) = DeviceIdentity::load_or_create(&path).unwrap();
                        (id.public_key_base64(), created)
                    })
                })
                .collect();
            let results: Vec<(String, bool)> =
                starts.into_iter().map(|s| s.join().unwrap()).collect();
            assert!(
                results.iter().all(|(k, _)| *k == results[0].0),
                "{results:?}"
            );
            assert_eq!(results.iter().filter(|(_, c)| *c).count(), 1, "{results:?}");
            let (on_disk, _) = DeviceIdentity::load_or_create(&path).unwrap();
            assert_eq!(on_disk.public_key_base64(), results[0].0);
            // No temporary files left behind.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("device.key");
        let (a, created) = DeviceIdentity::load_or_create(&p).unwrap();
        assert!(created);
        let (b, created) = DeviceIdentity::load_or_create(&p).unwrap();
        assert!(!created);
        assert_eq!(a.public_key_base64(), b.public_key_base64());
        assert_eq!(a.public_key_base64().len(), 44);
        assert!(!format!("{a:?}").contains(&B64.encode(a.secret().to_bytes())));
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("device.key");
        secret_file::write(&p, "not a key").unwrap();
        let err = DeviceIdentity::load_or_create(&p).unwrap_err();
        assert!(err
            .to_string()
            .contains("does not hold a WireGuard private key"));
    }

    #[test]
    fn matches_wireguard_public_key_derivation() {
        // Known pair from `wg genkey | tee k | wg pubkey`.
        let secret = parse_key("0FIEp3vLSTtX0wmREwyWUdXo6C8iBOd0pyvIqfDfGEw=").unwrap();
        let id = DeviceIdentity::from_secret(secret);
        assert_eq!(
            id.public_key_base64(),
            "rgPfEYu1+mKDA6pGg6xd/LygO4FzEuwS1bK1FPorP2c="
        );
    }
}
