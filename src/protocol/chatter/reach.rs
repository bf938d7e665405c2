//! Chatter's side of reconnect ([`super::super::reconnect`]), islands
//! ([`super::super::islands`]) and addresses that follow the evidence
//! (`Peer::note_addr`): the getters `status` shows (peers by liveness,
//! unreachable islands), the timer's call into reconnect, a peer that
//! moved, and this node's own addresses changing while it runs.

use core::net::SocketAddr;

use rand_chacha::rand_core::Rng;

use crate::model::NodeId;
use crate::wire::{self, PeerRef, PingReq, Probe, Rumor};

use super::super::io::{ConnId, Transmit};
use super::super::islands::Island;
use super::super::liveness::{Relay, Transition};
use super::super::peers::PeerStates;
use super::super::reconnect::{Backoff, Reach};
use super::super::time::Millis;
use super::Chatter;

/// Rounds of unicast announces to every far peer after our addresses
/// change, besides the first (with the periodic multicast announces).
const READDRESS_ROUNDS: u8 = 2;

impl Chatter {
    /// How many known peers this node holds alive, suspect and down
    /// (disjoint; they sum to the peers known).
    #[must_use]
    pub fn peer_states(&self) -> PeerStates {
        self.reach().peer_states()
    }

    /// The multicast islands this node knows of, as last observed, by id
    /// (see `src/protocol/islands.rs`); none without multicast.
    #[must_use]
    pub fn islands(&self, now: Millis) -> Vec<Island> {
        self.reach().islands(now)
    }

    /// Where reconnect stands with a down member: its next contact step
    /// and the wait after it.
    #[must_use]
    pub fn reconnect_backoff(&self, id: NodeId) -> Option<Backoff> {
        self.far.reconnect.backoff(id)
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
    /// LAN and each seed, sent again with the next two multicast
    /// announces against loss), so each follows it on the evidence of its
    /// own newer frame (`Peer::note_addr`) instead of probing the old
    /// address until the far syncs come round. Nothing happens if they are the
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
        self.far.readdress = READDRESS_ROUNDS;
        self.announce_far(now);
    }

    /// The next of the [`READDRESS_ROUNDS`] rounds after `set_addrs`, with
    /// the periodic multicast announce: a lost unicast announce would
    /// otherwise leave a far peer with our old address (within one
    /// incarnation nothing else moves it), probing it and suspecting us.
    pub(super) fn readdress_again(&mut self, now: Millis) {
        if self.far.readdress > 0 {
            self.far.readdress -= 1;
            self.announce_far(now);
        }
    }

    /// A unicast announce to every known peer off our LAN and every seed.
    fn announce_far(&mut self, now: Millis) {
        let ttl = self.hears_ttl();
        let mut to: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|p| !self.is_local(p, now, ttl))
            .filter_map(|p| p.addr)
            .chain(self.far.seeds.iter().copied())
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
            .tree
            .conns
            .iter()
            .filter(|c| c.to.is_some_and(|t| t.id == to.id && t.addr != to.addr))
            .map(|c| c.id)
            .collect();
        for conn in stale {
            if let Some(c) = self.tree.conns.remove(conn) {
                self.outbox.transmits.push_back(Transmit::Close { conn });
                for p in c.queue {
                    self.send_pending(now, to, p);
                }
            }
        }
    }

    /// Reconnect's contacts due now ([`super::super::reconnect`]): unicast
    /// announces across a cut.
    pub(super) fn reconnect(&mut self, now: Millis) {
        if now < self.far.reconnect.next_deadline() {
            return;
        }
        let reach = Reach {
            me: self.me.id,
            peers: &self.peers,
            detector: &self.swim.detector,
            seeds: &self.far.seeds,
            multicast: self.cfg.multicast,
            hears_ttl: self.hears_ttl(),
        };
        let due = self.far.reconnect.poll(now, &reach);
        for id in due.verdicts {
            self.swim.detector.respread(id);
        }
        for addr in due.addrs {
            self.outbox.stats.reconnects += 1;
            self.send_announce(now, Some(addr));
        }
    }

    /// What reconnect and the island getters need to know.
    fn reach(&self) -> Reach<'_> {
        Reach {
            me: self.me.id,
            peers: &self.peers,
            detector: &self.swim.detector,
            seeds: &self.far.seeds,
            multicast: self.cfg.multicast,
            hears_ttl: self.hears_ttl(),
        }
    }

    /// A ping for `requester`, who could not reach `req.target` (its
    /// `PingReq`, from `from`): the target is pinged at the address asked,
    /// and our ack relayed back. If we hold the target at another address
    /// on the evidence of its own frame (it moved, or restarted elsewhere,
    /// and the requester learned that only second-hand), we ping it there
    /// too, and ask it to ping the requester (a `PingReq` naming the
    /// requester): its ping, from its new address, is the evidence the
    /// requester follows (`Peer::note_source`, a newer incarnation). So a
    /// node is not marked down by peers that hold a stale address while
    /// others reach it, and they learn where it is.
    pub(super) fn ping_for(
        &mut self,
        now: Millis,
        requester: NodeId,
        from: SocketAddr,
        req: PingReq,
    ) {
        let expires = now.plus(self.swim.detector.cfg().probe_period);
        let mine = self
            .peers
            .get(req.target.id)
            .filter(|p| p.addr_from.is_some())
            .and_then(|p| p.addr)
            .filter(|a| *a != req.target.addr);
        // The asker speaks pings (it sent one), and asks because it probes
        // the target, which it does only at a version that has pings: we
        // may know the target only from others' reports (a board that
        // restarted does not know its old peers' versions yet).
        let v = self
            .version_for(req.target.id)
            .max(wire::FrameKind::Ping.since_version());
        for to in core::iter::once(req.target.addr).chain(mine) {
            let nonce = self.rng.next_u64();
            let relay = Relay {
                requester,
                target: req.target.id,
                nonce: req.nonce,
                expires,
            };
            self.swim.detector.relay(nonce, relay);
            let ping = Probe {
                nonce,
                rumors: self.swim.detector.take_rumors(Rumor::MAX_PER_FRAME),
            };
            self.send_datagram(now, Some(to), wire::Payload::Ping(ping), v);
        }
        if let Some(to) = mine {
            let back = self
                .peers
                .get(requester)
                .and_then(|p| p.addr)
                .unwrap_or(from);
            let intro = PingReq {
                nonce: self.rng.next_u64(),
                target: PeerRef {
                    id: requester,
                    addr: back,
                },
            };
            self.outbox.stats.introductions += 1;
            self.send_datagram(now, Some(to), wire::Payload::PingReq(intro), v);
        }
    }

    /// Whether our address of `id` may be one it left: no frame of its
    /// current incarnation (as we know it, first- or second-hand) gave it,
    /// either because it restarted since (a board that restarts often
    /// comes back at a new address, a new DHCP lease) or because another
    /// node named it.
    pub(super) fn address_doubtful(&self, id: NodeId) -> bool {
        let Some(known) = self.swim.detector.incarnation(id) else {
            return false;
        };
        self.peers
            .get(id)
            .is_some_and(|p| p.addr.is_some() && p.addr_from.is_none_or(|f| f.0 < known))
    }

    /// `sender` told us (a rumor) of a transition `t`: if it is of a new
    /// incarnation, `sender` is who to ask first when our probe of it at
    /// the address we hold fails (see [`Self::order_helpers`]).
    pub(super) fn told_restart(&mut self, t: Transition, sender: NodeId) {
        if t.restarted
            && let Some(p) = self.peers.get_mut(t.id)
        {
            p.restart_told_by = Some(sender);
        }
    }

    /// Helpers to ask to probe `target` for us, in the order to ask them:
    /// `local` (our LAN, a different path than ours) then `far`; but if our
    /// address of it is doubtful (it restarted, maybe elsewhere), those
    /// likely to hold its new one first: whoever told us of the restart
    /// (it heard it earlier, often first-hand), then peers of its island
    /// (its LAN hears its new address by multicast), then the rest. A
    /// helper that holds a newer address introduces it (`ping_for`).
    pub(super) fn order_helpers(
        &self,
        target: NodeId,
        local: Vec<PeerRef>,
        far: Vec<PeerRef>,
    ) -> Vec<PeerRef> {
        if !self.address_doubtful(target) {
            return local.into_iter().chain(far).collect();
        }
        let teller = self.peers.get(target).and_then(|p| p.restart_told_by);
        let mut all: Vec<PeerRef> = far.into_iter().chain(local).collect();
        // Stable: within each rank the shuffled order stays.
        all.sort_by_key(|h| (Some(h.id) != teller, !self.same_island(target, h.id)));
        all
    }

    /// Whether `a` and `b` were last seen in one multicast island (one
    /// names the other its representative, or hears it, or they name the
    /// same representative).
    pub(super) fn same_island(&self, a: NodeId, b: NodeId) -> bool {
        let (Some(pa), Some(pb)) = (self.peers.get(a), self.peers.get(b)) else {
            return false;
        };
        pa.hears.contains_key(&b)
            || pb.hears.contains_key(&a)
            || pa.rep_of == Some(b)
            || pb.rep_of == Some(a)
            || pa.rep_of.is_some() && pa.rep_of == pb.rep_of
    }
}
