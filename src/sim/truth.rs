//! `Truth`: the simulator's own log of every durable write, and the checks
//! run against it.
//!
//! A write enters the log when its writer's persist completes: a write lost
//! in a crash before it was durable never left the node (the protocol holds
//! transmits until then), so it is not part of the observable history. The
//! simulator cannot use `tests/support`, so this is its own, small copy of
//! the coverage-invariant checker.
//!
//! Interest (docs/ALGORITHM.md 8.6): a node holds a group only while it is a
//! member (its latest durable write there includes a live item). So "holds
//! exactly" means: every member of a group holds exactly the group's latest
//! writes, and a non-member holds nothing of it but its own items.

use std::collections::BTreeMap;

use crate::model::{GroupName, Identity, Message, NodeId, TimedItem, TopologyDb};

/// The latest durable write of every identity, per group.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    groups: BTreeMap<GroupName, BTreeMap<Identity, TimedItem>>,
    /// Number of distinct writes logged.
    pub writes: u64,
}

impl Truth {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs `items`, the whole own state of a node just made durable.
    pub fn record(&mut self, items: &[(GroupName, TimedItem)]) {
        for (g, item) in items {
            let latest = self.groups.entry(g.clone()).or_default();
            match latest.get(&item.identity()) {
                Some(held) if held.clock() >= item.clock() => {}
                _ => {
                    latest.insert(item.identity(), *item);
                    self.writes += 1;
                }
            }
        }
    }

    /// The groups written to.
    pub fn groups(&self) -> impl Iterator<Item = &GroupName> + '_ {
        self.groups.keys()
    }

    /// Whether `who`'s latest durable writes in `group` include a live item:
    /// it is a member and must hold the group.
    #[must_use]
    pub fn is_member(&self, group: &GroupName, who: NodeId) -> bool {
        self.groups
            .get(group)
            .is_some_and(|latest| latest.iter().any(|(id, w)| id.member == who && w.live()))
    }

    /// The members of `group` (see [`Truth::is_member`]), sorted.
    #[must_use]
    pub fn members(&self, group: &GroupName) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = Vec::new();
        if let Some(latest) = self.groups.get(group) {
            for (id, w) in latest {
                if w.live() && !out.contains(&id.member) {
                    out.push(id.member);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The latest writes `db`'s node must hold in `group`: all of them if
    /// it is a member, else only its own.
    fn wanted<'a>(
        &'a self,
        group: &'a GroupName,
        latest: &'a BTreeMap<Identity, TimedItem>,
        db: &TopologyDb,
    ) -> impl Iterator<Item = (&'a Identity, &'a TimedItem)> + 'a {
        let who = db.own_id();
        let member = self.is_member(group, who);
        latest
            .iter()
            .filter(move |(id, _)| member || id.member == who)
    }

    /// The latest write of `identity` in `group`.
    #[must_use]
    pub fn latest(&self, group: &GroupName, identity: &Identity) -> Option<&TimedItem> {
        self.groups.get(group)?.get(identity)
    }

    /// The coverage invariant for every group `db` holds: for every identity
    /// whose latest write is at a clock `db` covers, `db` holds that write.
    /// The node's own items are skipped: it is their only writer, and its
    /// newest may not be durable (so not in the log) yet.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn check(&self, who: NodeId, db: &TopologyDb) -> Result<(), String> {
        for (g, latest) in &self.groups {
            let Some(msg) = db.message(g.as_str()) else {
                continue;
            };
            for (id, write) in latest {
                if id.member != who && msg.clock().covers(id.member, write.clock()) {
                    match msg.items().get(id) {
                        Some(held) if held == write => {}
                        // A collected retraction counts as held only if
                        // nothing older of its identity is.
                        None if collected(msg, write) => {}
                        other => {
                            return Err(format!(
                                "node {who} covers {}@{} in {g} but holds {other:?} instead of {write:?}",
                                id.member,
                                write.clock()
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `db` holds exactly the latest write of every identity of
    /// every group its node is a member of, and of every other group
    /// nothing but its own (a retraction also when nothing of its identity
    /// is held: collected, or never heard of with all before it).
    #[must_use]
    pub fn holds_exactly(&self, db: &TopologyDb) -> bool {
        self.groups.iter().all(|(g, latest)| {
            let mut want = self.wanted(g, latest, db);
            let Some(msg) = db.message(g.as_str()) else {
                return want.all(|(_, w)| !w.live());
            };
            let mut held = 0;
            for (id, w) in want {
                match msg.items().get(id) {
                    Some(h) if h == w => held += 1,
                    // Collected, or never heard of together with all that
                    // came before it: nothing of it is live either way.
                    None if !w.live() => {}
                    _ => return false,
                }
            }
            held == msg.items().len()
        })
    }

    /// Whether `db` holds the latest write of every identity the log has in
    /// the groups its node is a member of (it may hold more: writes forged
    /// by a key holder, which the log of honest writes does not know).
    #[must_use]
    pub fn holds_all(&self, db: &TopologyDb) -> bool {
        self.groups.iter().all(|(g, latest)| {
            let msg = db.message(g.as_str());
            self.wanted(g, latest, db)
                .all(|(id, w)| match msg.and_then(|m| m.items().get(id)) {
                    Some(h) => h == w,
                    None => !w.live(),
                })
        })
    }

    /// The members some of whose latest writes `db` lacks (or holds an
    /// older or newer version of), in the groups its node must hold, with
    /// how many of their writes it lacks.
    #[must_use]
    pub fn lacking(&self, db: &TopologyDb) -> BTreeMap<NodeId, usize> {
        let mut out = BTreeMap::new();
        for (g, latest) in &self.groups {
            let msg = db.message(g.as_str());
            for (id, w) in self.wanted(g, latest, db) {
                let held = msg.and_then(|m| m.items().get(id));
                // Lacking: not the wanted item, unless it is a removal never held.
                if held != Some(w) && (held.is_some() || w.live()) {
                    *out.entry(id.member).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// What `db` lacks or holds wrongly, for a failure report.
    #[must_use]
    pub fn diff(&self, db: &TopologyDb) -> String {
        let mut out = String::new();
        for (g, latest) in &self.groups {
            if let Some(msg) = db.message(g.as_str()) {
                let who = db.own_id();
                if !self.is_member(g, who) {
                    let others = msg.items().items().iter().filter(|i| i.member() != who);
                    for i in others {
                        out.push_str(&format!("  {g}: not a member, holds {i:?}\n"));
                    }
                }
            }
            for (id, write) in self.wanted(g, latest, db) {
                let held = db.message(g.as_str()).and_then(|m| m.items().get(id));
                let gone = held.is_none() && !write.live();
                if held != Some(write) && !gone {
                    out.push_str(&format!("  {g}: wants {write:?}, holds {held:?}\n"));
                }
            }
        }
        out
    }
}

/// Whether `write`, the latest of its identity, is a retraction at or below
/// its member's GC floor in `msg` (so it may have been collected).
fn collected(msg: &Message, write: &TimedItem) -> bool {
    !write.live() && write.clock() <= msg.floor(write.member())
}
