//! `PeerRef`: a node id and the address it is reached at.
//!
//! A node listens for unicast UDP and TCP on the same port, so one socket
//! address names both. Addresses are what the protocol learns about an id;
//! the id, not the address, is the member.

use core::net::SocketAddr;

use crate::model::NodeId;

/// A node and its contact address (UDP and TCP share the port).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerRef {
    /// The node.
    pub id: NodeId,
    /// Where to reach it.
    pub addr: SocketAddr,
}
