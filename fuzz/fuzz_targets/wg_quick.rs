//! The wg-quick parser (`lanrage wg-up FILE`). Whatever parses must write back out as a
//! wg-quick file that parses to the same tunnel, and an error names a line of the file.
//! Host names in `Endpoint` resolve to a documentation address here: the fuzzer never looks
//! anything up on the network.
#![no_main]

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lanrage_tunnel::config::{parse_wg_config_with, DeviceConfig};
use libfuzzer_sys::fuzz_target;

fn offline(value: &str) -> Result<SocketAddr, String> {
    let (_, port) = value.rsplit_once(':').ok_or("no port")?;
    let port: u16 = port.parse().map_err(|_| "bad port")?;
    Ok(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), port)))
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(c: &DeviceConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "[Interface]");
    let _ = writeln!(s, "PrivateKey = {}", B64.encode(c.private_key.to_bytes()));
    if !c.addresses.is_empty() {
        let _ = writeln!(s, "Address = {}", join(&c.addresses));
    }
    let _ = writeln!(s, "ListenPort = {}", c.listen_port);
    let _ = writeln!(s, "MTU = {}", c.mtu);
    for p in &c.peers {
        let _ = writeln!(s, "[Peer]\nPublicKey = {}", p.public_key);
        if let Some(k) = &p.preshared_key {
            let _ = writeln!(s, "PresharedKey = {k}");
        }
        if !p.allowed_ips.is_empty() {
            let _ = writeln!(s, "AllowedIPs = {}", join(&p.allowed_ips));
        }
        if let Some(e) = p.endpoint {
            let _ = writeln!(s, "Endpoint = {e}");
        }
        if let Some(k) = p.keepalive_secs {
            let _ = writeln!(s, "PersistentKeepalive = {k}");
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_wg_config_with(text, "lr0", &offline) {
        Ok(c) => {
            let out = render(&c);
            let back = match parse_wg_config_with(&out, "lr0", &offline) {
                Ok(b) => b,
                Err(e) => panic!("our own rendering does not parse: {e}\n{out}"),
            };
            assert_eq!(back.private_key.to_bytes(), c.private_key.to_bytes());
            assert_eq!(back.addresses, c.addresses, "{out}");
            assert_eq!((back.listen_port, back.mtu), (c.listen_port, c.mtu));
            assert_eq!(back.peers, c.peers, "{out}");
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(
                (1..=lines).contains(&e.line),
                "error on line {} of a {lines}-line file: {e}",
                e.line
            );
        }
    }
});
