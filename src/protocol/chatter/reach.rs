//! Chatter's side of reconnect ([`super::super::reconnect`]), islands
//! ([`super::super::islands`]) and addresses that follow the evidence
//! (`Peer::note_addr`): the getters `status` shows (peers by liveness,
//! unreachable islands), the timer's call into reconnect, a peer that
//! moved, and this node's own addresses changing while it runs.

use core::net::SocketAddr;

use crate::model::NodeId;
use crate::wire::PeerRef;

use super::super::io::{ConnId, Transmit};
use super::super::islands::Island;
use super::super::peers::PeerStates;
use super::super::reconnect::{Backoff, Reach};
use super::super::time::Millis;
use super::Chatter;

impl Chatter {
    /// How many known peers this node holds alive, suspect and down
    /// (disjoint; they sum to the peers known).
    #[must_use]
    pub fn peer_states(&self) -> PeerStates {
        self.reach(Millis::ZERO).peer_states()
    }

    /// The multicast islands this node knows of, as last observed, by id
    /// (see `src/protocol/islands.rs`); none without multicast.
    #[must_use]
    pub fn islands(&self, now: Millis) -> Vec<Island> {
        self.reach(now).islands(now)
    }

    /// Where reconnect stands with a down member: its next contact step
    /// and the wait after it.
    #[must_use]
    pub fn reconnect_backoff(&self, id: NodeId) -> Option<Backoff> {
        self.reconnect.backoff(id)
    }

    /// How many multicast islands this node holds down as a whole (every
    /// known peer of them down; never its own): a split, where one peer
    /// down is a dead board.
    #[must_use]
    pub fn unreachable_islands(&self, now: Millis) -> usize {
        self.islands(now).iter().filter(|i| i.unreachable()).count()
    }

    /// This node's addresses changed while it runs (a new DHCP lease): its
    /// announces carry them from now on, and it tells every peer at once
    /// (a multicast announce, and a unicast one to each known peer off its
    /// LAN and each seed), so each follows it on the evidence of its own
    /// newer frame (`Peer::note_addr`) instead of probing the old address
    /// until the far syncs come round. Nothing happens if they are the
    /// same. The shell calls it when it sees its interface's addresses
    /// change.
    pub fn set_addrs(&mut self, now: Millis, addrs: Vec<SocketAddr>) {
        if addrs == self.me.addrs {
            return;
        }
        self.me.addrs = addrs;
        if self.cfg.multicast {
            self.send_announce(now, None);
        }
        let ttl = self.hears_ttl(now);
        let mut to: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|p| !self.is_local(p, now, ttl))
            .filter_map(|p| p.addr)
            .chain(self.seeds.iter().copied())
            .collect();
        to.sort_unstable();
        to.dedup();
        for addr in to {
            self.send_announce(now, Some(addr));
        }
    }

    /// `to` moved: connections we opened to its old address are closed,
    /// what they had queued goes to the new one (the probe round and every
    /// send read the address when they go out).
    pub(super) fn moved(&mut self, now: Millis, to: PeerRef) {
        let stale: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.to.is_some_and(|t| t.id == to.id && t.addr != to.addr))
            .map(|c| c.id)
            .collect();
        for conn in stale {
            if let Some(c) = self.conns.remove(conn) {
                self.transmits.push_back(Transmit::Close { conn });
                for p in c.queue {
                    self.send_pending(now, to, p);
                }
            }
        }
    }

    /// Reconnect's contacts due now ([`super::super::reconnect`]): unicast
    /// announces across a cut.
    pub(super) fn reconnect(&mut self, now: Millis) {
        if now < self.reconnect.next_deadline() {
            return;
        }
        let reach = Reach {
            me: self.me.id,
            peers: &self.peers,
            detector: &self.detector,
            seeds: &self.seeds,
            multicast: self.cfg.multicast,
            hears_ttl: self.hears_ttl(now),
        };
        for addr in self.reconnect.poll(now, &reach) {
            self.stats.reconnects += 1;
            self.send_announce(now, Some(addr));
        }
    }

    /// What reconnect and the island getters need to know.
    fn reach(&self, now: Millis) -> Reach<'_> {
        Reach {
            me: self.me.id,
            peers: &self.peers,
            detector: &self.detector,
            seeds: &self.seeds,
            multicast: self.cfg.multicast,
            hears_ttl: self.hears_ttl(now),
        }
    }
}
