//! Relays: which far announces go on to which LAN members, and received
//! news re-sent to a random far member of its group.

use super::*;

impl Chatter {
    /// Interest's repair path across routers (ALGORITHM.md 8.6). A far
    /// node's own unicast announce (a far sync) names a group we are not a
    /// member of, and a member on our LAN announces it with another
    /// fingerprint: they disagree, and may not know each other (a member
    /// learns a far member's address only by hearing from it). We pass the
    /// frame on, unchanged, to at most [`RELAY_FANOUT`] such members. It is
    /// the far node's own authenticated announce, so the member learns its
    /// address, answers it there and pulls if it lacks something.
    ///
    /// Kept rare: only a frame that came straight from its sender (relays
    /// never chain); only a member that announced its fingerprint lately
    /// and has not changed it for `pull_max_delay` (a write the broadcast
    /// is delivering moves it); never for a group we are a member of (we
    /// compare with the far node ourselves, and our LAN with us); the same
    /// far node to the same member once per [`RELAY_PERIOD`]; within the
    /// per-address answer budget.
    pub(super) fn relay_targets(
        &mut self,
        now: Millis,
        src: Source,
        sender: NodeId,
        digests: &[GroupDigest],
    ) -> Vec<SocketAddr> {
        let ttl = self.hears_ttl();
        // A member whose fingerprint moved lately may be taking in a write
        // the broadcast is delivering anyway: only one stuck that long, and
        // heard lately (the announce period grows with the LAN).
        let settled = self.cfg.pull_max_delay;
        let fresh = settled.max(self.period.saturating_mul(2));
        // Only a sender admitted to the peer table (dispatch ran) and not
        // on our LAN (which hears its multicast announces already).
        let Some(far) = self.peers.get(sender) else {
            return Vec::new();
        };
        if self.is_local(far, now, ttl) {
            return Vec::new();
        }
        let mut candidates: Vec<PeerRef> = self
            .peers
            .iter()
            .filter(|p| p.id != sender && self.is_local(p, now, ttl))
            .filter(|p| !far.relayed_lately(p.id, now, RELAY_PERIOD))
            .filter(|p| self.detector.state(p.id) != Liveness::Down)
            .filter(|p| {
                digests.iter().any(|d| {
                    !self.holds(&d.group)
                        && p.groups.get(&d.group).is_some_and(|h| {
                            h.fingerprint != d.fingerprint
                                && now.since(h.since) >= settled
                                && now.since(h.at) <= fresh
                        })
                })
            })
            .filter_map(|p| p.peer_ref())
            .collect();
        shuffle(&mut self.rng, &mut candidates);
        let mut out = Vec::new();
        for to in candidates {
            if out.len() >= RELAY_FANOUT || !self.replies.allow(src.addr.ip(), now) {
                break;
            }
            let noted = self
                .peers
                .get_mut(sender)
                .is_some_and(|x| x.note_relayed(to.id, now, RELAY_PERIOD));
            if !noted {
                break;
            }
            out.push(to.addr);
        }
        out
    }

    /// The digests of `frame` if it may be passed on (see
    /// [`Chatter::relay_targets`]): an announce that came by unicast
    /// datagram straight from its sender (the source is one of its
    /// addresses), with groups, while we use multicast.
    pub(super) fn relay_candidate(&self, src: Source, frame: &Frame) -> Option<Vec<GroupDigest>> {
        let wire::Payload::Announce(a) = &frame.payload else {
            return None;
        };
        let direct = src.via == Via::Unicast && src.conn.is_none() && a.addrs.contains(&src.addr);
        (self.cfg.multicast && direct && !a.groups.entries.is_empty())
            .then(|| a.groups.entries.clone())
    }

    /// Re-sends news, unchanged, to one random far member of its group.
    pub(super) fn gossip(&mut self, now: Millis, m: &Message, from: NodeId) {
        let ttl = self.hears_ttl();
        let multicast = self.cfg.multicast;
        let far: Vec<NodeId> = self
            .group_holders(m.group())
            .into_iter()
            .filter(|id| *id != from)
            .filter(|id| {
                self.peers
                    .get(*id)
                    .is_some_and(|p| !(multicast && p.heard_by_multicast(now, ttl)))
            })
            .collect();
        let far = pick(&mut self.rng, &far);
        if let Some(to) = far.and_then(|id| self.peers.get(id)?.addr) {
            let v = self.send_version();
            self.send_datagram(now, Some(to), wire::Payload::Delta(m.clone()), v);
        }
    }
}

/// Most LAN members a far node's announce is passed on to.
pub(super) const RELAY_FANOUT: usize = 2;

/// A far node's announce goes to the same LAN member at most once in this
/// many ms: once the member has it, the two far-sync each other.
pub(super) const RELAY_PERIOD: u64 = 600_000;
