//! The control protocol: JSON text frames, one object per frame, tagged by `type`.
//!
//! A session: server `challenge` -> client `hello` (version, public key, name) and `auth`
//! (proof, see [`crate::auth`]) -> server `welcome`, then the current `party` snapshot if the
//! device is in one. Afterwards the client sends `request`s (answered by a `response` with the
//! same id), `heartbeat`s every few seconds and `signal`s for other members; the server pushes
//! `party` snapshots whenever anything in the party changes, `party_gone` when the device is no
//! longer in it, and `signal`s from other members.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::MAX_FRAME_BYTES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    Hello {
        version: u32,
        public_key: String,
        name: String,
    },
    Auth {
        proof: String,
    },
    Request {
        id: u64,
        op: Op,
    },
    Heartbeat,
    /// Relayed by the server to `to`, only when both are members of the same party. The
    /// payload must be a [`SignalPayload`] of at most [`MAX_SIGNAL_BYTES`]: [`decode_client`]
    /// refuses anything else.
    Signal {
        to: String,
        payload: Value,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    CreateParty {
        name: String,
        #[serde(default)]
        max_members: Option<u16>,
        #[serde(default)]
        invite_ttl_secs: Option<u64>,
    },
    JoinParty {
        code: String,
    },
    LeaveParty,
    /// Host only.
    Kick {
        public_key: String,
    },
    /// Host only: ends the party for everyone.
    CloseParty,
    /// Host only: a new invite code (the old one stops working).
    NewInvite {
        #[serde(default)]
        ttl_secs: Option<u64>,
    },
    /// Host only: the current code stops working; no new one until `new_invite`.
    RevokeInvite,
    /// Announce (or refresh: same `id`) a game server this device hosts, visible to its party
    /// for 90 s after the last announcement.
    AnnounceServer {
        server: GameServer,
    },
    RemoveServer {
        id: String,
    },
    /// The game servers announced in this device's party.
    ListServers,
    /// The device's display name changed.
    SetName {
        name: String,
    },
    /// Where this device's WireGuard port can be reached.
    SetEndpoints {
        endpoints: Vec<SocketAddr>,
    },
    /// STUN/TURN servers with TURN credentials for this device (party members only); the
    /// answer is `{ice_servers, ice_expires_at}`.
    IceServers,
    /// The game this device is playing now (`None`: none). Added after protocol 1 without a
    /// version bump: a server that does not know it refuses the request and nothing else
    /// changes; clients that do not know `game` in snapshots ignore it.
    SetGame {
        #[serde(default)]
        game: Option<GameRef>,
    },
}

/// A game as members show it to each other: the catalogue's id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GameRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMsg {
    Challenge {
        version: u32,
        /// base64 of 32 random bytes.
        nonce: String,
        /// The server's X25519 public key, base64.
        server_key: String,
    },
    Welcome {
        public_key: String,
        /// STUN and TURN servers for NAT traversal, TURN ones with credentials for this device.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// When the TURN credentials stop working (unix seconds); reconnecting renews them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_expires_at: Option<u64>,
    },
    Response {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorBody>,
    },
    Party {
        party: PartyView,
    },
    PartyGone {
        party_id: String,
        reason: String,
    },
    Signal {
        from: String,
        payload: Value,
    },
    /// A connection-level error; the server closes the connection after it.
    Error {
        error: ErrorBody,
    },
}

/// A STUN (`stun:HOST:PORT`) or TURN (`turn:HOST:PORT`) server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A game server a member hosts on its virtual address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct GameServer {
    /// Chosen by the announcer; announcing the same id again refreshes it.
    pub id: String,
    pub game: String,
    pub name: String,
    pub port: u16,
    #[serde(default)]
    pub map: Option<String>,
    #[serde(default)]
    pub players: u32,
    #[serde(default)]
    pub max_players: u32,
    #[serde(default)]
    pub password: bool,
}

/// A game server as the party sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ServerEntry {
    #[serde(flatten)]
    pub server: GameServer,
    /// Public key of the member who announced it.
    pub host_key: String,
    pub host_name: String,
    /// The host's virtual IP.
    pub host_ip: Ipv4Addr,
    /// Unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyView {
    pub id: String,
    pub name: String,
    /// The host's public key.
    pub host: String,
    pub max_members: u16,
    /// The party's virtual subnet, e.g. `10.66.0.0/16`.
    pub subnet: String,
    pub members: Vec<MemberView>,
    /// Sent to the host only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub public_key: String,
    pub name: String,
    pub virtual_ip: Ipv4Addr,
    pub online: bool,
    pub endpoints: Vec<SocketAddr>,
    /// Unix seconds.
    pub joined_at: u64,
    /// What the member is playing, when it said (older clients never do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<GameRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteView {
    /// As people type it, `XXXX-XXXX-...`.
    pub code: String,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<u64>,
}

/// Largest signal payload, as JSON. Real ones are 100 to 300 bytes (a candidate line, or an
/// ICE username fragment and password); the limit keeps what one member can make the server
/// hold for another small.
pub const MAX_SIGNAL_BYTES: usize = 1024;
/// RFC 8445 allows ICE username fragments and passwords of up to 256 characters.
const MAX_ICE_CRED_CHARS: usize = 256;
/// An ICE candidate line (RFC 8839) with an IPv6 address and every optional part is well
/// under this.
const MAX_CANDIDATE_CHARS: usize = 512;

/// Which of a peer's two ICE agents a signal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceLeg {
    Direct,
    Relay,
}

/// What members' ICE agents tell each other through the server: the only payload a `signal`
/// may carry. Each leg's agent has a generation number that a restart bumps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalPayload {
    /// The sender's ICE credentials for a leg.
    Creds {
        leg: IceLeg,
        gen: u32,
        ufrag: String,
        pwd: String,
        /// The sender has the receiver's credentials for this leg. A peer that sends its
        /// credentials again without them is answered with ours. Absent from older peers.
        #[serde(default)]
        have_yours: bool,
    },
    /// One of the sender's candidates for a leg, as an RFC 8839 candidate line.
    Cand { leg: IceLeg, gen: u32, c: String },
}

impl SignalPayload {
    /// Reads a relayed payload, refusing anything but a well-formed signal within the limits.
    pub fn from_value(payload: &Value) -> Result<Self, DecodeError> {
        let bad = |m: String| DecodeError::Signal(m);
        let len = serde_json::to_string(payload).map_or(usize::MAX, |t| t.len());
        if len > MAX_SIGNAL_BYTES {
            return Err(bad(format!(
                "payload of {len} bytes is over the {MAX_SIGNAL_BYTES}-byte limit"
            )));
        }
        let s: SignalPayload =
            SignalPayload::deserialize(payload).map_err(|e| bad(e.to_string()))?;
        // Printable ASCII only: what ICE allows, and nothing a log or a terminal interprets.
        let printable = |t: &str| t.bytes().all(|b| (0x20..0x7f).contains(&b));
        match &s {
            SignalPayload::Creds { ufrag, pwd, .. } => {
                for (what, v) in [("ufrag", ufrag), ("pwd", pwd)] {
                    if v.is_empty() || v.len() > MAX_ICE_CRED_CHARS || !printable(v) {
                        return Err(bad(format!(
                            "{what} must be 1 to {MAX_ICE_CRED_CHARS} printable ASCII characters"
                        )));
                    }
                }
            }
            SignalPayload::Cand { c, .. } => {
                if c.is_empty() || c.len() > MAX_CANDIDATE_CHARS || !printable(c) {
                    return Err(bad(format!(
                        "a candidate must be 1 to {MAX_CANDIDATE_CHARS} printable ASCII characters"
                    )));
                }
            }
        }
        Ok(s)
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame of {0} bytes is over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("not a signal LANrage relays: {0}")]
    Signal(String),
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, DecodeError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(text.len()));
    }
    serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Decodes a client's frame; a `signal` must carry a [`SignalPayload`].
pub fn decode_client(text: &str) -> Result<ClientMsg, DecodeError> {
    let msg: ClientMsg = decode(text)?;
    if let ClientMsg::Signal { payload, .. } = &msg {
        SignalPayload::from_value(payload)?;
    }
    Ok(msg)
}

pub fn decode_server(text: &str) -> Result<ServerMsg, DecodeError> {
    decode(text)
}

/// Encoding our own types cannot fail (no maps with non-string keys, no non-finite floats
/// outside `Value`, which serde_json already rejects at construction).
pub fn encode<T: Serialize>(msg: &T) -> String {
    serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","error":{{"code":"internal","message":"{e}"}}}}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn wire_format_is_readable_json() {
        let m = ClientMsg::Request {
            id: 7,
            op: Op::JoinParty {
                code: "ABCD".into(),
            },
        };
        let text = encode(&m);
        assert_eq!(
            text,
            r#"{"type":"request","id":7,"op":{"op":"join_party","code":"ABCD"}}"#
        );
        assert_eq!(decode_client(&text).unwrap(), m);
        assert_eq!(
            decode_client(r#"{"type":"heartbeat"}"#).unwrap(),
            ClientMsg::Heartbeat
        );
    }

    #[test]
    fn bad_frames_are_clear_errors() {
        assert!(matches!(decode_client("{"), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            decode_client(r#"{"type":"teleport"}"#),
            Err(DecodeError::Malformed(m)) if m.contains("teleport")
        ));
        assert!(matches!(
            decode_client(r#"{"type":"request","op":{"op":"leave_party"}}"#),
            Err(DecodeError::Malformed(m)) if m.contains("id")
        ));
        let big = format!(
            r#"{{"type":"auth","proof":"{}"}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(decode_client(&big), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn only_ice_signals_within_the_limit_are_accepted() {
        let creds = json!({"kind":"creds","leg":"direct","gen":3,"ufrag":"abcdEFGH12345678","pwd":"p".repeat(32),"have_yours":true});
        let cand = json!({"kind":"cand","leg":"relay","gen":1,"c":"candidate:1 1 udp 2130706431 192.0.2.7 51820 typ host"});
        let old = json!({"kind":"creds","leg":"relay","gen":1,"ufrag":"abcd","pwd":"p".repeat(22)});
        for ok in [&creds, &cand, &old] {
            let m = encode(&ClientMsg::Signal {
                to: "k".into(),
                payload: ok.clone(),
            });
            assert!(decode_client(&m).is_ok(), "{ok}");
            assert_eq!(
                SignalPayload::from_value(ok)
                    .unwrap()
                    .to_value()
                    .get("kind"),
                ok.get("kind")
            );
        }
        let bad = [
            json!({"x": 1}),
            json!("text"),
            json!({"kind":"cand","leg":"direct","gen":1,"c":"x".repeat(4000)}),
            json!({"kind":"cand","leg":"direct","gen":1,"c":"candidate\u{1b}[2J"}),
            json!({"kind":"cand","leg":"sideways","gen":1,"c":"candidate:1"}),
            json!({"kind":"cand","leg":"direct","gen":-1,"c":"candidate:1"}),
            json!({"kind":"cand","leg":"direct","gen":1,"c":"candidate:1","extra":[1,2,3]}),
            json!({"kind":"creds","leg":"direct","gen":1,"ufrag":"","pwd":"x"}),
            json!({"kind":"creds","leg":"direct","gen":1,"ufrag":"u".repeat(300),"pwd":"x"}),
        ];
        for b in bad {
            let m = encode(&ClientMsg::Signal {
                to: "k".into(),
                payload: b.clone(),
            });
            assert!(
                matches!(decode_client(&m), Err(DecodeError::Signal(_))),
                "{b}"
            );
        }
    }

    #[test]
    fn numbers_in_a_response_pass_through_unchanged() {
        // Found by the fuzzer (then in a signal's payload, which is typed now): without exact
        // float parsing `-3e88` read as the float next to it, so JSON decoded and re-encoded
        // on its way reached the other end changed.
        let text = r#"{"type":"response","id":1,"data":{"n":[-3e88,2.5,1e-300]}}"#;
        let msg = decode_server(text).unwrap();
        assert_eq!(decode_server(&encode(&msg)).unwrap(), msg);
        let ServerMsg::Response {
            data: Some(data), ..
        } = msg
        else {
            panic!("not a response with data");
        };
        assert_eq!(data["n"][0].as_f64(), Some(-3e88));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_text_never_panics(s in ".{0,300}") {
            let _ = decode_client(&s);
            let _ = decode_server(&s);
        }

        #[test]
        fn decoding_mutated_messages_never_panics(cut in 0usize..80, byte in any::<u8>()) {
            let text = encode(&ClientMsg::Request { id: 1, op: Op::CreateParty { name: "x".into(), max_members: Some(4), invite_ttl_secs: None } });
            let mut bytes = text.into_bytes();
            let i = cut % bytes.len();
            bytes[i] = byte;
            if let Ok(s) = String::from_utf8(bytes) {
                let _ = decode_client(&s);
            }
        }
    }
}
