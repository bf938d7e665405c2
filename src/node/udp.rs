//! The UDP sockets, set up with socket2: one for unicast (and for sending
//! multicast), bound to the interface's address, and one bound to the
//! multicast group that receives only the group's datagrams, so the protocol
//! knows which path a datagram took (multicast reachability is what the
//! TCP tree is pruned by).

use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::error::NodeError;

/// Multicast settings.
#[derive(Clone, Copy, Debug)]
pub struct MulticastSpec {
    /// The group.
    pub group: Ipv4Addr,
    /// Its port (the same for every node of the cluster).
    pub port: u16,
    /// The interface address to join on and send from.
    pub iface: Ipv4Addr,
    /// IP TTL (1 keeps it on the LAN).
    pub ttl: u32,
    /// Whether to receive our own datagrams (tests on one host only).
    pub loop_back: bool,
}

/// The node's UDP sockets.
pub struct UdpSockets {
    /// Unicast in and out; multicast out.
    pub unicast: UdpSocket,
    /// The group's datagrams in (when multicast is on).
    pub multicast: Option<UdpSocket>,
    /// Where multicast is sent.
    pub group: Option<SocketAddr>,
    /// The unicast socket's address.
    pub local: SocketAddr,
}

fn sock_err(what: &'static str, addr: SocketAddr) -> impl FnOnce(std::io::Error) -> NodeError {
    move |source| NodeError::Socket { what, addr, source }
}

/// Binds the sockets.
///
/// # Errors
/// [`NodeError::Socket`] naming the address that failed.
pub fn bind(local: SocketAddr, mc: Option<MulticastSpec>) -> Result<UdpSockets, NodeError> {
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
        let g = SocketAddr::V4(SocketAddrV4::new(m.group, m.port));
        s.set_multicast_if_v4(&m.iface)
            .map_err(sock_err("set the multicast interface for", g))?;
        s.set_multicast_ttl_v4(m.ttl)
            .map_err(sock_err("set the multicast TTL for", g))?;
        s.set_multicast_loop_v4(m.loop_back)
            .map_err(sock_err("set multicast loop for", g))?;
    }
    if local.is_ipv4() {
        // Only the group socket receives multicast.
        let _ = s.set_multicast_all_v4(false);
    }
    s.bind(&local.into()).map_err(sock_err("bind UDP", local))?;
    s.set_nonblocking(true)
        .map_err(sock_err("configure UDP", local))?;
    let unicast = UdpSocket::from_std(s.into()).map_err(sock_err("register UDP", local))?;
    let local = unicast
        .local_addr()
        .map_err(sock_err("read the address of", local))?;
    let (multicast, group) = match mc {
        None => (None, None),
        Some(m) => {
            let g = SocketAddr::V4(SocketAddrV4::new(m.group, m.port));
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
                .map_err(sock_err("open multicast socket for", g))?;
            s.set_reuse_address(true)
                .map_err(sock_err("set SO_REUSEADDR on", g))?;
            let _ = s.set_reuse_port(true);
            s.set_multicast_loop_v4(m.loop_back)
                .map_err(sock_err("set multicast loop for", g))?;
            s.bind(&g.into()).map_err(sock_err("bind multicast", g))?;
            s.join_multicast_v4(&m.group, &m.iface).map_err(sock_err(
                "join the multicast group (is there a 224.0.0.0/4 route on the interface?)",
                g,
            ))?;
            s.set_nonblocking(true)
                .map_err(sock_err("configure multicast", g))?;
            let sock = UdpSocket::from_std(s.into()).map_err(sock_err("register multicast", g))?;
            (Some(sock), Some(g))
        }
    };
    Ok(UdpSockets {
        unicast,
        multicast,
        group,
        local,
    })
}

/// The unspecified address of `ip`'s family.
#[must_use]
pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
    }
}
