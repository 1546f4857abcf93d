//! The relay's STUN handling. Every datagram anyone on the internet sends the relay port is
//! read by the STUN decoder of the `turn` server the relay runs, then handled by it (binding,
//! allocation and refresh requests up to their nonce check). The relay's own credential check
//! (the REST username's expiry and device) sits behind a nonce the server hands out, which one
//! datagram cannot carry: it is not reached here.
//!
//! Two parts per input:
//! - the decoder alone: a message that decodes re-encodes, attribute for attribute, to one
//!   that decodes the same;
//! - the running relay, through its public entry point (`Relay::start` on loopback): the input
//!   is sent to it as one datagram, and the relay must still answer a binding request after it
//!   (a datagram that stops the STUN service for everyone is a denial of service even when
//!   nothing panics). A panic in the relay's own tasks aborts the process too, which libFuzzer
//!   reports.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use lanrage_server::relay::Relay;
use lanrage_server::RelayConfig;
use libfuzzer_sys::fuzz_target;
use stun::message::{Message, BINDING_SUCCESS, MAGIC_COOKIE};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;

struct Harness {
    rt: Runtime,
    /// Kept for the process's life: dropping it would close the relay.
    _relay: Relay,
    relay_addr: SocketAddr,
    client: UdpSocket,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("tokio runtime: {e}"),
        };
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let secret = format!(
            "{:x}",
            u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        // The relay takes `port` and `port + 1`: try a few pairs until both are free.
        let (relay, client) = rt.block_on(async {
            let mut last = None;
            for i in 0..64u16 {
                let port = 20_000 + (std::process::id() as u16 % 20_000) + i * 2;
                let cfg = RelayConfig {
                    bind: lo,
                    port,
                    public_ip: lo,
                    max_allocations: 8,
                    allocations_per_device: 2,
                    allocations_per_address: 4,
                    allow_private: false,
                    bandwidth_bytes_per_sec: 0,
                };
                match Relay::start(&cfg, &secret).await {
                    Ok(r) => {
                        let client = match UdpSocket::bind((lo, 0)).await {
                            Ok(c) => c,
                            Err(e) => panic!("client socket: {e}"),
                        };
                        return (r, client);
                    }
                    Err(e) => last = Some(e),
                }
            }
            panic!("no free port pair for the relay: {last:?}");
        });
        let relay_addr = relay.local_addr();
        Harness {
            rt,
            _relay: relay,
            relay_addr,
            client,
        }
    })
}

fn decoder_round_trip(data: &[u8]) {
    let mut m = Message::new();
    if m.unmarshal_binary(data).is_err() {
        return;
    }
    let mut again = Message::new();
    again.set_type(m.typ);
    again.transaction_id = m.transaction_id;
    again.write_transaction_id();
    for a in &m.attributes.0 {
        again.add(a.typ, &a.value);
    }
    again.encode();
    let mut back = Message::new();
    if let Err(e) = back.unmarshal_binary(&again.raw) {
        panic!("a re-encoded message does not decode: {e}");
    }
    assert_eq!(back.typ, m.typ);
    assert_eq!(back.transaction_id, m.transaction_id);
    assert_eq!(back.attributes.0, m.attributes.0);
}

fn binding_request(tid: [u8; 12]) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..2].copy_from_slice(&0x0001u16.to_be_bytes());
    b[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    b[8..].copy_from_slice(&tid);
    b
}

fn still_answers(h: &Harness, data: &[u8], n: u64) {
    let mut tid = [0u8; 12];
    tid[..8].copy_from_slice(&n.to_be_bytes());
    tid[8..].copy_from_slice(b"LRFZ");
    let answered = h.rt.block_on(async {
        // A datagram too large for UDP is not one anybody can send.
        let _ = h.client.send_to(data, h.relay_addr).await;
        let _ = h.client.send_to(&binding_request(tid), h.relay_addr).await;
        let mut buf = vec![0u8; 2048];
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let Ok((len, _)) = h.client.recv_from(&mut buf).await else {
                    continue;
                };
                let mut m = Message::new();
                if m.unmarshal_binary(&buf[..len]).is_ok()
                    && m.typ == BINDING_SUCCESS
                    && m.transaction_id.0 == tid
                {
                    return;
                }
            }
        })
        .await
        .is_ok()
    });
    assert!(answered, "the relay stopped answering binding requests");
}

fuzz_target!(|data: &[u8]| {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    decoder_round_trip(data);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    still_answers(harness(), data, n);
});
