//! Device authentication.
//!
//! The server sends a random nonce and its static X25519 public key. The device answers with
//! `HMAC-SHA256(key = X25519(device_secret, server_public), "lanrage-auth-v1" | nonce |
//! device_public)`. The server computes the same shared secret from its own private key and
//! the claimed device public key, so only the holder of that device's private key can answer,
//! and the private key never leaves the device.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

const CONTEXT: &[u8] = b"lanrage-auth-v1";

pub fn new_nonce() -> [u8; 32] {
    use rand_core::RngCore;
    let mut n = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut n);
    n
}

fn mac(shared: &[u8; 32], nonce: &[u8], device_public: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; 32 bytes can never be refused.
    let mut m = match Hmac::<Sha256>::new_from_slice(shared) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes any key length"),
    };
    m.update(CONTEXT);
    m.update(nonce);
    m.update(device_public);
    m
}

/// The device's answer to a challenge, base64.
pub fn prove(device: &StaticSecret, server_public: &PublicKey, nonce: &[u8]) -> String {
    let shared = device.diffie_hellman(server_public);
    let device_public = PublicKey::from(device);
    B64.encode(
        mac(shared.as_bytes(), nonce, device_public.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// The server's check of a device's answer (constant time).
pub fn verify(
    server: &StaticSecret,
    device_public: &PublicKey,
    nonce: &[u8],
    proof_b64: &str,
) -> bool {
    let Ok(proof) = B64.decode(proof_b64.trim()) else {
        return false;
    };
    let shared = server.diffie_hellman(device_public);
    // A low-order "public key" gives the same all-zero secret with every private key: anyone
    // could answer for it.
    if !shared.was_contributory() {
        return false;
    }
    mac(shared.as_bytes(), nonce, device_public.as_bytes())
        .verify_slice(&proof)
        .is_ok()
}

/// A device's public key as sent on the wire: standard base64 of 32 bytes, in its one canonical
/// spelling (no whitespace, padding, or stray bits another spelling of the same key would
/// have). Keys are identities everywhere, compared as strings; two spellings of one key would
/// be two members.
pub fn canonical_key(text: &str) -> Option<[u8; 32]> {
    let bytes: [u8; 32] = B64.decode(text).ok()?.try_into().ok()?;
    (B64.encode(bytes) == text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_holder_can_answer() {
        let server = StaticSecret::random_from_rng(rand_core::OsRng);
        let device = StaticSecret::random_from_rng(rand_core::OsRng);
        let impostor = StaticSecret::random_from_rng(rand_core::OsRng);
        let server_pub = PublicKey::from(&server);
        let device_pub = PublicKey::from(&device);
        let nonce = new_nonce();
        let proof = prove(&device, &server_pub, &nonce);
        assert!(verify(&server, &device_pub, &nonce, &proof));
        // Someone claiming the device's public key without its private key fails.
        let forged = prove(&impostor, &server_pub, &nonce);
        assert!(!verify(&server, &device_pub, &nonce, &forged));
        // A proof is bound to its nonce.
        assert!(!verify(&server, &device_pub, &new_nonce(), &proof));
        assert!(!verify(&server, &device_pub, &nonce, "not base64!"));
        assert!(!verify(&server, &device_pub, &nonce, ""));
    }

    #[test]
    fn a_low_order_key_cannot_authenticate() {
        let server = StaticSecret::random_from_rng(rand_core::OsRng);
        let nonce = new_nonce();
        // The identity point: X25519 with it is all zeros whatever the private key, so this
        // proof is one anybody can compute.
        let low_order = [0u8; 32];
        let forged = B64.encode(mac(&[0u8; 32], &nonce, &low_order).finalize().into_bytes());
        assert!(!verify(
            &server,
            &PublicKey::from(low_order),
            &nonce,
            &forged
        ));
    }

    #[test]
    fn only_the_canonical_spelling_of_a_key_is_accepted() {
        let key = PublicKey::from(&StaticSecret::random_from_rng(rand_core::OsRng));
        let text = B64.encode(key.as_bytes());
        assert_eq!(canonical_key(&text), Some(*key.as_bytes()));
        for other in [
            format!("{text} "),
            format!(" {text}"),
            format!("{text}\n"),
            text.trim_end_matches('=').to_string(),
            "not a key".to_string(),
            B64.encode([1u8; 31]),
        ] {
            assert_eq!(canonical_key(&other), None, "{other:?}");
        }
    }
}
