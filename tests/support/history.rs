//! A ground-truth history of writes, and the coverage-invariant checker.
//!
//! Real messages cannot claim coverage they do not carry; random ones can.
//! So the history tests generate *real* histories: writers write through
//! `TopologyDb`, every write is logged here, and nodes exchange full states
//! and `delta_since` chunks. After every step the checker verifies each
//! node's state against this log.

use std::collections::BTreeMap;

use scalesmall::model::{Identity, Message, NodeId, TimedItem, TopologyDb, Written};

/// Every write to the group under test, and the latest per identity.
#[derive(Default, Clone, Debug)]
pub struct Truth {
    pub latest: BTreeMap<Identity, TimedItem>,
    pub writes: usize,
}

impl Truth {
    /// Logs the writes `w` that `db` (the writer) made to `group`.
    pub fn record(&mut self, db: &TopologyDb, group: &str, w: &Written) {
        if w.group.as_str() != group {
            return;
        }
        let Some(msg) = db.message(group) else { return };
        for item in msg.items().member_items(db.own_id()) {
            if item.clock() > w.prev && item.clock() <= w.upto {
                self.latest.insert(item.identity(), *item);
                self.writes += 1;
            }
        }
    }

    /// The coverage invariant, extended for GC floors: for every identity
    /// whose latest write is at a clock the message covers, the message
    /// holds exactly that write, or that write is a retraction at or below
    /// the member's floor (collected) and the message holds *nothing* of the
    /// identity (an older write held there would be live for ever).
    pub fn check(&self, who: &str, msg: Option<&Message>) -> Result<(), String> {
        let Some(msg) = msg else { return Ok(()) };
        for (id, write) in &self.latest {
            if msg.clock().covers(id.member, write.clock()) {
                let collected = !write.live() && write.clock() <= msg.floor(id.member);
                match msg.items().get(id) {
                    Some(held) if held == write => {}
                    None if collected => {}
                    other => {
                        return Err(format!(
                            "{who} covers {}@{} but holds {other:?} instead of {write:?}",
                            id.member,
                            write.clock()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `msg` holds exactly the latest write of every identity, a
    /// retraction also when nothing of its identity is held (collected, or
    /// never heard of with everything before it: either way nothing of the
    /// identity is live, which is all a reader can tell).
    pub fn holds_exactly(&self, who: &str, msg: Option<&Message>) -> Result<(), String> {
        let held: Vec<TimedItem> = msg.map(|m| m.items().items().to_vec()).unwrap_or_default();
        let want: Vec<TimedItem> = self
            .latest
            .values()
            .filter(|w| w.live() || held.iter().any(|h| h.identity() == w.identity()))
            .copied()
            .collect();
        if held != want {
            return Err(format!(
                "{who} holds {held:#?}\nbut the latest writes are {want:#?}"
            ));
        }
        Ok(())
    }

    pub fn members(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self.latest.keys().map(|i| i.member).collect();
        v.dedup();
        v
    }
}
