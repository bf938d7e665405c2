//! Islands: the multicast islands this node knows of, as last observed,
//! and which of them it cannot reach.
//!
//! A multicast island is a set of nodes whose multicast reaches one another
//! (a subnet, usually). This node learns them from what its peers announce:
//! the representative each peer names for its island (`rep_of`) and whom
//! each peer hears by multicast (`hears`); peers linked by either are in
//! one island, and the peers whose multicast this node hears are in its own.
//! A live peer's "hears" counts while fresh; a down peer's last report
//! counts however old, since it is all we have (as does our having heard
//! its multicast, or its hearing ours, at any time, and a live peer's last
//! report of hearing a peer now down): an island is its *last known* shape.
//! So a board that died (even an island's representative)
//! stays in its island, whose live members keep it reachable, and a
//! subnet cut off as a whole shows as one island with every known member
//! down: unreachable. A part of an island cut off from the rest shows as
//! members down, not as an island (from outside, one cannot tell it from
//! dead boards).
//!
//! Why it matters: a node that holds a whole island down has no path the
//! other rules still use into it (they skip down peers), so reconnect
//! contacts one of its last known addresses every interval, and `status`
//! reports it (`unreachable_islands`):
//! one board down is a dead board, a whole island down is a split. Without
//! multicast there are no islands: every peer is reached by unicast only.

use std::collections::BTreeMap;

use crate::model::NodeId;

use super::peers::{Peer, PeerTable};
use super::time::Millis;

/// One multicast island as this node last observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Island {
    /// Its smallest known member id (this node included): a stable name.
    pub id: NodeId,
    /// Its known peers (this node excluded), sorted.
    pub members: Vec<NodeId>,
    /// How many of them this node holds down.
    pub down: usize,
    /// Whether this node is in it (its own LAN).
    pub ours: bool,
}

impl Island {
    /// Whether this node holds every known member of it down (never its
    /// own island, nor one with no known member).
    #[must_use]
    pub fn unreachable(&self) -> bool {
        !self.ours && !self.members.is_empty() && self.down == self.members.len()
    }
}

/// What [`islands`] needs to know beyond the peer table.
pub(super) struct Observed<'a> {
    /// This node.
    pub me: NodeId,
    /// Now.
    pub now: Millis,
    /// How long a "hears" report of a live peer lasts (ms).
    pub hears_ttl: u64,
    /// Whether this node hears the peer's multicast or the peer hears ours.
    pub local: &'a dyn Fn(&Peer) -> bool,
    /// Whether this node holds the peer down.
    pub down: &'a dyn Fn(NodeId) -> bool,
}

/// The islands of every known peer, by [`Island::id`]. With `multicast`
/// off, none.
#[must_use]
pub(super) fn islands(peers: &PeerTable, multicast: bool, o: &Observed<'_>) -> Vec<Island> {
    if !multicast || peers.is_empty() {
        return Vec::new();
    }
    let mut sets = Sets::default();
    sets.add(o.me);
    for p in peers.iter() {
        sets.add(p.id);
    }
    for p in peers.iter() {
        let down = (o.down)(p.id);
        // A down peer whose multicast we ever heard, or that ever heard
        // ours, was of our LAN (a board that died at boot, before its
        // reports named us, too).
        let was_local = down && (p.last_multicast.is_some() || p.hears_me.is_some());
        if (o.local)(p) || was_local {
            sets.join(o.me, p.id);
        }
        if let Some(rep) = p.rep_of {
            sets.join(p.id, rep);
        }
        for (h, at) in &p.hears {
            // A down peer's last report, and a live peer's last report of
            // one now down, count however old: the last known shape.
            if down || (o.down)(*h) || o.now.since(*at) <= o.hears_ttl {
                sets.join(p.id, *h);
            }
        }
    }
    let mine = sets.root(o.me);
    let mut by_root: BTreeMap<NodeId, Island> = BTreeMap::new();
    for p in peers.iter() {
        let Some(root) = sets.root(p.id) else {
            continue;
        };
        let island = by_root.entry(root).or_insert_with(|| Island {
            id: root,
            members: Vec::new(),
            down: 0,
            ours: Some(root) == mine,
        });
        island.members.push(p.id);
        if (o.down)(p.id) {
            island.down += 1;
        }
    }
    let mut out: Vec<Island> = by_root.into_values().collect();
    for island in &mut out {
        island.members.sort_unstable();
    }
    out
}

/// Disjoint sets of node ids (union by smallest id, so each set's root is
/// its smallest member). Ids not added are ignored.
#[derive(Default)]
struct Sets {
    parent: BTreeMap<NodeId, NodeId>,
}

impl Sets {
    fn add(&mut self, id: NodeId) {
        self.parent.entry(id).or_insert(id);
    }

    fn root(&mut self, id: NodeId) -> Option<NodeId> {
        let mut r = *self.parent.get(&id)?;
        // At most as many steps as there are ids.
        for _ in 0..self.parent.len() {
            let up = *self.parent.get(&r)?;
            if up == r {
                break;
            }
            r = up;
        }
        // Path compression.
        let mut at = id;
        while at != r {
            let Some(up) = self.parent.insert(at, r) else {
                break;
            };
            at = up;
        }
        Some(r)
    }

    fn join(&mut self, a: NodeId, b: NodeId) {
        let (Some(ra), Some(rb)) = (self.root(a), self.root(b)) else {
            return;
        };
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent.insert(hi, lo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    /// Peers 2..=4 in one island (they name 2), 5 and 6 in another (5
    /// hears 6), 7 alone; this node (1) hears 3.
    fn table() -> PeerTable {
        let mut t = PeerTable::new();
        for i in 2..=7 {
            t.entry(id(i), Millis(0));
        }
        for i in 2..=4 {
            if let Some(p) = t.get_mut(id(i)) {
                p.rep_of = Some(id(2));
            }
        }
        if let Some(p) = t.get_mut(id(5)) {
            p.note_hears(id(6), Millis(0));
        }
        t
    }

    fn run(t: &PeerTable, now: u64, down: &[u64]) -> Vec<Island> {
        let local = |p: &Peer| p.id == id(3);
        let is_down = |x: NodeId| down.iter().any(|d| id(*d) == x);
        islands(
            t,
            true,
            &Observed {
                me: id(1),
                now: Millis(now),
                hears_ttl: 100,
                local: &local,
                down: &is_down,
            },
        )
    }

    #[test]
    fn peers_group_by_representative_hears_and_our_lan() {
        let all = run(&table(), 0, &[]);
        let shape: Vec<(u64, Vec<u64>, bool)> = all
            .iter()
            .map(|i| {
                (
                    i.id.as_u64(),
                    i.members.iter().map(|m| m.as_u64()).collect(),
                    i.ours,
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (1, vec![2, 3, 4], true),
                (5, vec![5, 6], false),
                (7, vec![7], false),
            ]
        );
        assert!(all.iter().all(|i| !i.unreachable()));
    }

    #[test]
    fn an_island_is_unreachable_only_when_every_known_member_is_down() {
        let all = run(&table(), 0, &[5]);
        assert!(all.iter().all(|i| !i.unreachable()), "6 is alive");
        let all = run(&table(), 0, &[5, 6, 7]);
        let ids: Vec<u64> = all
            .iter()
            .filter(|i| i.unreachable())
            .map(|i| i.id.as_u64())
            .collect();
        assert_eq!(ids, vec![5, 7]);
        let all = run(&table(), 0, &[2, 3, 4]);
        assert!(all.iter().all(|i| !i.unreachable()), "our own island");
    }

    #[test]
    fn a_live_peers_stale_hears_no_longer_links_a_down_ones_still_does() {
        // 5's report of hearing 6 is old: alive, they are apart now.
        let all = run(&table(), 1_000, &[]);
        assert!(all.iter().any(|i| i.members == vec![id(5)]));
        // Down, its last report still places it.
        let all = run(&table(), 1_000, &[5]);
        assert!(all.iter().any(|i| i.members == vec![id(5), id(6)]));
        // 6 down, and its own reports never named 5: 5's last report of
        // hearing it still places it (a dead board, not an island).
        let all = run(&table(), 1_000, &[6]);
        assert!(all.iter().any(|i| i.members == vec![id(5), id(6)]));
        assert!(all.iter().all(|i| !i.unreachable()), "5 is alive");
    }

    #[test]
    fn a_lan_neighbour_that_died_at_boot_stays_in_our_island() {
        // 8's multicast reached us once; it died before its reports named
        // anyone: a dead board of our LAN, not an unreachable island.
        let mut t = table();
        t.entry(id(8), Millis(0));
        if let Some(p) = t.get_mut(id(8)) {
            p.last_multicast = Some(Millis(0));
        }
        let all = run(&t, 1_000, &[8]);
        let ours = all.iter().find(|i| i.ours).unwrap();
        assert!(ours.members.contains(&id(8)), "{all:?}");
        assert!(all.iter().all(|i| !i.unreachable()), "{all:?}");
    }

    #[test]
    fn without_multicast_there_are_no_islands() {
        let t = table();
        let local = |_: &Peer| false;
        let down = |_: NodeId| true;
        let o = Observed {
            me: id(1),
            now: Millis(0),
            hears_ttl: 100,
            local: &local,
            down: &down,
        };
        assert!(islands(&t, false, &o).is_empty());
    }
}
