//! A failing disk: a node's data dir refuses writes (an SD card gone
//! read-only after I/O errors, or full) for a while, then works again.
//!
//! While it fails, each persist the node's protocol asks for completes as a
//! failure ([`crate::protocol::Chatter::handle_persist_failed`]): the
//! protocol undoes the writes, so they must never reach another node, and
//! the node's durable state stays what it was. The simulator remembers
//! every own item of a refused persist that was not durable before; no
//! running node may ever hold one unless a later persist made that very item
//! durable ([`Cluster::check_invariant`] checks it). Writes the scenario
//! followed that were refused are no longer followed (they never happen).

use crate::protocol::OwnState;

use super::{Cluster, trace};

impl Cluster {
    /// Node `i`'s data dir starts (`true`) or stops (`false`) refusing
    /// writes. Persists already under way complete with the new outcome.
    pub fn fail_disk(&mut self, i: usize, failing: bool) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.disk_failing = failing;
        }
    }

    /// Whether node `i`'s data dir refuses writes.
    #[must_use]
    pub fn disk_failing(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.disk_failing)
    }

    /// Persists refused by failing disks so far.
    #[must_use]
    pub fn persists_refused(&self) -> u64 {
        self.persists_refused
    }

    /// Own items of refused persists that were never made durable since.
    #[must_use]
    pub fn refused_items(&self) -> usize {
        self.refused.len()
    }

    /// The persist `state` of node `i` failed: the protocol undoes it.
    pub(super) fn persist_refused(&mut self, i: usize, state: &OwnState) {
        let now = self.now;
        trace(&mut self.trace, now, 8, i, state.clock);
        self.persists_refused += 1;
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let durable = n.store.clock;
        let id = n.id;
        for (g, item) in &state.items {
            let new = !n.store.items.iter().any(|(h, x)| h == g && x == item);
            let known = self.refused.iter().any(|(h, x)| h == g && x == item);
            if new && !known {
                self.refused.push((g.clone(), *item));
            }
        }
        if let Some(c) = n.chatter.as_mut() {
            c.handle_persist_failed(now, state.clock);
        }
        // A followed write that was refused never happens.
        self.untrack_above(id, durable);
        self.drive(i);
    }

    /// Records a violation for every refused item a running node holds.
    pub(super) fn check_refused_absent(&mut self) {
        if self.refused.is_empty() {
            return;
        }
        let mut found = Vec::new();
        for (j, n) in self.nodes.iter().enumerate() {
            let Some(c) = &n.chatter else { continue };
            // The author writing again (auto-claim's retry may write the
            // very same items at the same clocks), its persist pending.
            let pending = c.db().clock() > n.store.clock;
            for (g, item) in &self.refused {
                if pending && item.member() == n.id {
                    continue;
                }
                let held = c
                    .db()
                    .message(g.as_str())
                    .and_then(|m| m.items().get(&item.identity()));
                if held == Some(item) {
                    found.push(format!(
                        "node {j} holds {item:?} in {g}, a write its author's disk refused"
                    ));
                }
            }
        }
        self.violations.extend(found);
    }
}
