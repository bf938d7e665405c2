//! `TopologyDb`: the local node's view of every group it knows, and the only
//! way it writes its own participation (the seed's TopologyDB and
//! GroupManager API in one).
//!
//! It holds one [`Message`] per group. The local node writes only its own
//! items: each write takes the next value of its [`LocalClock`] counter
//! (shared by all groups), and a write that would change nothing (re-join,
//! identical re-claim) is a no-op that uses no clock. In a group where it has
//! written, the node's own coverage is `(0, clock of its latest write there]`:
//! all its later clocks are trivially covered too, but claiming them would
//! make every group's digest change on every write anywhere.
//!
//! Received messages go through [`TopologyDb::apply`] (coverage-aware; the
//! node's own items and coverage are never taken from others). What a peer
//! lacks comes from [`TopologyDb::delta_since`].
//!
//! [`LocalClock`]: super::LocalClock

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use super::coverage::{Coverage, Span};
use super::delta::{self, ChunkSizer, MemberPlan};
use super::error::ModelError;
use super::group_name::GroupName;
use super::item::{Item, Kind};
use super::key_hash::key_hash;
use super::key_range::KeyRange;
use super::message::{Applied, Message};
use super::node_id::NodeId;
use super::timed_item::TimedItem;
use super::world_clock::WorldClock;

mod own_part;

/// A batch of own writes to one group: clocks `(prev, upto]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Written {
    /// The group written to.
    pub group: GroupName,
    /// The node's own coverage in this group before the writes: it had
    /// written nothing here in `(prev_in_group, prev]`.
    pub prev_in_group: u64,
    /// The node's clock before the writes.
    pub prev: u64,
    /// The node's clock after them (its last write).
    pub upto: u64,
}

/// A member serving a key, as [`TopologyDb::lookup`] returns it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Server {
    /// The member.
    pub member: NodeId,
    /// Its priority hint for this key (higher first).
    pub priority: u16,
    /// Its service port for this range (0 = none).
    pub port: u16,
    /// The claimed range that contains the key.
    pub range: KeyRange,
}

/// Which items [`TopologyDb::topology`] returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TopologyFilter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only live items (no retractions).
    pub live_only: bool,
    /// Only this member's items.
    pub member: Option<NodeId>,
}

/// How far a remote world clock is behind ours in one group.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Lag {
    /// Members of which the remote lacks something.
    pub members: usize,
    /// Clocks we cover that the remote does not.
    pub clocks: u64,
    /// Items we hold at clocks the remote does not cover.
    pub items: usize,
}

impl Lag {
    /// Whether the remote lacks nothing.
    #[must_use]
    pub const fn is_zero(&self) -> bool {
        self.members == 0
    }
}

/// The local node's view of all groups.
#[derive(Clone, Debug)]
pub struct TopologyDb {
    own: NodeId,
    clock: u64,
    groups: BTreeMap<GroupName, Message>,
    caps: Caps,
    /// Expired members: each one's writes at clocks up to the marker were
    /// dropped and are refused if they come back (see [`TopologyDb::expire`]).
    expired: BTreeMap<NodeId, u64>,
    /// Bumped whenever `expired` changes, so the shell knows when to store
    /// the markers again.
    markers_changed: u64,
}

/// Caps on what a node keeps of others' writes, so a peer holding the
/// cluster key cannot grow a board's memory without bound by inventing
/// groups, members or items. A message that would pass a cap has the
/// offending members' items *and* coverage refused (never items without
/// their coverage or the reverse), so the coverage invariant holds; the
/// node simply does not know those writes, as if they had not arrived.
/// Own writes are never capped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Caps {
    /// Groups known.
    pub groups: usize,
    /// Members per group.
    pub members: usize,
    /// Items per member per group.
    pub items_per_member: usize,
}

impl Default for Caps {
    /// 256 groups of 4096 members, each with up to 4096 items (retractions
    /// included): far above a board cluster's needs. 4096 items per member
    /// is what an auto-claim member may write at the largest policy (its
    /// claims come from `2 * 2048 - 1` aligned blocks, see
    /// [`crate::protocol::auto_claim::slices`]); a hand-written member
    /// rarely has more than a few. Each cap bounds one dimension, not their
    /// product: a hostile key holder could still fill memory by inventing
    /// members in many groups (README, trust model).
    fn default() -> Self {
        Self {
            groups: 256,
            members: 4096,
            items_per_member: 4096,
        }
    }
}

impl TopologyDb {
    /// An empty view for the node `own`, which has written nothing yet.
    #[must_use]
    pub fn new(own: NodeId) -> Self {
        Self {
            own,
            clock: 0,
            groups: BTreeMap::new(),
            caps: Caps::default(),
            expired: BTreeMap::new(),
            markers_changed: 0,
        }
    }

    /// The same view with other caps (tests and small boards).
    #[must_use]
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// The caps in force.
    #[must_use]
    pub const fn caps(&self) -> Caps {
        self.caps
    }

    /// The local node's id.
    #[must_use]
    pub const fn own_id(&self) -> NodeId {
        self.own
    }

    /// The local node's clock: the counter of its latest write (0 = none).
    #[must_use]
    pub const fn clock(&self) -> u64 {
        self.clock
    }

    /// The group's message (the node's whole view of it).
    #[must_use]
    pub fn message(&self, group: &str) -> Option<&Message> {
        self.groups.get(group)
    }

    // --- own writes -------------------------------------------------------

    /// `Get`: the local node reads `group`.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn join(&mut self, group: &str) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        self.write(&group, [Item::get(self.own)])
    }

    /// `Rmv` of each of the node's live items in `group`, one clock each.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn leave(&mut self, group: &str) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        let retractions: Vec<Item> = self
            .groups
            .get(&group)
            .map(|msg| {
                msg.items()
                    .member_items(self.own)
                    .iter()
                    .filter(|i| i.live())
                    .map(|i| Item::rmv(self.own, i.kind(), i.range()))
                    .collect()
            })
            .unwrap_or_default();
        self.write(&group, retractions)
    }

    /// `Add`: the local node serves `range` of `group`.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn claim(
        &mut self,
        group: &str,
        range: KeyRange,
        priority: u16,
        port: u16,
    ) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        self.write(&group, [Item::add(self.own, range, priority, port)])
    }

    /// `Rmv` of the node's claim of exactly `range` in `group`. Releasing a
    /// range already released is a no-op.
    ///
    /// # Errors
    /// [`ModelError::NotClaimed`] (listing the node's live claims that
    /// overlap `range`) if the node never claimed exactly `range`; an invalid
    /// group name; [`ModelError::ClockExhausted`].
    pub fn release(&mut self, group: &str, range: KeyRange) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        let own_items = self
            .groups
            .get(&group)
            .map_or(&[][..], |m| m.items().member_items(self.own));
        let exact = own_items
            .iter()
            .any(|i| i.kind() == Kind::Serve && i.range() == range);
        if !exact {
            return Err(ModelError::NotClaimed {
                group: group.to_string(),
                range,
                overlapping: own_items
                    .iter()
                    .filter(|i| i.kind() == Kind::Serve && i.live() && i.range().overlaps(range))
                    .map(TimedItem::range)
                    .collect(),
            });
        }
        self.write(&group, [Item::rmv(self.own, Kind::Serve, range)])
    }

    /// The auto marker: the local node picks its own ranges of `group`
    /// (auto-claim) with capacity `weight`, serving on `port`. Writes
    /// nothing when the same marker is live already.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn set_auto(
        &mut self,
        group: &str,
        weight: u16,
        port: u16,
    ) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        self.write(&group, [Item::auto(self.own, weight, port)])
    }

    /// Retracts the local node's auto marker of `group` (its claims stay,
    /// as manual claims). A no-op when there is none.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn unset_auto(&mut self, group: &str) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        let live = self.groups.get(&group).is_some_and(|m| {
            m.items()
                .member_items(self.own)
                .iter()
                .any(|i| i.kind() == Kind::Auto && i.live())
        });
        if !live {
            return Ok(None);
        }
        self.write(&group, [Item::rmv(self.own, Kind::Auto, KeyRange::FULL)])
    }

    /// One batch of own serve writes in `group`, in one delta: first an
    /// `Add` of each range in `claim` (with `priority` and `port`), then a
    /// `Rmv` of each range in `release` (ranges the node does not claim
    /// live are skipped). What auto-claim writes: the `Add`s come first so
    /// no prefix of the batch serves less than before.
    ///
    /// # Errors
    /// An invalid group name, or [`ModelError::ClockExhausted`].
    pub fn rewrite_claims(
        &mut self,
        group: &str,
        claim: &[KeyRange],
        release: &[KeyRange],
        priority: u16,
        port: u16,
    ) -> Result<Option<Written>, ModelError> {
        let group = GroupName::new(group)?;
        let own = self.own;
        let held: Vec<KeyRange> = self
            .groups
            .get(&group)
            .map(|m| {
                m.items()
                    .member_items(own)
                    .iter()
                    .filter(|i| i.kind() == Kind::Serve && i.live())
                    .map(TimedItem::range)
                    .collect()
            })
            .unwrap_or_default();
        let adds = claim.iter().map(|&r| Item::add(own, r, priority, port));
        let rmvs = release
            .iter()
            .filter(|r| held.contains(r))
            .map(|&r| Item::rmv(own, Kind::Serve, r));
        self.write(&group, adds.chain(rmvs).collect::<Vec<_>>())
    }

    /// The live auto markers of `group`: `(member, weight, port)`, sorted
    /// by member.
    #[must_use]
    pub fn auto_members(&self, group: &str) -> Vec<(NodeId, u16, u16)> {
        self.groups.get(group).map_or_else(Vec::new, |m| {
            m.items()
                .items()
                .iter()
                .filter(|i| i.kind() == Kind::Auto && i.live())
                .map(|i| (i.member(), i.priority(), i.port()))
                .collect()
        })
    }

    /// Every own item, per group: what the node must persist.
    #[must_use]
    pub fn own_items(&self) -> Vec<(GroupName, TimedItem)> {
        let mut out = Vec::new();
        for (g, msg) in &self.groups {
            for item in msg.items().member_items(self.own) {
                out.push((g.clone(), *item));
            }
        }
        out
    }

    /// Rebuilds the view from the node's persisted own state: its clock and
    /// its items. Everyone else's state comes back from the network.
    ///
    /// # Errors
    /// [`ModelError::MemberMismatch`] for an item of another member,
    /// [`ModelError::ClockExhausted`] for an item above `clock`, and the
    /// message validation errors (two items of one identity or one clock).
    pub fn restore(
        own: NodeId,
        clock: u64,
        items: impl IntoIterator<Item = (GroupName, TimedItem)>,
    ) -> Result<Self, ModelError> {
        let mut per_group: BTreeMap<GroupName, Vec<TimedItem>> = BTreeMap::new();
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
            per_group.entry(g).or_default().push(item);
        }
        let mut groups = BTreeMap::new();
        for (g, items) in per_group {
            let last = items.iter().map(TimedItem::clock).max().unwrap_or(0);
            let mut cover = WorldClock::new();
            cover.set(own, Coverage::upto(last));
            groups.insert(g.clone(), Message::new(g, cover, items)?);
        }
        Ok(Self {
            own,
            clock,
            groups,
            caps: Caps::default(),
            expired: BTreeMap::new(),
            markers_changed: 0,
        })
    }

    /// After peers were seen holding own writes up to `seen`, a clock above
    /// ours (a data dir restored from a backup): jumps the clock above
    /// `seen`, rewrites every own item at a new clock so it supersedes what
    /// the lost timeline wrote, and retracts the identities in `foreign`
    /// (own items found at peers) that this node does not hold.
    ///
    /// # Errors
    /// [`ModelError::ClockExhausted`].
    pub fn reassert(
        &mut self,
        seen: u64,
        foreign: &[(GroupName, TimedItem)],
    ) -> Result<Vec<Written>, ModelError> {
        self.clock = self.clock.max(seen);
        let mut writes: BTreeMap<GroupName, Vec<Item>> = BTreeMap::new();
        for (g, item) in self.own_items() {
            writes.entry(g).or_default().push(item.item());
        }
        for (g, item) in foreign {
            let held = self
                .groups
                .get(g)
                .and_then(|m| m.items().get(&item.identity()))
                .is_some();
            if !held && item.member() == self.own {
                writes.entry(g.clone()).or_default().push(Item::rmv(
                    self.own,
                    item.kind(),
                    item.range(),
                ));
            }
        }
        let mut out = Vec::new();
        for (g, items) in writes {
            if let Some(w) = self.write_with(&g, items, true)? {
                out.push(w);
            }
        }
        Ok(out)
    }

    /// Writes `items` (the node's own) to `group`, one clock each, skipping
    /// those that change nothing.
    fn write(
        &mut self,
        group: &GroupName,
        items: impl IntoIterator<Item = Item>,
    ) -> Result<Option<Written>, ModelError> {
        self.write_with(group, items, false)
    }

    /// [`TopologyDb::write`]; with `force`, also items identical to the held ones.
    fn write_with(
        &mut self,
        group: &GroupName,
        items: impl IntoIterator<Item = Item>,
        force: bool,
    ) -> Result<Option<Written>, ModelError> {
        let own = self.own;
        let prev = self.clock;
        let own_floor = self.own_floor();
        let msg = match self.groups.get_mut(group.as_str()) {
            Some(m) => m,
            None => self
                .groups
                .entry(group.clone())
                .or_insert_with(|| Message::empty(group.clone())),
        };
        let prev_in_group = msg.clock().known_upto(own);
        let mut clock = prev;
        for item in items {
            debug_assert_eq!(item.member, own);
            let same = msg.items().get(&item.identity()).is_some_and(|held| {
                (held.live(), held.priority(), held.port()) == (item.live, item.priority, item.port)
            });
            if same && !force {
                continue;
            }
            clock = clock.checked_add(1).ok_or(ModelError::ClockExhausted)?;
            let stamped = TimedItem::at(item, clock)?;
            msg.upsert(stamped);
        }
        if clock == prev {
            if msg.is_empty() {
                self.groups.remove(group.as_str());
            }
            return Ok(None);
        }
        msg.clock_mut().set(own, Coverage::upto(clock));
        // A group new to this node (or one it left long ago, all of it
        // collected): what it wrote there at or below the floor was
        // collected, so the first delta carries the floor and is a reset.
        msg.raise_floor(own, own_floor);
        self.clock = clock;
        Ok(Some(Written {
            group: group.clone(),
            prev_in_group,
            prev,
            upto: clock,
        }))
    }

    /// A restored view's own GC floors (persisted with the own items, one
    /// per group, [`TopologyDb::own_floors`]): each such group exists, even
    /// with no own item left, and its own coverage reaches at least the
    /// floor, since own writes there at or below it that are not held were
    /// collected retractions.
    #[must_use]
    pub fn with_own_floors(mut self, floors: &[(GroupName, u64)]) -> Self {
        let own = self.own;
        for (g, floor) in floors {
            let floor = (*floor).min(self.clock);
            if floor == 0 {
                continue;
            }
            let msg = self
                .groups
                .entry(g.clone())
                .or_insert_with(|| Message::empty(g.clone()));
            if msg.clock().known_upto(own) < floor {
                msg.clock_mut().set(own, Coverage::upto(floor));
            }
            msg.raise_floor(own, floor);
        }
        self
    }

    /// The own GC floor of every group where it is above 0, to persist
    /// with the own items.
    #[must_use]
    pub fn own_floors(&self) -> Vec<(GroupName, u64)> {
        self.groups
            .iter()
            .map(|(g, m)| (g.clone(), m.floor(self.own)))
            .filter(|(_, f)| *f > 0)
            .collect()
    }

    /// The highest own GC floor of any group (0 = nothing collected).
    #[must_use]
    pub fn own_floor(&self) -> u64 {
        let own = self.own;
        self.groups
            .values()
            .map(|m| m.floor(own))
            .max()
            .unwrap_or(0)
    }

    // --- merging ----------------------------------------------------------

    /// Coverage-aware apply of a received message (see [`Message::apply`]).
    /// The node's own items and coverage are never taken from others; if the
    /// message names the node above its own clock, `own_ahead` says so.
    pub fn apply(&mut self, incoming: &Message) -> Applied {
        let own = self.own;
        let own_seen = incoming.max_seen(own).max(
            incoming
                .clock()
                .coverage(own)
                .map_or(0, Coverage::max_covered),
        );
        let own_ahead = (own_seen > self.clock).then_some(own_seen);
        let group = incoming.group();
        let held = self.groups.get(group.as_str());
        if held.is_none() && self.groups.len() >= self.caps.groups {
            return Applied {
                refused: incoming.clock().len().max(1),
                own_ahead,
                ..Applied::default()
            };
        }
        // Nothing new (the common case): nothing to cap, nothing to apply.
        // The same linear, allocation-free check `Message::apply` starts with.
        if held.is_some_and(|h| h.knows_all(incoming, Some(own))) {
            return Applied {
                own_ahead,
                ..Applied::default()
            };
        }
        let mut refuse = over_cap(held, incoming, own, self.caps);
        if !self.expired.is_empty() {
            self.refuse_expired(incoming, &mut refuse);
        }
        let capped;
        let incoming = if refuse.is_empty() {
            incoming
        } else {
            capped = incoming.without_members(&refuse);
            &capped
        };
        let mut applied = match self.groups.get_mut(group.as_str()) {
            Some(msg) => msg.apply_except(incoming, Some(own)),
            None => {
                let mut msg = Message::empty(group.clone());
                let applied = msg.apply_except(incoming, Some(own));
                if !msg.is_empty() {
                    self.groups.insert(group.clone(), msg);
                }
                applied
            }
        };
        applied.own_ahead = own_ahead;
        applied.refused = refuse.len();
        applied
    }

    // --- expiry -----------------------------------------------------------

    /// Expires `member` (a board down past the grace period, or one the
    /// operator forgot): drops its items and its coverage in every group
    /// and remembers a marker at the highest clock of it this node knew.
    /// Until [`TopologyDb::clear_expired`], its writes at or below the
    /// marker are refused, so nodes that expire it at different moments do
    /// not gossip its items back; a write above the marker (it is back and
    /// writing) clears the marker. Never the local node. Returns the
    /// marker, or `None` if nothing was known of `member`.
    pub fn expire(&mut self, member: NodeId) -> Option<u64> {
        if member == self.own {
            return None;
        }
        let mut upto = self.expired.get(&member).copied().unwrap_or(0);
        let mut known = false;
        for msg in self.groups.values_mut() {
            let clock = msg.clock().known_upto(member).max(msg.max_seen(member));
            let held =
                msg.clock().entry(member).is_some() || !msg.items().member_items(member).is_empty();
            if held {
                known = true;
                upto = upto.max(clock).max(
                    msg.clock()
                        .coverage(member)
                        .map_or(0, crate::model::Coverage::max_covered),
                );
                *msg = msg.without_members(&[member]);
            }
        }
        self.groups.retain(|_, m| !m.is_empty());
        if !known && upto == 0 {
            return None;
        }
        self.expired.insert(member, upto);
        self.markers_changed += 1;
        Some(upto)
    }

    /// Forgets the marker of `member`: its writes are accepted again (it
    /// announced itself, or the marker outlived its second grace period).
    /// Returns whether there was one.
    pub fn clear_expired(&mut self, member: NodeId) -> bool {
        let had = self.expired.remove(&member).is_some();
        if had {
            self.markers_changed += 1;
        }
        had
    }

    /// Every expiry marker, `(member, upto)`, by member: what a node stores
    /// so that a restart within the markers' grace period does not take the
    /// expired members' items back from a peer that still gossips them.
    pub fn markers(&self) -> impl Iterator<Item = (NodeId, u64)> + '_ {
        self.expired.iter().map(|(m, u)| (*m, *u))
    }

    /// A counter that moves whenever the markers change.
    #[must_use]
    pub fn markers_changed(&self) -> u64 {
        self.markers_changed
    }

    /// Puts back stored markers (at a restart, before anything is received:
    /// nothing of those members is held, so nothing is dropped). Markers of
    /// the local node or at clock 0 are skipped.
    pub fn restore_markers(&mut self, markers: &[(NodeId, u64)]) {
        for &(m, upto) in markers {
            if m != self.own && upto > 0 {
                let at = self.expired.entry(m).or_insert(0);
                *at = (*at).max(upto);
            }
        }
    }

    /// The marker of `member`: its writes at or below it were dropped
    /// (0 = not expired). For the coverage invariant these clocks count as
    /// held.
    #[must_use]
    pub fn expired_upto(&self, member: NodeId) -> u64 {
        self.expired.get(&member).copied().unwrap_or(0)
    }

    /// Adds to `refuse` (sorted) the expired members `incoming` speaks of
    /// only at or below their markers; clears the marker of one it shows
    /// writing above it.
    fn refuse_expired(&mut self, incoming: &Message, refuse: &mut Vec<NodeId>) {
        let mut back = Vec::new();
        for (&m, &upto) in &self.expired {
            let seen = incoming.max_seen(m).max(
                incoming
                    .clock()
                    .coverage(m)
                    .map_or(0, crate::model::Coverage::max_covered),
            );
            if seen == 0 {
                continue;
            }
            if seen > upto {
                back.push(m);
            } else if let Err(at) = refuse.binary_search(&m) {
                refuse.insert(at, m);
            }
        }
        for m in back {
            self.expired.remove(&m);
            self.markers_changed += 1;
        }
    }

    // --- queries ----------------------------------------------------------

    /// Every group held, sorted by name: the node's own groups, and any
    /// other whose messages it applied (the protocol applies only groups the
    /// node is a member of, and keeps a left group's own retractions).
    pub fn groups(&self) -> impl Iterator<Item = &GroupName> + '_ {
        self.groups.keys()
    }

    /// The groups where the local node has a live item.
    pub fn my_groups(&self) -> impl Iterator<Item = &GroupName> + '_ {
        self.groups
            .iter()
            .filter(|(_, m)| m.items().member_items(self.own).iter().any(|i| i.live()))
            .map(|(g, _)| g)
    }

    /// Members with a live item in `group`, sorted.
    #[must_use]
    pub fn members(&self, group: &str) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = Vec::new();
        if let Some(msg) = self.groups.get(group) {
            for i in msg.items().items().iter().filter(|i| i.live()) {
                if out.last() != Some(&i.member()) {
                    out.push(i.member());
                }
            }
        }
        out
    }

    /// The items of `group` that pass `filter`, in identity order.
    pub fn topology(
        &self,
        group: &str,
        filter: TopologyFilter,
    ) -> impl Iterator<Item = &TimedItem> + '_ {
        let items = match (self.groups.get(group), filter.member) {
            (Some(msg), Some(m)) => msg.items().member_items(m),
            (Some(msg), None) => msg.items().items(),
            (None, _) => &[],
        };
        items.iter().filter(move |i| {
            filter.kind.is_none_or(|k| i.kind() == k) && (!filter.live_only || i.live())
        })
    }

    /// The members serving `key` in `group`: priority high to low, ties by
    /// id. A member with several live claims containing the key appears
    /// once, with its highest-priority claim.
    #[must_use]
    pub fn lookup(&self, group: &str, key: u32) -> Vec<Server> {
        let mut out: Vec<Server> = Vec::new();
        let Some(msg) = self.groups.get(group) else {
            return out;
        };
        for i in msg.items().items() {
            if !(i.live() && i.kind() == Kind::Serve && i.range().contains(key)) {
                continue;
            }
            let s = Server {
                member: i.member(),
                priority: i.priority(),
                port: i.port(),
                range: i.range(),
            };
            // Items are grouped by member: a repeat is the last pushed.
            match out.last_mut() {
                Some(last) if last.member == s.member => {
                    if s.priority > last.priority {
                        *last = s;
                    }
                }
                _ => out.push(s),
            }
        }
        out.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.member.cmp(&b.member)));
        out
    }

    /// [`TopologyDb::lookup`] of a string key, hashed with [`key_hash`].
    #[must_use]
    pub fn lookup_bytes(&self, group: &str, key: &[u8]) -> Vec<Server> {
        self.lookup(group, key_hash(key))
    }

    /// What a peer whose world clock of `group` is `remote` lacks.
    #[must_use]
    pub fn lag(&self, group: &str, remote: &WorldClock) -> Lag {
        let mut lag = Lag::default();
        let Some(msg) = self.groups.get(group) else {
            return lag;
        };
        for_each_member(msg, |member| {
            let theirs = remote.coverage(member);
            let clocks = msg.clock().coverage(member).map_or(0, |c| {
                theirs.map_or_else(|| c.clock_count(), |t| c.missing_from(t))
            });
            let items = msg
                .items()
                .member_items(member)
                .iter()
                .filter(|i| !theirs.is_some_and(|t| t.contains(i.clock())))
                .count();
            if clocks > 0 || items > 0 {
                lag.members += 1;
                lag.clocks += clocks;
                lag.items += items;
            }
        });
        lag
    }

    /// Per group, its world clock (the compact summary a peer compares).
    pub fn digest(&self) -> impl Iterator<Item = (&GroupName, &WorldClock)> + '_ {
        self.groups.iter().map(|(g, m)| (g, m.clock()))
    }

    /// What a peer whose world clock of `group` is `remote` lacks, as
    /// messages of at most `budget` bytes by `sizer`, each carrying all it
    /// claims. Members the remote has never seen come first, then those it
    /// lags most. Empty if the remote lacks nothing or the group is unknown.
    ///
    /// # Errors
    /// [`ModelError::BudgetTooSmall`] if one entry does not fit the budget.
    pub fn delta_since(
        &self,
        group: &str,
        remote: &WorldClock,
        budget: usize,
        sizer: &impl ChunkSizer,
    ) -> Result<Vec<Message>, ModelError> {
        self.delta_since_in(group, remote, NodeId::ALL, budget, sizer)
    }

    /// [`TopologyDb::delta_since`] for the members in `part` only: `remote`
    /// speaks for those members (a world clock too large for one datagram
    /// travels in parts, each covering a range of member ids).
    ///
    /// # Errors
    /// [`ModelError::BudgetTooSmall`] if one entry does not fit the budget.
    pub fn delta_since_in(
        &self,
        group: &str,
        remote: &WorldClock,
        part: RangeInclusive<NodeId>,
        budget: usize,
        sizer: &impl ChunkSizer,
    ) -> Result<Vec<Message>, ModelError> {
        let Some(msg) = self.groups.get(group) else {
            return Ok(Vec::new());
        };
        let mut plans: Vec<(bool, MemberPlan<'_>)> = Vec::new();
        let mut resets = Vec::new();
        for_each_member(msg, |member| {
            if !part.contains(&member) {
                return;
            }
            let theirs = remote.coverage(member);
            let floor = msg.floor(member);
            // Behind our floor: the remote may hold a live item whose
            // retraction we collected. It gets a reset (all we hold of the
            // member up to the floor, in one message); the chunks then
            // carry only what lies above the floor.
            let above;
            let theirs_now = if floor > remote.known_upto(member) {
                resets.extend(msg.reset_of(member));
                let mut c = theirs.cloned().unwrap_or_default();
                c.union_with(&Coverage::upto(floor));
                above = c;
                Some(&above)
            } else {
                theirs
            };
            if let Some(plan) = MemberPlan::new(
                member,
                msg.clock().coverage(member),
                theirs_now,
                msg.items().member_items(member),
            ) {
                plans.push((theirs.is_none(), plan));
            }
        });
        // Catch-up order: never seen first, then most missing; stable by id.
        plans.sort_by(|(new_a, a), (new_b, b)| {
            new_b
                .cmp(new_a)
                .then(b.missing().cmp(&a.missing()))
                .then(a.member.cmp(&b.member))
        });
        let plans: Vec<MemberPlan<'_>> = plans.into_iter().map(|(_, p)| p).collect();
        let chunks = delta::chunk(msg.group(), &plans, budget, sizer)?;
        // Resets first: a reset may exceed `budget` (the protocol sends
        // such a message over TCP).
        resets.extend(chunks);
        Ok(resets)
    }

    /// Collects the node's own retractions written at clocks `<= upto` in
    /// every group: raises its own GC floor (persisted with the own items,
    /// [`TopologyDb::own_floor`]) and returns, per group where the floor
    /// rose, a message carrying only that floor; receivers collect the
    /// same retractions. A group's floor never passes its own coverage.
    /// See docs/ALGORITHM.md, section 11.
    pub fn collect_own(&mut self, upto: u64) -> Vec<Message> {
        let own = self.own;
        let floor = upto.min(self.clock);
        let mut out = Vec::new();
        for msg in self.groups.values_mut() {
            if msg.raise_floor(own, floor) {
                out.extend(msg.floor_only(own));
            }
        }
        out
    }

    /// `member`'s GC floor in `group` (0 = none).
    #[must_use]
    pub fn floor(&self, group: &str, member: NodeId) -> u64 {
        self.groups.get(group).map_or(0, |m| m.floor(member))
    }

    /// The node's own writes `written` as messages for broadcast: its items
    /// at clocks `(prev_in_group, upto]`, claiming exactly that span.
    ///
    /// # Errors
    /// [`ModelError::BudgetTooSmall`] if one entry does not fit the budget.
    pub fn own_delta(
        &self,
        written: &Written,
        budget: usize,
        sizer: &impl ChunkSizer,
    ) -> Result<Vec<Message>, ModelError> {
        let Some(msg) = self.groups.get(written.group.as_str()) else {
            return Ok(Vec::new());
        };
        let seen = Coverage::upto(written.prev_in_group);
        let ours = Span::new(written.prev_in_group, written.upto)
            .ok()
            .map(|s| Coverage::from_spans([s]));
        let held: Vec<TimedItem> = msg
            .items()
            .member_items(self.own)
            .iter()
            .filter(|i| i.clock() <= written.upto)
            .copied()
            .collect();
        let plan = MemberPlan::new(self.own, ours.as_ref(), Some(&seen), &held);
        delta::chunk(msg.group(), plan.as_slice(), budget, sizer)
    }

    // --- interest -----------------------------------------------------------

    /// Drops every other member's items and coverage of `group`, keeping
    /// the node's own (its retractions after a leave, which it persists):
    /// a node that stopped being a member keeps no view of the group. Whole
    /// members go, items with their coverage, so the coverage invariant
    /// holds. Returns whether anything was dropped.
    pub fn forget_others(&mut self, group: &str) -> bool {
        let own = self.own;
        let Some(msg) = self.groups.get_mut(group) else {
            return false;
        };
        let mut others = Vec::new();
        for_each_member(msg, |m| {
            if m != own {
                others.push(m);
            }
        });
        if others.is_empty() {
            return false;
        }
        *msg = msg.without_members(&others);
        if msg.is_empty() {
            self.groups.remove(group);
        }
        true
    }

    /// Whether the local node is a member of `group`: it holds a live own
    /// item there (the groups of [`TopologyDb::my_groups`]).
    #[must_use]
    pub fn is_member(&self, group: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|m| m.items().member_items(self.own).iter().any(|i| i.live()))
    }
}

/// Calls `f` once per member that has coverage or items in `msg`, in order.
fn for_each_member(msg: &Message, mut f: impl FnMut(NodeId)) {
    let mut covered = msg.clock().entries().iter().map(|e| e.member()).peekable();
    let mut holding = msg.max_seen_table().iter().map(|&(m, _)| m).peekable();
    loop {
        let next = match (covered.peek(), holding.peek()) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        if covered.peek() == Some(&next) {
            covered.next();
        }
        if holding.peek() == Some(&next) {
            holding.next();
        }
        f(next);
    }
}

/// How many distinct identities two identity-sorted item lists of one
/// member hold together (a merge count: linear, no allocation). An incoming
/// item that overwrites a held one is not a new item.
fn distinct_identities(a: &[TimedItem], b: &[TimedItem]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp_identity(&b[j]) {
            core::cmp::Ordering::Less => i += 1,
            core::cmp::Ordering::Greater => j += 1,
            core::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
        n += 1;
    }
    n + (a.len() - i) + (b.len() - j)
}

/// The members of `incoming` (sorted) whose writes would pass a cap if
/// applied to `held`: a new member beyond [`Caps::members`], or a member
/// that would then hold more than [`Caps::items_per_member`] distinct
/// identities (an incoming item overwriting a held one counts once).
/// Allocates only when something is refused.
fn over_cap(held: Option<&Message>, incoming: &Message, own: NodeId, caps: Caps) -> Vec<NodeId> {
    let mut refuse = Vec::new();
    let mut members = held.map_or(0, |m| m.clock().len());
    let mut consider = |m: NodeId| {
        if m == own || refuse.last() == Some(&m) {
            return;
        }
        let held_items = held.map_or(0, |h| h.items().member_items(m).len());
        let known = held_items > 0 || held.is_some_and(|h| h.clock().entry(m).is_some());
        let mut refused = false;
        if !known {
            if members >= caps.members {
                refused = true;
            } else {
                members += 1;
            }
        }
        // The sum is an upper bound; only near the cap count exactly.
        let theirs = incoming.items().member_items(m);
        if held_items + theirs.len() > caps.items_per_member
            && distinct_identities(held.map_or(&[][..], |h| h.items().member_items(m)), theirs)
                > caps.items_per_member
        {
            refused = true;
        }
        if refused {
            refuse.push(m);
        }
    };
    // Members appear in the coverage, in the items, or both; both lists
    // are sorted, so a merge visits each member once, in order.
    let mut clock = incoming
        .clock()
        .entries()
        .iter()
        .map(|e| e.member())
        .peekable();
    let mut items = incoming.max_seen_table().iter().map(|(m, _)| *m).peekable();
    loop {
        let next = match (clock.peek(), items.peek()) {
            (Some(&a), Some(&b)) if a < b => clock.next(),
            (Some(&a), Some(&b)) if b < a => items.next(),
            (Some(_), Some(_)) => {
                items.next();
                clock.next()
            }
            (Some(_), None) => clock.next(),
            (None, Some(_)) => items.next(),
            (None, None) => None,
        };
        let Some(m) = next else { break };
        consider(m);
    }
    refuse
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FixedSizer;

    fn m(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    fn r(a: u32, b: u32) -> KeyRange {
        KeyRange::new(a, b).unwrap()
    }

    /// The message of `group` as member `id` wrote it: `n` claims.
    fn written_by(id: u64, group: &str, n: u32) -> Message {
        let mut w = TopologyDb::new(m(id));
        for k in 0..n {
            w.claim(group, r(k * 10, k * 10 + 9), 1, 80).unwrap();
        }
        w.message(group).unwrap().clone()
    }

    fn holds_nothing_of(db: &TopologyDb, group: &str, id: u64) -> bool {
        db.message(group).is_none_or(|msg| {
            msg.items().member_items(m(id)).is_empty() && msg.clock().entry(m(id)).is_none()
        })
    }

    #[test]
    fn an_expired_member_is_dropped_and_its_old_writes_stay_out() {
        let mut db = TopologyDb::new(m(1));
        let old = written_by(9, "a", 3);
        db.apply(&old);
        db.apply(&written_by(9, "b", 1));
        assert_eq!(db.lookup("a", 5).len(), 1);
        assert_eq!(db.expire(m(9)), Some(3));
        assert!(holds_nothing_of(&db, "a", 9) && holds_nothing_of(&db, "b", 9));
        assert!(db.lookup("a", 5).is_empty());
        assert_eq!(db.expired_upto(m(9)), 3);
        // A peer that has not expired it yet gossips it back: refused.
        let a = db.apply(&old);
        assert!(!a.changed && a.refused == 1);
        assert!(holds_nothing_of(&db, "a", 9));
        // It comes back and writes above the marker: accepted, marker gone.
        let mut back = TopologyDb::new(m(9));
        for k in 0..4 {
            back.claim("a", r(k * 10, k * 10 + 9), 1, 80).unwrap();
        }
        assert!(db.apply(back.message("a").unwrap()).changed);
        assert_eq!(db.expired_upto(m(9)), 0);
        assert_eq!(db.message("a").unwrap().items().member_items(m(9)).len(), 4);
        // Own writes are never expired; an unknown member gives no marker.
        assert_eq!(db.expire(m(1)), None);
        assert_eq!(db.expire(m(77)), None);
    }

    #[test]
    fn a_cleared_marker_lets_the_old_writes_back() {
        let mut db = TopologyDb::new(m(1));
        let old = written_by(9, "a", 2);
        db.apply(&old);
        db.expire(m(9));
        assert!(db.clear_expired(m(9)));
        assert!(db.apply(&old).changed);
        assert_eq!(db.lookup("a", 5).len(), 1);
    }

    #[test]
    fn a_new_group_beyond_the_cap_is_refused_whole() {
        let caps = Caps {
            groups: 2,
            ..Caps::default()
        };
        let mut db = TopologyDb::new(m(1)).with_caps(caps);
        for g in ["a", "b"] {
            assert_eq!(db.apply(&written_by(7, g, 1)).refused, 0);
        }
        let a = db.apply(&written_by(7, "c", 1));
        assert!(a.refused > 0 && !a.changed);
        assert_eq!(db.groups().count(), 2);
        // Known groups still take news.
        assert!(db.apply(&written_by(8, "a", 1)).changed);
    }

    #[test]
    fn members_beyond_the_cap_are_refused_with_their_coverage() {
        let caps = Caps {
            members: 3,
            ..Caps::default()
        };
        let mut db = TopologyDb::new(m(1)).with_caps(caps);
        let mut all = written_by(10, "a", 1);
        for id in 11..15 {
            all.join(&written_by(id, "a", 2)).unwrap();
        }
        let a = db.apply(&all);
        assert_eq!(a.refused, 2);
        for id in 10..13 {
            assert!(!holds_nothing_of(&db, "a", id), "member {id} kept");
        }
        for id in 13..15 {
            assert!(
                holds_nothing_of(&db, "a", id),
                "member {id}: no items and no coverage"
            );
        }
        // Members already held keep taking news at the cap.
        let mut more = written_by(12, "a", 3);
        more.join(&written_by(14, "a", 1)).unwrap();
        let a = db.apply(&more);
        assert_eq!((a.refused, a.changed), (1, true));
        assert_eq!(
            db.message("a").unwrap().items().member_items(m(12)).len(),
            3
        );
        // Own writes are never capped.
        db.claim("a", r(500, 600), 1, 80).unwrap();
        assert_eq!(db.message("a").unwrap().items().member_items(m(1)).len(), 1);
    }

    #[test]
    fn a_member_past_the_item_cap_is_refused_whole() {
        let caps = Caps {
            items_per_member: 4,
            ..Caps::default()
        };
        let mut db = TopologyDb::new(m(1)).with_caps(caps);
        assert_eq!(db.apply(&written_by(9, "a", 4)).refused, 0);
        // A later message with a fifth item (and the four again) would
        // pass the cap: refused, items and coverage alike.
        let a = db.apply(&written_by(9, "a", 5));
        assert_eq!(a.refused, 1);
        let msg = db.message("a").unwrap();
        assert_eq!(msg.items().member_items(m(9)).len(), 4);
        assert_eq!(
            msg.clock().known_upto(m(9)),
            4,
            "coverage of the refused clocks not taken"
        );
        assert_eq!(db.apply(&written_by(10, "a", 5)).refused, 1);
        assert!(holds_nothing_of(&db, "a", 10));
    }

    #[test]
    fn a_member_at_the_item_cap_may_overwrite_its_items() {
        let caps = Caps {
            items_per_member: 4,
            ..Caps::default()
        };
        let mut db = TopologyDb::new(m(1)).with_caps(caps);
        let mut w = TopologyDb::new(m(9));
        for k in 0..4 {
            w.claim("a", r(k * 10, k * 10 + 9), 1, 80).unwrap();
        }
        assert_eq!(db.apply(w.message("a").unwrap()).refused, 0);
        // The same four identities again (a release and a new priority):
        // 4 held + 4 incoming items, but 4 identities.
        w.release("a", r(0, 9)).unwrap();
        w.claim("a", r(10, 19), 2, 80).unwrap();
        let a = db.apply(w.message("a").unwrap());
        assert_eq!((a.refused, a.changed), (0, true));
        assert!(db.lookup("a", 5).is_empty(), "the release was taken");
        assert_eq!(db.lookup("a", 15)[0].priority, 2);
    }

    #[test]
    fn writes_take_one_clock_each_across_groups() {
        let mut db = TopologyDb::new(m(1));
        let w = db.join("a").unwrap().unwrap();
        assert_eq!((w.prev, w.upto, w.prev_in_group), (0, 1, 0));
        let w = db.claim("b", r(0, 9), 1, 80).unwrap().unwrap();
        assert_eq!((w.prev, w.upto, w.prev_in_group), (1, 2, 0));
        let w = db.claim("a", r(0, 9), 1, 80).unwrap().unwrap();
        assert_eq!((w.prev, w.upto, w.prev_in_group), (2, 3, 1));
        assert_eq!(db.clock(), 3);
        // Own coverage in a group is up to the latest write there.
        assert_eq!(db.message("a").unwrap().clock().known_upto(m(1)), 3);
        assert_eq!(db.message("b").unwrap().clock().known_upto(m(1)), 2);
    }

    #[test]
    fn a_write_that_changes_nothing_uses_no_clock() {
        let mut db = TopologyDb::new(m(1));
        db.join("a").unwrap();
        assert_eq!(db.join("a").unwrap(), None);
        db.claim("a", r(0, 9), 1, 80).unwrap();
        assert_eq!(db.claim("a", r(0, 9), 1, 80).unwrap(), None);
        assert!(db.claim("a", r(0, 9), 2, 80).unwrap().is_some());
        assert_eq!(db.clock(), 3);
        assert_eq!(db.leave("nowhere").unwrap(), None);
        assert_eq!(db.groups().count(), 1);
    }

    #[test]
    fn leave_retracts_each_live_item_with_its_kind() {
        let mut db = TopologyDb::new(m(1));
        db.join("a").unwrap();
        db.claim("a", KeyRange::FULL, 0, 0).unwrap();
        let w = db.leave("a").unwrap().unwrap();
        assert_eq!((w.prev, w.upto), (2, 4));
        let items: Vec<_> = db.topology("a", TopologyFilter::default()).collect();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| !i.live()));
        assert_eq!(db.my_groups().count(), 0);
        assert!(db.members("a").is_empty());
    }

    #[test]
    fn release_needs_the_exact_claimed_range() {
        let mut db = TopologyDb::new(m(1));
        db.claim("a", r(0, 99), 1, 80).unwrap();
        db.claim("a", r(200, 299), 1, 80).unwrap();
        match db.release("a", r(50, 250)) {
            Err(ModelError::NotClaimed { overlapping, .. }) => {
                assert_eq!(overlapping, vec![r(0, 99), r(200, 299)]);
            }
            other => panic!("expected NotClaimed, got {other:?}"),
        }
        assert!(db.release("a", r(0, 99)).unwrap().is_some());
        assert_eq!(db.release("a", r(0, 99)).unwrap(), None);
        assert_eq!(db.lookup("a", 10), vec![]);
        assert_eq!(db.lookup("a", 250).len(), 1);
    }

    #[test]
    fn invalid_group_names_are_refused() {
        let mut db = TopologyDb::new(m(1));
        assert_eq!(db.join(""), Err(ModelError::EmptyGroupName));
        assert!(db.claim(&"x".repeat(300), r(0, 1), 0, 0).is_err());
        assert_eq!(db.clock(), 0);
    }

    #[test]
    fn lookup_orders_by_priority_then_id() {
        let mut a = TopologyDb::new(m(3));
        a.claim("g", r(0, 99), 5, 1).unwrap();
        let mut b = TopologyDb::new(m(2));
        b.claim("g", r(50, 150), 5, 2).unwrap();
        let mut c = TopologyDb::new(m(1));
        c.claim("g", r(0, 60), 1, 3).unwrap();
        c.claim("g", r(0, 200), 9, 4).unwrap();
        for other in [&b, &c] {
            a.apply(other.message("g").unwrap());
        }
        let got: Vec<(NodeId, u16)> = a
            .lookup("g", 55)
            .iter()
            .map(|s| (s.member, s.port))
            .collect();
        assert_eq!(got, vec![(m(1), 4), (m(2), 2), (m(3), 1)]);
        assert_eq!(a.members("g"), vec![m(1), m(2), m(3)]);
    }

    #[test]
    fn own_state_is_never_taken_from_others() {
        let mut a = TopologyDb::new(m(1));
        a.claim("g", r(0, 9), 1, 80).unwrap();
        // A copy of a's state from a lost future (a restored backup).
        let mut future = a.clone();
        future.claim("g", r(10, 19), 1, 80).unwrap();
        future.release("g", r(0, 9)).unwrap();
        let applied = a.apply(future.message("g").unwrap());
        assert_eq!(applied.own_ahead, Some(3));
        assert!(!applied.changed);
        assert_eq!(a.lookup("g", 5).len(), 1);
    }

    #[test]
    fn delta_answers_the_counterexample_with_an_honest_claim() {
        // m wrote I@2 and J@4 (clocks 1 and 3 went to another group).
        let mut w = TopologyDb::new(m(9));
        w.join("other").unwrap();
        w.claim("g", r(0, 9), 0, 0).unwrap();
        w.join("other2").unwrap();
        w.claim("g", r(10, 19), 0, 0).unwrap();
        // R covers (0,2] and holds I@2.
        let mut remote = WorldClock::new();
        remote.cover(m(9), Span::new(0, 2).unwrap());
        let chunks = w.delta_since("g", &remote, 1200, &FixedSizer).unwrap();
        assert_eq!(chunks.len(), 1);
        let c = &chunks[0];
        assert_eq!(c.items().len(), 1);
        assert_eq!(
            c.clock()
                .coverage(m(9))
                .unwrap()
                .spans()
                .collect::<Vec<_>>(),
            vec![Span::new(2, 4).unwrap()]
        );
    }

    #[test]
    fn own_delta_claims_from_the_previous_write_in_the_group() {
        let mut db = TopologyDb::new(m(1));
        db.join("g").unwrap();
        db.join("h").unwrap();
        let w = db.claim("g", r(0, 9), 1, 80).unwrap().unwrap();
        let msgs = db.own_delta(&w, 1200, &FixedSizer).unwrap();
        assert_eq!(msgs.len(), 1);
        let cov = msgs[0].clock().coverage(m(1)).unwrap();
        assert_eq!(
            cov.spans().collect::<Vec<_>>(),
            vec![Span::new(1, 3).unwrap()]
        );
        assert_eq!(msgs[0].items().len(), 1);
    }

    #[test]
    fn a_partial_delta_speaks_only_for_its_members() {
        let mut a = TopologyDb::new(m(1));
        a.claim("g", r(0, 9), 1, 80).unwrap();
        let mut b = TopologyDb::new(m(5));
        b.claim("g", r(10, 19), 1, 80).unwrap();
        a.apply(b.message("g").unwrap());
        let low = a
            .delta_since_in("g", &WorldClock::new(), m(0)..=m(3), 1200, &FixedSizer)
            .unwrap();
        assert_eq!(low.len(), 1);
        assert!(low[0].items().items().iter().all(|i| i.member() == m(1)));
        assert!(low[0].clock().coverage(m(5)).is_none());
    }

    #[test]
    fn restore_rebuilds_own_state_and_coverage() {
        let mut db = TopologyDb::new(m(1));
        db.join("a").unwrap();
        db.claim("b", r(0, 9), 1, 80).unwrap();
        db.claim("a", r(5, 6), 2, 81).unwrap();
        let back = TopologyDb::restore(m(1), db.clock(), db.own_items()).unwrap();
        assert_eq!(back.clock(), 3);
        assert_eq!(back.own_items(), db.own_items());
        assert_eq!(back.message("a").unwrap().clock().known_upto(m(1)), 3);
        assert_eq!(back.message("b").unwrap().clock().known_upto(m(1)), 2);
        let stranger = (
            GroupName::new("a").unwrap(),
            TimedItem::at(Item::get(m(2)), 1).unwrap(),
        );
        assert!(TopologyDb::restore(m(1), 3, [stranger]).is_err());
        assert!(TopologyDb::restore(m(1), 1, db.own_items()).is_err());
    }

    #[test]
    fn reassert_supersedes_a_lost_timeline() {
        let mut db = TopologyDb::new(m(1));
        db.claim("g", r(0, 9), 1, 80).unwrap();
        let backup = db.clone();
        db.claim("g", r(10, 19), 1, 80).unwrap(); // the lost timeline (clock 2)
        let lost: Vec<_> = db.own_items();
        let mut restored = backup;
        let writes = restored.reassert(2, &lost).unwrap();
        assert_eq!(writes.len(), 1);
        assert_eq!(restored.clock(), 4);
        // The claim held is re-stamped above the lost timeline, and the
        // identity only the lost timeline had is retracted.
        let items: Vec<_> = restored
            .topology("g", TopologyFilter::default())
            .copied()
            .collect();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.clock() > 2));
        assert_eq!(restored.lookup("g", 15), vec![]);
        assert_eq!(restored.lookup("g", 5).len(), 1);
        // A peer that held the lost timeline converges to the restored one.
        let mut peer = TopologyDb::new(m(7));
        peer.apply(db.message("g").unwrap());
        peer.apply(restored.message("g").unwrap());
        assert_eq!(peer.lookup("g", 15), vec![]);
        assert_eq!(peer.lookup("g", 5).len(), 1);
    }

    #[test]
    fn lag_counts_what_the_remote_lacks() {
        let mut db = TopologyDb::new(m(1));
        db.join("g").unwrap();
        db.claim("g", r(0, 9), 1, 80).unwrap();
        let lag = db.lag("g", &WorldClock::new());
        assert_eq!(
            lag,
            Lag {
                members: 1,
                clocks: 2,
                items: 2
            }
        );
        let mut remote = WorldClock::new();
        remote.cover(m(1), Span::new(0, 2).unwrap());
        assert!(db.lag("g", &remote).is_zero());
    }

    #[test]
    fn forget_others_keeps_only_own_items_and_coverage() {
        let mut db = TopologyDb::new(m(1));
        db.join("g").unwrap();
        db.apply(&written_by(2, "g", 2));
        db.apply(&written_by(3, "g", 1));
        assert!(db.is_member("g"));
        db.leave("g").unwrap();
        assert!(!db.is_member("g"), "a leave retracts the join");
        assert!(db.forget_others("g"));
        assert!(holds_nothing_of(&db, "g", 2) && holds_nothing_of(&db, "g", 3));
        let msg = db.message("g").expect("own retractions stay");
        assert!(msg.items().items().iter().all(|i| i.member() == m(1)));
        assert!(!db.forget_others("g"), "nothing left to drop");
        // A group only others wrote to disappears whole.
        db.apply(&written_by(2, "h", 1));
        assert!(db.forget_others("h"));
        assert!(db.message("h").is_none());
    }
}
