//! `Item`: one statement a member makes about its own participation in a
//! group, and its `Identity`, the part a later write overwrites.
//!
//! The seed's three operations map onto `(kind, live)`:
//!
//! | seed  | kind    | live  | meaning                                  |
//! |-------|---------|-------|------------------------------------------|
//! | `Add` | `Serve` | true  | I serve keys `start..=end` of this group |
//! | `Get` | `Read`  | true  | I read this group (I serve nothing)      |
//! | `Rmv` | any     | false | I retract the item with this identity    |
//!
//! A fourth kind is scalesmall's own: `Auto` (live) says "I choose my
//! ranges of this group myself" (auto-claim, [`crate::protocol::auto_claim`]),
//! over the full range. Its `priority` slot holds the member's capacity
//! **weight** (its share of the key space, not a client ordering) and its
//! `port` the service port of the ranges it claims; every node reads the
//! group's auto members and weights from these items, so they agree on the
//! assignment's input through the CRDT itself.
//!
//! A retraction keeps its kind, so leaving a group after joining it and
//! claiming the full range writes two distinct retractions (identity is
//! `(member, kind, start, end)`; the seed's `(member, start, end)` let a
//! full-range claim overwrite a join). `live`, `priority` and `port` are
//! what a later write of the same identity overwrites.

use std::fmt;

use super::key_range::KeyRange;
use super::node_id::NodeId;

/// What a member does with a range: serve its keys, or read the group.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// The member serves the range (`Add` when live).
    Serve,
    /// The member reads the group (`Get` when live).
    Read,
    /// The member picks its own ranges of the group (auto-claim).
    Auto,
}

impl Kind {
    /// Lower-case name, as shown by the CLI.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Serve => "serve",
            Kind::Read => "read",
            Kind::Auto => "auto",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's operation names, derived from `(kind, live)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// A live serve item: "I serve this range".
    Add,
    /// A live read item: "I read this group".
    Get,
    /// A retraction (of any kind).
    Rmv,
    /// A live auto marker: "I pick my own ranges of this group".
    Auto,
}

/// What an item is about, `(member, kind, start, end)`: the part a later
/// write of the member overwrites. Ordered as a [`crate::model::TimedSet`]
/// stores items: by member, range, then kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Identity {
    /// The writer.
    pub member: NodeId,
    /// The keys.
    pub range: KeyRange,
    /// Serve or read.
    pub kind: Kind,
}

/// One statement by one member, not yet stamped with a clock.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Item {
    /// The writer (the only member allowed to write it).
    pub member: NodeId,
    /// Serve or read.
    pub kind: Kind,
    /// False for a retraction (`Rmv`).
    pub live: bool,
    /// The keys `start..=end`.
    pub range: KeyRange,
    /// Ordering hint among servers of a range: higher first.
    pub priority: u16,
    /// The service port for this range; 0 = none.
    pub port: u16,
}

impl Item {
    /// `Add`: `member` serves `range`.
    #[must_use]
    pub const fn add(member: NodeId, range: KeyRange, priority: u16, port: u16) -> Self {
        Self {
            member,
            kind: Kind::Serve,
            live: true,
            range,
            priority,
            port,
        }
    }

    /// `Get`: `member` reads the group (over the full range).
    #[must_use]
    pub const fn get(member: NodeId) -> Self {
        Self {
            member,
            kind: Kind::Read,
            live: true,
            range: KeyRange::FULL,
            priority: 0,
            port: 0,
        }
    }

    /// The auto marker: `member` picks its own ranges of the group, with
    /// capacity `weight` (0: a standby, serving only while fewer than R
    /// members have a weight), serving them on `port`.
    #[must_use]
    pub const fn auto(member: NodeId, weight: u16, port: u16) -> Self {
        Self {
            member,
            kind: Kind::Auto,
            live: true,
            range: KeyRange::FULL,
            priority: weight,
            port,
        }
    }

    /// `Rmv`: `member` retracts its item of this kind and range.
    #[must_use]
    pub const fn rmv(member: NodeId, kind: Kind, range: KeyRange) -> Self {
        Self {
            member,
            kind,
            live: false,
            range,
            priority: 0,
            port: 0,
        }
    }

    /// The identity a later write overwrites.
    #[must_use]
    pub const fn identity(&self) -> Identity {
        Identity {
            member: self.member,
            range: self.range,
            kind: self.kind,
        }
    }

    /// The seed's name for this item.
    #[must_use]
    pub const fn op(&self) -> Op {
        match (self.live, self.kind) {
            (false, _) => Op::Rmv,
            (true, Kind::Serve) => Op::Add,
            (true, Kind::Read) => Op::Get,
            (true, Kind::Auto) => Op::Auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ops_map_to_kind_and_live() {
        let m = NodeId::from_u64(1);
        let r = KeyRange::new(1, 2).unwrap();
        assert_eq!(Item::add(m, r, 1, 80).op(), Op::Add);
        assert_eq!(Item::get(m).op(), Op::Get);
        assert_eq!(Item::rmv(m, Kind::Serve, r).op(), Op::Rmv);
        assert_eq!(Item::rmv(m, Kind::Read, KeyRange::FULL).op(), Op::Rmv);
    }

    #[test]
    fn join_and_full_claim_have_distinct_identities() {
        let m = NodeId::from_u64(1);
        let join = Item::get(m);
        let claim = Item::add(m, KeyRange::FULL, 0, 0);
        assert_ne!(join.identity(), claim.identity());
        assert_eq!(
            Item::rmv(m, Kind::Read, KeyRange::FULL).identity(),
            join.identity()
        );
    }
}
