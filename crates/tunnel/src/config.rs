//! Tunnel configuration, and the standard WireGuard configuration file (the wg-quick subset).

use std::net::{SocketAddr, ToSocketAddrs};

use x25519_dalek::StaticSecret;

use crate::allowed_ips::IpNet;
use crate::key::Key;

/// One peer of the tunnel.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerConfig {
    pub public_key: Key,
    pub preshared_key: Option<Key>,
    /// Addresses this peer may send from and that are routed to it.
    pub allowed_ips: Vec<IpNet>,
    /// Where to send until the peer is heard from (it roams to wherever it then sends from).
    pub endpoint: Option<SocketAddr>,
    pub keepalive_secs: Option<u16>,
}

/// Everything the data plane needs to start.
pub struct DeviceConfig {
    pub private_key: StaticSecret,
    /// TUN device name (`lanrage0`); the OS may pick another if it is taken.
    pub interface_name: String,
    /// This device's own addresses on the virtual network, with their subnets.
    pub addresses: Vec<IpNet>,
    /// UDP port for WireGuard datagrams; 0 picks a free one.
    pub listen_port: u16,
    pub mtu: u16,
    pub peers: Vec<PeerConfig>,
    /// Install `255.255.255.255/32` via the TUN so games' limited broadcasts reach the party.
    pub limited_broadcast_route: bool,
    /// Multicast groups routed into the TUN (the games' LAN discovery groups), so a game that
    /// sends to one without choosing an interface reaches the party. Not all of 224.0.0.0/4:
    /// that would also take the home LAN's mDNS and SSDP from programs that pick no interface.
    pub multicast_routes: Vec<std::net::Ipv4Addr>,
    /// Deliver only what a party member may send us: packets for our own addresses,
    /// broadcasts and multicast. Without it (`wg-up`, as wg-quick) the OS gets every packet a
    /// peer's allowed IPs permit and routes it on, which a router between networks wants and a
    /// party member must not get: it would reach our other interfaces, or through them.
    pub only_for_us: bool,
    /// The kernel's offload for bulk speed: TUN segmentation and coalescing (a read or write
    /// can be a whole TCP window) and UDP GSO/GRO. Where the kernel lacks it the device goes
    /// without by itself; switching it off is for a driver that mishandles it.
    pub offload: bool,
}

impl std::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("public_key", &Key::public_of(&self.private_key).to_string())
            .field("interface_name", &self.interface_name)
            .field("addresses", &self.addresses)
            .field("listen_port", &self.listen_port)
            .field("mtu", &self.mtu)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_MTU: u16 = 1420;

/// A configuration file error, naming the line.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {message}")]
pub struct WgConfigError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> WgConfigError {
    WgConfigError {
        line,
        message: message.into(),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Section {
    None,
    Interface,
    Peer,
}

/// Parses a wg-quick style file: `[Interface]` PrivateKey, Address, ListenPort, MTU;
/// `[Peer]` PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive. wg-quick keys
/// that only script the host (DNS, Table, PreUp, PostDown, ...) are refused by name, so a
/// person knows they were not applied.
pub fn parse_wg_config(text: &str, interface_name: &str) -> Result<DeviceConfig, WgConfigError> {
    parse_wg_config_with(text, interface_name, &resolve_endpoint)
}

/// [`parse_wg_config`] with the lookup of `Endpoint = HOST:PORT` names given, for callers that
/// must not touch the network (the fuzzer). Literal addresses never reach `resolve`.
pub fn parse_wg_config_with(
    text: &str,
    interface_name: &str,
    resolve: &dyn Fn(&str) -> Result<SocketAddr, String>,
) -> Result<DeviceConfig, WgConfigError> {
    let mut section = Section::None;
    let mut private_key: Option<StaticSecret> = None;
    let mut iface_line = 0;
    let mut addresses = Vec::new();
    let mut listen_port = 0u16;
    let mut mtu = DEFAULT_MTU;
    let mut peers: Vec<PeerConfig> = Vec::new();
    let mut peer_lines: Vec<usize> = Vec::new();
    let mut peer_has_key: Vec<bool> = Vec::new();

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = match line.to_ascii_lowercase().as_str() {
                "[interface]" => {
                    if iface_line != 0 {
                        return Err(err(n, "a second [Interface] section"));
                    }
                    iface_line = n;
                    Section::Interface
                }
                "[peer]" => {
                    peers.push(PeerConfig {
                        public_key: Key([0; 32]),
                        preshared_key: None,
                        allowed_ips: Vec::new(),
                        endpoint: None,
                        keepalive_secs: None,
                    });
                    peer_lines.push(n);
                    peer_has_key.push(false);
                    Section::Peer
                }
                _ => {
                    return Err(err(
                        n,
                        format!("unknown section `{line}` (expected [Interface] or [Peer])"),
                    ))
                }
            };
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| err(n, format!("expected `Key = Value`, got `{line}`")))?;
        let lkey = key.to_ascii_lowercase();
        match (section, lkey.as_str()) {
            (Section::None, _) => {
                return Err(err(n, format!("`{key}` before any [Interface] or [Peer] section")))
            }
            (Section::Interface, "privatekey") => {
                let k: Key = value.parse().map_err(|e| err(n, format!("PrivateKey: {e}")))?;
                private_key = Some(StaticSecret::from(k.0));
            }
            (Section::Interface, "address") => {
                for a in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    addresses.push(a.parse().map_err(|e| err(n, format!("Address: {e}")))?);
                }
            }
            (Section::Interface, "listenport") => {
                listen_port = value
                    .parse()
                    .map_err(|_| err(n, format!("ListenPort: `{value}` is not a port (0-65535)")))?;
            }
            (Section::Interface, "mtu") => {
                mtu = value
                    .parse()
                    .ok()
                    .filter(|m| (576..=9000).contains(m))
                    .ok_or_else(|| err(n, format!("MTU: `{value}` is not from 576 to 9000")))?;
            }
            (
                Section::Interface,
                "dns" | "table" | "preup" | "postup" | "predown" | "postdown" | "saveconfig"
                | "fwmark",
            ) => {
                return Err(err(n, format!("`{key}` is a wg-quick host script setting that LANrage does not apply; remove it")))
            }
            (Section::Peer, "publickey") => {
                let p = peers.last_mut().ok_or_else(|| err(n, "no [Peer]"))?;
                p.public_key = value.parse().map_err(|e| err(n, format!("PublicKey: {e}")))?;
                if let Some(h) = peer_has_key.last_mut() {
                    *h = true;
                }
            }
            (Section::Peer, "presharedkey") => {
                let p = peers.last_mut().ok_or_else(|| err(n, "no [Peer]"))?;
                p.preshared_key =
                    Some(value.parse().map_err(|e| err(n, format!("PresharedKey: {e}")))?);
            }
            (Section::Peer, "allowedips") => {
                let p = peers.last_mut().ok_or_else(|| err(n, "no [Peer]"))?;
                for a in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    p.allowed_ips
                        .push(a.parse().map_err(|e| err(n, format!("AllowedIPs: {e}")))?);
                }
            }
            (Section::Peer, "endpoint") => {
                let p = peers.last_mut().ok_or_else(|| err(n, "no [Peer]"))?;
                p.endpoint = Some(parse_endpoint(value, resolve).map_err(|m| err(n, format!("Endpoint: {m}")))?);
            }
            (Section::Peer, "persistentkeepalive") => {
                let p = peers.last_mut().ok_or_else(|| err(n, "no [Peer]"))?;
                let secs: u16 = if value.eq_ignore_ascii_case("off") {
                    0
                } else {
                    value.parse().map_err(|_| {
                        err(n, format!("PersistentKeepalive: `{value}` is not a number of seconds (0-65535) or `off`"))
                    })?
                };
                p.keepalive_secs = (secs > 0).then_some(secs);
            }
            (_, _) => return Err(err(n, format!("unknown setting `{key}`"))),
        }
    }

    if iface_line == 0 {
        return Err(err(1, "no [Interface] section"));
    }
    let private_key =
        private_key.ok_or_else(|| err(iface_line, "[Interface] has no PrivateKey"))?;
    for (i, has) in peer_has_key.iter().enumerate() {
        if !has {
            return Err(err(peer_lines[i], "[Peer] has no PublicKey"));
        }
    }
    for (i, p) in peers.iter().enumerate() {
        if let Some(j) = peers[..i].iter().position(|q| q.public_key == p.public_key) {
            return Err(err(
                peer_lines[i],
                format!("the same PublicKey as the [Peer] on line {}", peer_lines[j]),
            ));
        }
    }
    Ok(DeviceConfig {
        private_key,
        interface_name: interface_name.to_string(),
        addresses,
        listen_port,
        mtu,
        peers,
        limited_broadcast_route: true,
        multicast_routes: Vec::new(),
        only_for_us: false,
        offload: true,
    })
}

fn parse_endpoint(
    value: &str,
    resolve: &dyn Fn(&str) -> Result<SocketAddr, String>,
) -> Result<SocketAddr, String> {
    if let Ok(a) = value.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !value.contains(':') {
        return Err(format!("`{value}` has no port (expected HOST:PORT)"));
    }
    resolve(value)
}

fn resolve_endpoint(value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{value}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{value}` resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A_PRIV: &str = "0FIEp3vLSTtX0wmREwyWUdXo6C8iBOd0pyvIqfDfGEw=";
    const B_PUB: &str = "rgPfEYu1+mKDA6pGg6xd/LygO4FzEuwS1bK1FPorP2c=";

    #[test]
    fn parses_the_wg_quick_subset() {
        let text = format!(
            "# home\n[Interface]\nPrivateKey = {A_PRIV}\nAddress = 10.66.0.1/24\nListenPort = 51820\nMTU = 1380\n\n\
             [Peer]\nPublicKey = {B_PUB}\nPresharedKey = {A_PRIV}\nAllowedIPs = 10.66.0.2/32, fd00::2/128\n\
             Endpoint = 198.51.100.2:51820\nPersistentKeepalive = 25\n\n[Peer]\nPublicKey = {A_PRIV}\nAllowedIPs = 10.66.0.3/32\n"
        );
        let c = parse_wg_config(&text, "lr0").unwrap();
        assert_eq!(c.addresses, vec!["10.66.0.1/24".parse().unwrap()]);
        assert_eq!((c.listen_port, c.mtu), (51820, 1380));
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.peers[0].public_key.to_string(), B_PUB);
        assert_eq!(c.peers[0].allowed_ips.len(), 2);
        assert_eq!(
            c.peers[0].endpoint,
            Some("198.51.100.2:51820".parse().unwrap())
        );
        assert_eq!(c.peers[0].keepalive_secs, Some(25));
        assert!(c.peers[0].preshared_key.is_some());
        assert_eq!(c.peers[1].endpoint, None);
        assert!(!format!("{c:?}").contains(A_PRIV));
    }

    fn line_of(text: &str) -> (usize, String) {
        let e = parse_wg_config(text, "lr0").err().unwrap();
        (e.line, e.message)
    }

    #[test]
    fn errors_name_the_line() {
        let base = format!("[Interface]\nPrivateKey = {A_PRIV}\n");
        assert_eq!(line_of(&format!("{base}MTU = 70000\n")).0, 3);
        assert_eq!(
            line_of(&format!("{base}[Peer]\nAllowedIPs = 10.0.0.0/8\n")).0,
            3
        );
        let (l, m) = line_of(&format!("{base}[Peer]\nPublicKey = nope\n"));
        assert_eq!(l, 4);
        assert!(m.contains("PublicKey"), "{m}");
        let (l, m) = line_of(&format!("{base}DNS = 1.1.1.1\n"));
        assert_eq!(l, 3);
        assert!(m.contains("does not apply"), "{m}");
        assert_eq!(line_of("[Interface]\nAddress = 10.0.0.1/24\n").0, 1);
        assert_eq!(line_of(&format!("{base}Wat = 1\n")).0, 3);
        assert_eq!(
            line_of(&format!(
                "{base}[Peer]\nPublicKey = {B_PUB}\nEndpoint = 198.51.100.2\n"
            ))
            .0,
            5
        );
        assert_eq!(
            line_of(&format!(
                "{base}[Peer]\nPublicKey = {B_PUB}\nAllowedIPs = 10.0.0.300/32\n"
            ))
            .0,
            5
        );
        assert_eq!(line_of("PrivateKey = x\n").0, 1);
        assert_eq!(line_of("[Nope]\n").0, 1);
        assert_eq!(line_of(&format!("{base}garbage line\n")).0, 3);
        let dup = format!("{base}[Peer]\nPublicKey = {B_PUB}\n[Peer]\nPublicKey = {B_PUB}\n");
        let (l, m) = line_of(&dup);
        assert_eq!(l, 5);
        assert!(m.contains("line 3"));
    }
}
