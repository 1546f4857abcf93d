//! What Windows gets wrong for LAN games on a new network adapter, and the commands that fix
//! it when the tunnel comes up (each is a top complaint against other gaming VPNs):
//!
//! - Windows sends 255.255.255.255 only out of the adapter with the lowest interface metric,
//!   whatever the routing table says, so a game's LAN search would never reach the party: our
//!   adapter gets [`ADAPTER_METRIC`] for as long as it exists (WinTUN removes the adapter, and its
//!   metric with it, when the tunnel goes down).
//! - A new adapter lands in the "Public" network profile, whose firewall drops inbound game
//!   traffic and ping: the adapter's network is made Private, and one inbound rule admits the
//!   party's addresses on this adapter only (nothing from the home LAN or the internet).
//! - Multicast sent without an interface follows the routing table: host routes for the
//!   catalogue's groups, as on Linux.
//!
//! Plain functions that return the commands (PowerShell scripts and `netsh` arguments), so they
//! are tested on every OS; `os/windows.rs` runs them.

use std::net::Ipv4Addr;

use crate::allowed_ips::IpNet;

/// The lowest interface metric Windows accepts: our adapter comes first for limited broadcasts.
pub const ADAPTER_METRIC: u16 = 1;

/// Every firewall rule LANrage adds carries this group, so all of them go in one command (also
/// rules left over from a crash).
pub const FIREWALL_GROUP: &str = "LANrage";

/// How long the setup waits for Windows to identify the new network before it can be made
/// Private (Network Location Awareness takes a few seconds on a new adapter).
pub const PROFILE_TRIES: u32 = 30;
pub const PROFILE_TRY_MS: u32 = 500;

/// A PowerShell string literal holding `s` (single quotes: nothing inside is expanded).
pub fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The party's IPv4 networks, from the adapter's addresses.
pub fn party_networks(addresses: &[IpNet]) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = addresses
        .iter()
        .filter(|n| n.addr.is_ipv4())
        .map(IpNet::network)
        .collect();
    nets.dedup();
    nets
}

/// Makes the adapter's network Private and admits inbound traffic from the party on it. Rules
/// from an earlier run (a crash leaves them) are replaced, not added to.
pub fn setup_script(adapter: &str, if_index: u32, party: &[IpNet]) -> String {
    let remote: Vec<String> = party.iter().map(|n| ps_quote(&n.to_string())).collect();
    let remote = if remote.is_empty() {
        // No party address yet: admit nobody rather than everybody.
        ps_quote("127.0.0.1/32")
    } else {
        remote.join(",")
    };
    format!(
        "$ErrorActionPreference = 'Stop'\n\
         Get-NetFirewallRule -Group {group} -ErrorAction SilentlyContinue | Remove-NetFirewallRule\n\
         New-NetFirewallRule -Group {group} -DisplayName {name} -Direction Inbound -Action Allow \
         -Profile Any -InterfaceAlias {alias} -RemoteAddress {remote} | Out-Null\n\
         for ($i = 0; $i -lt {tries}; $i++) {{\n\
         \x20 try {{ Set-NetConnectionProfile -InterfaceIndex {if_index} -NetworkCategory Private; break }}\n\
         \x20 catch {{ Start-Sleep -Milliseconds {ms} }}\n\
         }}\n\
         if ($i -eq {tries}) {{ throw 'Windows did not identify the LANrage network; it stays Public' }}\n",
        group = ps_quote(FIREWALL_GROUP),
        name = ps_quote("LANrage: party members (inbound)"),
        alias = ps_quote(adapter),
        tries = PROFILE_TRIES,
        ms = PROFILE_TRY_MS,
    )
}

/// Removes every rule LANrage added (when the tunnel goes down, and by the uninstaller).
pub fn teardown_script() -> String {
    format!(
        "Get-NetFirewallRule -Group {} -ErrorAction SilentlyContinue | Remove-NetFirewallRule\n",
        ps_quote(FIREWALL_GROUP)
    )
}

/// `powershell.exe` arguments that run `script`, passed as `-EncodedCommand` (base64 of UTF-16LE)
/// so that no quoting of the Windows command line can change it.
pub fn powershell_args(script: &str) -> Vec<String> {
    use base64::Engine as _;
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![
        "-NoProfile".into(),
        "-NonInteractive".into(),
        "-EncodedCommand".into(),
        base64::engine::general_purpose::STANDARD.encode(utf16),
    ]
}

/// `netsh` arguments that add (or delete) a host route for `dest` into the adapter, for this
/// boot only (`store=active`: nothing outlives a crash).
pub fn host_route_args(dest: Ipv4Addr, if_index: u32, add: bool) -> Vec<String> {
    let verb = if add { "add" } else { "delete" };
    let mut args: Vec<String> = ["interface", "ipv4", verb, "route"]
        .into_iter()
        .map(String::from)
        .collect();
    args.push(format!("prefix={dest}/32"));
    args.push(format!("interface={if_index}"));
    if add {
        args.push("metric=0".into());
        args.push("store=active".into());
    }
    args
}

/// Which of the wanted host routes Windows needs: limited broadcast goes by interface metric,
/// not by route ([`ADAPTER_METRIC`] takes care of it), so only the multicast groups are routed.
pub fn routed_on_windows(wanted: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    wanted
        .iter()
        .copied()
        .filter(Ipv4Addr::is_multicast)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        let (a, p) = s.split_once('/').unwrap();
        IpNet::new(a.parse().unwrap(), p.parse().unwrap()).unwrap()
    }

    #[test]
    fn the_firewall_admits_the_party_on_our_adapter_only() {
        let party = party_networks(&[net("10.66.0.5/24")]);
        let s = setup_script("LANrage", 17, &party);
        assert!(s.contains("-Direction Inbound -Action Allow"), "{s}");
        assert!(s.contains("-InterfaceAlias 'LANrage'"), "{s}");
        assert!(s.contains("-RemoteAddress '10.66.0.0/24'"), "{s}");
        assert!(!s.contains("-RemoteAddress Any"), "{s}");
        // Old rules go first, so a crash never leaves two.
        let remove = s.find("Remove-NetFirewallRule").unwrap();
        let add = s.find("New-NetFirewallRule").unwrap();
        assert!(remove < add, "{s}");
    }

    #[test]
    fn the_network_is_made_private_and_failure_is_reported() {
        let s = setup_script("LANrage", 17, &[net("10.66.0.0/24")]);
        assert!(
            s.contains("Set-NetConnectionProfile -InterfaceIndex 17 -NetworkCategory Private"),
            "{s}"
        );
        assert!(s.contains("throw"), "{s}");
    }

    #[test]
    fn without_a_party_address_nobody_is_admitted() {
        let s = setup_script("LANrage", 3, &[]);
        assert!(s.contains("-RemoteAddress '127.0.0.1/32'"), "{s}");
    }

    #[test]
    fn an_adapter_name_cannot_break_out_of_its_quotes() {
        let s = setup_script("x'; Remove-Item C:\\ -Recurse; '", 3, &[]);
        assert!(
            s.contains("-InterfaceAlias 'x''; Remove-Item C:\\ -Recurse; '''"),
            "{s}"
        );
        assert_eq!(ps_quote("it's"), "'it''s'");
    }

    #[test]
    fn the_script_reaches_powershell_unchanged_whatever_it_contains() {
        use base64::Engine as _;
        let script = setup_script("x'\"; y", 3, &[net("10.66.0.0/16")]);
        let args = powershell_args(&script);
        assert_eq!(
            args[..3],
            ["-NoProfile", "-NonInteractive", "-EncodedCommand"]
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&args[3])
            .unwrap();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), script);
    }

    #[test]
    fn teardown_removes_every_rule_of_the_group() {
        let s = teardown_script();
        assert!(s.contains("-Group 'LANrage'"), "{s}");
        assert!(s.contains("Remove-NetFirewallRule"), "{s}");
    }

    #[test]
    fn multicast_is_routed_and_limited_broadcast_left_to_the_metric() {
        let wanted = [
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 2, 60),
            Ipv4Addr::new(239, 255, 255, 250),
        ];
        assert_eq!(
            routed_on_windows(&wanted),
            [
                Ipv4Addr::new(224, 0, 2, 60),
                Ipv4Addr::new(239, 255, 255, 250)
            ]
        );
        assert_eq!(
            host_route_args(Ipv4Addr::new(224, 0, 2, 60), 17, true),
            [
                "interface",
                "ipv4",
                "add",
                "route",
                "prefix=224.0.2.60/32",
                "interface=17",
                "metric=0",
                "store=active"
            ]
        );
        assert_eq!(
            host_route_args(Ipv4Addr::new(224, 0, 2, 60), 17, false),
            [
                "interface",
                "ipv4",
                "delete",
                "route",
                "prefix=224.0.2.60/32",
                "interface=17"
            ]
        );
    }

    #[test]
    fn the_party_networks_come_from_the_addresses() {
        let nets = party_networks(&[net("10.66.0.5/24"), net("fd00::5/64")]);
        assert_eq!(nets, [net("10.66.0.0/24")]);
    }
}
