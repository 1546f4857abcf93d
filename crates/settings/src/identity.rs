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
        if let Some(text) = secret_file::read(path)? {
            let secret = parse_key(text.trim()).ok_or_else(|| IdentityError::Malformed {
                path: path.display().to_string(),
            })?;
            return Ok((Self::from_secret(secret), false));
        }
        let secret = StaticSecret::random_from_rng(rand_core::OsRng);
        secret_file::write(path, &format!("{}\n", B64.encode(secret.to_bytes())))?;
        Ok((Self::from_secret(secret), true))
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
