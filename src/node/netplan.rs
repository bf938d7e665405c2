//! Where the node listens, what it advertises and which multicast it uses,
//! decided from the settings and the chosen interface before any socket is
//! opened (so the decision is tested without sockets).
//!
//! - Advertised: `node.advertise` if set, else the interface's first IPv4
//!   address and its preferred IPv6 address ([`Iface::default_addrs`]):
//!   IPv4-only, IPv6-only or both (dual-stack), IPv4 first. Peers reach a
//!   node at the first address it advertises; a seed may name any of them.
//! - Listened on: the first advertised address of each family (UDP and TCP,
//!   same port), so every family advertised is reachable.
//! - Multicast: IPv4 (`multicast_group`) when the node listens on IPv4, so
//!   a dual-stack LAN is one multicast island with its IPv4-only boards;
//!   else IPv6 (`multicast_group_v6`, `ff02::77:77` by default, hop limit
//!   `multicast_ttl`), joined on the interface's index.
//! - No usable address at all (only link-local IPv6, or none): the node
//!   listens on `0.0.0.0` as before and warns that peers cannot learn where
//!   it is.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::config::Config;
use super::iface::Iface;
use super::udp::{Group, Listen, MulticastSpec};

/// The decision.
#[derive(Clone, Debug)]
pub struct NetPlan {
    /// Addresses announced to peers (without the port).
    pub advertise: Vec<IpAddr>,
    /// Where the unicast UDP sockets and the TCP listeners bind: one per
    /// family, IPv4 first.
    pub listen: Vec<Listen>,
    /// The multicast group, if multicast is on and possible.
    pub multicast: Option<MulticastSpec>,
    /// What the node should warn about at start.
    pub warnings: Vec<String>,
}

/// Decides (see the module doc).
#[must_use]
pub fn plan(cfg: &Config, nic: &Iface) -> NetPlan {
    let mut warnings = Vec::new();
    let advertise: Vec<IpAddr> = if cfg.advertise.is_empty() {
        nic.default_addrs()
    } else {
        cfg.advertise.clone()
    };
    let first_of = |v4: bool| advertise.iter().copied().find(|a| a.is_ipv4() == v4);
    let mut listen: Vec<Listen> = [first_of(true), first_of(false)]
        .into_iter()
        .flatten()
        .map(|ip| Listen {
            addr: SocketAddr::new(ip, cfg.port),
            freebind: nic.is_tentative(ip),
        })
        .collect();
    if listen.is_empty() {
        warnings.push(format!(
            "interface {} has no usable address (an IPv4 address, or an IPv6 address other than \
             link-local): listening on 0.0.0.0:{}, and peers cannot learn where this node is; \
             give the interface an address, or set node.advertise (--advertise)",
            nic.name, cfg.port
        ));
        listen.push(Listen {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.port),
            freebind: false,
        });
    }
    let multicast = if cfg.multicast {
        multicast(cfg, nic, &listen, &mut warnings)
    } else {
        None
    };
    NetPlan {
        advertise,
        listen,
        multicast,
        warnings,
    }
}

fn multicast(
    cfg: &Config,
    nic: &Iface,
    listen: &[Listen],
    warnings: &mut Vec<String>,
) -> Option<MulticastSpec> {
    let on_v4 = listen
        .iter()
        .any(|l| l.addr.is_ipv4() && !l.addr.ip().is_unspecified());
    let on_v6 = listen.iter().any(|l| l.addr.is_ipv6());
    let group = match (on_v4, nic.ipv4(), on_v6) {
        (true, Some(iface), _) => Group::V4 {
            group: cfg.multicast_group,
            iface,
        },
        (_, _, true) if nic.index != 0 => Group::V6 {
            group: cfg.multicast_group_v6,
            index: nic.index,
        },
        _ => {
            warnings.push(format!(
                "multicast is off, seeds only: the node listens on no address of interface {} that \
                 multicast can use (an IPv4 address of it, or an IPv6 address on it)",
                nic.name
            ));
            return None;
        }
    };
    Some(MulticastSpec {
        group,
        port: cfg.multicast_port.unwrap_or(cfg.port),
        ttl: cfg.multicast_ttl,
        loop_back: cfg.multicast_loop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::config::Overrides;

    fn cfg(flags: &Overrides) -> Config {
        let env = |k: &str| (k == "SCALESMALL_DATA_DIR").then(|| "/tmp/netplan".to_owned());
        Config::load(None, &env, flags).unwrap()
    }

    fn nic(addrs: &[&str], tentative: &[&str]) -> Iface {
        Iface {
            name: "eth0".into(),
            index: 3,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            tentative: tentative.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn listened(p: &NetPlan) -> Vec<String> {
        p.listen.iter().map(|l| l.addr.to_string()).collect()
    }

    #[test]
    fn ipv4_only_is_as_before() {
        let p = plan(
            &cfg(&Overrides::default()),
            &nic(&["10.0.0.5", "10.0.0.6"], &[]),
        );
        assert_eq!(p.advertise, ips(&["10.0.0.5"]));
        assert_eq!(listened(&p), ["10.0.0.5:29999"]);
        let m = p.multicast.unwrap();
        assert_eq!(m.addr().to_string(), "239.255.77.77:29999");
        assert_eq!(m.ttl, 1);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn ipv6_only_listens_advertises_and_multicasts_on_ipv6() {
        let p = plan(
            &cfg(&Overrides::default()),
            &nic(&["fd00::2"], &["fd00::2"]),
        );
        assert_eq!(p.advertise, ips(&["fd00::2"]));
        assert_eq!(listened(&p), ["[fd00::2]:29999"]);
        assert!(p.listen[0].freebind, "a tentative address is bound anyway");
        let m = p.multicast.unwrap();
        assert_eq!(
            m.group,
            Group::V6 {
                group: "ff02::77:77".parse().unwrap(),
                index: 3
            }
        );
        assert_eq!(m.addr().to_string(), "[ff02::77:77%3]:29999");
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn dual_stack_advertises_both_and_multicasts_on_ipv4() {
        let p = plan(
            &cfg(&Overrides::default()),
            &nic(&["10.0.0.5", "2001:db8::5", "fd00::5"], &[]),
        );
        assert_eq!(p.advertise, ips(&["10.0.0.5", "2001:db8::5"]));
        assert_eq!(listened(&p), ["10.0.0.5:29999", "[2001:db8::5]:29999"]);
        assert!(matches!(p.multicast.unwrap().group, Group::V4 { .. }));
    }

    #[test]
    fn advertise_set_decides_what_is_listened_on() {
        let flags = Overrides::default()
            .with("node.advertise", Some("fd00::9"))
            .with("node.port", Some(4000));
        // The interface has IPv4 too, but the node listens on IPv6 only:
        // IPv6 multicast.
        let p = plan(&cfg(&flags), &nic(&["10.0.0.5", "fd00::9"], &[]));
        assert_eq!(listened(&p), ["[fd00::9]:4000"]);
        assert!(matches!(p.multicast.unwrap().group, Group::V6 { .. }));
    }

    #[test]
    fn no_usable_address_warns_and_multicast_off_is_off() {
        let p = plan(&cfg(&Overrides::default()), &nic(&[], &[]));
        assert!(p.advertise.is_empty());
        assert_eq!(listened(&p), ["0.0.0.0:29999"]);
        assert!(p.multicast.is_none());
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("no usable address"));
        let off = Overrides::default().with("node.multicast", Some(false));
        let p = plan(&cfg(&off), &nic(&["fd00::2"], &[]));
        assert!(p.multicast.is_none() && p.warnings.is_empty());
    }
}
