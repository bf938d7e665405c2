//! The per-node decision: from what this node sees, which slices it claims
//! and which it releases, make-before-break.
//!
//! Each auto node decides alone (only a node writes its own participation),
//! from the shared topology it sees and its own liveness view, damped:
//! - **present** (counts for the targets): alive, suspect, or down for less
//!   than the hold-down time. A brief flap changes no target, so it causes
//!   no reshuffle.
//! - **alive** (counts for releases): alive, strictly. Releasing relies only
//!   on nodes this node currently hears.
//!
//! For every slice `s`, with `T` the targets of `s` ([`Assignment::targets`]):
//! - **claim** `s` if this node is in `T` and does not hold it. Claiming is
//!   always safe.
//! - **release** `s` if this node holds it, is not in `T`, and
//!   (a) every node of `T` visibly holds `s` and is alive,
//!   (b) at least R other alive nodes visibly hold `s`, and
//!   (c) this node is the lowest-ranked (in ρ_s) of the holders of `s` that
//!   are not in `T` and not down.
//!   Otherwise it keeps `s` for now ("waiting").
//!
//! Why this is safe whatever the views: `T` is a prefix of ρ_s, the same
//! order on every node, so (a) means the releaser sees R holders ranked
//! *above* itself. The R highest-ranked nodes that ever held `s` can then
//! never release it (each would need R holders above it, and there are at
//! most R − 1), so at least R nodes hold `s` at every moment once R did,
//! however stale or divergent the views; only crashes take coverage lower.
//! (c) additionally lets one surplus holder go at a time. The proof, and the
//! counterexample a view-dependent "surplus" order falls into, are in
//! `docs/ALGORITHM.md` (Auto-claim).
//!
//! Claims and releases are written as aligned blocks ([`super::slices`]);
//! the plan lists the `Add`s first: writing them before the `Rmv`s means no
//! prefix of the batch ever serves less than before.

use std::collections::BTreeMap;

use crate::model::{KeyRange, NodeId};
use crate::wire::Liveness;

use super::assignment::Assignment;
use super::slices;
use crate::protocol::Millis;

/// Hold-down time by default: a board down for less than this still counts
/// as present (a reboot or a switch flap causes no reshuffle).
pub const DEFAULT_HOLD_DOWN_MS: u64 = 60_000;

/// One peer's liveness as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Alive, suspect or down.
    pub state: Liveness,
    /// Since when.
    pub since: Millis,
}

impl Observed {
    /// Alive (the state of a peer never heard of: innocent until suspected).
    pub const ALIVE: Observed = Observed {
        state: Liveness::Alive,
        since: Millis::ZERO,
    };

    /// Whether it counts for the targets at `now`: not down, or down for
    /// less than `hold_down` ms.
    #[must_use]
    pub const fn present(&self, now: Millis, hold_down: u64) -> bool {
        match self.state {
            Liveness::Alive | Liveness::Suspect => true,
            Liveness::Down => now.since(self.since) < hold_down,
        }
    }
}

/// Everything one decision reads.
#[derive(Clone, Copy)]
pub struct Situation<'a> {
    /// This node.
    pub me: NodeId,
    /// The nominal assignment of the group's current membership.
    pub assignment: &'a Assignment,
    /// Now.
    pub now: Millis,
    /// The hold-down time (ms), e.g. [`DEFAULT_HOLD_DOWN_MS`].
    pub hold_down: u64,
    /// Liveness of others as this node sees it; peers not in the map are
    /// alive. This node is always alive to itself.
    pub liveness: &'a BTreeMap<NodeId, Observed>,
    /// The live `Add` ranges of the group's auto nodes (members and nodes
    /// draining out of auto mode), as this node sees them. Its own entries
    /// are ignored; `own` is authoritative for them.
    pub holders: &'a [(NodeId, KeyRange)],
    /// This node's own live auto `Add` ranges.
    pub own: &'a [KeyRange],
}

/// What to write: the `Add`s in `claim` first, then the `Rmv`s in `release`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ranges to claim (new `Add` items), aligned blocks.
    pub claim: Vec<KeyRange>,
    /// Own auto ranges to release (`Rmv` of exactly these items).
    pub release: Vec<KeyRange>,
    /// Slices newly claimed.
    pub claimed: Vec<u32>,
    /// Slices given up.
    pub released: Vec<u32>,
    /// Slices held beyond the targets, kept until releasing is safe.
    pub waiting: Vec<u32>,
    /// Slices held once the plan is written.
    pub held: Vec<u32>,
}

impl Plan {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.claim.is_empty() && self.release.is_empty()
    }
}

impl Situation<'_> {
    fn observed(&self, id: NodeId) -> Observed {
        if id == self.me {
            return Observed::ALIVE;
        }
        self.liveness.get(&id).copied().unwrap_or(Observed::ALIVE)
    }

    /// Whether `id` counts for the targets (damped).
    #[must_use]
    pub fn present(&self, id: NodeId) -> bool {
        self.observed(id).present(self.now, self.hold_down)
    }

    /// Whether `id` may be relied on to keep serving (strictly alive).
    #[must_use]
    pub fn alive(&self, id: NodeId) -> bool {
        self.observed(id).state == Liveness::Alive
    }

    /// Per slice, the other auto nodes that visibly hold all of it.
    fn holders_per_slice(&self) -> Vec<Vec<NodeId>> {
        let policy = self.assignment.policy();
        let mut by_node: BTreeMap<NodeId, Vec<KeyRange>> = BTreeMap::new();
        for &(id, range) in self.holders {
            if id != self.me {
                by_node.entry(id).or_default().push(range);
            }
        }
        let mut per: Vec<Vec<NodeId>> = vec![Vec::new(); policy.slices() as usize];
        for (id, ranges) in by_node {
            for s in slices::covered(policy, &ranges) {
                if let Some(v) = per.get_mut(s as usize) {
                    v.push(id);
                }
            }
        }
        per
    }

    /// Whether this node may release slice `s` now (it holds `s` and is not
    /// among `targets`).
    fn may_release(&self, s: u32, targets: &[NodeId], holders: &[NodeId]) -> bool {
        let r = self.assignment.policy().replicas() as usize;
        // (a) every target visibly holds s and is alive.
        let targets_hold = targets
            .iter()
            .all(|t| *t != self.me && holders.contains(t) && self.alive(*t));
        // (b) at least R other alive holders.
        let alive_holders = holders.iter().filter(|h| self.alive(**h)).count();
        if !targets_hold || alive_holders < r {
            return false;
        }
        // (c) the lowest-ranked surplus holder that may still act.
        let mine = self.assignment.rank(s, self.me);
        holders
            .iter()
            .filter(|h| !targets.contains(h))
            .filter(|h| self.observed(**h).state != Liveness::Down)
            .all(|h| self.assignment.rank(s, *h) < mine)
    }

    /// The decision.
    #[must_use]
    pub fn decide(&self) -> Plan {
        self.decide_with(true)
    }

    /// The decision; with `releases` false, every slice it would release is
    /// kept as waiting instead (claims are unchanged). The wiring holds
    /// releases for a while after the membership changed, while other nodes
    /// may still rank with the old one (`docs/ALGORITHM.md`, 10.5).
    #[must_use]
    pub fn decide_with(&self, releases: bool) -> Plan {
        let policy = self.assignment.policy();
        let mut own: Vec<KeyRange> = self.own.to_vec();
        own.sort_unstable();
        own.dedup();
        let held_now = slices::touched(policy, &own);
        let holders = self.holders_per_slice();
        let mut plan = Plan::default();
        let mut held_iter = held_now.iter().peekable();
        for s in 0..policy.slices() {
            let held = held_iter.next_if(|&&h| h == s).is_some();
            let targets = self.assignment.targets(s, |id| self.present(id));
            let target = targets.contains(&self.me);
            match (held, target) {
                (false, true) => {
                    plan.claimed.push(s);
                    plan.held.push(s);
                }
                (true, true) => plan.held.push(s),
                (true, false) => {
                    let hs = holders.get(s as usize).map_or(&[][..], Vec::as_slice);
                    if releases && self.may_release(s, &targets, hs) {
                        plan.released.push(s);
                    } else {
                        plan.waiting.push(s);
                        plan.held.push(s);
                    }
                }
                (false, false) => {}
            }
        }
        let wanted = slices::blocks(policy, &plan.held);
        plan.claim = wanted
            .iter()
            .filter(|r| own.binary_search(r).is_err())
            .copied()
            .collect();
        plan.release = own
            .iter()
            .filter(|r| !wanted.contains(r))
            .copied()
            .collect();
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::assignment::Member;
    use super::super::policy::Policy;
    use super::*;

    fn id(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    fn setup(n: u64, slices: u32) -> (Assignment, Vec<NodeId>) {
        let ids: Vec<NodeId> = (1..=n).map(id).collect();
        let members: Vec<Member> = ids.iter().map(|&id| Member { id, weight: 1 }).collect();
        let a = Assignment::compute(Policy::new(2, slices).unwrap(), 77, &members);
        (a, ids)
    }

    /// Every member's converged holdings: its nominal slices, in blocks.
    fn converged(a: &Assignment, ids: &[NodeId]) -> Vec<(NodeId, KeyRange)> {
        let p = a.policy();
        let mut out = Vec::new();
        for &m in ids {
            let mine: Vec<u32> = (0..p.slices()).filter(|&s| a.owns(s, m)).collect();
            for r in slices::blocks(p, &mine) {
                out.push((m, r));
            }
        }
        out
    }

    fn own_of(all: &[(NodeId, KeyRange)], me: NodeId) -> Vec<KeyRange> {
        all.iter()
            .filter(|(m, _)| *m == me)
            .map(|(_, r)| *r)
            .collect()
    }

    #[test]
    fn a_converged_node_does_nothing() {
        let (a, ids) = setup(6, 64);
        let all = converged(&a, &ids);
        let live = BTreeMap::new();
        for &me in &ids {
            let own = own_of(&all, me);
            let plan = Situation {
                me,
                assignment: &a,
                now: Millis(1000),
                hold_down: 10_000,
                liveness: &live,
                holders: &all,
                own: &own,
            }
            .decide();
            assert!(plan.is_empty(), "{me:?}: {plan:?}");
            assert!(plan.waiting.is_empty());
        }
    }

    #[test]
    fn a_brief_down_moves_nothing_and_a_long_one_moves_its_slices() {
        let (a, ids) = setup(6, 64);
        let all = converged(&a, &ids);
        let dead = ids[0];
        let mut live = BTreeMap::new();
        live.insert(
            dead,
            Observed {
                state: Liveness::Down,
                since: Millis(5_000),
            },
        );
        let decide = |me: NodeId, now: u64| {
            let own = own_of(&all, me);
            Situation {
                me,
                assignment: &a,
                now: Millis(now),
                hold_down: 10_000,
                liveness: &live,
                holders: &all,
                own: &own,
            }
            .decide()
        };
        for &me in &ids[1..] {
            assert!(decide(me, 14_999).is_empty(), "within the hold-down");
        }
        let mut taken = 0;
        for &me in &ids[1..] {
            let plan = decide(me, 15_000);
            assert!(plan.released.is_empty(), "nobody gives up a slice");
            for s in &plan.claimed {
                assert!(a.owns(*s, dead), "only the dead node's slices move");
            }
            taken += plan.claimed.len();
        }
        assert_eq!(taken as u32, a.load(dead));
    }

    #[test]
    fn a_surplus_holder_releases_only_after_the_new_owner_holds() {
        let (a, ids) = setup(4, 16);
        let mut all = converged(&a, &ids);
        // An outsider (not a member: draining) holds everything.
        let outsider = id(99);
        all.push((outsider, KeyRange::FULL));
        let live = BTreeMap::new();
        let sit = |holders: &'_ [(NodeId, KeyRange)]| {
            Situation {
                me: outsider,
                assignment: &a,
                now: Millis(0),
                hold_down: 1,
                liveness: &live,
                holders,
                own: &[KeyRange::FULL],
            }
            .decide()
        };
        let plan = sit(&all);
        assert_eq!(plan.release, vec![KeyRange::FULL]);
        assert!(plan.claim.is_empty());
        assert_eq!(plan.released.len(), 16);
        // Without one owner's items, its slices are kept: the rest is
        // re-claimed in ranges before the full range is released.
        let owner = ids[0];
        let partial: Vec<(NodeId, KeyRange)> =
            all.iter().filter(|(m, _)| *m != owner).copied().collect();
        let plan = sit(&partial);
        assert_eq!(plan.waiting.len() as u32, a.load(owner));
        assert_eq!(plan.release, vec![KeyRange::FULL]);
        assert_eq!(
            slices::covered(a.policy(), &plan.claim),
            plan.waiting,
            "exactly the waiting slices are re-claimed"
        );
    }
}
