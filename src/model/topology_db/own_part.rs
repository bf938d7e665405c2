//! Putting the node's own part of a [`TopologyDb`] back to a durable save.
//!
//! A write takes effect only once durable: when the shell cannot store the
//! own state that carries a write (a read-only or full disk), the protocol
//! undoes the write by putting the own part of the view (the own clock, own
//! items, own coverage and own GC floors) back as it was at the last durable
//! save, the same snapshot a restart would load. Everyone else's items and
//! coverage stay as they are. Own coverage in a group is always
//! `(0, max(last own item clock there, own floor there)]` (a write covers up
//! to its clock; a floor is raised only within the coverage and collects
//! retractions below it), so the snapshot's items and floors give back the
//! coverage exactly. Only the receive path's speed matters here: this runs on
//! a failed persist, never on a received frame.

use std::collections::BTreeMap;

use super::TopologyDb;
use crate::model::coverage::Coverage;
use crate::model::error::ModelError;
use crate::model::group_name::GroupName;
use crate::model::message::Message;
use crate::model::timed_item::TimedItem;
use crate::model::world_clock::WorldClock;

impl TopologyDb {
    /// Puts the node's own part back to a durable save of it: its clock,
    /// its items and its GC floors ([`TopologyDb::own_items`],
    /// [`TopologyDb::own_floors`], as persisted). Own items, coverage and
    /// floors not in the save go; other members' state is untouched; a
    /// group left empty is dropped. Nothing changes on an error.
    ///
    /// # Errors
    /// [`ModelError::MemberMismatch`] for an item of another member,
    /// [`ModelError::ClockExhausted`] for an item above `clock`, and the
    /// message validation errors (two items of one identity or one clock).
    pub fn restore_own(
        &mut self,
        clock: u64,
        items: &[(GroupName, TimedItem)],
        floors: &[(GroupName, u64)],
    ) -> Result<(), ModelError> {
        let own = self.own;
        let mut want: BTreeMap<&GroupName, (Vec<TimedItem>, u64)> = BTreeMap::new();
        for (g, item) in items {
            if item.member() != own {
                return Err(ModelError::MemberMismatch {
                    item: item.member(),
                    clock: own,
                });
            }
            if item.clock() > clock {
                return Err(ModelError::ClockExhausted);
            }
            want.entry(g).or_default().0.push(*item);
        }
        for (g, floor) in floors {
            want.entry(g).or_default().1 = (*floor).min(clock);
        }
        // Validated (and sorted) before anything changes.
        let mut parts = Vec::with_capacity(want.len());
        for (g, (its, floor)) in want {
            let cover = its
                .iter()
                .map(TimedItem::clock)
                .max()
                .unwrap_or(0)
                .max(floor);
            let mine = Message::new(g.clone(), WorldClock::new(), its)?;
            parts.push((g.clone(), mine, cover, floor));
        }
        let stale: Vec<GroupName> = self
            .groups
            .iter()
            .filter(|(g, m)| parts.binary_search_by(|p| p.0.cmp(g)).is_err() && has_own(m, own))
            .map(|(g, _)| g.clone())
            .collect();
        for g in stale {
            self.put_own(&g, &[], 0, 0);
        }
        for (g, mine, cover, floor) in parts {
            self.put_own(&g, mine.items().items(), cover, floor);
        }
        self.clock = clock;
        Ok(())
    }

    /// Makes `group`'s own part exactly `items` (identity-sorted) covering
    /// `(0, cover]` with own floor `floor`; keeps the rest of the message.
    fn put_own(&mut self, group: &GroupName, items: &[TimedItem], cover: u64, floor: u64) {
        let own = self.own;
        let coverage = (cover > 0).then(|| Coverage::upto(cover));
        let same = self.groups.get(group).is_some_and(|m| {
            m.items().member_items(own) == items
                && m.clock().coverage(own) == coverage.as_ref()
                && m.floor(own) == floor
        });
        if same || (items.is_empty() && cover == 0 && !self.groups.contains_key(group)) {
            return;
        }
        let mut msg = self.groups.get(group).map_or_else(
            || Message::empty(group.clone()),
            |m| m.without_members(&[own]),
        );
        for item in items {
            msg.upsert(*item);
        }
        if let Some(c) = coverage {
            msg.clock_mut().set(own, c);
        }
        msg.clock_mut().set_floor(own, floor);
        if msg.is_empty() {
            self.groups.remove(group);
        } else {
            self.groups.insert(group.clone(), msg);
        }
    }
}

/// Whether `msg` holds any own item, coverage or floor of `own`.
fn has_own(msg: &Message, own: crate::model::NodeId) -> bool {
    !msg.items().member_items(own).is_empty()
        || msg.clock().coverage(own).is_some()
        || msg.floor(own) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyRange, NodeId};

    fn r(a: u32, b: u32) -> KeyRange {
        KeyRange::new(a, b).unwrap()
    }

    /// Another member's view of `group`: one claim.
    fn theirs(id: u64, group: &str, start: u32) -> Message {
        let mut w = TopologyDb::new(NodeId::from_u64(id));
        w.claim(group, r(start, start + 9), 1, 80).unwrap();
        w.message(group).unwrap().clone()
    }

    /// A durable history: writes in several groups, a leave, collected
    /// retractions (own floors), others' news.
    fn durable_history(db: &mut TopologyDb) {
        db.apply(&theirs(9, "a", 500));
        db.join("a").unwrap();
        db.claim("a", r(0, 9), 1, 80).unwrap();
        db.claim("b", r(10, 19), 1, 80).unwrap();
        db.release("b", r(10, 19)).unwrap();
        db.claim("c", r(20, 29), 1, 80).unwrap();
        db.leave("c").unwrap();
        db.collect_own(5);
        db.claim("a", r(30, 39), 1, 80).unwrap();
    }

    fn assert_same(a: &TopologyDb, b: &TopologyDb) {
        assert_eq!(a.clock(), b.clock());
        let ga: Vec<_> = a.groups().collect();
        let gb: Vec<_> = b.groups().collect();
        assert_eq!(ga, gb);
        for g in ga {
            assert_eq!(a.message(g.as_str()), b.message(g.as_str()), "group {g}");
        }
    }

    #[test]
    fn the_own_part_goes_back_exactly_and_the_others_news_stays() {
        let me = NodeId::from_u64(1);
        let mut db = TopologyDb::new(me);
        durable_history(&mut db);
        let (clock, items, floors) = (db.clock(), db.own_items(), db.own_floors());
        assert!(!floors.is_empty(), "the history collected retractions");
        // Writes that are refused: new groups, a leave, a release, a claim,
        // a collection raising floors; meanwhile others' news arrives.
        db.claim("a", r(40, 49), 1, 80).unwrap();
        db.leave("a").unwrap();
        db.join("d").unwrap();
        db.claim("e", r(0, 9), 1, 80).unwrap();
        db.release("e", r(0, 9)).unwrap();
        db.collect_own(db.clock());
        let news = theirs(8, "a", 700);
        db.apply(&news);
        db.restore_own(clock, &items, &floors).unwrap();
        // What the durable history alone, plus the news, gives.
        let mut want = TopologyDb::new(me);
        durable_history(&mut want);
        want.apply(&news);
        assert_same(&db, &want);
        // The clock is free again: the next write reuses it.
        assert_eq!(db.join("d").unwrap().map(|w| w.upto), Some(clock + 1));
    }

    #[test]
    fn a_bad_snapshot_changes_nothing() {
        let me = NodeId::from_u64(1);
        let mut db = TopologyDb::new(me);
        durable_history(&mut db);
        let before = db.clone();
        let mut items = db.own_items();
        let g = items[0].0.clone();
        let foreign = theirs(9, g.as_str(), 0).items().items()[0];
        items.push((g, foreign));
        assert!(db.restore_own(db.clock(), &items, &[]).is_err());
        let high = db.own_items();
        assert!(db.restore_own(0, &high, &[]).is_err());
        assert_same(&db, &before);
    }

    #[test]
    fn restoring_the_current_state_changes_nothing() {
        let mut db = TopologyDb::new(NodeId::from_u64(1));
        durable_history(&mut db);
        let before = db.clone();
        db.restore_own(db.clock(), &db.own_items(), &db.own_floors())
            .unwrap();
        assert_same(&db, &before);
        // An empty save takes the node out of every group.
        db.restore_own(0, &[], &[]).unwrap();
        assert_eq!(db.clock(), 0);
        assert!(db.own_items().is_empty() && db.my_groups().next().is_none());
        assert_eq!(db.message("a").map(|m| m.items().len()), Some(1));
    }
}
