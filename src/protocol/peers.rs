//! `PeerTable`: what this node has learned about every other node, from
//! authenticated frames only.
//!
//! Per peer: its contact address, incarnation and highest wire version, when
//! it was last heard (and last heard *by multicast*), whether it reports
//! hearing our multicast, whom it hears (for grouping peers into multicast
//! islands), and the group digests it announced. All bounded: the table, the
//! hears set and the digest map per peer have caps, so a hostile or huge
//! cluster cannot grow them without limit.

use core::net::SocketAddr;
use std::collections::BTreeMap;

use crate::model::{GroupName, NodeId};
use crate::wire::PeerRef;

use super::time::Millis;

/// Most peers remembered.
pub const MAX_PEERS: usize = 8_192;
/// Most "hears" entries remembered per peer.
pub(super) const MAX_HEARS: usize = 512;
/// Most group digests remembered per peer.
pub(super) const MAX_GROUP_DIGESTS: usize = 256;
/// Most relay targets remembered per peer.
pub(super) const MAX_RELAYED: usize = 8;

/// A group digest a peer announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupHeard {
    /// Its world clock fingerprint of the group.
    pub fingerprint: u64,
    /// When it last announced the group.
    pub at: Millis,
    /// Since when it has announced this fingerprint (unchanged).
    pub since: Millis,
}

/// What we know about one peer.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The peer.
    pub id: NodeId,
    /// Where to reach it (UDP and TCP), if known.
    pub addr: Option<SocketAddr>,
    /// The `(incarnation, seq)` of its own frame that gave [`Self::addr`]
    /// (see [`Self::note_addr`]); `None` if another node named the address,
    /// or it came from a frame that is not replay-checked.
    pub addr_from: Option<(u64, u64)>,
    /// Its incarnation as last seen.
    pub incarnation: u64,
    /// Highest wire version it accepts (from its announces).
    pub max_version: u8,
    /// When any authenticated frame from it last arrived.
    pub last_heard: Millis,
    /// When its multicast last reached us.
    pub last_multicast: Option<Millis>,
    /// When it last listed us among the nodes whose multicast it hears.
    pub hears_me: Option<Millis>,
    /// Whom it hears by multicast, and when it last said so.
    pub hears: BTreeMap<NodeId, Millis>,
    /// Its announced group digests.
    pub groups: BTreeMap<GroupName, GroupHeard>,
    /// Its announced hash of all group digests.
    pub groups_fp: Option<u64>,
    /// Its auto-claim policy fingerprint, from its last announce.
    pub policy_fp: Option<u64>,
    /// When we last answered its unicast announce with ours.
    pub last_reply: Option<Millis>,
    /// When it was last known to represent its multicast island (the node
    /// with the smallest id among those that hear one another): first-hand,
    /// or relayed by a peer of our own island that knew it first-hand.
    pub rep_at: Option<Millis>,
    /// When we last learned that first-hand: an announce from its own
    /// island naming it (only this is relayed, so relays never loop).
    pub rep_direct_at: Option<Millis>,
    /// The representative of its island as it last announced it (first-hand,
    /// `heads[0]`): which island it is in, for a group's member tree.
    pub rep_of: Option<NodeId>,
    /// The LAN peers we last passed its announce on to, and when (at most
    /// [`MAX_RELAYED`], the oldest making room).
    pub relayed_to: Vec<(NodeId, Millis)>,
    /// The key id of its last replay-checked frame ([`super::KeySeen`]).
    pub key_seen: Option<super::KeySeen>,
    /// Who last told us (a rumor) that it restarted: whom to ask first
    /// when our probe at the address we hold fails.
    pub restart_told_by: Option<NodeId>,
}

impl Peer {
    fn new(id: NodeId, now: Millis) -> Self {
        Self {
            id,
            addr: None,
            addr_from: None,
            incarnation: 0,
            max_version: crate::wire::MIN_VERSION,
            last_heard: now,
            last_multicast: None,
            hears_me: None,
            hears: BTreeMap::new(),
            groups: BTreeMap::new(),
            groups_fp: None,
            policy_fp: None,
            last_reply: None,
            rep_at: None,
            rep_direct_at: None,
            rep_of: None,
            relayed_to: Vec::new(),
            key_seen: None,
            restart_told_by: None,
        }
    }

    /// Adopts `addr`, the address its own frame at `frame` =
    /// `(incarnation, seq)` gives (an announce's first address, whichever
    /// path brought it), if that frame is newer than the one behind the
    /// stored address: a board that moved (a new DHCP lease, with or
    /// without a restart) is followed, newest incarnation first, and an
    /// older frame arriving late (relayed, reordered) never takes it back.
    /// An address another node named (`None` evidence) always gives way.
    /// Returns whether the address changed.
    pub fn note_addr(&mut self, addr: SocketAddr, frame: (u64, u64)) -> bool {
        if self.addr_from.is_some_and(|f| frame <= f) {
            return false;
        }
        self.addr_from = Some(frame);
        let changed = self.addr != Some(addr);
        self.addr = Some(addr);
        changed
    }

    /// The source `src` of a replay-checked datagram it sent us itself (a
    /// ping, ack or ping request) at `frame`: where it is, if `frame` is of
    /// a newer incarnation than the stored address's evidence (it restarted
    /// somewhere else and its announce has not arrived yet), or if the
    /// stored address has none (another node named it). Within one
    /// incarnation only its announces move the address: a board with
    /// several addresses may send from one it does not announce. Returns
    /// whether the address changed.
    pub fn note_source(&mut self, src: SocketAddr, frame: (u64, u64)) -> bool {
        if self.addr_from.is_some_and(|f| frame.0 <= f.0) {
            return false;
        }
        self.note_addr(src, frame)
    }

    /// A frame of it at `incarnation` came in format `version`: it speaks
    /// that version at least. Its announce says exactly how far it goes
    /// (`max_version`), but until one arrives a peer known only from
    /// others' reports would be sent nothing newer than
    /// [`crate::wire::MIN_VERSION`]: no ack to its ping, no ping it is
    /// introduced to (a board that restarted, or restarted elsewhere, does
    /// not know its old peers' versions). Never lowered here, not even by
    /// a newer incarnation: a frame is sent at the version its sender
    /// negotiated for us, which may be below what it speaks; a board
    /// restarted with an older build says so in its first announces.
    pub fn note_version(&mut self, version: u8, incarnation: u64) {
        if incarnation >= self.incarnation {
            self.max_version = self.max_version.max(version);
        }
    }

    /// Its address as another node names it now (an island representative
    /// in an announce's `heads`): taken unless its own frame gave the one
    /// stored. A later report replaces an earlier one, so a representative
    /// known only by name is followed when it moves, as its island reports.
    pub fn note_named(&mut self, addr: SocketAddr) {
        if self.addr_from.is_none() {
            self.addr = Some(addr);
        }
    }

    /// An address for it from a frame that is not replay-checked: kept only
    /// if none is known.
    pub fn note_hearsay(&mut self, addr: SocketAddr) {
        if self.addr.is_none() {
            self.addr = Some(addr);
        }
    }

    /// Its contact, if its address is known.
    #[must_use]
    pub fn peer_ref(&self) -> Option<PeerRef> {
        self.addr.map(|addr| PeerRef { id: self.id, addr })
    }

    /// Whether its multicast reached us within `ttl` ms.
    #[must_use]
    pub fn heard_by_multicast(&self, now: Millis, ttl: u64) -> bool {
        self.last_multicast.is_some_and(|t| now.since(t) <= ttl)
    }

    /// Whether it reported hearing our multicast within `ttl` ms.
    #[must_use]
    pub fn hears_us(&self, now: Millis, ttl: u64) -> bool {
        self.hears_me.is_some_and(|t| now.since(t) <= ttl)
    }

    /// Whether it was named as an island representative within `ttl` ms.
    #[must_use]
    pub fn is_rep(&self, now: Millis, ttl: u64) -> bool {
        self.rep_at.is_some_and(|t| now.since(t) <= ttl)
    }

    /// Whether we learned first-hand within `ttl` ms that it represents its
    /// island.
    #[must_use]
    pub fn is_rep_direct(&self, now: Millis, ttl: u64) -> bool {
        self.rep_direct_at.is_some_and(|t| now.since(t) <= ttl)
    }

    /// Whether it reported hearing `other`'s multicast within `ttl` ms.
    #[must_use]
    pub fn hears(&self, other: NodeId, now: Millis, ttl: u64) -> bool {
        self.hears.get(&other).is_some_and(|t| now.since(*t) <= ttl)
    }

    /// Records that it hears `other` (bounded: the oldest entry goes).
    pub fn note_hears(&mut self, other: NodeId, now: Millis) {
        if self.hears.len() >= MAX_HEARS && !self.hears.contains_key(&other) {
            if let Some(oldest) = self
                .hears
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(id, _)| *id)
            {
                self.hears.remove(&oldest);
            }
        }
        self.hears.insert(other, now);
    }

    /// Records an announced group digest (bounded: the oldest entry goes).
    pub fn note_group(&mut self, group: &GroupName, fingerprint: u64, now: Millis) {
        if let Some(e) = self.groups.get_mut(group) {
            if e.fingerprint != fingerprint {
                e.fingerprint = fingerprint;
                e.since = now;
            }
            e.at = now;
            return;
        }
        if self.groups.len() >= MAX_GROUP_DIGESTS {
            if let Some(oldest) = self
                .groups
                .iter()
                .min_by_key(|(_, h)| h.at)
                .map(|(g, _)| g.clone())
            {
                self.groups.remove(&oldest);
            }
        }
        self.groups.insert(
            group.clone(),
            GroupHeard {
                fingerprint,
                at: now,
                since: now,
            },
        );
    }

    /// Whether it announced holding `group` (a node announces only the
    /// groups it is a member of).
    #[must_use]
    pub fn holds(&self, group: &GroupName) -> bool {
        self.groups.contains_key(group)
    }

    /// Whether its announce went to `to` within the last `period` ms.
    #[must_use]
    pub fn relayed_lately(&self, to: NodeId, now: Millis, period: u64) -> bool {
        self.relayed_to
            .iter()
            .any(|(id, t)| *id == to && now.since(*t) < period)
    }

    /// Notes that its announce goes to `to` now; `false` (nothing noted,
    /// do not send) if [`MAX_RELAYED`] others got it within `period`.
    pub fn note_relayed(&mut self, to: NodeId, now: Millis, period: u64) -> bool {
        self.relayed_to
            .retain(|(id, t)| *id != to && now.since(*t) < period);
        if self.relayed_to.len() >= MAX_RELAYED {
            return false;
        }
        self.relayed_to.push((to, now));
        true
    }

    /// Keeps only the group digests in `held`: its announce listed all its
    /// groups in one window, so the others it no longer holds (it left).
    pub fn retain_groups(&mut self, held: &[GroupName]) {
        self.groups.retain(|g, _| held.contains(g));
    }
}

/// Which of a peer's announced addresses this node uses: the first of a
/// family (IPv4, IPv6) this node has an address of itself (an IPv6-only
/// node cannot send to a dual-stack peer's IPv4 address), else the first.
#[must_use]
pub(super) fn usable_addr(mine: &[SocketAddr], theirs: &[SocketAddr]) -> Option<SocketAddr> {
    theirs
        .iter()
        .find(|t| mine.iter().any(|m| m.is_ipv4() == t.is_ipv4()))
        .or_else(|| theirs.first())
        .copied()
}

/// How many known peers this node holds in each liveness state: disjoint,
/// summing to the peers known (a peer never heard of by the detector, e.g.
/// one named second-hand, counts as alive: innocent until suspected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStates {
    /// Alive.
    pub alive: usize,
    /// Suspected, not refuted yet.
    pub suspect: usize,
    /// Down.
    pub down: usize,
}

impl PeerStates {
    /// Counts `states`.
    pub fn count(states: impl Iterator<Item = crate::wire::Liveness>) -> Self {
        let mut s = Self::default();
        for state in states {
            match state {
                crate::wire::Liveness::Alive => s.alive += 1,
                crate::wire::Liveness::Suspect => s.suspect += 1,
                crate::wire::Liveness::Down => s.down += 1,
            }
        }
        s
    }

    /// The peers known: `alive + suspect + down`.
    #[must_use]
    pub fn total(&self) -> usize {
        self.alive + self.suspect + self.down
    }
}

/// Every peer we know, by id, with `O(1)` uniform random picks.
#[derive(Clone, Debug, Default)]
pub struct PeerTable {
    peers: Vec<Peer>,
    index: BTreeMap<NodeId, usize>,
}

impl PeerTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The peer, if known.
    #[must_use]
    pub fn get(&self, id: NodeId) -> Option<&Peer> {
        self.index.get(&id).and_then(|&i| self.peers.get(i))
    }

    /// The peer, if known, for updating.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Peer> {
        let i = *self.index.get(&id)?;
        self.peers.get_mut(i)
    }

    /// Every peer (in an arbitrary but deterministic order).
    pub fn iter(&self) -> impl Iterator<Item = &Peer> + '_ {
        self.peers.iter()
    }

    /// The peer at position `r % len` (a uniform pick for a random `r`).
    #[must_use]
    pub fn nth_wrapping(&self, r: u64) -> Option<&Peer> {
        if self.peers.is_empty() {
            return None;
        }
        self.peers.get((r % self.peers.len() as u64) as usize)
    }

    /// Number of peers known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The peer, created if new (`true` in the second field). At the cap the
    /// peer heard from least recently makes room.
    pub fn entry(&mut self, id: NodeId, now: Millis) -> (&mut Peer, bool) {
        let new = !self.index.contains_key(&id);
        if new {
            if self.peers.len() >= MAX_PEERS
                && let Some(stale) = self.peers.iter().min_by_key(|p| p.last_heard).map(|p| p.id)
            {
                self.remove(stale);
            }
            self.index.insert(id, self.peers.len());
            self.peers.push(Peer::new(id, now));
        }
        let i = self.index.get(&id).copied().unwrap_or(0);
        // `i` is valid: it was just inserted or already indexed.
        let last = self.peers.len().saturating_sub(1);
        let peer = &mut self.peers[i.min(last)];
        (peer, new)
    }

    /// The peer whose contact address is `addr`, if any.
    #[must_use]
    pub fn by_addr(&self, addr: SocketAddr) -> Option<&Peer> {
        self.peers.iter().find(|p| p.addr == Some(addr))
    }

    /// Forgets a peer.
    pub fn remove(&mut self, id: NodeId) {
        let Some(i) = self.index.remove(&id) else {
            return;
        };
        self.peers.swap_remove(i);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.id, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hears_entries_are_bounded_and_expire() {
        let mut p = Peer::new(NodeId::from_u64(1), Millis(0));
        for i in 0..(MAX_HEARS as u64 + 10) {
            p.note_hears(NodeId::from_u64(100 + i), Millis(i));
        }
        assert_eq!(p.hears.len(), MAX_HEARS);
        let last = NodeId::from_u64(100 + MAX_HEARS as u64 + 9);
        assert!(p.hears(last, Millis(600), 100));
        assert!(!p.hears(last, Millis(10_000), 100));
    }

    #[test]
    fn the_usable_address_is_of_a_family_we_have() {
        let v4: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:1".parse().unwrap();
        let w4: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let w6: SocketAddr = "[fd00::2]:1".parse().unwrap();
        assert_eq!(usable_addr(&[v6], &[w4, w6]), Some(w6));
        assert_eq!(usable_addr(&[v4, v6], &[w4, w6]), Some(w4));
        assert_eq!(
            usable_addr(&[v4], &[w6]),
            Some(w6),
            "the first if none fits"
        );
        assert_eq!(usable_addr(&[], &[w6, w4]), Some(w6));
        assert_eq!(usable_addr(&[v4], &[]), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = PeerTable::new();
        for i in 0..(MAX_PEERS as u64 + 5) {
            t.entry(NodeId::from_u64(i), Millis(i));
        }
        assert_eq!(t.len(), MAX_PEERS);
        assert!(t.get(NodeId::from_u64(0)).is_none());
        for p in t.iter() {
            assert_eq!(t.get(p.id).map(|q| q.id), Some(p.id), "index consistent");
        }
    }

    #[test]
    fn remove_keeps_the_index_consistent() {
        let mut t = PeerTable::new();
        for i in 0..10 {
            t.entry(NodeId::from_u64(i), Millis(0));
        }
        t.remove(NodeId::from_u64(3));
        t.remove(NodeId::from_u64(9));
        assert_eq!(t.len(), 8);
        for p in t.iter() {
            assert_eq!(t.get(p.id).map(|q| q.id), Some(p.id));
        }
        assert!(t.nth_wrapping(12345).is_some());
    }
}
