//! The tunnel's packet parsing: what it reads from every decrypted packet a member sends and
//! every packet the OS hands it. The first four bytes are our virtual address, the rest the
//! packet. Beyond not panicking: addresses are read only from well-formed headers, `for_us`
//! takes nothing but our address, broadcast and multicast, and a probe that parses is one we
//! would build the same way.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use lanrage_tunnel::packet::{
    build_probe, destination, for_us, is_fan_out, parse_probe, source, PROBE_PACKET_LEN,
};
use lanrage_tunnel::IpNet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((own, pkt)) = data.split_first_chunk::<4>() else {
        return;
    };
    let own = Ipv4Addr::from(*own);
    let subnet_broadcast = Ipv4Addr::from(u32::from(own) | 0xff);
    let ours = [IpNet {
        addr: IpAddr::V4(own),
        prefix: 24,
    }];

    let version = pkt.first().map(|b| b >> 4);
    let well_formed = matches!((version, pkt.len()), (Some(4), 20..) | (Some(6), 40..));
    let dst = destination(pkt);
    let src = source(pkt);
    assert_eq!(dst.is_some(), well_formed);
    assert_eq!(src.is_some(), well_formed);
    if let (Some(d), Some(s)) = (dst, src) {
        assert_eq!(d.is_ipv4(), version == Some(4));
        assert_eq!(s.is_ipv4(), version == Some(4));
        let taken = for_us(d, &ours, &[subnet_broadcast]);
        let fan_out = is_fan_out(d, &[subnet_broadcast]);
        assert_eq!(taken, d == IpAddr::V4(own) || fan_out, "{d} for {own}");
        if fan_out {
            assert!(
                d.is_multicast()
                    || d == IpAddr::V4(Ipv4Addr::BROADCAST)
                    || d == IpAddr::V4(subnet_broadcast)
            );
        }
        // Without addresses of our own only broadcast and multicast get in.
        assert_eq!(for_us(d, &[], &[]), is_fan_out(d, &[]));
    }

    if let Some((from, probe)) = parse_probe(pkt, own) {
        assert_eq!(dst, Some(IpAddr::V4(own)));
        assert_eq!(src, Some(IpAddr::V4(from)));
        let mut buf = [0u8; PROBE_PACKET_LEN];
        let n = build_probe(from, own, probe, &mut buf);
        assert_eq!(n, Some(PROBE_PACKET_LEN));
        assert_eq!(parse_probe(&buf, own), Some((from, probe)));
    }
});
