//! Anti-entropy bookkeeping: which groups look out of date and when to pull
//! them, which pulls are in flight (so a node asks once per group and, when
//! an answer does not come, asks another holder), and how many pulls each
//! peer may have served (a token bucket, so one peer flooding pulls cannot
//! make this node spend all its time building deltas).
//!
//! A differing fingerprint does not trigger a pull at once: while writes
//! are being broadcast, every announce differs, and the broadcast will
//! deliver them anyway. A group is pulled once it has been quiet (no news)
//! for a moment, or, under sustained churn, after a longest delay.

use std::collections::BTreeMap;

use crate::model::{GroupName, NodeId};

use super::rate::{Buckets, Budget};
use super::time::Millis;

/// A pull waiting for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    /// Who was asked.
    pub target: NodeId,
    /// When to give up on it.
    pub deadline: Millis,
    /// Everyone asked so far for this round (to pick another holder).
    pub tried: Vec<NodeId>,
}

/// Most holders asked in one round before waiting for the next announce.
const MAX_TRIES: usize = 4;

/// Pulls in flight, groups suspected out of date, and per-peer serving
/// budgets.
#[derive(Clone, Debug, Default)]
pub(super) struct PullTracker {
    in_flight: BTreeMap<GroupName, InFlight>,
    /// Pulls served per peer (made at the first pull served: the rate is
    /// the caller's setting).
    serving: Option<Buckets<NodeId>>,
    suspects: BTreeMap<GroupName, Suspect>,
    last_news: BTreeMap<GroupName, Millis>,
}

/// A group a peer's digest says differs from ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Suspect {
    /// When the difference was first seen.
    pub since: Millis,
    /// The peer to pull from (the latest to show the difference).
    pub peer: NodeId,
}

/// Most peers with a serving budget remembered.
const MAX_BUCKETS: usize = 4_096;

impl PullTracker {
    /// Nothing in flight.
    #[must_use]
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A peer's digest of `group` differs from ours.
    pub(super) fn suspect(&mut self, group: &GroupName, peer: NodeId, now: Millis) {
        match self.suspects.get_mut(group) {
            Some(s) => s.peer = peer,
            None => {
                self.suspects
                    .insert(group.clone(), Suspect { since: now, peer });
            }
        }
    }

    /// `peer`'s digest of `group` equals ours: no longer a reason to pull.
    pub(super) fn agree(&mut self, group: &GroupName, peer: NodeId) {
        if self.suspects.get(group).is_some_and(|s| s.peer == peer) {
            self.suspects.remove(group);
        }
    }

    /// `group` changed just now (news arrived or an own write).
    pub(super) fn news(&mut self, group: &GroupName, now: Millis) {
        match self.last_news.get_mut(group) {
            Some(t) => *t = now,
            None => {
                self.last_news.insert(group.clone(), now);
            }
        }
    }

    /// When the suspect of `group` becomes due: once the group has been quiet
    /// for `quiet` ms, or `max_delay` ms after the difference was seen.
    fn due_at(&self, group: &GroupName, s: &Suspect, quiet: u64, max_delay: u64) -> Millis {
        let quiet_at = self
            .last_news
            .get(group)
            .map_or(s.since, |t| t.plus(quiet))
            .max(s.since.plus(quiet));
        quiet_at.min(s.since.plus(max_delay))
    }

    /// The suspects due now (removed: the caller pulls them).
    pub(super) fn take_due(
        &mut self,
        now: Millis,
        quiet: u64,
        max_delay: u64,
    ) -> Vec<(GroupName, NodeId)> {
        let due: Vec<(GroupName, NodeId)> = self
            .suspects
            .iter()
            .filter(|(g, s)| self.due_at(g, s, quiet, max_delay) <= now)
            .map(|(g, s)| (g.clone(), s.peer))
            .collect();
        for (g, _) in &due {
            self.suspects.remove(g);
        }
        due
    }

    /// When the next suspect becomes due.
    #[must_use]
    pub(super) fn next_due(&self, quiet: u64, max_delay: u64) -> Option<Millis> {
        self.suspects
            .iter()
            .map(|(g, s)| self.due_at(g, s, quiet, max_delay))
            .min()
    }

    /// Whether a pull of `group` is in flight and not yet overdue.
    #[must_use]
    pub(super) fn busy(&self, group: &GroupName, now: Millis) -> bool {
        self.in_flight.get(group).is_some_and(|f| now < f.deadline)
    }

    /// Records a pull of `group` from `target`.
    pub(super) fn start(&mut self, group: &GroupName, target: NodeId, now: Millis, timeout: u64) {
        let entry = self
            .in_flight
            .entry(group.clone())
            .or_insert_with(|| InFlight {
                target,
                deadline: now,
                tried: Vec::new(),
            });
        entry.target = target;
        entry.deadline = now.plus(timeout);
        if !entry.tried.contains(&target) {
            entry.tried.push(target);
        }
    }

    /// An answer for `group` came from `from`: the pull is done.
    pub(super) fn answered(&mut self, group: &GroupName, from: NodeId) {
        if self.in_flight.get(group).is_some_and(|f| f.target == from) {
            self.in_flight.remove(group);
        }
    }

    /// Pulls whose deadline passed: removed from flight if they had their
    /// tries, or returned (still recorded) so the caller asks another holder.
    pub(super) fn overdue(&mut self, now: Millis) -> Vec<(GroupName, InFlight)> {
        let late: Vec<GroupName> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now >= f.deadline)
            .map(|(g, _)| g.clone())
            .collect();
        let mut out = Vec::new();
        for g in late {
            let give_up = self
                .in_flight
                .get(&g)
                .is_none_or(|f| f.tried.len() >= MAX_TRIES);
            if give_up {
                self.in_flight.remove(&g);
            } else if let Some(f) = self.in_flight.get(&g) {
                out.push((g, f.clone()));
            }
        }
        out
    }

    /// Forgets an overdue pull for which no other holder is known.
    pub(super) fn abandon(&mut self, group: &GroupName) {
        self.in_flight.remove(group);
    }

    /// The next pull deadline.
    #[must_use]
    pub(super) fn next_deadline(&self) -> Option<Millis> {
        self.in_flight.values().map(|f| f.deadline).min()
    }

    /// Whether `peer` may be served one more pull now, at `rate` pulls per
    /// second sustained with bursts of `4 * rate`; takes the token if so.
    pub(super) fn allow_serve(&mut self, peer: NodeId, now: Millis, rate: u64) -> bool {
        self.serving
            .get_or_insert_with(|| {
                Buckets::new(
                    Budget {
                        rate,
                        burst: rate.saturating_mul(4),
                    },
                    MAX_BUCKETS,
                )
            })
            .allow(peer, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> GroupName {
        GroupName::new("g").unwrap()
    }

    #[test]
    fn a_pull_is_busy_until_answered_or_overdue() {
        let mut t = PullTracker::new();
        let a = NodeId::from_u64(1);
        t.start(&g(), a, Millis(0), 100);
        assert!(t.busy(&g(), Millis(50)));
        assert!(t.overdue(Millis(50)).is_empty());
        let late = t.overdue(Millis(100));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].1.tried, vec![a]);
        t.answered(&g(), a);
        assert!(!t.busy(&g(), Millis(101)));
    }

    #[test]
    fn gives_up_after_its_tries() {
        let mut t = PullTracker::new();
        for i in 0..MAX_TRIES as u64 {
            t.start(&g(), NodeId::from_u64(i), Millis(i * 100), 100);
        }
        assert!(t.overdue(Millis(10_000)).is_empty());
        assert!(!t.busy(&g(), Millis(10_000)));
    }

    #[test]
    fn a_suspect_waits_for_quiet_or_the_longest_delay() {
        let mut t = PullTracker::new();
        let p = NodeId::from_u64(1);
        t.suspect(&g(), p, Millis(0));
        t.news(&g(), Millis(500));
        assert!(t.take_due(Millis(1_000), 1_000, 10_000).is_empty());
        assert_eq!(t.next_due(1_000, 10_000), Some(Millis(1_500)));
        // News keeps coming: the longest delay wins.
        for k in 1..20 {
            t.news(&g(), Millis(500 * k));
        }
        assert!(t.take_due(Millis(9_999), 1_000, 10_000).is_empty());
        assert_eq!(t.take_due(Millis(10_000), 1_000, 10_000), vec![(g(), p)]);
        // Agreement clears it.
        t.suspect(&g(), p, Millis(20_000));
        t.agree(&g(), p);
        assert_eq!(t.next_due(1_000, 10_000), None);
    }

    #[test]
    fn serving_is_rate_limited_per_peer() {
        let mut t = PullTracker::new();
        let p = NodeId::from_u64(1);
        let served = (0..100).filter(|_| t.allow_serve(p, Millis(0), 5)).count();
        assert_eq!(served, 20, "the burst is 4x the rate");
        assert!(!t.allow_serve(p, Millis(100), 5));
        assert!(
            t.allow_serve(p, Millis(200), 5),
            "one pull per 200 ms at 5/s"
        );
        assert!(
            t.allow_serve(NodeId::from_u64(2), Millis(0), 5),
            "budgets are per peer"
        );
    }
}
