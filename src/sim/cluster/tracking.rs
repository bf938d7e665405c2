//! Following single writes: each own write made through
//! [`Cluster::command`] is followed until every running member of its group
//! holds it, and its delay goes to [`Cluster::write_delays`] (the
//! "a write reaches all nodes" figures of docs/results.md).
//!
//! Cost per event is the writes in flight, not writes × nodes: only the
//! writes a node has not reached yet are looked up when it changes a group.

use crate::model::{GroupName, Identity as ItemIdentity, NodeId, TimedItem};
use crate::protocol::Millis;

use super::Cluster;

/// A write being followed until every live node holds it.
#[derive(Clone, Debug)]
pub(super) struct Tracked {
    group: GroupName,
    identity: ItemIdentity,
    clock: u64,
    start: Millis,
    reached: Vec<bool>,
}

impl Cluster {
    /// Follows node `i`'s own items written above clock `before`, made now.
    pub(super) fn track_fresh(&mut self, i: usize, before: u64, now: Millis) {
        let Some(c) = self.nodes.get(i).and_then(|n| n.chatter.as_ref()) else {
            return;
        };
        let id = c.identity().id;
        let fresh: Vec<(GroupName, TimedItem)> = c
            .db()
            .own_items()
            .into_iter()
            .filter(|(_, it)| it.clock() > before && it.member() == id)
            .collect();
        let n = self.nodes.len();
        for (g, it) in fresh {
            let mut reached = vec![false; n];
            if let Some(r) = reached.get_mut(i) {
                *r = true;
            }
            self.tracked.push(Tracked {
                group: g,
                identity: it.identity(),
                clock: it.clock(),
                start: now,
                reached,
            });
        }
        // A write in a group nobody else is a member of is everywhere it
        // must be.
        self.sweep_tracked();
    }

    /// Stops following `member`'s writes above clock `durable` (refused by
    /// its disk: they never happen).
    pub(super) fn untrack_above(&mut self, member: NodeId, durable: u64) {
        self.tracked
            .retain(|t| t.identity.member != member || t.clock <= durable);
    }

    /// After node `i` changed `group`, marks the tracked writes it now holds.
    pub(super) fn follow(&mut self, i: usize, group: &GroupName) {
        let Some(db) = self
            .nodes
            .get(i)
            .and_then(|n| n.chatter.as_ref())
            .map(|c| c.db())
        else {
            return;
        };
        // Only writes node i has not reached yet are looked up, and only
        // those it reaches now can complete (cost per event: the writes in
        // flight, not writes x nodes).
        let mut newly = false;
        for t in self.tracked.iter_mut().filter(|t| &t.group == group) {
            if t.reached.get(i).is_none_or(|r| *r) {
                continue;
            }
            let holds = db
                .message(group.as_str())
                .and_then(|m| m.items().get(&t.identity))
                .is_some_and(|it| it.clock() >= t.clock);
            if holds && let Some(r) = t.reached.get_mut(i) {
                *r = true;
                newly = true;
            }
        }
        if newly {
            self.sweep_tracked();
        }
    }

    /// Retires the tracked writes every running member of their group
    /// holds, recording their delays.
    pub(super) fn sweep_tracked(&mut self) {
        let now = self.now;
        let nodes = &self.nodes;
        let mut done = Vec::new();
        // A write must reach every running member of its group (a node
        // that has not joined the group does not store it).
        self.tracked.retain(|t| {
            let all = t
                .reached
                .iter()
                .zip(nodes)
                .all(|(r, n)| *r || n.chatter.as_ref().is_none_or(|c| !c.holds(&t.group)));
            if all {
                done.push(now.since(t.start));
            }
            !all
        });
        self.write_delays.extend(done);
    }
}
