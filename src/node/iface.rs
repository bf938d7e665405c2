//! Picking the network interface and the addresses the node uses on it.
//!
//! The interface: the one named in the config, else the one carrying the
//! IPv4 default route, else the IPv6 default route, else the only one with
//! a usable address, else loopback (a lone board, or a test namespace).
//!
//! Its usable addresses, in the order peers should prefer them: IPv4 first,
//! then IPv6 global, then IPv6 unique local (`fc00::/7`), then loopback.
//! Never IPv6 link-local (`fe80::/10`: meaningless without the interface's
//! scope id, which the wire does not carry), nor temporary (privacy),
//! deprecated or DAD-failed ones (`/proc/net/if_inet6` flags). An address
//! still in duplicate address detection ("tentative", about a second after
//! it is added) is usable: the sockets bind it with `IP_FREEBIND`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::BTreeMap;

use super::error::NodeError;

/// The interface the node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Its name (`eth0`).
    pub name: String,
    /// Its index (the scope id of IPv6 multicast on it); 0 if unknown.
    pub index: u32,
    /// Its usable addresses, in preference order (see the module doc).
    pub addrs: Vec<IpAddr>,
    /// Those of them still in duplicate address detection.
    pub tentative: Vec<Ipv6Addr>,
}

impl Iface {
    /// Its first IPv4 address (IPv4 multicast is joined on it).
    #[must_use]
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
    }

    /// Its preferred IPv6 address.
    #[must_use]
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|a| match a {
            IpAddr::V4(_) => None,
            IpAddr::V6(v6) => Some(*v6),
        })
    }

    /// The addresses the node listens on and advertises by default: its
    /// first IPv4 address and its preferred IPv6 address, IPv4 first (so a
    /// dual-stack node is reached over IPv4 by peers that take the first).
    #[must_use]
    pub fn default_addrs(&self) -> Vec<IpAddr> {
        self.ipv4()
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.ipv6().map(IpAddr::V6))
            .collect()
    }

    /// Whether `ip` is one of its addresses still in duplicate address
    /// detection.
    #[must_use]
    pub fn is_tentative(&self, ip: IpAddr) -> bool {
        matches!(ip, IpAddr::V6(v6) if self.tentative.contains(&v6))
    }
}

/// The interface of the IPv4 default route, from the kernel's routing table
/// text (`/proc/net/route`).
#[must_use]
pub fn default_route(route_table: &str) -> Option<String> {
    route_table.lines().skip(1).find_map(|line| {
        let mut f = line.split_whitespace();
        let (name, dest, _gw, flags) = (f.next()?, f.next()?, f.next()?, f.next()?);
        let up = u32::from_str_radix(flags, 16).is_ok_and(|x| x & 1 == 1);
        (dest == "00000000" && up).then(|| name.to_owned())
    })
}

/// The interface of the IPv6 default route, from `/proc/net/ipv6_route`
/// (destination, prefix length, source, its length, next hop, metric,
/// refcount, use, flags, device). The kernel's own unreachable default on
/// `lo` (`RTF_REJECT`) is not one.
#[must_use]
pub fn default_route_v6(route_table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    const RTF_REJECT: u32 = 0x200;
    route_table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dest, plen, _, _, _, _, _, _, flags, name] = f.as_slice() else {
            return None;
        };
        let flags = u32::from_str_radix(flags, 16).ok()?;
        let default = dest.bytes().all(|b| b == b'0') && *plen == "00";
        (default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 && *name != "lo")
            .then(|| (*name).to_owned())
    })
}

/// `/proc/net/if_inet6` flags that make an address unusable: temporary
/// (privacy), DAD failed, deprecated.
const UNUSABLE: u32 = 0x01 | 0x08 | 0x20;
/// The flag of an address still in duplicate address detection.
const TENTATIVE: u32 = 0x40;

/// The flags of each IPv6 address by interface, from `/proc/net/if_inet6`
/// (address in 32 hex digits, index, prefix length, scope, flags, name).
#[must_use]
pub fn ipv6_flags(text: &str) -> BTreeMap<(String, Ipv6Addr), u32> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [hex, _, _, _, flags, name] = f.as_slice() else {
                return None;
            };
            let addr = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            Some((((*name).to_owned(), addr), flags))
        })
        .collect()
}

/// Where `ip` goes in the preference order (lower first); `None` if it is
/// never used.
fn rank(ip: IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(1),
        IpAddr::V4(_) => Some(0),
        IpAddr::V6(v6) if v6.is_unicast_link_local() || v6.is_multicast() => None,
        IpAddr::V6(v6) if v6.is_loopback() => Some(4),
        IpAddr::V6(v6) if v6.is_unique_local() => Some(3),
        IpAddr::V6(_) => Some(2),
    }
}

/// One interface's usable addresses (in preference order) and the
/// tentative ones among them, given the IPv6 flags.
#[must_use]
pub fn usable(
    name: &str,
    all: &[IpAddr],
    flags: &BTreeMap<(String, Ipv6Addr), u32>,
) -> (Vec<IpAddr>, Vec<Ipv6Addr>) {
    let flag = |v6: &Ipv6Addr| flags.get(&(name.to_owned(), *v6)).copied().unwrap_or(0);
    let mut addrs: Vec<(u8, IpAddr)> = all
        .iter()
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if flag(v6) & UNUSABLE != 0))
        .filter_map(|ip| rank(*ip).map(|r| (r, *ip)))
        .collect();
    addrs.sort();
    addrs.dedup();
    let tentative = addrs
        .iter()
        .filter_map(|(_, ip)| match ip {
            IpAddr::V6(v6) if flag(v6) & TENTATIVE != 0 => Some(*v6),
            _ => None,
        })
        .collect();
    (addrs.into_iter().map(|(_, ip)| ip).collect(), tentative)
}

struct Listed {
    index: u32,
    all: Vec<IpAddr>,
}

/// Picks the interface (see the module docs).
///
/// # Errors
/// [`NodeError::Interface`] if the named interface does not exist or has no
/// address, or no interface has one.
pub fn pick(wanted: Option<&str>) -> Result<Iface, NodeError> {
    let all = if_addrs::get_if_addrs()
        .map_err(|e| NodeError::Interface(format!("cannot list interfaces: {e}")))?;
    let mut by_name: BTreeMap<String, Listed> = BTreeMap::new();
    for i in &all {
        let e = by_name.entry(i.name.clone()).or_insert(Listed {
            index: i.index.unwrap_or(0),
            all: Vec::new(),
        });
        e.all.push(i.ip());
    }
    let flags = ipv6_flags(&std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default());
    let usable_of = |name: &str, l: &Listed| usable(name, &l.all, &flags);
    let chosen = match wanted {
        Some(w) => {
            if !by_name.contains_key(w) {
                let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
                return Err(NodeError::Interface(format!(
                    "interface {w:?} has no address; interfaces with addresses: {}",
                    names.join(", ")
                )));
            }
            w.to_owned()
        }
        None => {
            let read = |p: &str| std::fs::read_to_string(p).ok();
            let via_route = read("/proc/net/route")
                .as_deref()
                .and_then(default_route)
                .or_else(|| {
                    read("/proc/net/ipv6_route")
                        .as_deref()
                        .and_then(default_route_v6)
                })
                .filter(|n| by_name.contains_key(n));
            let candidates: Vec<&String> = by_name
                .iter()
                .filter(|(_, l)| l.all.iter().all(|ip| !ip.is_loopback()))
                .filter(|(n, l)| !usable_of(n, l).0.is_empty())
                .map(|(n, _)| n)
                .collect();
            choose(via_route, &candidates, &by_name)?
        }
    };
    let listed = by_name.remove(&chosen).unwrap_or(Listed {
        index: 0,
        all: Vec::new(),
    });
    let (addrs, tentative) = usable_of(&chosen, &listed);
    Ok(Iface {
        name: chosen,
        index: listed.index,
        addrs,
        tentative,
    })
}

/// The default route's interface, else the only candidate, else loopback.
fn choose(
    via_route: Option<String>,
    candidates: &[&String],
    by_name: &BTreeMap<String, Listed>,
) -> Result<String, NodeError> {
    match (via_route, candidates) {
        (Some(r), _) => Ok(r),
        (None, [only]) => Ok((*only).clone()),
        (None, []) => by_name
            .iter()
            .find(|(_, l)| l.all.iter().any(IpAddr::is_loopback))
            .map(|(n, _)| n.clone())
            .ok_or_else(|| NodeError::Interface("no interface has an address".to_owned())),
        (None, many) => Err(NodeError::Interface(format!(
            "no default route and several interfaces ({}): choose one with --interface or node.interface",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_default_route_interface() {
        let table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth1\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_route(table), Some("eth0".to_owned()));
        assert_eq!(default_route("Iface\tDestination\n"), None);
    }

    #[test]
    fn finds_the_ipv6_default_route_but_not_the_kernels_unreachable_one() {
        let zero = "00000000000000000000000000000000";
        let table = format!(
            "fd000000000000000000000000000000 40 {zero} 00 {zero} 00000100 00000001 00000000 00000001     eth1\n\
             {zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n\
             {zero} 00 {zero} 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"
        );
        assert_eq!(default_route_v6(&table), Some("eth0".to_owned()));
        let only_reject =
            format!("{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n");
        assert_eq!(default_route_v6(&only_reject), None);
    }

    #[test]
    fn usable_addresses_are_ordered_and_link_local_temporary_deprecated_are_not() {
        let text = "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n\
                    fd000000000000000000000000000002 04 40 00 c0     eth0\n\
                    20010db8000000000000000000000005 04 40 00 80     eth0\n\
                    20010db8000000000000000000000006 04 40 00 01     eth0\n\
                    20010db8000000000000000000000007 04 40 00 20     eth0\n\
                    20010db8000000000000000000000008 04 40 00 88     eth0\n";
        let flags = ipv6_flags(text);
        assert_eq!(flags.len(), 6);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let all = [
            "fe80::fc00:ff:fe00:1",
            "fd00::2",
            "2001:db8::5",
            "2001:db8::6",
            "2001:db8::7",
            "2001:db8::8",
            "10.0.0.5",
        ]
        .map(ip);
        let (addrs, tentative) = usable("eth0", &all, &flags);
        assert_eq!(
            addrs,
            vec![ip("10.0.0.5"), ip("2001:db8::5"), ip("fd00::2")]
        );
        assert_eq!(tentative, vec!["fd00::2".parse::<Ipv6Addr>().unwrap()]);
        let nic = Iface {
            name: "eth0".into(),
            index: 2,
            addrs,
            tentative,
        };
        assert_eq!(nic.default_addrs(), vec![ip("10.0.0.5"), ip("2001:db8::5")]);
        assert!(nic.is_tentative(ip("fd00::2")));
        assert!(!nic.is_tentative(ip("10.0.0.5")));
        // IPv6-only, unique local only: that one.
        let (v6, _) = usable("eth0", &[ip("fe80::1"), ip("fd00::2")], &BTreeMap::new());
        assert_eq!(v6, vec![ip("fd00::2")]);
        // Only link-local: nothing usable.
        assert!(
            usable("eth0", &[ip("fe80::1")], &BTreeMap::new())
                .0
                .is_empty()
        );
        // Loopback: IPv4 first.
        let (lo, _) = usable("lo", &[ip("::1"), ip("127.0.0.1")], &BTreeMap::new());
        assert_eq!(lo, vec![ip("127.0.0.1"), ip("::1")]);
    }

    #[test]
    fn a_missing_interface_is_named_in_the_error() {
        let err = pick(Some("nosuch0")).unwrap_err().to_string();
        assert!(err.contains("nosuch0"), "{err}");
    }
}
