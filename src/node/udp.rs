//! The UDP sockets, set up with socket2: the unicast ones ([`Unicast`]: one
//! per address family the node listens on, each bound to the interface's
//! address; the one of the group's family also sends multicast), and one
//! bound to the multicast group that receives only the group's datagrams,
//! so the protocol knows which path a datagram took (multicast reachability
//! is what the TCP tree is pruned by).
//!
//! Multicast is IPv4 (a `239.0.0.0/8` group joined on the interface's IPv4
//! address) or IPv6 (an `ff02::` link-local group joined on the interface's
//! index, its scope id); the CLI picks the family (docs/node.md, "IPv6").
//!
//! Multicast socket options are refinements, not necessities: some kernels
//! and emulators (qemu-user 7.2 answers `IP_MULTICAST_IF` with
//! `ENOPROTOOPT`) do not support them. An option the OS does not support
//! ([`OptionFailure::Unsupported`]) is a warning naming the option and what
//! the node does without it; any other failure, and every bind, is fatal.
//! If joining the group is unsupported the node still sends multicast and
//! its peers reach it by unicast (the protocol handles one-way multicast).

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::warn;

use super::error::NodeError;
pub use super::unicast::Unicast;

/// A multicast group and where to join it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// An IPv4 group, joined on the interface's IPv4 address.
    V4 {
        /// The group.
        group: Ipv4Addr,
        /// The interface address to join on and send from.
        iface: Ipv4Addr,
    },
    /// An IPv6 group, joined on the interface's index.
    V6 {
        /// The group (`ff02::77:77` by default: link-local scope).
        group: Ipv6Addr,
        /// The interface's index (the group's scope id).
        index: u32,
    },
}

/// Multicast settings.
#[derive(Clone, Copy, Debug)]
pub struct MulticastSpec {
    /// The group and interface.
    pub group: Group,
    /// Its port (the same for every node of the cluster).
    pub port: u16,
    /// IPv4 TTL or IPv6 hop limit (1 keeps it on the LAN).
    pub ttl: u32,
    /// Whether to receive our own datagrams (tests on one host only).
    pub loop_back: bool,
}

impl MulticastSpec {
    /// Where multicast is sent (an IPv6 group with the interface as its
    /// scope id).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        match self.group {
            Group::V4 { group, .. } => SocketAddr::V4(SocketAddrV4::new(group, self.port)),
            Group::V6 { group, index } => {
                SocketAddr::V6(SocketAddrV6::new(group, self.port, 0, index))
            }
        }
    }
}

/// The node's UDP sockets.
pub struct UdpSockets {
    /// Unicast in and out; multicast out.
    pub unicast: Unicast,
    /// The group's datagrams in (when multicast is on).
    pub multicast: Option<UdpSocket>,
    /// Where multicast is sent.
    pub group: Option<SocketAddr>,
    /// The unicast sockets' addresses, IPv4 first.
    pub local: Vec<SocketAddr>,
}

/// One address to listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address and port.
    pub addr: SocketAddr,
    /// Bind it even though the kernel does not accept it yet (`IP_FREEBIND`:
    /// an IPv6 address still in duplicate address detection).
    pub freebind: bool,
}

fn sock_err(what: &'static str, addr: SocketAddr) -> impl FnOnce(std::io::Error) -> NodeError {
    move |source| NodeError::Socket { what, addr, source }
}

/// How a failed socket option is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionFailure {
    /// The OS (or an emulator) does not support the option or this use of
    /// it (`ENOPROTOOPT`, `EOPNOTSUPP`/`ENOTSUP`, `EINVAL`, `ENOSYS`): the
    /// node warns and goes on without it.
    Unsupported,
    /// Anything else (permissions, no such device, no memory...): the node
    /// stops with the error.
    Fatal,
}

/// Classifies the error of a failed multicast socket option.
#[must_use]
pub fn classify_option_error(e: &std::io::Error) -> OptionFailure {
    // (ENOTSUP equals EOPNOTSUPP on Linux, not everywhere.)
    const UNSUPPORTED: [i32; 5] = [
        libc::ENOPROTOOPT,
        libc::EOPNOTSUPP,
        libc::ENOTSUP,
        libc::EINVAL,
        libc::ENOSYS,
    ];
    match e.raw_os_error() {
        Some(n) if UNSUPPORTED.contains(&n) => OptionFailure::Unsupported,
        _ => OptionFailure::Fatal,
    }
}

/// Applies an optional socket option: `Ok(true)` if it took, `Ok(false)`
/// (after a warning naming `option` and saying what happens without it) if
/// the OS does not support it.
///
/// # Errors
/// [`NodeError::Socket`] for any other failure.
pub fn optional_option(
    option: &'static str,
    without: &'static str,
    what: &'static str,
    addr: SocketAddr,
    result: std::io::Result<()>,
) -> Result<bool, NodeError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if classify_option_error(&e) == OptionFailure::Unsupported => {
            warn!(option, error = %e, addr = %addr, "socket option not supported here: {without}");
            Ok(false)
        }
        Err(source) => Err(NodeError::Socket { what, addr, source }),
    }
}

/// The multicast options of the sending socket: interface, TTL (hop
/// limit), loop. Each is optional (see the module doc).
fn sending_options(s: &Socket, m: &MulticastSpec) -> Result<(), NodeError> {
    let g = m.addr();
    match m.group {
        Group::V4 { iface, .. } => {
            optional_option(
                "IP_MULTICAST_IF",
                "multicast leaves by the route to the group (the default route's interface unless \
                 224.0.0.0/4 is routed elsewhere)",
                "set the multicast interface for",
                g,
                s.set_multicast_if_v4(&iface),
            )?;
            optional_option(
                "IP_MULTICAST_TTL",
                "multicast uses the OS default TTL (1 on Linux)",
                "set the multicast TTL for",
                g,
                s.set_multicast_ttl_v4(m.ttl),
            )?;
            optional_option(
                "IP_MULTICAST_LOOP",
                "multicast loop stays at the OS default; own datagrams that come back are dropped as own",
                "set multicast loop for",
                g,
                s.set_multicast_loop_v4(m.loop_back),
            )?;
        }
        Group::V6 { index, .. } => {
            optional_option(
                "IPV6_MULTICAST_IF",
                "multicast leaves by the interface of the group's scope id",
                "set the multicast interface for",
                g,
                s.set_multicast_if_v6(index),
            )?;
            optional_option(
                "IPV6_MULTICAST_HOPS",
                "multicast uses the OS default hop limit (1 on Linux)",
                "set the multicast hop limit for",
                g,
                s.set_multicast_hops_v6(m.ttl),
            )?;
            optional_option(
                "IPV6_MULTICAST_LOOP",
                "multicast loop stays at the OS default; own datagrams that come back are dropped as own",
                "set multicast loop for",
                g,
                s.set_multicast_loop_v6(m.loop_back),
            )?;
        }
    }
    Ok(())
}

/// Binds one unicast socket; `mc` if it is the one that sends multicast.
fn bind_unicast(at: Listen, mc: Option<&MulticastSpec>) -> Result<UdpSocket, NodeError> {
    let local = at.addr;
    let domain = if local.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(sock_err("open UDP socket for", local))?;
    s.set_reuse_address(true)
        .map_err(sock_err("set SO_REUSEADDR on", local))?;
    if let Some(m) = mc {
        sending_options(&s, m)?;
    }
    // Only the group socket receives multicast.
    if local.is_ipv4() {
        let _ = s.set_multicast_all_v4(false);
    } else {
        s.set_only_v6(true)
            .map_err(sock_err("set IPV6_V6ONLY on", local))?;
        let _ = s.set_multicast_all_v6(false);
        if at.freebind {
            s.set_freebind_v6(true)
                .map_err(sock_err("set IPV6_FREEBIND on", local))?;
        }
    }
    s.bind(&local.into()).map_err(sock_err("bind UDP", local))?;
    s.set_nonblocking(true)
        .map_err(sock_err("configure UDP", local))?;
    UdpSocket::from_std(s.into()).map_err(sock_err("register UDP", local))
}

/// Binds the sockets: a unicast one per address of `at` (one per family),
/// and the group's if `mc`, whose family must be one of `at`'s.
///
/// A multicast option the OS does not support is a warning; the node goes
/// on without it (see the module doc).
///
/// # Errors
/// [`NodeError::Socket`] naming the address that failed: every bind, and
/// every other socket error.
pub fn bind(
    at: &[Listen],
    mc: Option<MulticastSpec>,
    seeds: &[SocketAddr],
) -> Result<UdpSockets, NodeError> {
    let unicast = bind_unicast_only(at, mc, seeds)?;
    let local = unicast.local_addrs();
    let (multicast, group) = match mc {
        None => (None, None),
        Some(m) => (group_socket(&m)?, Some(m.addr())),
    };
    Ok(UdpSockets {
        unicast,
        multicast,
        group,
        local,
    })
}

/// The unicast sockets alone, one per address of `at` (each sends the
/// group's datagrams of its family if `mc`): at start, and again when the
/// board is renumbered while running (`renumber.rs`).
///
/// # Errors
/// [`NodeError::Socket`] naming the address that failed.
pub fn bind_unicast_only(
    at: &[Listen],
    mc: Option<MulticastSpec>,
    seeds: &[SocketAddr],
) -> Result<Unicast, NodeError> {
    let mut sockets = Vec::new();
    for l in at {
        let sends_mc = mc
            .as_ref()
            .filter(|m| m.addr().is_ipv4() == l.addr.is_ipv4());
        sockets.push(bind_unicast(*l, sends_mc)?);
    }
    Ok(Unicast::new(sockets, seeds))
}

/// The socket that receives the group's datagrams; `None` if the OS does
/// not support joining it (the node then only sends multicast).
fn group_socket(m: &MulticastSpec) -> Result<Option<UdpSocket>, NodeError> {
    let g = m.addr();
    let domain = if g.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(sock_err("open multicast socket for", g))?;
    s.set_reuse_address(true)
        .map_err(sock_err("set SO_REUSEADDR on", g))?;
    let _ = s.set_reuse_port(true);
    let (looped, option) = match m.group {
        Group::V4 { .. } => (s.set_multicast_loop_v4(m.loop_back), "IP_ADD_MEMBERSHIP"),
        Group::V6 { .. } => {
            s.set_only_v6(true)
                .map_err(sock_err("set IPV6_V6ONLY on", g))?;
            (s.set_multicast_loop_v6(m.loop_back), "IPV6_ADD_MEMBERSHIP")
        }
    };
    optional_option(
        "IP_MULTICAST_LOOP",
        "multicast loop stays at the OS default",
        "set multicast loop for",
        g,
        looped,
    )?;
    // An IPv6 link-local group is bound with the interface as scope id,
    // which also ties the socket to that interface.
    s.bind(&g.into()).map_err(sock_err("bind multicast", g))?;
    let join = match m.group {
        Group::V4 { group, iface } => s.join_multicast_v4(&group, &iface),
        Group::V6 { group, index } => s.join_multicast_v6(&group, index),
    };
    let joined = optional_option(
        option,
        "this node does not receive multicast; it still sends it, and peers reach it by unicast \
         and TCP (seeds help: node.peers)",
        "join the multicast group (for IPv4: is there a 224.0.0.0/4 route on the interface?)",
        g,
        join,
    )?;
    if !joined {
        return Ok(None);
    }
    s.set_nonblocking(true)
        .map_err(sock_err("configure multicast", g))?;
    let sock = UdpSocket::from_std(s.into()).map_err(sock_err("register multicast", g))?;
    Ok(Some(sock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn addr() -> SocketAddr {
        SocketAddr::from(([239, 255, 77, 77], 29999))
    }

    #[test]
    fn unsupported_option_errors_are_told_from_fatal_ones() {
        for errno in [
            libc::ENOPROTOOPT,
            libc::EOPNOTSUPP,
            libc::ENOTSUP,
            libc::EINVAL,
            libc::ENOSYS,
        ] {
            assert_eq!(
                classify_option_error(&io::Error::from_raw_os_error(errno)),
                OptionFailure::Unsupported,
                "errno {errno}"
            );
        }
        for errno in [
            libc::EACCES,
            libc::EPERM,
            libc::EADDRINUSE,
            libc::ENODEV,
            libc::ENOMEM,
            libc::EBADF,
        ] {
            assert_eq!(
                classify_option_error(&io::Error::from_raw_os_error(errno)),
                OptionFailure::Fatal,
                "errno {errno}"
            );
        }
        // Not from the OS at all: not something to shrug off.
        assert_eq!(
            classify_option_error(&io::Error::other("odd")),
            OptionFailure::Fatal
        );
    }

    #[test]
    fn an_unsupported_option_is_skipped_and_a_fatal_one_names_the_address() {
        assert!(optional_option("IP_MULTICAST_TTL", "x", "set", addr(), Ok(())).unwrap());
        let skipped = optional_option(
            "IP_MULTICAST_IF",
            "x",
            "set",
            addr(),
            Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT)),
        );
        assert!(!skipped.unwrap());
        let err = optional_option(
            "IP_MULTICAST_IF",
            "x",
            "set the multicast interface for",
            addr(),
            Err(io::Error::from_raw_os_error(libc::EACCES)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("set the multicast interface for 239.255.77.77:29999"),
            "{err}"
        );
    }

    #[test]
    fn a_bind_failure_is_fatal() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let at = taken.local_addr().unwrap();
        // Without SO_REUSEADDR on the holder, the second bind fails.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let listen = Listen {
            addr: at,
            freebind: false,
        };
        let err = bind(&[listen], None, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("bind UDP") && err.contains(&at.to_string()),
            "{err:?}"
        );
    }
}
