//! Picking the network interface: the one named in the config, else the one
//! carrying the default route, else the only non-loopback one, else
//! loopback (a lone board, or a test namespace).

use core::net::{IpAddr, Ipv4Addr};

use super::error::NodeError;

/// The interface the node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Its name (`eth0`).
    pub name: String,
    /// Its addresses, IPv4 first.
    pub addrs: Vec<IpAddr>,
}

impl Iface {
    /// Its first IPv4 address (multicast is joined on it).
    #[must_use]
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
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

/// Picks the interface (see the module docs).
///
/// # Errors
/// [`NodeError::Interface`] if the named interface does not exist or has no
/// address, or no interface has one.
pub fn pick(wanted: Option<&str>) -> Result<Iface, NodeError> {
    let all = if_addrs::get_if_addrs()
        .map_err(|e| NodeError::Interface(format!("cannot list interfaces: {e}")))?;
    let mut by_name: std::collections::BTreeMap<String, Vec<IpAddr>> =
        std::collections::BTreeMap::new();
    for i in &all {
        by_name.entry(i.name.clone()).or_default().push(i.ip());
    }
    for addrs in by_name.values_mut() {
        addrs.sort_by_key(|a| (a.is_ipv6(), *a));
    }
    let names: Vec<String> = by_name.keys().cloned().collect();
    let chosen = match wanted {
        Some(w) => {
            if !by_name.contains_key(w) {
                return Err(NodeError::Interface(format!(
                    "interface {w:?} has no address; interfaces with addresses: {}",
                    names.join(", ")
                )));
            }
            w.to_owned()
        }
        None => {
            let route = std::fs::read_to_string("/proc/net/route").ok();
            let via_route = route
                .as_deref()
                .and_then(default_route)
                .filter(|n| by_name.contains_key(n));
            let non_loop: Vec<&String> = by_name
                .iter()
                .filter(|(_, a)| a.iter().all(|ip| !ip.is_loopback()))
                .map(|(n, _)| n)
                .collect();
            match (via_route, non_loop.as_slice()) {
                (Some(r), _) => r,
                (None, [only]) => (*only).clone(),
                (None, []) => by_name
                    .iter()
                    .find(|(_, a)| a.iter().any(IpAddr::is_loopback))
                    .map(|(n, _)| n.clone())
                    .ok_or_else(|| {
                        NodeError::Interface("no interface has an address".to_owned())
                    })?,
                (None, many) => {
                    return Err(NodeError::Interface(format!(
                        "no default route and several interfaces ({}): choose one with --interface or node.interface",
                        many.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
    };
    let addrs = by_name.remove(&chosen).unwrap_or_default();
    Ok(Iface {
        name: chosen,
        addrs,
    })
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
    fn a_missing_interface_is_named_in_the_error() {
        let err = pick(Some("nosuch0")).unwrap_err().to_string();
        assert!(err.contains("nosuch0"), "{err}");
    }
}
