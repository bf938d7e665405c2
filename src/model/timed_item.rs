//! `TimedItem`: an [`Item`] stamped with a [`LocalClock`] of the same member.
//!
//! The unit everything else stores and merges. Laid out flat (32 bytes, no
//! pointers) so a [`crate::model::TimedSet`] is one contiguous array that a
//! merge walks linearly. Two timed items of one identity resolve by
//! [`TimedItem::wins_over`]: the higher clock wins; at equal clocks (only a
//! buggy or replayed writer produces that) the greater `(live, priority, port)`
//! wins, so every replica picks the same one.

use std::cmp::Ordering;
use std::fmt;

use super::error::ModelError;
use super::item::{Identity, Item, Kind, Op};
use super::key_range::KeyRange;
use super::local_clock::LocalClock;
use super::node_id::NodeId;

/// An item at a clock of its own member.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimedItem {
    member: NodeId,
    clock: u64,
    /// The range packed as `start << 32 | end`, so identities compare as
    /// two `u64`s and then the kind.
    span: u64,
    priority: u16,
    port: u16,
    kind: Kind,
    live: bool,
}

const fn pack(range: KeyRange) -> u64 {
    ((range.start() as u64) << 32) | range.end() as u64
}

impl TimedItem {
    /// Stamps `item` with `clock`.
    ///
    /// # Errors
    /// [`ModelError::MemberMismatch`] if the clock belongs to another member.
    pub const fn new(item: Item, clock: LocalClock) -> Result<Self, ModelError> {
        if item.member.as_u64() != clock.member().as_u64() {
            return Err(ModelError::MemberMismatch {
                item: item.member,
                clock: clock.member(),
            });
        }
        Ok(Self::stamp(item, clock.counter()))
    }

    /// Stamps `item` with its member's counter `clock` (at least 1).
    ///
    /// # Errors
    /// [`ModelError::ZeroClock`] for clock 0.
    pub const fn at(item: Item, clock: u64) -> Result<Self, ModelError> {
        if clock == 0 {
            return Err(ModelError::ZeroClock);
        }
        Ok(Self::stamp(item, clock))
    }

    const fn stamp(item: Item, clock: u64) -> Self {
        Self {
            member: item.member,
            clock,
            span: pack(item.range),
            priority: item.priority,
            port: item.port,
            kind: item.kind,
            live: item.live,
        }
    }

    /// The writer.
    #[must_use]
    pub const fn member(&self) -> NodeId {
        self.member
    }

    /// The writer's counter at this write (at least 1).
    #[must_use]
    pub const fn clock(&self) -> u64 {
        self.clock
    }

    /// The full stamp.
    #[must_use]
    pub const fn local_clock(&self) -> LocalClock {
        LocalClock::from_valid(self.member, self.clock)
    }

    /// Serve or read.
    #[must_use]
    pub const fn kind(&self) -> Kind {
        self.kind
    }

    /// False for a retraction.
    #[must_use]
    pub const fn live(&self) -> bool {
        self.live
    }

    /// The keys.
    #[must_use]
    pub const fn range(&self) -> KeyRange {
        KeyRange::from_packed(self.span)
    }

    /// Ordering hint among servers: higher first.
    #[must_use]
    pub const fn priority(&self) -> u16 {
        self.priority
    }

    /// Service port; 0 = none.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The unstamped item.
    #[must_use]
    pub const fn item(&self) -> Item {
        Item {
            member: self.member,
            kind: self.kind,
            live: self.live,
            range: self.range(),
            priority: self.priority,
            port: self.port,
        }
    }

    /// The seed's operation name.
    #[must_use]
    pub const fn op(&self) -> Op {
        self.item().op()
    }

    /// What a later write of this member overwrites.
    #[must_use]
    pub const fn identity(&self) -> Identity {
        Identity {
            member: self.member,
            range: self.range(),
            kind: self.kind,
        }
    }

    /// Compares identities in storage order, `(member, start, end, kind)`:
    /// two `u64` comparisons, then the kind only on a tie.
    #[inline]
    #[must_use]
    pub fn cmp_identity(&self, other: &Self) -> Ordering {
        let a = (u128::from(self.member.as_u64()) << 64) | u128::from(self.span);
        let b = (u128::from(other.member.as_u64()) << 64) | u128::from(other.span);
        a.cmp(&b).then(self.kind.cmp(&other.kind))
    }

    /// Whether `other` has the same identity.
    #[inline]
    #[must_use]
    pub fn same_identity(&self, other: &Self) -> bool {
        self.member == other.member && self.span == other.span && self.kind == other.kind
    }

    /// Whether `self` replaces `other` (same identity assumed): higher clock,
    /// then greater `(live, priority, port)`. Total and deterministic, so the
    /// join is commutative even for a buggy writer that reuses a clock.
    #[inline]
    #[must_use]
    pub fn wins_over(&self, other: &Self) -> bool {
        (self.clock, self.live, self.priority, self.port)
            > (other.clock, other.live, other.priority, other.port)
    }
}

impl fmt::Debug for TimedItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {}@{} {:?} prio={} port={}",
            self.op(),
            self.kind,
            self.member,
            self.clock,
            self.range(),
            self.priority,
            self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    #[test]
    fn stamping_with_another_members_clock_is_refused() {
        let item = Item::get(m(1));
        let clock = LocalClock::new(m(2), 3).unwrap();
        assert_eq!(
            TimedItem::new(item, clock),
            Err(ModelError::MemberMismatch {
                item: m(1),
                clock: m(2)
            })
        );
        let ok = TimedItem::new(item, LocalClock::new(m(1), 3).unwrap()).unwrap();
        assert_eq!((ok.member(), ok.clock()), (m(1), 3));
        assert_eq!(ok.item(), item);
    }

    #[test]
    fn higher_clock_wins_and_ties_break_on_contents() {
        let r = KeyRange::new(0, 9).unwrap();
        let old = TimedItem::at(Item::add(m(1), r, 5, 80), 3).unwrap();
        let new = TimedItem::at(Item::rmv(m(1), Kind::Serve, r), 4).unwrap();
        assert!(new.wins_over(&old) && !old.wins_over(&new));
        let a = TimedItem::at(Item::add(m(1), r, 5, 80), 4).unwrap();
        let b = TimedItem::at(Item::add(m(1), r, 6, 80), 4).unwrap();
        assert!(b.wins_over(&a) && !a.wins_over(&b));
        assert!(!a.wins_over(&a));
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<TimedItem>() <= 32);
    }
}
