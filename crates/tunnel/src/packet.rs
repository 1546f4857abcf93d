//! Just enough IP parsing for routing, anti-spoofing and the in-tunnel probe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::allowed_ips::IpNet;

pub fn destination(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(IpAddr::V4(Ipv4Addr::new(
            pkt[16], pkt[17], pkt[18], pkt[19],
        ))),
        6 if pkt.len() >= 40 => {
            let b: [u8; 16] = pkt[24..40].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

pub fn source(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(IpAddr::V4(Ipv4Addr::new(
            pkt[12], pkt[13], pkt[14], pkt[15],
        ))),
        6 if pkt.len() >= 40 => {
            let b: [u8; 16] = pkt[8..24].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// The packet's DSCP mark (the upper six bits of IPv4's type of service or IPv6's traffic
/// class), 0 for unmarked or unparsable packets. ECN's two bits are left out on purpose: they
/// describe congestion on the inner path, which the outer one must not inherit blindly.
pub fn dscp(pkt: &[u8]) -> u8 {
    match (pkt.first().map(|b| b >> 4), pkt.get(1)) {
        (Some(4), Some(tos)) if pkt.len() >= 20 => tos >> 2,
        (Some(6), Some(b1)) if pkt.len() >= 40 => (((pkt[0] & 0x0f) << 4) | (b1 >> 4)) >> 2,
        _ => 0,
    }
}

/// What tells one flow from another: protocol, addresses and, for TCP and UDP, ports. `None`
/// for what is not an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    ports: [u8; 4],
}

pub fn flow_key(pkt: &[u8]) -> Option<FlowKey> {
    let (src, dst) = (source(pkt)?, destination(pkt)?);
    let (proto, l4) = match pkt[0] >> 4 {
        4 => (pkt[9], usize::from(pkt[0] & 0x0f) * 4),
        _ => (pkt[6], 40),
    };
    let ports = match proto {
        6 | 17 => pkt
            .get(l4..l4 + 4)
            .and_then(|p| p.try_into().ok())
            .unwrap_or_default(),
        _ => [0; 4],
    };
    Some(FlowKey {
        proto,
        src,
        dst,
        ports,
    })
}

/// Whether a destination goes to every peer: limited broadcast, a subnet broadcast of one of
/// our networks, or multicast.
pub fn is_fan_out(dst: IpAddr, subnet_broadcasts: &[Ipv4Addr]) -> bool {
    match dst {
        IpAddr::V4(a) => a.is_broadcast() || a.is_multicast() || subnet_broadcasts.contains(&a),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Whether a decrypted packet for `dst` is one a party member may send us: to one of our own
/// addresses, a broadcast (limited or our subnet's) or multicast. Anything else would go on to
/// another interface of this machine, or through it. Multicast is safe to take whatever the
/// group: the OS delivers it only to sockets that joined it on the tunnel and never forwards it.
pub fn for_us(dst: IpAddr, own: &[IpNet], subnet_broadcasts: &[Ipv4Addr]) -> bool {
    own.iter().any(|n| n.addr == dst) || is_fan_out(dst, subnet_broadcasts)
}

/// UDP port of the in-tunnel probe on every LANrage engine's virtual address. Probes never
/// reach the operating system: the engine answers and consumes them itself.
pub const PROBE_PORT: u16 = 64017;
const PROBE_MAGIC: &[u8; 4] = b"LRPB";
const PROBE_PAYLOAD: usize = 4 + 1 + 4 + 8;
pub const PROBE_PACKET_LEN: usize = 20 + 8 + PROBE_PAYLOAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Request,
    Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub seq: u32,
    /// Opaque to the answering side; echoed back unchanged.
    pub stamp: u64,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes an IPv4/UDP probe packet into `out` (at least [`PROBE_PACKET_LEN`] bytes) and
/// returns its length.
pub fn build_probe(src: Ipv4Addr, dst: Ipv4Addr, probe: Probe, out: &mut [u8]) -> Option<usize> {
    let out = out.get_mut(..PROBE_PACKET_LEN)?;
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(PROBE_PACKET_LEN as u16).to_be_bytes());
    out[6] = 0x40; // don't fragment
    out[8] = 64;
    out[9] = 17;
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20..22].copy_from_slice(&PROBE_PORT.to_be_bytes());
    out[22..24].copy_from_slice(&PROBE_PORT.to_be_bytes());
    out[24..26].copy_from_slice(&((8 + PROBE_PAYLOAD) as u16).to_be_bytes());
    // UDP checksum 0 (none) is valid on IPv4 and the packet never reaches a kernel on LANrage.
    let p = &mut out[28..];
    p[..4].copy_from_slice(PROBE_MAGIC);
    p[4] = match probe.kind {
        ProbeKind::Request => 1,
        ProbeKind::Reply => 2,
    };
    p[5..9].copy_from_slice(&probe.seq.to_be_bytes());
    p[9..17].copy_from_slice(&probe.stamp.to_be_bytes());
    Some(PROBE_PACKET_LEN)
}

/// Recognises a probe addressed to `own` and returns its sender and contents.
pub fn parse_probe(pkt: &[u8], own: Ipv4Addr) -> Option<(Ipv4Addr, Probe)> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 || pkt[9] != 17 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || pkt[16..20] != own.octets() {
        return None;
    }
    let udp = pkt.get(ihl..)?;
    if udp.len() < 8 + PROBE_PAYLOAD || udp[2..4] != PROBE_PORT.to_be_bytes() {
        return None;
    }
    let p = &udp[8..];
    if &p[..4] != PROBE_MAGIC {
        return None;
    }
    let kind = match p[4] {
        1 => ProbeKind::Request,
        2 => ProbeKind::Reply,
        _ => return None,
    };
    let seq = u32::from_be_bytes(p[5..9].try_into().ok()?);
    let stamp = u64::from_be_bytes(p[9..17].try_into().ok()?);
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    Some((src, Probe { kind, seq, stamp }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_differ_by_ports_and_protocol_not_by_length() {
        let packet = |proto: u8, sport: u16, len: usize| {
            let mut p = vec![0u8; len];
            p[0] = 0x45;
            p[9] = proto;
            p[12..16].copy_from_slice(&[10, 66, 0, 1]);
            p[16..20].copy_from_slice(&[10, 66, 0, 2]);
            if let Some(ports) = p.get_mut(20..22) {
                ports.copy_from_slice(&sport.to_be_bytes());
            }
            p
        };
        let big = flow_key(&packet(6, 5001, 1420)).unwrap();
        assert_eq!(big, flow_key(&packet(6, 5001, 52)).unwrap());
        assert_ne!(big, flow_key(&packet(6, 5002, 1420)).unwrap());
        assert_ne!(big, flow_key(&packet(17, 5001, 1420)).unwrap());
        // A header cut before the ports is still a flow (without ports); junk is none.
        assert!(flow_key(&packet(17, 1, 20)).is_some());
        assert_eq!(flow_key(&[0x45, 0, 0]), None);
        assert_eq!(flow_key(&[]), None);
    }

    #[test]
    fn dscp_reads_the_mark_of_either_ip_version_and_ignores_ecn() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[1] = 0xb8 | 0b11; // EF with ECN's congestion experienced
        assert_eq!(dscp(&v4), 46);
        v4[1] = 0b01;
        assert_eq!(dscp(&v4), 0, "ECN alone is not a mark");
        // IPv6: traffic class spans the low nibble of byte 0 and the high nibble of byte 1.
        let mut v6 = [0u8; 40];
        v6[0] = 0x60 | (0xb8 >> 4);
        v6[1] = (0xb8 & 0x0f) << 4;
        assert_eq!(dscp(&v6), 46);
        v6[0] = 0x60 | (0x20 >> 4); // CS1, the "lower effort" class of bulk transfers
        v6[1] = 0;
        assert_eq!(dscp(&v6), 8);
        assert_eq!(dscp(&v4[..10]), 0, "a truncated packet has no mark");
        assert_eq!(dscp(&[]), 0);
        assert_eq!(dscp(&[0x45]), 0);
    }

    #[test]
    fn probe_round_trips_and_has_a_valid_ip_header() {
        let (a, b) = (Ipv4Addr::new(10, 66, 0, 1), Ipv4Addr::new(10, 66, 0, 2));
        let mut buf = [0u8; 64];
        let probe = Probe {
            kind: ProbeKind::Request,
            seq: 7,
            stamp: 123456789,
        };
        let n = build_probe(a, b, probe, &mut buf).unwrap();
        assert_eq!(checksum(&buf[..20]), 0, "header checksum verifies");
        assert_eq!(destination(&buf[..n]), Some(IpAddr::V4(b)));
        assert_eq!(source(&buf[..n]), Some(IpAddr::V4(a)));
        assert_eq!(parse_probe(&buf[..n], b), Some((a, probe)));
        assert_eq!(parse_probe(&buf[..n], a), None, "not addressed to us");
        assert_eq!(parse_probe(&buf[..n - 1], b), None, "truncated");
        let mut bad = buf;
        bad[28] = b'X';
        assert_eq!(parse_probe(&bad[..n], b), None, "wrong magic");
        assert!(build_probe(a, b, probe, &mut [0u8; 10]).is_none());
    }

    #[test]
    fn garbage_is_not_an_ip_packet() {
        assert_eq!(destination(&[]), None);
        assert_eq!(destination(&[0x45; 10]), None);
        assert_eq!(source(&[0x60; 39]), None);
        assert_eq!(destination(&[0x10; 64]), None);
    }

    #[test]
    fn fan_out_destinations() {
        let bcast = [Ipv4Addr::new(10, 66, 255, 255)];
        assert!(is_fan_out("255.255.255.255".parse().unwrap(), &bcast));
        assert!(is_fan_out("10.66.255.255".parse().unwrap(), &bcast));
        assert!(is_fan_out("224.0.2.60".parse().unwrap(), &bcast));
        assert!(is_fan_out("ff02::1".parse().unwrap(), &bcast));
        assert!(!is_fan_out("10.66.0.2".parse().unwrap(), &bcast));
    }

    #[test]
    fn only_our_address_broadcasts_and_multicast_are_for_us() {
        let own = [IpNet::new(IpAddr::V4(Ipv4Addr::new(10, 66, 0, 2)), 24).unwrap()];
        let bc = [Ipv4Addr::new(10, 66, 0, 255)];
        let ok = |s: &str| for_us(s.parse().unwrap(), &own, &bc);
        assert!(ok("10.66.0.2"));
        assert!(ok("10.66.0.255"));
        assert!(ok("255.255.255.255"));
        assert!(ok("224.0.2.60"));
        assert!(ok("ff02::1"));
        // Another member's address, the receiver's home LAN, a container bridge, the internet.
        for other in [
            "10.66.0.3",
            "192.168.1.10",
            "172.17.0.2",
            "203.0.113.9",
            "::1",
        ] {
            assert!(!ok(other), "{other}");
        }
    }
}
