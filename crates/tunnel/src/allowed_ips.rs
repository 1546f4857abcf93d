//! Allowed IPs: which peer owns which addresses. Used both ways: to pick the peer for an
//! outgoing packet (by destination) and to reject an incoming packet whose source the sending
//! peer does not own (anti-spoofing).

use std::net::IpAddr;

/// An IP network such as `10.66.0.2/32` or `fd00::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("/{prefix} is longer than {max} bits"));
        }
        Ok(Self { addr, prefix })
    }

    fn bits(addr: IpAddr) -> (u128, u8) {
        match addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        let (net, width) = Self::bits(self.addr);
        let (ip, _) = Self::bits(ip);
        if self.prefix == 0 {
            return true;
        }
        let shift = u32::from(width - self.prefix);
        (net >> shift) == (ip >> shift)
    }

    /// The network with host bits cleared (`10.66.0.1/16` -> `10.66.0.0/16`).
    pub fn network(&self) -> IpNet {
        let (bits, width) = Self::bits(self.addr);
        let host = u32::from(width - self.prefix);
        let masked = if host >= 128 {
            0
        } else {
            (bits >> host) << host
        };
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::V4((masked as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(masked.into()),
        };
        IpNet {
            addr,
            prefix: self.prefix,
        }
    }

    /// The subnet broadcast address of an IPv4 network (`None` for IPv6 and /31, /32).
    pub fn broadcast_v4(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix < 31 => {
                let host_mask = u32::MAX >> self.prefix;
                Some((u32::from(a) | host_mask).into())
            }
            _ => None,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IP address"))?;
        let prefix = match p {
            Some(p) => p
                .parse()
                .map_err(|_| format!("`/{p}` is not a prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Longest-prefix-match table. Parties are small (tens of peers), so a list kept sorted by
/// prefix length is both simplest and fast: the first match is the longest.
#[derive(Debug, Clone)]
pub struct AllowedIps<T> {
    entries: Vec<(IpNet, T)>,
}

impl<T> Default for AllowedIps<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T: Clone + PartialEq> AllowedIps<T> {
    /// Adds `net` for `value`; a network another value owned moves to this one (as in
    /// WireGuard, where the last peer configured with a network gets it).
    pub fn insert(&mut self, net: IpNet, value: T) {
        let net = net.network();
        self.entries.retain(|(n, _)| *n != net);
        let pos = self
            .entries
            .iter()
            .position(|(n, _)| n.prefix < net.prefix)
            .unwrap_or(self.entries.len());
        self.entries.insert(pos, (net, value));
    }

    pub fn remove_value(&mut self, value: &T) {
        self.entries.retain(|(_, v)| v != value);
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<&T> {
        self.entries
            .iter()
            .find(|(n, _)| n.contains(ip))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = AllowedIps::default();
        t.insert(net("10.66.0.0/16"), 'a');
        t.insert(net("10.66.0.2/32"), 'b');
        t.insert(net("0.0.0.0/0"), 'c');
        assert_eq!(t.lookup("10.66.0.2".parse().unwrap()), Some(&'b'));
        assert_eq!(t.lookup("10.66.7.7".parse().unwrap()), Some(&'a'));
        assert_eq!(t.lookup("8.8.8.8".parse().unwrap()), Some(&'c'));
        assert_eq!(t.lookup("fd00::1".parse().unwrap()), None);
        t.remove_value(&'b');
        assert_eq!(t.lookup("10.66.0.2".parse().unwrap()), Some(&'a'));
    }

    #[test]
    fn same_network_moves_to_last_owner() {
        let mut t = AllowedIps::default();
        t.insert(net("10.66.0.2/32"), 'a');
        t.insert(net("10.66.0.2/32"), 'b');
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup("10.66.0.2".parse().unwrap()), Some(&'b'));
    }

    #[test]
    fn nets_parse_normalise_and_broadcast() {
        assert_eq!(net("10.66.0.1/16").network(), net("10.66.0.0/16"));
        assert_eq!(net("10.66.0.1").prefix, 32);
        assert_eq!(
            net("10.66.0.0/16").broadcast_v4(),
            Some("10.66.255.255".parse().unwrap())
        );
        assert_eq!(net("10.66.0.1/32").broadcast_v4(), None);
        assert!(net("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("banana/8".parse::<IpNet>().is_err());
        assert!(net("0.0.0.0/0").contains("1.2.3.4".parse().unwrap()));
    }
}
