//! WireGuard keys as people write them (base64).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// A 32-byte WireGuard key (public, private or preshared), written as standard base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a WireGuard key (expected 44 characters of base64 for 32 bytes)")]
pub struct KeyError;

impl std::str::FromStr for Key {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = B64.decode(s.trim()).map_err(|_| KeyError)?;
        Ok(Key(bytes.try_into().map_err(|_| KeyError)?))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

/// Public keys are fine to show; this type is also used for private keys, so `Debug` shows only
/// a prefix, never a whole key.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}…)", &self.to_string()[..8])
    }
}

impl Key {
    pub fn public_of(secret: &x25519_dalek::StaticSecret) -> Key {
        Key(*x25519_dalek::PublicKey::from(secret).as_bytes())
    }
}
