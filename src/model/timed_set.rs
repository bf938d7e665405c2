//! `TimedSet`: the timed items of one group, at most one per identity.
//!
//! Storage is one contiguous `Vec<TimedItem>` sorted by identity (member,
//! then range, then kind), so each member's items form one block and a
//! merge is a single forward walk of two sorted arrays. Members compare as
//! `u64`s. The walk gallops (exponential then binary search) over the
//! receiver's array, so merging a small delta into a large set costs
//! `O(k log n)` comparisons, and merging two sets of similar size is linear.
//!
//! Merge is last-writer-wins per identity ([`TimedItem::wins_over`]), in one
//! pass: overwrites of held identities happen in place, and only a new
//! identity makes the pass switch to building a new array, so a merge that
//! brings nothing new allocates nothing.

use std::cmp::Ordering;

use super::error::ModelError;
use super::item::Identity;
use super::node_id::NodeId;
use super::timed_item::TimedItem;

/// Items of one group, sorted by identity, one per identity.
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct TimedSet {
    items: Vec<TimedItem>,
}

/// What a merge changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MergeStats {
    /// Identities that were not held before.
    pub inserted: usize,
    /// Held identities overwritten by a winning write.
    pub replaced: usize,
}

impl MergeStats {
    /// Whether the merge changed anything.
    #[must_use]
    pub const fn changed(self) -> bool {
        self.inserted + self.replaced > 0
    }
}

/// First index `k >= from` with `a[k] >= y` by identity. Steps linearly
/// for a few items (two interleaved sets advance by one or two), then
/// gallops: doubling steps, then a binary search in the last window.
#[inline]
fn gallop(a: &[TimedItem], from: usize, y: &TimedItem) -> usize {
    let less = |x: &TimedItem| x.cmp_identity(y) == Ordering::Less;
    let mut lo = from;
    for _ in 0..4 {
        match a.get(lo) {
            Some(x) if less(x) => lo += 1,
            _ => return lo,
        }
    }
    // a[lo - 1] < y; double the step until a[lo + step] >= y or the end.
    let mut step = 4;
    loop {
        let hi = lo.saturating_add(step);
        match a.get(hi) {
            Some(x) if less(x) => {
                lo = hi + 1;
                step = step.saturating_mul(2);
            }
            _ => {
                let window = a.get(lo..hi.min(a.len())).unwrap_or(&[]);
                return lo + window.partition_point(less);
            }
        }
    }
}

impl TimedSet {
    /// The empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// A set of exactly these items, in any order.
    ///
    /// # Errors
    /// [`ModelError::DuplicateIdentity`] if two items share an identity.
    pub fn from_items(mut items: Vec<TimedItem>) -> Result<Self, ModelError> {
        if !items
            .windows(2)
            .all(|w| w[0].cmp_identity(&w[1]) == Ordering::Less)
        {
            items.sort_unstable_by(TimedItem::cmp_identity);
        }
        if let Some(w) = items
            .windows(2)
            .find(|w| w[0].cmp_identity(&w[1]) == Ordering::Equal)
        {
            return Err(ModelError::DuplicateIdentity {
                member: w[0].member(),
                kind: w[0].kind().as_str(),
                range: w[0].range(),
            });
        }
        Ok(Self { items })
    }

    /// The join of these items: for each identity, the winning write.
    #[must_use]
    pub fn joined(items: impl IntoIterator<Item = TimedItem>) -> Self {
        let mut items: Vec<TimedItem> = items.into_iter().collect();
        // Sort by identity, winner first, then keep the first of each identity.
        items.sort_unstable_by(|x, y| {
            x.cmp_identity(y).then_with(|| {
                if x.wins_over(y) {
                    Ordering::Less
                } else if y.wins_over(x) {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                }
            })
        });
        items.dedup_by(|later, first| later.cmp_identity(first) == Ordering::Equal);
        Self { items }
    }

    /// The items, sorted by identity.
    #[must_use]
    pub fn items(&self) -> &[TimedItem] {
        &self.items
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item held for `identity`.
    #[must_use]
    pub fn get(&self, identity: &Identity) -> Option<&TimedItem> {
        self.items
            .binary_search_by(|x| x.identity().cmp(identity))
            .ok()
            .and_then(|i| self.items.get(i))
    }

    /// `member`'s items: one contiguous block.
    #[must_use]
    pub fn member_items(&self, member: NodeId) -> &[TimedItem] {
        let lo = self.items.partition_point(|x| x.member() < member);
        let hi = self.items.partition_point(|x| x.member() <= member);
        self.items.get(lo..hi).unwrap_or(&[])
    }

    /// Joins one item; returns whether it changed the set.
    pub fn upsert(&mut self, item: TimedItem) -> bool {
        match self.items.binary_search_by(|x| x.cmp_identity(&item)) {
            Ok(i) => match self.items.get_mut(i) {
                Some(x) if item.wins_over(x) => {
                    *x = item;
                    true
                }
                _ => false,
            },
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    /// Joins `other` into `self` (the CRDT join).
    pub fn join(&mut self, other: &TimedSet) -> MergeStats {
        self.merge_accepted(&other.items, |_: &TimedItem| true, |_| {})
    }

    /// Joins the items of `other` (sorted by identity) that `accept` lets
    /// through, calling `won` with each incoming item that was inserted or
    /// replaced a held one. `accept` sees `other`'s items in order, so it may
    /// keep a cursor.
    ///
    /// One forward pass. Replacements are written in place; at the first
    /// new identity the pass switches to building a new array (copying the
    /// untouched runs between changes), so nothing is allocated unless a new
    /// identity arrives.
    pub(crate) fn merge_accepted(
        &mut self,
        other: &[TimedItem],
        mut accept: impl FnMut(&TimedItem) -> bool,
        mut won: impl FnMut(&TimedItem),
    ) -> MergeStats {
        let mut stats = MergeStats::default();
        let a = &mut self.items;
        let n = a.len();
        let mut i = 0;
        let mut rest = other.iter();
        // Phase 1, in place: overwrite held identities until the first new one.
        let first_new = loop {
            let Some(y) = rest.next() else {
                return stats;
            };
            if !accept(y) {
                continue;
            }
            i = gallop(a, i, y);
            match a.get_mut(i) {
                Some(x) if x.same_identity(y) => {
                    if y.wins_over(x) {
                        *x = *y;
                        stats.replaced += 1;
                        won(y);
                    }
                    i += 1;
                }
                _ => break y,
            }
        };
        // Phase 2: a new identity; merge the rest into a new array.
        let mut out = Vec::with_capacity(n + 1 + rest.len());
        out.extend_from_slice(a.get(..i).unwrap_or(&[]));
        out.push(*first_new);
        stats.inserted += 1;
        won(first_new);
        for y in rest {
            if !accept(y) {
                continue;
            }
            // Copy the held items below y: a few one by one (interleaved
            // sets), a long run with one gallop and one memcpy.
            let mut steps = 0;
            while let Some(x) = a.get(i).filter(|x| x.cmp_identity(y) == Ordering::Less) {
                if steps == 8 {
                    let k = gallop(a, i, y);
                    out.extend_from_slice(a.get(i..k).unwrap_or(&[]));
                    i = k;
                    break;
                }
                out.push(*x);
                i += 1;
                steps += 1;
            }
            match a.get(i) {
                Some(x) if x.same_identity(y) => {
                    if y.wins_over(x) {
                        out.push(*y);
                        stats.replaced += 1;
                        won(y);
                    } else {
                        out.push(*x);
                    }
                    i += 1;
                }
                _ => {
                    out.push(*y);
                    stats.inserted += 1;
                    won(y);
                }
            }
        }
        out.extend_from_slice(a.get(i..).unwrap_or(&[]));
        *a = out;
        stats
    }

    /// Keeps only the items for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&TimedItem) -> bool) {
        self.items.retain(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, KeyRange, Kind};

    fn m(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    fn add(member: u64, start: u32, clock: u64) -> TimedItem {
        let r = KeyRange::new(start, start + 9).unwrap();
        TimedItem::at(Item::add(m(member), r, 1, 80), clock).unwrap()
    }

    fn rmv(member: u64, start: u32, clock: u64) -> TimedItem {
        let r = KeyRange::new(start, start + 9).unwrap();
        TimedItem::at(Item::rmv(m(member), Kind::Serve, r), clock).unwrap()
    }

    #[test]
    fn from_items_sorts_and_refuses_duplicate_identities() {
        let s = TimedSet::from_items(vec![add(2, 0, 1), add(1, 0, 1)]).unwrap();
        assert_eq!(s.items()[0].member(), m(1));
        assert!(matches!(
            TimedSet::from_items(vec![add(1, 0, 1), rmv(1, 0, 2)]),
            Err(ModelError::DuplicateIdentity { .. })
        ));
    }

    #[test]
    fn join_keeps_the_later_write_per_identity() {
        let mut a = TimedSet::from_items(vec![add(1, 0, 1), add(1, 100, 2)]).unwrap();
        let b = TimedSet::from_items(vec![rmv(1, 0, 3), add(2, 0, 1)]).unwrap();
        let stats = a.join(&b);
        assert_eq!(
            stats,
            MergeStats {
                inserted: 1,
                replaced: 1
            }
        );
        assert_eq!(a.items(), &[rmv(1, 0, 3), add(1, 100, 2), add(2, 0, 1)]);
        // An older write never replaces a newer one.
        let old = TimedSet::from_items(vec![add(1, 0, 1)]).unwrap();
        assert!(!a.join(&old).changed());
    }

    #[test]
    fn replacing_only_keeps_the_allocation() {
        let mut a =
            TimedSet::from_items((0..100).map(|i| add(1, i * 10, u64::from(i) + 1)).collect())
                .unwrap();
        let ptr = a.items().as_ptr();
        let b = TimedSet::from_items(vec![rmv(1, 500, 1000)]).unwrap();
        assert_eq!(
            a.join(&b),
            MergeStats {
                inserted: 0,
                replaced: 1
            }
        );
        assert_eq!(a.items().as_ptr(), ptr);
    }

    #[test]
    fn gallop_finds_the_lower_bound_everywhere() {
        let a: Vec<TimedItem> = (0..50).map(|i| add(1, i * 10, 1)).collect();
        for from in 0..=a.len() {
            for start in 0..520 {
                let y = add(1, start, 1);
                let want = from.max(a.partition_point(|x| x.cmp_identity(&y) == Ordering::Less));
                assert_eq!(gallop(&a, from, &y), want, "from {from} start {start}");
            }
        }
    }

    #[test]
    fn member_items_is_the_members_block() {
        let s = TimedSet::from_items(vec![
            add(1, 0, 1),
            add(2, 0, 1),
            add(2, 10, 2),
            add(3, 0, 1),
        ])
        .unwrap();
        assert_eq!(s.member_items(m(2)).len(), 2);
        assert!(s.member_items(m(9)).is_empty());
    }

    #[test]
    fn joined_picks_winners_from_a_multiset() {
        let s = TimedSet::joined([add(1, 0, 1), rmv(1, 0, 3), add(1, 0, 2), add(1, 0, 3)]);
        // Same clock: live beats retraction in the tie-break.
        assert_eq!(s.items(), &[add(1, 0, 3)]);
    }
}
