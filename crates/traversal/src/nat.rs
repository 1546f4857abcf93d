//! NAT detection: what kind of router this device sits behind, from STUN answers.
//!
//! One UDP socket asks every configured STUN server (the control server gives out two ports of
//! the same host) for the address it sees. The same public address for every server means the
//! router maps endpoint-independently ("cone": hole punching works); different addresses mean a
//! symmetric NAT (only a relay works with another NAT); our own address means no NAT at all; no
//! answer at all means UDP is blocked. [`classify`] is the decision, [`detect`] the I/O.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use stun::message::{Getter, Message, BINDING_REQUEST};
use stun::xoraddr::XorMappedAddress;
use ts_rs::TS;

/// Each server is asked again at these offsets (UDP loses packets; 5 % loss must not read as
/// "blocked").
const RETRANSMITS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(1500),
];
const WAIT: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NatKind {
    /// A public address on this machine.
    Open,
    /// Endpoint-independent mapping: hole punching works.
    Cone,
    /// A new public port per destination: direct paths only to players without NAT.
    Symmetric,
    /// No STUN server answered over UDP.
    UdpBlocked,
    /// Too few answers to tell (one server only), or no STUN server configured.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct NatStatus {
    pub kind: NatKind,
    /// Our address as the internet sees it.
    pub public_addr: Option<String>,
    /// What it means for the player, in a sentence.
    pub summary: String,
}

impl NatStatus {
    pub fn new(kind: NatKind, public_addr: Option<SocketAddr>) -> Self {
        let summary = match kind {
            NatKind::Open => "This device has a public address: every player can reach you directly.",
            NatKind::Cone => "Your router keeps one public port for every destination (cone NAT): direct connections work with most players.",
            NatKind::Symmetric => "Your router uses a new public port for every destination (symmetric NAT): players behind another NAT connect to you through the relay.",
            NatKind::UdpBlocked => "No STUN server answered over UDP: this network blocks UDP, so LANrage cannot connect to other players. Allow outgoing UDP on your firewall or router (the relay uses UDP port 3478), or try another network.",
            NatKind::Unknown => "The NAT type is not known (too few STUN servers answered); LANrage still tries a direct path and the relay.",
        };
        Self {
            kind,
            public_addr: public_addr.map(|a| a.to_string()),
            summary: summary.to_string(),
        }
    }
}

/// The decision: `local_port` is the asking socket's port, `local_ips` this machine's
/// addresses, `answers` one mapped address per server that answered, `asked` how many were asked.
pub fn classify(
    local_ips: &[IpAddr],
    local_port: u16,
    answers: &[SocketAddr],
    asked: usize,
) -> NatKind {
    let Some(first) = answers.first() else {
        return if asked == 0 {
            NatKind::Unknown
        } else {
            NatKind::UdpBlocked
        };
    };
    if answers.iter().any(|a| a != first) {
        return NatKind::Symmetric;
    }
    if first.port() == local_port && local_ips.contains(&first.ip()) {
        return NatKind::Open;
    }
    if answers.len() >= 2 {
        NatKind::Cone
    } else {
        NatKind::Unknown
    }
}

/// Asks every server in `servers` and classifies the answers.
pub async fn detect(servers: &[SocketAddr]) -> NatStatus {
    if servers.is_empty() {
        return NatStatus::new(NatKind::Unknown, None);
    }
    let socket = match tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "NAT detection: no UDP socket");
            return NatStatus::new(NatKind::UdpBlocked, None);
        }
    };
    let local_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut requests = Vec::new();
    for server in servers {
        let mut msg = Message::new();
        if msg
            .build(&[
                Box::new(stun::agent::TransactionId::new()),
                Box::new(BINDING_REQUEST),
            ])
            .is_ok()
        {
            requests.push((*server, msg));
        }
    }
    let mut answers: Vec<(SocketAddr, SocketAddr)> = Vec::new();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 1500];
    let mut next_send = 0;
    loop {
        if answers.len() == requests.len() {
            break;
        }
        if next_send < RETRANSMITS.len() && start.elapsed() >= RETRANSMITS[next_send] {
            for (server, msg) in &requests {
                if !answers.iter().any(|(s, _)| s == server) {
                    let _ = socket.send_to(&msg.raw, server).await;
                }
            }
            next_send += 1;
        }
        let wake = RETRANSMITS
            .get(next_send)
            .copied()
            .unwrap_or(WAIT)
            .min(WAIT);
        let Some(left) = wake.checked_sub(start.elapsed()) else {
            if next_send >= RETRANSMITS.len() {
                break;
            }
            continue;
        };
        let (n, from) = match tokio::time::timeout(left, socket.recv_from(&mut buf)).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => continue,
        };
        let mut reply = Message::new();
        if reply.unmarshal_binary(&buf[..n]).is_err() {
            continue;
        }
        let Some((server, _)) = requests
            .iter()
            .find(|(s, m)| *s == from && m.transaction_id == reply.transaction_id)
        else {
            continue;
        };
        let mut mapped = XorMappedAddress::default();
        if mapped.get_from(&reply).is_ok() && !answers.iter().any(|(s, _)| s == server) {
            answers.push((*server, SocketAddr::new(mapped.ip, mapped.port)));
        }
    }
    let local_ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .collect();
    let mapped: Vec<SocketAddr> = answers.iter().map(|(_, m)| *m).collect();
    let kind = classify(&local_ips, local_port, &mapped, requests.len());
    let status = NatStatus::new(kind, mapped.first().copied());
    tracing::info!(nat = ?kind, public = ?status.public_addr, answered = answers.len(), asked = requests.len(), "NAT detected");
    status
}

/// Round trip of one STUN binding request to `server` (three tries within `limit`), `None`
/// without an answer. Used to pick the nearest relay.
pub async fn binding_rtt(server: SocketAddr, limit: Duration) -> Option<Duration> {
    let socket = tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await.ok()?;
    let mut msg = Message::new();
    msg.build(&[
        Box::new(stun::agent::TransactionId::new()),
        Box::new(BINDING_REQUEST),
    ])
    .ok()?;
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 1500];
    for attempt in 1..=3u32 {
        let sent = tokio::time::Instant::now();
        socket.send_to(&msg.raw, server).await.ok()?;
        let wait = (limit / 3).max(Duration::from_millis(50));
        let deadline = sent + wait;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            let mut reply = Message::new();
            if from == server
                && reply.unmarshal_binary(&buf[..n]).is_ok()
                && reply.transaction_id == msg.transaction_id
            {
                return Some(sent.elapsed());
            }
        }
        if start.elapsed() >= limit || attempt == 3 {
            break;
        }
    }
    None
}

/// Orders relays nearest first; those that did not answer go last, in their given order.
pub fn by_rtt<T>(mut relays: Vec<(T, Option<Duration>)>) -> Vec<T> {
    relays.sort_by_key(|(_, rtt)| rtt.unwrap_or(Duration::MAX));
    relays.into_iter().map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_nat_kinds() {
        let local = ["192.168.1.10".parse().unwrap()];
        let cone = [a("203.0.113.10:40000"), a("203.0.113.10:40000")];
        let sym = [a("203.0.113.10:40000"), a("203.0.113.10:40001")];
        assert_eq!(classify(&local, 5000, &cone, 2), NatKind::Cone);
        assert_eq!(classify(&local, 5000, &sym, 2), NatKind::Symmetric);
        assert_eq!(classify(&local, 5000, &[], 2), NatKind::UdpBlocked);
        assert_eq!(classify(&local, 5000, &[], 0), NatKind::Unknown);
        // One answer can say "open" but cannot tell cone from symmetric.
        assert_eq!(classify(&local, 5000, &cone[..1], 2), NatKind::Unknown);
        let public = ["203.0.113.10".parse().unwrap()];
        assert_eq!(
            classify(&public, 40000, &cone[..1], 1),
            NatKind::Open,
            "our own address and port"
        );
        // Same IP but another port: a NAT that happens to keep the address.
        assert_eq!(classify(&public, 5000, &cone, 2), NatKind::Cone);
    }

    #[test]
    fn every_kind_has_a_sentence() {
        for k in [
            NatKind::Open,
            NatKind::Cone,
            NatKind::Symmetric,
            NatKind::UdpBlocked,
            NatKind::Unknown,
        ] {
            assert!(NatStatus::new(k, None).summary.ends_with('.'));
        }
        assert!(NatStatus::new(NatKind::UdpBlocked, None)
            .summary
            .contains("blocks UDP"));
    }

    #[test]
    fn the_nearest_answering_relay_comes_first() {
        let ms = |n| Some(Duration::from_millis(n));
        let order = by_rtt(vec![("far", ms(80)), ("silent", None), ("near", ms(12))]);
        assert_eq!(order, ["near", "far", "silent"]);
        let order = by_rtt(vec![("a", None), ("b", None)]);
        assert_eq!(order, ["a", "b"], "no answers: the server's order");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_reads_as_udp_blocked() {
        // A bound socket that reads nothing: the requests go to loopback and die there.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let s = detect(&[silent.local_addr().unwrap()]).await;
        assert_eq!(s.kind, NatKind::UdpBlocked);
    }
}
