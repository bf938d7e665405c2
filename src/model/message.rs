//! `Message`: one group's state, or a piece of it: a name, a [`WorldClock`]
//! (the coverage it claims) and a [`TimedSet`] (the items it carries).
//!
//! The same type is a node's whole view of a group and a delta on the wire.
//! A message must *carry all it claims*: for every clock its world clock
//! covers, the latest write of every identity at that clock is among its
//! items (the coverage invariant of [`crate::model::world_clock`]). Messages
//! the model builds ([`crate::model::TopologyDb::delta_since`], own writes)
//! keep it; decoded ones are validated for shape, not for truth.
//!
//! Two ways to combine messages:
//! - [`Message::join`], the CRDT join: per identity the winning write, and the
//!   union of coverage. Idempotent, commutative, associative.
//! - [`Message::apply`], what a node does with a received message: like join,
//!   but an incoming item at a clock the receiver already covers is never news
//!   (by the invariant the receiver holds it, or a newer write of its identity,
//!   or it was superseded by a write not yet received) and is ignored. This
//!   keeps a node from regressing to a superseded write and makes the fast
//!   path exact: when every incoming item is at or below the receiver's
//!   `known_upto` for its member and the incoming coverage adds nothing,
//!   `apply` answers "unchanged" after `O(members)` work, allocating nothing.
//!
//! Besides, a message caches per member the highest clock of its items held
//! (`max_seen`, the seed's world clock); adding an item raises it, and it is
//! never a claim of coverage.
//!
//! **GC floors** (docs/ALGORITHM.md, section 11). A member's floor `F` says
//! its retractions at clocks `<= F` may have been collected. `apply` takes
//! a higher incoming floor `f` only by the reset rule: if the message
//! covers `(0, f]` it carries all its sender holds of that member there, so
//! it *replaces* the receiver's items of that member at clocks `<= f` (a
//! plain join would keep a live item whose retraction was collected);
//! otherwise its items and coverage of that member at clocks `<= f` are
//! refused. Either way the receiver's floor rises as far as its own
//! `known_upto` allows ([`Message::raise_floor`]).

use super::coverage::Coverage;
use super::error::ModelError;
use super::group_name::GroupName;
use super::node_id::NodeId;
use super::timed_item::TimedItem;
use super::timed_set::{MergeStats, TimedSet};
use super::world_clock::{MemberClock, WorldClock, value_of};

/// One group's items and the coverage they back.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Message {
    group: GroupName,
    clock: WorldClock,
    items: TimedSet,
    /// Per member (sorted), the highest clock among its held items.
    max_seen: Vec<(NodeId, u64)>,
}

/// What [`Message::apply`] (or [`crate::model::TopologyDb::apply`]) did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Applied {
    /// Only from [`crate::model::TopologyDb::apply`]: members of the message
    /// whose items and coverage were refused because taking them would pass
    /// a cap ([`crate::model::Caps`]); nothing of theirs was applied.
    pub refused: usize,
    /// Whether anything changed: new or overwritten items, or more coverage.
    /// The protocol forwards the received message (never a re-cut subset)
    /// exactly when this is true.
    pub changed: bool,
    /// Identities that were not held before.
    pub inserted: usize,
    /// Held identities overwritten by later writes.
    pub replaced: usize,
    /// Whether the coverage grew.
    pub coverage_grew: bool,
    /// Only from [`crate::model::TopologyDb::apply`]: the message named the
    /// local node at a clock above its own (a data dir restored from a
    /// backup). Those items were ignored; the node should jump its clock above
    /// this value and re-assert its items.
    pub own_ahead: Option<u64>,
}

impl Message {
    /// An empty message (no coverage, no items) for `group`.
    #[must_use]
    pub fn empty(group: GroupName) -> Self {
        Self {
            group,
            clock: WorldClock::new(),
            items: TimedSet::new(),
            max_seen: Vec::new(),
        }
    }

    /// A message of exactly these items claiming `clock`, validated: no two
    /// items share an identity, no member has two items at one clock.
    ///
    /// # Errors
    /// [`ModelError::DuplicateIdentity`], [`ModelError::DuplicateClock`].
    pub fn new(
        group: GroupName,
        clock: WorldClock,
        items: Vec<TimedItem>,
    ) -> Result<Self, ModelError> {
        let items = TimedSet::from_items(items)?;
        check_unique_clocks(items.items())?;
        let mut msg = Self {
            group,
            clock,
            items,
            max_seen: Vec::new(),
        };
        msg.recompute_max_seen();
        Ok(msg)
    }

    /// Assembles a message the model built itself (already valid).
    pub(crate) fn from_valid(group: GroupName, clock: WorldClock, items: TimedSet) -> Self {
        let mut msg = Self {
            group,
            clock,
            items,
            max_seen: Vec::new(),
        };
        msg.recompute_max_seen();
        msg
    }

    /// This message without the items and coverage of `drop` (sorted
    /// member ids): what a cap leaves of it. A member's items go together
    /// with the coverage of their clocks, so the invariant holds.
    #[must_use]
    pub fn without_members(&self, drop: &[NodeId]) -> Message {
        let items = TimedSet::joined(
            self.items
                .items()
                .iter()
                .filter(|i| drop.binary_search(&i.member()).is_err())
                .cloned(),
        );
        Self::from_valid(self.group.clone(), self.clock.without(drop), items)
    }

    /// The group.
    #[must_use]
    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The coverage this message claims.
    #[must_use]
    pub fn clock(&self) -> &WorldClock {
        &self.clock
    }

    /// The items it carries.
    #[must_use]
    pub fn items(&self) -> &TimedSet {
        &self.items
    }

    /// Splits into its parts.
    #[must_use]
    pub fn into_parts(self) -> (GroupName, WorldClock, TimedSet) {
        (self.group, self.clock, self.items)
    }

    /// The highest clock of `member`'s items held (0 if none): the seed's
    /// world clock. Not a claim of coverage.
    #[must_use]
    pub fn max_seen(&self, member: NodeId) -> u64 {
        value_of(&self.max_seen, member).unwrap_or(0)
    }

    /// Per member with items, the highest item clock held, sorted by member.
    #[must_use]
    pub fn max_seen_table(&self) -> &[(NodeId, u64)] {
        &self.max_seen
    }

    /// Whether the message carries nothing and claims nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.clock.is_empty()
    }

    fn check_group(&self, other: &Message) -> Result<(), ModelError> {
        if self.group != other.group {
            return Err(ModelError::GroupMismatch {
                ours: self.group.to_string(),
                theirs: other.group.to_string(),
            });
        }
        Ok(())
    }

    /// The CRDT join: adds `other`'s items (per identity the winning write)
    /// and coverage. Returns whether anything changed.
    ///
    /// # Errors
    /// [`ModelError::GroupMismatch`]; nothing changes then.
    pub fn join(&mut self, other: &Message) -> Result<bool, ModelError> {
        self.check_group(other)?;
        let stats = self.merge_items(other, None, false, &[]);
        let grew = self.clock.join(&other.clock);
        let rose = self.clock.join_floors(&other.clock);
        Ok(stats.changed() || grew || rose)
    }

    /// `member`'s GC floor here (0 = none).
    #[must_use]
    pub fn floor(&self, member: NodeId) -> u64 {
        self.clock.floor(member)
    }

    /// Raises `member`'s floor towards `floor`, never past what is covered
    /// from 0 (`known_upto`), and collects its retractions at or below the
    /// new floor. Returns whether anything changed.
    pub fn raise_floor(&mut self, member: NodeId, floor: u64) -> bool {
        let floor = floor.min(self.clock.known_upto(member));
        if floor <= self.clock.floor(member) {
            return false;
        }
        self.clock.set_floor(member, floor);
        let before = self.items.len();
        self.items
            .retain(|i| i.member() != member || i.live() || i.clock() > floor);
        if self.items.len() != before {
            self.recompute_max_seen();
        }
        true
    }

    /// The reset of `member`: everything held of it at clocks `<= floor`
    /// (its floor here), claiming `(0, floor]`. A receiver whose floor is
    /// lower replaces its items of `member` at those clocks by these. `None`
    /// without a floor.
    #[must_use]
    pub fn reset_of(&self, member: NodeId) -> Option<Message> {
        let floor = self.clock.floor(member);
        if floor == 0 {
            return None;
        }
        let mut clock = WorldClock::new();
        clock.set(member, Coverage::upto(floor));
        clock.set_floor(member, floor);
        let items = TimedSet::joined(
            self.items
                .member_items(member)
                .iter()
                .filter(|i| i.clock() <= floor)
                .copied(),
        );
        Some(Self::from_valid(self.group.clone(), clock, items))
    }

    /// Attaches `floor` as `member`'s floor to this message (its sender's
    /// floor, so receivers collect the same retractions), if that keeps the
    /// message's meaning: it covers `(0, floor]` (a reset: it carries all
    /// of `member` up to there), or it speaks of `member` only above
    /// `floor`. Returns whether it did.
    pub fn attach_floor(&mut self, member: NodeId, floor: u64) -> bool {
        if floor == 0 {
            return false;
        }
        let reset = self.clock.known_upto(member) >= floor;
        let above = self
            .clock
            .coverage(member)
            .is_none_or(|c| c.spans().all(|s| s.after() >= floor))
            && self
                .items
                .member_items(member)
                .iter()
                .all(|i| i.clock() > floor);
        if reset || above {
            self.clock.set_floor(member, floor);
        }
        reset || above
    }

    /// A message carrying only `member`'s floor here (for broadcast after
    /// the floor rose). `None` without a floor.
    #[must_use]
    pub fn floor_only(&self, member: NodeId) -> Option<Message> {
        let floor = self.clock.floor(member);
        if floor == 0 {
            return None;
        }
        let mut clock = WorldClock::new();
        clock.set_floor(member, floor);
        Some(Self::from_valid(self.group.clone(), clock, TimedSet::new()))
    }

    /// This message without `member`'s items and coverage at clocks `<=
    /// floor`, and without its floor, for each `(member, floor)` of `cut`
    /// (sorted by member): what the reset rule accepts of a message whose
    /// floor is above the receiver's but that does not cover `(0, floor]`.
    fn above_floors(&self, cut: &[(NodeId, u64)]) -> Message {
        let below = |m: NodeId| value_of(cut, m);
        let items = TimedSet::joined(
            self.items
                .items()
                .iter()
                .filter(|i| below(i.member()).is_none_or(|f| i.clock() > f))
                .copied(),
        );
        let mut clock = WorldClock::new();
        for e in self.clock.entries() {
            let cov = match below(e.member()) {
                Some(f) => {
                    Coverage::from_spans(e.coverage().spans().filter_map(|s| s.within(f, u64::MAX)))
                }
                None => e.coverage().clone(),
            };
            clock.set(e.member(), cov);
        }
        for &(m, f) in self.clock.floors() {
            if below(m).is_none() {
                clock.set_floor(m, f);
            }
        }
        Self::from_valid(self.group.clone(), clock, items)
    }

    /// Coverage-aware apply of a received message: items at clocks already
    /// covered are ignored, the rest joined; coverage is united.
    ///
    /// # Errors
    /// [`ModelError::GroupMismatch`]; nothing changes then.
    pub fn apply(&mut self, incoming: &Message) -> Result<Applied, ModelError> {
        self.check_group(incoming)?;
        Ok(self.apply_except(incoming, None))
    }

    /// [`Message::apply`] that ignores everything about member `except`
    /// (the local node's own state, which only it writes).
    pub(crate) fn apply_except(&mut self, incoming: &Message, except: Option<NodeId>) -> Applied {
        if self.knows_all(incoming, except) {
            return Applied::default();
        }
        // Floors above ours: a reset (the message covers (0, f]) or a cut.
        let mut resets: Vec<(NodeId, u64)> = Vec::new();
        let mut cuts: Vec<(NodeId, u64)> = Vec::new();
        for &(m, f) in incoming.clock.floors() {
            if Some(m) == except || f <= self.clock.floor(m) {
                continue;
            }
            if incoming.clock.known_upto(m) >= f {
                resets.push((m, f));
            } else {
                cuts.push((m, f));
            }
        }
        let cut;
        let incoming = if cuts.is_empty() {
            incoming
        } else {
            cut = incoming.above_floors(&cuts);
            &cut
        };
        let mut reset_changed = false;
        if !resets.is_empty() {
            // The reset replaces what we hold of those members at clocks
            // <= f; what it carries there is accepted whatever we cover.
            let before = self.items.len();
            let at_or_below =
                |i: &TimedItem| value_of(&resets, i.member()).is_some_and(|f| i.clock() <= f);
            let dropped: Vec<TimedItem> = self
                .items
                .items()
                .iter()
                .filter(|i| at_or_below(i))
                .copied()
                .collect();
            self.items.retain(|i| !at_or_below(i));
            if self.items.len() != before {
                self.recompute_max_seen();
            }
            // Changed unless the reset brings back exactly what was dropped.
            reset_changed = dropped
                .iter()
                .any(|d| incoming.items.get(&d.identity()).is_none_or(|i| i != d));
        }
        let stats = self.merge_items(incoming, except, true, &resets);
        let grew = match except {
            None => self.clock.join(&incoming.clock),
            Some(skip) => join_clock_except(&mut self.clock, &incoming.clock, skip),
        };
        let mut rose = false;
        for &(m, f) in resets.iter().chain(&cuts) {
            rose |= self.raise_floor(m, f);
        }
        Applied {
            changed: stats.changed() || grew || rose || reset_changed,
            inserted: stats.inserted,
            replaced: stats.replaced,
            coverage_grew: grew,
            own_ahead: None,
            refused: 0,
        }
    }

    /// The fast path: whether `incoming` can change nothing, decided from
    /// per-member summaries only. Linear in the members; allocates nothing.
    pub(crate) fn knows_all(&self, incoming: &Message, except: Option<NodeId>) -> bool {
        for &(m, f) in incoming.clock.floors() {
            let floor = self.clock.floor(m);
            if Some(m) != except
                && f > floor
                && (incoming.clock.known_upto(m) >= f || self.clock.known_upto(m) > floor)
            {
                // A reset, or a floor we may take (raising ours).
                return false;
            }
        }
        let ours = self.clock.entries();
        let mut i = 0;
        for &(member, max) in &incoming.max_seen {
            if Some(member) == except {
                continue;
            }
            while ours.get(i).is_some_and(|e| e.member() < member) {
                i += 1;
            }
            let known = ours
                .get(i)
                .filter(|e| e.member() == member)
                .map_or(0, |e| e.known_upto());
            if max > known {
                return false;
            }
        }
        match except {
            None => self.clock.covers_all(&incoming.clock),
            Some(skip) => incoming
                .clock
                .entries()
                .iter()
                .filter(|e| e.member() != skip)
                .all(|e| {
                    self.clock
                        .coverage(e.member())
                        .is_some_and(|c| e.coverage().is_subset_of(c))
                }),
        }
    }

    /// Merges `other`'s items, skipping member `except` and, if
    /// `coverage_aware`, items at clocks this message covers.
    fn merge_items(
        &mut self,
        other: &Message,
        except: Option<NodeId>,
        coverage_aware: bool,
        resets: &[(NodeId, u64)],
    ) -> MergeStats {
        let clock = &self.clock;
        let max_seen = &mut self.max_seen;
        let mut raised = MaxSeenCursor::default();
        let mut cursor = CoverageCursor::new(clock);
        let in_reset = |item: &TimedItem| {
            !resets.is_empty() && value_of(resets, item.member()).is_some_and(|f| item.clock() <= f)
        };
        let stats = self.items.merge_accepted(
            other.items.items(),
            |item: &TimedItem| {
                Some(item.member()) != except
                    && (in_reset(item) || !(coverage_aware && cursor.covers(item)))
            },
            |won| raised.note(max_seen, won),
        );
        raised.flush(max_seen);
        stats
    }

    /// Joins one item (an own write); returns whether it changed the set.
    pub(crate) fn upsert(&mut self, item: TimedItem) -> bool {
        let changed = self.items.upsert(item);
        if changed {
            let mut raised = MaxSeenCursor::default();
            raised.note(&mut self.max_seen, &item);
            raised.flush(&mut self.max_seen);
        }
        changed
    }

    /// Mutable access to the coverage, for the topology's own bookkeeping.
    pub(crate) fn clock_mut(&mut self) -> &mut WorldClock {
        &mut self.clock
    }

    fn recompute_max_seen(&mut self) {
        self.max_seen.clear();
        for item in self.items.items() {
            match self.max_seen.last_mut() {
                Some((m, c)) if *m == item.member() => *c = (*c).max(item.clock()),
                _ => self.max_seen.push((item.member(), item.clock())),
            }
        }
    }
}

/// Rejects two items of one member at one clock.
fn check_unique_clocks(items: &[TimedItem]) -> Result<(), ModelError> {
    // Items are sorted by member, so each member's block is contiguous.
    let mut clocks: Vec<u64> = Vec::new();
    let mut rest = items;
    while let Some(first) = rest.first() {
        let member = first.member();
        let n = rest.partition_point(|x| x.member() == member);
        let (block, tail) = rest.split_at(n);
        if block.len() > 1 {
            clocks.clear();
            clocks.extend(block.iter().map(TimedItem::clock));
            clocks.sort_unstable();
            if let Some(w) = clocks.windows(2).find(|w| w[0] == w[1]) {
                return Err(ModelError::DuplicateClock {
                    member,
                    clock: w[0],
                });
            }
        }
        rest = tail;
    }
    Ok(())
}

/// `WorldClock::join` that leaves member `skip` untouched.
fn join_clock_except(ours: &mut WorldClock, theirs: &WorldClock, skip: NodeId) -> bool {
    let mut grew = false;
    for e in theirs.entries() {
        if e.member() != skip {
            grew |= ours.cover_all(e.member(), e.coverage());
        }
    }
    grew
}

/// Answers "is this item's clock covered?" for items in member order, with a
/// cursor over the sorted world clock: linear over a whole merge.
struct CoverageCursor<'a> {
    entries: &'a [MemberClock],
    i: usize,
    /// The member last asked about, and its coverage.
    current: Option<(NodeId, Option<&'a Coverage>)>,
}

impl<'a> CoverageCursor<'a> {
    fn new(clock: &'a WorldClock) -> Self {
        Self {
            entries: clock.entries(),
            i: 0,
            current: None,
        }
    }

    #[inline]
    fn covers(&mut self, item: &TimedItem) -> bool {
        let member = item.member();
        let coverage = match self.current {
            Some((m, c)) if m == member => c,
            _ => {
                while self
                    .entries
                    .get(self.i)
                    .is_some_and(|e| e.member() < member)
                {
                    self.i += 1;
                }
                let c = self
                    .entries
                    .get(self.i)
                    .filter(|e| e.member() == member)
                    .map(MemberClock::coverage);
                self.current = Some((member, c));
                c
            }
        };
        coverage.is_some_and(|c| c.contains(item.clock()))
    }
}

/// Raises `max_seen` for items arriving in member order: keeps a running
/// maximum for the current member and touches the table once per member.
#[derive(Default)]
struct MaxSeenCursor {
    i: usize,
    pending: Option<(NodeId, u64)>,
}

impl MaxSeenCursor {
    #[inline]
    fn note(&mut self, table: &mut Vec<(NodeId, u64)>, item: &TimedItem) {
        match &mut self.pending {
            Some((m, c)) if *m == item.member() => *c = (*c).max(item.clock()),
            _ => {
                self.flush(table);
                self.pending = Some((item.member(), item.clock()));
            }
        }
    }

    fn flush(&mut self, table: &mut Vec<(NodeId, u64)>) {
        let Some((member, clock)) = self.pending.take() else {
            return;
        };
        if table.get(self.i).is_none_or(|(m, _)| *m > member) {
            self.i = 0;
        }
        while table.get(self.i).is_some_and(|(m, _)| *m < member) {
            self.i += 1;
        }
        match table.get_mut(self.i) {
            Some((m, c)) if *m == member => *c = (*c).max(clock),
            _ => table.insert(self.i, (member, clock)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, KeyRange, Kind, Span};

    fn m(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    fn g() -> GroupName {
        GroupName::new("g").unwrap()
    }

    fn add(member: u64, start: u32, clock: u64) -> TimedItem {
        let r = KeyRange::new(start, start + 9).unwrap();
        TimedItem::at(Item::add(m(member), r, 1, 80), clock).unwrap()
    }

    fn msg(cover: &[(u64, u64, u64)], items: Vec<TimedItem>) -> Message {
        let mut clock = WorldClock::new();
        for &(member, a, b) in cover {
            clock.cover(m(member), Span::new(a, b).unwrap());
        }
        Message::new(g(), clock, items).unwrap()
    }

    #[test]
    fn refuses_two_items_of_one_member_at_one_clock() {
        let err = Message::new(g(), WorldClock::new(), vec![add(1, 0, 3), add(1, 100, 3)]);
        assert_eq!(
            err,
            Err(ModelError::DuplicateClock {
                member: m(1),
                clock: 3
            })
        );
        assert!(Message::new(g(), WorldClock::new(), vec![add(1, 0, 3), add(2, 0, 3)]).is_ok());
    }

    #[test]
    fn adding_items_raises_max_seen_but_not_coverage() {
        let x = msg(&[], vec![add(1, 0, 3), add(1, 100, 7)]);
        assert_eq!(x.max_seen(m(1)), 7);
        assert_eq!(x.clock().known_upto(m(1)), 0);
    }

    #[test]
    fn different_groups_do_not_merge() {
        let mut a = Message::empty(g());
        let b = Message::empty(GroupName::new("h").unwrap());
        assert!(matches!(a.join(&b), Err(ModelError::GroupMismatch { .. })));
        assert!(matches!(a.apply(&b), Err(ModelError::GroupMismatch { .. })));
    }

    #[test]
    fn apply_ignores_items_at_covered_clocks() {
        // We cover (0,5] for m1 and hold its write at 5 (a retraction of I,
        // whose earlier Add was at 2). A stale Add of I at 2 is not news.
        let r = KeyRange::new(0, 9).unwrap();
        let rmv = TimedItem::at(Item::rmv(m(1), Kind::Serve, r), 5).unwrap();
        let mut ours = msg(&[(1, 0, 5)], vec![rmv]);
        let stale = msg(&[(1, 0, 2)], vec![add(1, 0, 2)]);
        let a = ours.apply(&stale).unwrap();
        assert!(!a.changed);
        assert_eq!(ours.items().items(), &[rmv]);
    }

    #[test]
    fn apply_takes_items_at_uncovered_clocks_and_coverage() {
        let mut ours = msg(&[(1, 0, 2)], vec![add(1, 0, 2)]);
        let news = msg(&[(1, 2, 4)], vec![add(1, 100, 4)]);
        let a = ours.apply(&news).unwrap();
        assert!(a.changed && a.coverage_grew);
        assert_eq!((a.inserted, a.replaced), (1, 0));
        assert_eq!(ours.clock().known_upto(m(1)), 4);
        assert_eq!(ours.max_seen(m(1)), 4);
        // The same message again takes the fast path.
        assert_eq!(ours.apply(&news).unwrap(), Applied::default());
    }

    #[test]
    fn coverage_alone_is_a_change() {
        let mut ours = msg(&[(1, 0, 2)], vec![add(1, 0, 2)]);
        let a = ours.apply(&msg(&[(1, 0, 3)], vec![])).unwrap();
        assert!(a.changed && a.coverage_grew && a.inserted == 0);
    }

    #[test]
    fn apply_except_leaves_that_member_alone() {
        let mut ours = msg(&[(1, 0, 2)], vec![add(1, 0, 2)]);
        let other = msg(&[(1, 0, 9), (2, 0, 1)], vec![add(1, 100, 9), add(2, 0, 1)]);
        let a = ours.apply_except(&other, Some(m(1)));
        assert!(a.changed);
        assert_eq!(ours.clock().known_upto(m(1)), 2);
        assert_eq!(ours.items().member_items(m(1)).len(), 1);
        assert_eq!(ours.clock().known_upto(m(2)), 1);
    }
}
