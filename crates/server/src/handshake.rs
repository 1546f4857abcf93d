//! The first frames of every connection: the server's challenge, the device's hello and its
//! proof that it holds the key it claims. Shared by the serving server and one that passes its
//! players on over the bus (`edge`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{Message, WebSocket};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lanrage_proto::message::{self, ClientMsg, ErrorBody, ServerMsg};
use lanrage_proto::{auth, PROTOCOL_VERSION};
use x25519_dalek::{PublicKey, StaticSecret};

/// A device must finish `hello` and `auth` within this time.
pub(crate) const AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The server's own key pair: devices prove their keys against it.
pub(crate) struct Identity {
    pub secret: StaticSecret,
    pub public: PublicKey,
}

pub(crate) async fn send_now(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    socket
        .send(Message::Text(message::encode(msg).into()))
        .await
        .is_ok()
}

pub(crate) async fn refuse(socket: &mut WebSocket, code: &str, text: &str) {
    let _ = send_now(
        socket,
        &ServerMsg::Error {
            error: ErrorBody::new(code, text),
        },
    )
    .await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Reads the next text frame as a client message (None: closed or unusable).
async fn next_client_msg(socket: &mut WebSocket) -> Option<Result<ClientMsg, String>> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => {
                return Some(message::decode_client(t.as_str()).map_err(|e| e.to_string()))
            }
            Ok(Message::Binary(_)) => {
                return Some(Err("binary frames are not part of the protocol".into()))
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// The handshake: challenge, hello, auth. Returns the device's key and name.
pub(crate) async fn authenticate(
    id: &Identity,
    failures: &AtomicU64,
    socket: &mut WebSocket,
    peer: SocketAddr,
) -> Option<(String, String)> {
    let nonce = auth::new_nonce();
    let challenge = ServerMsg::Challenge {
        version: PROTOCOL_VERSION,
        nonce: B64.encode(nonce),
        server_key: B64.encode(id.public.as_bytes()),
    };
    if !send_now(socket, &challenge).await {
        return None;
    }
    let (key, name) = match next_client_msg(socket).await? {
        Ok(ClientMsg::Hello {
            version,
            public_key,
            name,
        }) => {
            if version != PROTOCOL_VERSION {
                refuse(socket, "unsupported_version", &format!("this server speaks protocol {PROTOCOL_VERSION}, the client {version}: update LANrage")).await;
                return None;
            }
            (public_key, name)
        }
        Ok(_) => {
            refuse(
                socket,
                "not_authenticated",
                "say hello and authenticate first",
            )
            .await;
            return None;
        }
        Err(e) => {
            refuse(socket, "bad_message", &e).await;
            return None;
        }
    };
    let Some(device_public) = auth::canonical_key(&key) else {
        refuse(
            socket,
            "bad_message",
            "public_key is not a base64 X25519 key in its canonical spelling",
        )
        .await;
        return None;
    };
    let proof = match next_client_msg(socket).await? {
        Ok(ClientMsg::Auth { proof }) => proof,
        _ => {
            refuse(socket, "not_authenticated", "expected auth").await;
            return None;
        }
    };
    if !auth::verify(&id.secret, &PublicKey::from(device_public), &nonce, &proof) {
        failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%peer, claimed = key.get(..8).unwrap_or(""), "device failed to prove its key");
        refuse(
            socket,
            "auth_failed",
            "this device could not prove it holds the private key of the public key it claims",
        )
        .await;
        return None;
    }
    Some((key, name))
}
