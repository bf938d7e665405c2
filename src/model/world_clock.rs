//! `WorldClock`: what a node knows of each member's writes in one group.
//!
//! The seed kept only "the highest clock seen per member". That is unsafe once
//! messages are split, lost or reordered: a node that got clock 9 but missed 5
//! believes it is current. Here each member has a [`Coverage`], the set of its
//! clocks the node covers, with this meaning, the **coverage invariant**:
//!
//! > If clock `c` is covered for member `m`, then every identity of `m` in this
//! > group whose latest write has clock `c` is held, at that write.
//!
//! Clocks where `m` wrote nothing in this group (it wrote in another group, or
//! the write was later overwritten) are covered trivially. A node's own state
//! covers `(0, own clock]`. Coverage grows only from own writes, from merges
//! and from `delta_since`, never from merely holding an item.
//!
//! The seed's world clock, `max_seen(m)` (the highest item clock held), is not
//! a claim and is derived from the items: see [`crate::model::Message::max_seen`].
//!
//! Join is per-member interval-set union: idempotent, commutative and
//! associative (below the fragment cap).
//!
//! Besides coverage, a clock may carry per member a **GC floor** `F`
//! (docs/ALGORITHM.md, section 11): retractions of that member at clocks
//! `<= F` may have been collected. In a node's own state `F <=
//! known_upto`; in a message it is what its sender's floor was. Floors are
//! not part of the fingerprint (collecting tombstones changes no coverage).

use std::fmt;

use super::coverage::{Coverage, Span};
use super::node_id::NodeId;

/// One member's entry: its covered clocks.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MemberClock {
    member: NodeId,
    coverage: Coverage,
}

impl MemberClock {
    /// The member.
    #[must_use]
    pub const fn member(&self) -> NodeId {
        self.member
    }

    /// The clocks covered.
    #[must_use]
    pub const fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// `(0, known_upto]` is covered.
    #[must_use]
    pub const fn known_upto(&self) -> u64 {
        self.coverage.known_upto()
    }

    fn is_blank(&self) -> bool {
        self.coverage.is_empty()
    }
}

impl fmt::Debug for MemberClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.member, self.coverage)
    }
}

/// Per member, the clocks covered (and the GC floors, if any).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct WorldClock {
    /// Sorted by member, one entry each, none blank.
    entries: Vec<MemberClock>,
    /// Sorted by member, one each, none 0: the GC floors.
    floors: Vec<(NodeId, u64)>,
}

impl WorldClock {
    /// Knows nothing.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
            floors: Vec::new(),
        }
    }

    /// `member`'s GC floor: its retractions at clocks `<= floor` may have
    /// been collected (0 = none).
    #[must_use]
    pub fn floor(&self, member: NodeId) -> u64 {
        value_of(&self.floors, member).unwrap_or(0)
    }

    /// Every floor, sorted by member.
    #[must_use]
    pub fn floors(&self) -> &[(NodeId, u64)] {
        &self.floors
    }

    /// Sets `member`'s floor (0 removes it). Only the model's own
    /// bookkeeping and message constructors may call this: in a node's state
    /// a floor must not pass `known_upto`.
    pub fn set_floor(&mut self, member: NodeId, floor: u64) {
        match self.floors.binary_search_by(|(m, _)| m.cmp(&member)) {
            Ok(i) if floor == 0 => {
                self.floors.remove(i);
            }
            Ok(i) => self.floors[i].1 = floor,
            Err(_) if floor == 0 => {}
            Err(i) => self.floors.insert(i, (member, floor)),
        }
    }

    /// Raises each floor to `other`'s where that is higher (the CRDT join of
    /// [`crate::model::Message::join`]; a node's apply takes floors only
    /// through its reset rule). Returns whether one rose.
    pub fn join_floors(&mut self, other: &WorldClock) -> bool {
        let mut rose = false;
        for &(m, f) in &other.floors {
            if f > self.floor(m) {
                self.set_floor(m, f);
                rose = true;
            }
        }
        rose
    }

    /// The members' entries, sorted by member.
    #[must_use]
    pub fn entries(&self) -> &[MemberClock] {
        &self.entries
    }

    /// Whether no member has an entry (nor a floor).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.floors.is_empty()
    }

    /// Number of members with an entry.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `member`'s entry.
    #[must_use]
    pub fn entry(&self, member: NodeId) -> Option<&MemberClock> {
        self.position(member).ok().and_then(|i| self.entries.get(i))
    }

    /// Where `member`'s entry is, or would be inserted.
    pub(crate) fn position(&self, member: NodeId) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.member.cmp(&member))
    }

    /// `member`'s covered clocks, if any entry.
    #[must_use]
    pub fn coverage(&self, member: NodeId) -> Option<&Coverage> {
        self.entry(member).map(|e| &e.coverage)
    }

    /// The end of `member`'s interval that starts at 0 (0 if none).
    #[must_use]
    pub fn known_upto(&self, member: NodeId) -> u64 {
        self.entry(member).map_or(0, MemberClock::known_upto)
    }

    /// Whether `member`'s `clock` is covered.
    #[must_use]
    pub fn covers(&self, member: NodeId, clock: u64) -> bool {
        self.entry(member)
            .is_some_and(|e| e.coverage.contains(clock))
    }

    fn entry_mut(&mut self, member: NodeId) -> &mut MemberClock {
        let i = match self.position(member) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(
                    i,
                    MemberClock {
                        member,
                        coverage: Coverage::new(),
                    },
                );
                i
            }
        };
        &mut self.entries[i]
    }

    /// Covers `span` of `member`'s clocks; returns whether coverage grew.
    ///
    /// Only the model's own bookkeeping (own writes, merges, deltas) and
    /// message constructors may call this: coverage is a promise that the
    /// matching items are held.
    pub fn cover(&mut self, member: NodeId, span: Span) -> bool {
        self.entry_mut(member).coverage.insert(span)
    }

    /// Sets `member`'s coverage to exactly `coverage` (empty removes the entry).
    pub fn set(&mut self, member: NodeId, coverage: Coverage) {
        if coverage.is_empty() {
            self.remove(member);
        } else {
            self.entry_mut(member).coverage = coverage;
        }
    }

    /// Covers every clock of `coverage` for `member`; returns whether it grew.
    pub fn cover_all(&mut self, member: NodeId, coverage: &Coverage) -> bool {
        if coverage.is_empty() {
            return false;
        }
        self.entry_mut(member).coverage.union_with(coverage)
    }

    /// Adds everything `other` covers; returns whether coverage grew.
    pub fn join(&mut self, other: &WorldClock) -> bool {
        let mut grew = false;
        let all_known = other
            .entries
            .iter()
            .all(|o| o.is_blank() || self.position(o.member).is_ok());
        if all_known {
            // Common case: no new members; update in place, no allocation
            // unless a coverage gains a fragment.
            let mut i = 0;
            for o in &other.entries {
                while self.entries.get(i).is_some_and(|e| e.member < o.member) {
                    i += 1;
                }
                if let Some(e) = self.entries.get_mut(i).filter(|e| e.member == o.member) {
                    grew |= e.coverage.union_with(&o.coverage);
                }
            }
            return grew;
        }
        let mut merged = Vec::with_capacity(self.entries.len() + other.entries.len());
        let mut mine = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut theirs = other.entries.iter().filter(|o| !o.is_blank()).peekable();
        loop {
            match (mine.peek(), theirs.peek()) {
                (Some(a), Some(b)) if a.member == b.member => {
                    let (Some(mut a), Some(b)) = (mine.next(), theirs.next()) else {
                        break;
                    };
                    grew |= a.coverage.union_with(&b.coverage);
                    merged.push(a);
                }
                (Some(a), Some(b)) if a.member < b.member => merged.extend(mine.next()),
                (_, Some(_)) => {
                    if let Some(b) = theirs.next() {
                        grew = true;
                        merged.push(b.clone());
                    }
                }
                (Some(_), None) => merged.extend(mine.next()),
                (None, None) => break,
            }
        }
        self.entries = merged;
        grew
    }

    /// Whether every clock `other` covers is covered here. Linear, allocation-free.
    #[must_use]
    pub fn covers_all(&self, other: &WorldClock) -> bool {
        let mut i = 0;
        for o in &other.entries {
            if o.coverage.is_empty() {
                continue;
            }
            while self.entries.get(i).is_some_and(|e| e.member < o.member) {
                i += 1;
            }
            match self.entries.get(i) {
                Some(e) if e.member == o.member && o.coverage.is_subset_of(&e.coverage) => {}
                _ => return false,
            }
        }
        true
    }

    /// Drops `member`'s entry (its coverage; see [`WorldClock::forget`]
    /// for the floor too).
    pub fn remove(&mut self, member: NodeId) {
        if let Ok(i) = self.position(member) {
            self.entries.remove(i);
        }
    }

    /// Drops everything about `member`: coverage and floor.
    pub fn forget(&mut self, member: NodeId) {
        self.remove(member);
        self.set_floor(member, 0);
    }

    /// The entries of the members in `part` only.
    #[must_use]
    pub fn restricted(&self, part: &std::ops::RangeInclusive<NodeId>) -> WorldClock {
        WorldClock {
            entries: self
                .entries
                .iter()
                .filter(|e| part.contains(&e.member))
                .cloned()
                .collect(),
            floors: self
                .floors
                .iter()
                .filter(|(m, _)| part.contains(m))
                .copied()
                .collect(),
        }
    }

    /// This clock without the entries of `drop` (sorted member ids).
    #[must_use]
    pub fn without(&self, drop: &[NodeId]) -> WorldClock {
        WorldClock {
            entries: self
                .entries
                .iter()
                .filter(|e| drop.binary_search(&e.member).is_err())
                .cloned()
                .collect(),
            floors: self
                .floors
                .iter()
                .filter(|(m, _)| drop.binary_search(m).is_err())
                .copied()
                .collect(),
        }
    }

    /// [`WorldClock::fingerprint`] of the members in `part` only (to compare
    /// a large clock part by part).
    #[must_use]
    pub fn fingerprint_in(&self, part: &std::ops::RangeInclusive<NodeId>) -> u64 {
        fingerprint_of(self.entries.iter().filter(|e| part.contains(&e.member)))
    }

    /// A stable 64-bit hash of the coverage: two nodes with
    /// equal coverage of a group have equal fingerprints, whatever their
    /// platform. Used in announces so a listener can tell cheaply whether it lags.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        fingerprint_of(self.entries.iter())
    }
}

/// The value of `member` in a table sorted by member (floors, `max_seen`,
/// the reset and cut lists of an apply).
pub(crate) fn value_of(table: &[(NodeId, u64)], member: NodeId) -> Option<u64> {
    table
        .binary_search_by(|(m, _)| m.cmp(&member))
        .ok()
        .and_then(|i| table.get(i))
        .map(|&(_, v)| v)
}

/// xxh3-64 over each entry's member id and spans (little-endian u64s), each
/// entry closed by `u64::MAX`.
fn fingerprint_of<'a>(entries: impl Iterator<Item = &'a MemberClock>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for e in entries {
        h.update(&e.member.as_u64().to_le_bytes());
        for s in e.coverage.spans() {
            h.update(&s.after().to_le_bytes());
            h.update(&s.upto().to_le_bytes());
        }
        // Separates members whatever their span counts.
        h.update(&u64::MAX.to_le_bytes());
    }
    h.digest()
}

impl fmt::Debug for WorldClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.entries).finish()?;
        if !self.floors.is_empty() {
            write!(f, " floors {:?}", self.floors)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    fn sp(a: u64, b: u64) -> Span {
        Span::new(a, b).unwrap()
    }

    #[test]
    fn knows_nothing_until_covered() {
        let mut w = WorldClock::new();
        assert_eq!(w.known_upto(m(1)), 0);
        assert!(!w.covers(m(1), 1));
        assert!(w.cover(m(1), sp(0, 4)));
        assert!(w.cover(m(1), sp(6, 9)));
        assert_eq!(w.known_upto(m(1)), 4);
        assert!(w.covers(m(1), 7) && !w.covers(m(1), 5));
    }

    #[test]
    fn join_unions_and_reports_growth() {
        let mut a = WorldClock::new();
        a.cover(m(1), sp(0, 4));
        let mut b = WorldClock::new();
        b.cover(m(1), sp(4, 6));
        b.cover(m(2), sp(0, 1));
        assert!(a.join(&b));
        assert_eq!(a.known_upto(m(1)), 6);
        assert_eq!(a.known_upto(m(2)), 1);
        assert!(!a.join(&b));
        assert!(a.covers_all(&b) && !b.covers_all(&a));
    }

    #[test]
    fn fingerprint_tracks_coverage() {
        let mut a = WorldClock::new();
        a.cover(m(1), sp(0, 4));
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.cover(m(1), sp(4, 5));
        assert_ne!(a.fingerprint(), b.fingerprint());
        // Stable across versions and platforms: pinned.
        assert_eq!(
            WorldClock::new().fingerprint(),
            xxhash_rust::xxh3::xxh3_64(b"")
        );
    }
}
