//! The tree and connections: tree destinations, forwards and pending
//! sends on TCP connections, retries, reroutes and room for new ones.

use super::*;

impl Chatter {
    /// The tree's destinations for a write to a group whose members we do not
    /// know (a join): one node per multicast island that does not
    /// hear our multicast (its representative, when known, else grouped by
    /// the reports we have), plus one random peer that does hear us.
    pub(super) fn tree_destinations(&mut self, now: Millis) -> Vec<PeerRef> {
        let ttl = self.hears_ttl();
        let rep_ttl = self.rep_ttl();
        let multicast = self.cfg.multicast;
        let mut hear_us = Vec::new();
        let mut reps = Vec::new();
        let mut rest = Vec::new();
        for p in self.peers.iter() {
            let Some(r) = p.peer_ref() else { continue };
            // A down peer gets no copy (its connect would only time out);
            // if it was wrongly marked, its refutation brings it back and
            // anti-entropy gives it what it missed.
            if self.swim.detector.state(p.id) == Liveness::Down {
                continue;
            }
            let local = self.is_local(p, now, ttl);
            if multicast && p.hears_us(now, ttl) {
                hear_us.push(r);
            } else if multicast && p.is_rep(now, rep_ttl) && !local {
                reps.push(r);
            } else if !local {
                rest.push(r);
            }
        }
        shuffle(&mut self.rng, &mut rest);
        let peers = &self.peers;
        let mut dests = if multicast && !reps.is_empty() {
            // Every other island announces its representative: one copy
            // each, and the representative multicasts it on its LAN.
            reps
        } else {
            tree::island_heads(&rest, |a, b| {
                peers.get(a).is_some_and(|p| p.hears(b, now, ttl))
            })
        };
        if let Some(extra) = pick(&mut self.rng, &hear_us) {
            dests.push(extra);
        }
        shuffle(&mut self.rng, &mut dests);
        dests
    }

    /// Hands `fwd` to `to` over TCP, connecting if needed.
    pub(super) fn send_forward(&mut self, now: Millis, to: PeerRef, fwd: Forward) {
        self.send_pending(
            now,
            to,
            Pending {
                fwd,
                retried: false,
                at: now,
            },
        );
    }

    pub(super) fn send_pending(&mut self, now: Millis, to: PeerRef, p: Pending) {
        if let Some(conn) = self.tree.conns.find(to.id, to.addr) {
            let open = self
                .tree
                .conns
                .get(conn)
                .is_some_and(|c| c.state == ConnState::Open);
            if open {
                self.send_on(now, conn, p);
            } else if let Some(c) = self.tree.conns.get_mut(conn) {
                c.queue.push(p);
            }
            return;
        }
        self.make_room(now);
        let conn = self
            .tree
            .conns
            .add(to.addr, Some(to), ConnState::Connecting(now), now);
        if let Some(c) = self.tree.conns.get_mut(conn) {
            c.queue.push(p);
        }
        self.outbox
            .transmits
            .push_back(Transmit::Connect { conn, to: to.addr });
    }

    /// Encodes a tree step onto an open connection, remembering it for a
    /// resend should the connection fail right after.
    pub(super) fn send_on(&mut self, now: Millis, conn: ConnId, p: Pending) {
        let peer = self.tree.conns.get(conn).and_then(|c| c.peer);
        let version = peer.map_or_else(|| self.send_version(), |p| self.version_for(p));
        let frame = self.frame(wire::Payload::Forward(p.fwd.clone()));
        let nonce = self.nonce();
        match self.frames.codec.encode(&frame, version, nonce) {
            Ok(bytes) => {
                self.outbox.stats.frame_out(FrameKind::Forward, bytes.len());
                if let Some(c) = self.tree.conns.get_mut(conn) {
                    c.last_used = now;
                    c.remember(Pending { at: now, ..p }, now);
                }
                self.outbox
                    .transmits
                    .push_back(Transmit::Send { conn, bytes });
            }
            Err(e) => self.outbox.stats.drop(DropReason::Wire(e)),
        }
    }

    /// A tree step whose connection failed or closed: once more to the same
    /// node on a fresh connection, then on to the part's next node.
    pub(super) fn retry(&mut self, now: Millis, to: Option<PeerRef>, p: Pending) {
        match to {
            Some(to) if !p.retried => self.send_pending(
                now,
                to,
                Pending {
                    retried: true,
                    at: now,
                    ..p
                },
            ),
            _ => self.reroute(now, p.fwd),
        }
    }

    /// A tree step whose connection failed: try the part's next node.
    pub(super) fn reroute(&mut self, now: Millis, fwd: Forward) {
        if let Some((next, rest)) = fwd.list.split_first() {
            let fwd = Forward {
                list: rest.to_vec(),
                ..fwd
            };
            self.send_forward(now, *next, fwd);
        } else {
            self.outbox.stats.drop(DropReason::TreeDeadEnd);
        }
    }

    /// At the connection cap, closes the least recently used connection
    /// (rerouting anything it had queued).
    pub(super) fn make_room(&mut self, now: Millis) {
        while self.tree.conns.len() >= self.cfg.max_conns.max(1) {
            let victim = self
                .tree
                .conns
                .lru_idle()
                .or_else(|| self.tree.conns.iter().map(|c| c.id).next());
            let Some(victim) = victim else { break };
            if let Some(c) = self.tree.conns.remove(victim) {
                self.outbox
                    .transmits
                    .push_back(Transmit::Close { conn: victim });
                for p in c.queue {
                    self.reroute(now, p.fwd);
                }
            }
        }
    }
}
