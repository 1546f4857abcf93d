//! Where a request comes from, for the limits that count per source: an IPv4 address, or an
//! IPv6 /64 (one subscriber's network, in which a host has as many addresses as it likes).
//! IPv4-mapped IPv6 addresses (from a dual-stack socket) count as the IPv4 address they are,
//! or every IPv4 client behind a dual-stack listener would share one /64.

use std::net::{IpAddr, Ipv6Addr};

pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(source_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            source_key(ip("2001:db8:1:2:aaaa::1")),
            source_key(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_ne!(
            source_key(ip("2001:db8:1:2::1")),
            source_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_ne!(
            source_key(ip("198.51.100.7")),
            source_key(ip("198.51.100.8"))
        );
    }
}
