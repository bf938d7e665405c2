//! What crosses the boundary between the Chatter state machine and the shell
//! that drives it: inputs ([`Command`], [`ConnEvent`], [`Via`]) and outputs
//! ([`Transmit`], [`Event`], [`super::OwnState`] to persist), and [`Outputs`], all
//! of them drained at once in the documented order.

use core::net::SocketAddr;

use crate::model::{GroupName, KeyRange, NodeId};

use super::time::Millis;

/// A TCP connection, named by the protocol.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId(pub u64);

/// How a datagram arrived.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Via {
    /// On the multicast group (it proves the sender's multicast reaches us).
    Multicast,
    /// Unicast to our address.
    Unicast,
}

/// Something the shell must do on the network.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Transmit {
    /// Send `bytes` to the multicast group on the LAN.
    Multicast {
        /// One sealed datagram (at most the MTU).
        bytes: Vec<u8>,
    },
    /// Send `bytes` as one UDP datagram to `to`.
    Unicast {
        /// Destination.
        to: SocketAddr,
        /// One sealed datagram (at most the MTU).
        bytes: Vec<u8>,
    },
    /// Open a TCP connection to `to` and report the outcome with
    /// [`crate::protocol::Chatter::handle_conn_event`].
    Connect {
        /// The id the protocol will use for it.
        conn: ConnId,
        /// Destination.
        to: SocketAddr,
    },
    /// Write one whole frame on an open connection (the shell adds the
    /// length prefix of [`crate::wire::length_prefix`]).
    Send {
        /// The connection.
        conn: ConnId,
        /// One sealed frame.
        bytes: Vec<u8>,
    },
    /// Close the connection.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// What happened to a TCP connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnEvent {
    /// A connect we asked for succeeded.
    Opened,
    /// A connect we asked for failed, or an open connection broke.
    Failed,
    /// The connection closed (by us or the peer).
    Closed,
}

/// An own write or other local request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// Read `group` (`Get`).
    Join(GroupName),
    /// Retract every own live item of `group`.
    Leave(GroupName),
    /// Serve `range` of `group` (`Add`).
    Claim {
        /// The group.
        group: GroupName,
        /// The keys.
        range: KeyRange,
        /// Ordering hint among servers (higher first).
        priority: u16,
        /// Service port (0 = none).
        port: u16,
    },
    /// Retract the claim of exactly `range` (`Rmv`).
    Release {
        /// The group.
        group: GroupName,
        /// The claimed range.
        range: KeyRange,
    },
    /// Pick own ranges of `group` (auto-claim): write the auto marker with
    /// `weight` and `port`; claims follow the group's policy, written with
    /// `priority` (`None`: as before).
    Auto {
        /// The group.
        group: GroupName,
        /// Capacity share (0 = standby).
        weight: u16,
        /// Ordering hint of the ranges claimed (client ordering).
        priority: Option<u16>,
        /// Service port of the ranges claimed.
        port: u16,
    },
    /// Stop picking ranges of `group`: retract the auto marker; the ranges
    /// held stay, as manual claims.
    Manual(GroupName),
    /// Retract every own live item of every group (leave-on-exit).
    LeaveAll,
    /// Add a seed address to contact (another subnet).
    AddSeed(SocketAddr),
    /// Expire a member now (a board that will never come back): its items
    /// are dropped here and its old writes refused, as after the grace
    /// period down. It clears itself if the member is heard again.
    Forget(NodeId),
}

impl Command {
    /// Whether it writes own state (everything but `AddSeed` and `Forget`).
    #[must_use]
    pub const fn is_write(&self) -> bool {
        !matches!(self, Self::AddSeed(_) | Self::Forget(_))
    }
}

/// Something the node (and `watch`) may want to know.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// Auto-claim wrote claims or releases in a group.
    AutoClaimed {
        /// The group.
        group: GroupName,
        /// Slices newly claimed.
        claimed: u32,
        /// Slices released.
        released: u32,
        /// Slices held beyond the targets, kept until releasing is safe.
        waiting: u32,
        /// Slices held now.
        held: u32,
    },
    /// A peer announces auto-claim policies different from ours (or the
    /// difference went away: `same`).
    PolicyMismatch {
        /// The peer.
        id: NodeId,
        /// Its fingerprint.
        theirs: u64,
        /// Ours.
        ours: u64,
        /// Whether they agree again.
        same: bool,
    },
    /// A group's state changed (own write or received news).
    Changed {
        /// The group.
        group: GroupName,
        /// Who wrote the news (the local node for own writes).
        origin: NodeId,
    },
    /// A node was heard of for the first time.
    PeerDiscovered {
        /// The node.
        id: NodeId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A known peer's address changed, on the evidence of its own newer
    /// frame (a board renumbered, with or without a restart).
    PeerMoved {
        /// The node.
        id: NodeId,
        /// Its new address.
        addr: SocketAddr,
    },
    /// A peer holds our own writes at a clock above ours (a restored data
    /// dir): the clock jumped and our items were re-asserted.
    OwnAhead {
        /// The highest own clock seen elsewhere.
        seen: u64,
        /// Our clock after the jump.
        clock: u64,
    },
    /// A peer's liveness changed in this node's view.
    Liveness {
        /// The peer.
        id: NodeId,
        /// Its new state.
        state: crate::wire::Liveness,
        /// Whether it restarted (a higher incarnation).
        restarted: bool,
    },
    /// A member was expired (down past the grace period, or forgotten):
    /// its items were dropped from this node's view.
    Expired {
        /// The member.
        id: NodeId,
        /// The highest clock of it that was dropped.
        upto: u64,
    },
    /// Frames from `from` keep failing authentication: most likely a board
    /// with a different cluster key.
    KeyMismatch {
        /// The source.
        from: SocketAddr,
        /// Consecutive failures so far.
        failures: u64,
    },
}

/// What the shell did with an [`super::OwnState`] handed to it by
/// [`crate::protocol::Chatter::drain_outputs`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Persisted {
    /// Stored: the writes it carries take effect
    /// ([`crate::protocol::Chatter::handle_persisted`] is called for you).
    Durable,
    /// Could not be stored: its writes are undone
    /// ([`crate::protocol::Chatter::handle_persist_failed`] is called for
    /// you).
    Failed,
    /// Storing it takes time: report the outcome later yourself with
    /// `handle_persisted` or `handle_persist_failed` and its `clock`
    /// (transmits and the writes' events stay held until then).
    Later,
}

/// Every output of one [`crate::protocol::Chatter::drain_outputs`], in the
/// order they were polled: own state was offered to the persist callback
/// first, then the markers, transmits and events were drained, and the
/// next deadline read last.
#[derive(Debug, Default)]
pub struct Outputs {
    /// The expiry markers, when they changed (store them best effort).
    pub markers: Option<Vec<(NodeId, u64)>>,
    /// Datagrams, multicasts, TCP connects, sends and closes, in order.
    pub transmits: Vec<Transmit>,
    /// Changes and notices, in order.
    pub events: Vec<Event>,
    /// When to call `handle_timeout` next.
    pub timeout: Option<Millis>,
}

impl Outputs {
    /// Whether nothing but the deadline came out.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.markers.is_none() && self.transmits.is_empty() && self.events.is_empty()
    }
}
