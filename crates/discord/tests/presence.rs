//! Rich Presence against a fake Discord: a Unix socket speaking Discord's local IPC framing
//! (op code and length, little endian, then JSON), where the real client looks for it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::time::Duration;

use lanrage_discord::presence::{DiscordPresence, PresenceWanted};
use serde_json::{json, Value};

fn read_frame(s: &mut UnixStream) -> Option<(u32, Value)> {
    let mut header = [0u8; 8];
    s.read_exact(&mut header).ok()?;
    let op = u32::from_le_bytes(header[..4].try_into().unwrap());
    let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((op, serde_json::from_slice(&body).unwrap()))
}

fn write_frame(s: &mut UnixStream, op: u32, v: &Value) {
    let body = v.to_string();
    let mut frame = op.to_le_bytes().to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(body.as_bytes());
    let _ = s.write_all(&frame);
}

/// Accepts one client, answers its handshake like Discord does, and reports every activity
/// it sets (Value::Null for a cleared one) until the client goes away or `conns` runs out.
fn fake_discord(listener: UnixListener, conns: usize, tx: mpsc::Sender<(usize, Value)>) {
    std::thread::spawn(move || {
        for n in 0..conns {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let Some((0, hello)) = read_frame(&mut s) else {
                continue;
            };
            assert_eq!(hello["client_id"], "1234567890");
            write_frame(
                &mut s,
                1,
                &json!({"cmd": "DISPATCH", "evt": "READY", "data": {"v": 1}}),
            );
            // The first connection is "Discord restarting": it dies after one activity.
            while let Some((1, msg)) = read_frame(&mut s) {
                if msg["cmd"] == "SET_ACTIVITY" {
                    let _ = tx.send((n, msg["args"]["activity"].clone()));
                    write_frame(
                        &mut s,
                        1,
                        &json!({"cmd": "SET_ACTIVITY", "data": {}, "nonce": msg["nonce"]}),
                    );
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    });
}

#[test]
fn presence_follows_the_party_and_survives_a_discord_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Where the client looks first; this test binary is its own process, so setting it is safe.
    std::env::set_var("XDG_RUNTIME_DIR", dir.path());
    let sock = dir.path().join("discord-ipc-0");

    let presence = DiscordPresence::spawn(Duration::from_millis(200)).unwrap();
    presence.configure(true, "1234567890");
    let wanted = PresenceWanted {
        party_id: "ABCDEFGH".into(),
        party_name: "Friday LAN".into(),
        size: 2,
        max: 32,
        since: 1_700_000_000,
        invite_link: None,
        game: None,
    };
    // Discord is not running yet: LANrage keeps trying.
    presence.show(Some(wanted.clone()));
    std::thread::sleep(Duration::from_millis(500));

    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel();
    fake_discord(listener, 2, tx);
    let (conn, activity) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("activity set once Discord runs");
    assert_eq!(conn, 0);
    assert_eq!(activity["state"], "In a LANrage party");
    assert_eq!(activity["party"]["size"], json!([2, 32]));

    // Discord "restarts" (the first connection died): the periodic re-send reconnects.
    let (conn, activity) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reconnected after a restart");
    assert_eq!(conn, 1);
    assert_eq!(activity["details"], "Friday LAN");

    // A member joins: the size follows.
    presence.show(Some(PresenceWanted { size: 3, ..wanted }));
    let mut sizes = Vec::new();
    while let Ok((_, a)) = rx.recv_timeout(Duration::from_secs(2)) {
        sizes.push(a["party"]["size"].clone());
        if a["party"]["size"] == json!([3, 32]) {
            break;
        }
    }
    assert!(sizes.contains(&json!([3, 32])), "{sizes:?}");

    // Leaving clears it.
    presence.show(None);
    let cleared = loop {
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok((_, a)) if a.is_null() => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    assert!(cleared, "activity cleared after leaving");
}
