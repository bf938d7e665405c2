//! `ConnTable`: the node's TCP connections, bounded.
//!
//! A Pi has few file descriptors and little RAM, and random tree targets
//! would otherwise drift towards one socket per peer. So connections are
//! reused (a connection is found by peer id or address, inbound ones too once
//! the peer has identified itself with a frame), closed when idle, and capped:
//! at the cap the least recently used idle connection is closed to make room.
//! Frames for a connection still being opened wait in its queue; if the
//! connect fails, the queue goes back to the protocol to reroute. Tree steps
//! sent in the last few seconds are remembered too: a frame written just as
//! the peer closes the connection (an idle-close race) is lost by TCP, so on
//! a failure or close they are sent again.

use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};

use crate::model::NodeId;
use crate::wire::{Forward, PeerRef};

use super::io::ConnId;
use super::time::Millis;

/// Where a connection stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ConnState {
    /// We asked the shell to connect, at this time.
    Connecting(Millis),
    /// Open (either direction).
    Open,
}

/// A tree step waiting for, or recently written on, a connection.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    /// The step.
    pub fwd: Forward,
    /// Whether it was already resent once to the same node.
    pub retried: bool,
    /// When it was written (for recently sent steps).
    pub at: Millis,
}

/// How long a written tree step is kept for a resend after a failure (ms).
pub(super) const RESEND_WINDOW: u64 = 3_000;
/// After a graceful close by the peer only a step that crossed the close in
/// flight can have been lost: resend those written this recently (ms).
pub(super) const RESEND_AFTER_CLOSE: u64 = 500;
/// Most written steps kept per connection.
pub(super) const RESEND_KEEP: usize = 8;

/// One TCP connection.
#[derive(Clone, Debug)]
pub(super) struct Conn {
    /// Its id.
    pub id: ConnId,
    /// The remote address (for inbound ones, the peer's source address).
    pub addr: SocketAddr,
    /// The peer, once known (always for outbound ones).
    pub peer: Option<NodeId>,
    /// Connecting or open.
    pub state: ConnState,
    /// Last time a frame went either way.
    pub last_used: Millis,
    /// The node it was opened to (outbound connections).
    pub to: Option<PeerRef>,
    /// Tree steps waiting for the connection to open.
    pub queue: Vec<Pending>,
    /// Tree steps written in the last [`RESEND_WINDOW`] ms.
    pub recent: VecDeque<Pending>,
}

impl Conn {
    /// Remembers a step just written, forgetting old ones.
    pub(super) fn remember(&mut self, p: Pending, now: Millis) {
        while self
            .recent
            .front()
            .is_some_and(|r| now.since(r.at) > RESEND_WINDOW)
            || self.recent.len() >= RESEND_KEEP
        {
            self.recent.pop_front();
        }
        self.recent.push_back(p);
    }

    /// Everything to send again: the queue, and the recent steps written
    /// within `window` ms.
    pub(super) fn unsent(self, now: Millis, window: u64) -> Vec<Pending> {
        let mut out = self.queue;
        out.extend(
            self.recent
                .into_iter()
                .filter(|r| now.since(r.at) <= window),
        );
        out
    }
}

/// The open and opening connections.
#[derive(Clone, Debug, Default)]
pub(super) struct ConnTable {
    conns: BTreeMap<ConnId, Conn>,
    next: u64,
}

impl ConnTable {
    /// No connections.
    #[must_use]
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Number of connections (open or opening).
    #[must_use]
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The connection.
    #[must_use]
    pub(super) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    /// The connection, for updating.
    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    /// Every connection.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Conn> + '_ {
        self.conns.values()
    }

    /// A usable connection to `peer` (by id, or by its contact address).
    #[must_use]
    pub(super) fn find(&self, peer: NodeId, addr: SocketAddr) -> Option<ConnId> {
        self.conns
            .values()
            .find(|c| c.peer == Some(peer) || (c.peer.is_none() && c.addr == addr))
            .map(|c| c.id)
    }

    /// Adds a connection in `state`; returns its new id.
    pub(super) fn add(
        &mut self,
        addr: SocketAddr,
        to: Option<PeerRef>,
        state: ConnState,
        now: Millis,
    ) -> ConnId {
        let id = ConnId(self.next);
        self.next += 1;
        self.conns.insert(
            id,
            Conn {
                id,
                addr,
                peer: to.map(|p| p.id),
                state,
                last_used: now,
                to,
                queue: Vec::new(),
                recent: VecDeque::new(),
            },
        );
        id
    }

    /// Removes a connection, returning it (with its queue).
    pub(super) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.conns.remove(&id)
    }

    /// The least recently used open connection with nothing queued: the one
    /// to close when at the cap.
    #[must_use]
    pub(super) fn lru_idle(&self) -> Option<ConnId> {
        self.conns
            .values()
            .filter(|c| c.state == ConnState::Open && c.queue.is_empty())
            .min_by_key(|c| c.last_used)
            .map(|c| c.id)
    }

    /// Connections idle longer than `idle` ms, or connecting longer than
    /// `connect` ms.
    #[must_use]
    pub(super) fn expired(&self, now: Millis, idle: u64, connect: u64) -> Vec<ConnId> {
        self.conns
            .values()
            .filter(|c| match c.state {
                ConnState::Open => now.since(c.last_used) >= idle,
                ConnState::Connecting(t) => now.since(t) >= connect,
            })
            .map(|c| c.id)
            .collect()
    }

    /// Forgets the tree steps of `author`'s writes above clock `above`,
    /// queued or kept for a resend (own writes that were refused: they must
    /// never leave). Returns how many went.
    pub(super) fn drop_steps_above(&mut self, author: NodeId, above: u64) -> usize {
        let keep = |p: &Pending| p.fwd.author != author || p.fwd.upto <= above;
        let mut dropped = 0;
        for c in self.conns.values_mut() {
            let before = c.queue.len() + c.recent.len();
            c.queue.retain(keep);
            c.recent.retain(keep);
            dropped += before - c.queue.len() - c.recent.len();
        }
        dropped
    }

    /// The earliest instant one of them expires.
    #[must_use]
    pub(super) fn next_expiry(&self, idle: u64, connect: u64) -> Option<Millis> {
        self.conns
            .values()
            .map(|c| match c.state {
                ConnState::Open => c.last_used.plus(idle),
                ConnState::Connecting(t) => t.plus(connect),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 29999)
    }

    #[test]
    fn lru_picks_the_oldest_idle_open_connection() {
        let mut t = ConnTable::new();
        let a = t.add(addr(1), None, ConnState::Open, Millis(10));
        let b = t.add(addr(2), None, ConnState::Open, Millis(5));
        let _c = t.add(addr(3), None, ConnState::Connecting(Millis(1)), Millis(1));
        assert_eq!(t.lru_idle(), Some(b));
        t.remove(b);
        assert_eq!(t.lru_idle(), Some(a));
    }

    #[test]
    fn expiry_covers_idle_and_stuck_connects() {
        let mut t = ConnTable::new();
        let a = t.add(addr(1), None, ConnState::Open, Millis(0));
        let c = t.add(addr(2), None, ConnState::Connecting(Millis(0)), Millis(0));
        assert_eq!(t.expired(Millis(500), 1000, 3000), vec![]);
        assert_eq!(t.expired(Millis(1000), 1000, 3000), vec![a]);
        assert_eq!(t.expired(Millis(3000), 1000, 3000), vec![a, c]);
        assert_eq!(t.next_expiry(1000, 3000), Some(Millis(1000)));
    }

    #[test]
    fn only_the_authors_steps_above_the_clock_are_dropped() {
        let step = |author: u64, upto: u64| Pending {
            fwd: Forward {
                author: NodeId::from_u64(author),
                upto,
                list: Vec::new(),
                message: crate::model::Message::empty(crate::model::GroupName::new("g").unwrap()),
            },
            retried: false,
            at: Millis(0),
        };
        let mut t = ConnTable::new();
        let a = t.add(addr(1), None, ConnState::Connecting(Millis(0)), Millis(0));
        let b = t.add(addr(2), None, ConnState::Open, Millis(0));
        let c = t.get_mut(a).unwrap();
        c.queue = vec![step(1, 4), step(1, 5), step(2, 9)];
        let c = t.get_mut(b).unwrap();
        c.remember(step(1, 6), Millis(0));
        c.remember(step(1, 3), Millis(0));
        assert_eq!(t.drop_steps_above(NodeId::from_u64(1), 4), 2);
        let kept = |id| -> Vec<(u64, u64)> {
            let c = t.get(id).unwrap();
            c.queue
                .iter()
                .chain(&c.recent)
                .map(|p| (p.fwd.author.as_u64(), p.fwd.upto))
                .collect()
        };
        assert_eq!(kept(a), vec![(1, 4), (2, 9)]);
        assert_eq!(kept(b), vec![(1, 3)]);
    }

    #[test]
    fn finds_by_peer_or_unidentified_address() {
        let mut t = ConnTable::new();
        let n = NodeId::from_u64(7);
        let a = t.add(
            addr(1),
            Some(PeerRef {
                id: n,
                addr: addr(1),
            }),
            ConnState::Open,
            Millis(0),
        );
        assert_eq!(t.find(n, addr(9)), Some(a));
        let b = t.add(addr(2), None, ConnState::Open, Millis(0));
        assert_eq!(t.find(NodeId::from_u64(8), addr(2)), Some(b));
    }
}
