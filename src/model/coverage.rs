//! `Coverage`: the set of one member's clocks a node covers, as intervals.
//!
//! Stored as a prefix `(0, known_upto]` plus a short sorted list of further
//! disjoint, non-adjacent fragments `(after, upto]`. In a healthy cluster
//! almost every member is a bare prefix, which needs no heap allocation.
//!
//! Fragments appear when deltas arrive out of order or are lost; they close
//! when the gaps are pulled. Their number is capped at
//! [`Coverage::MAX_FRAGMENTS`]: a union that would exceed the cap drops the
//! highest fragments. Dropping coverage only *under*-claims (the node will pull
//! those clocks again), and the prefix is never dropped. A capped union is not
//! associative, so the law tests keep their inputs below the cap.

use std::fmt;

use super::error::ModelError;

/// A non-empty clock interval `(after, upto]`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    after: u64,
    upto: u64,
}

impl Span {
    /// The clocks `after + 1 ..= upto`.
    ///
    /// # Errors
    /// [`ModelError::InvalidSpan`] unless `after < upto`.
    pub const fn new(after: u64, upto: u64) -> Result<Self, ModelError> {
        if after >= upto {
            return Err(ModelError::InvalidSpan { after, upto });
        }
        Ok(Self { after, upto })
    }

    /// Exclusive lower bound.
    #[must_use]
    pub const fn after(self) -> u64 {
        self.after
    }

    /// Inclusive upper bound.
    #[must_use]
    pub const fn upto(self) -> u64 {
        self.upto
    }

    /// Whether `clock` lies in the span.
    #[must_use]
    pub const fn contains(self, clock: u64) -> bool {
        self.after < clock && clock <= self.upto
    }

    /// Number of clocks in the span.
    #[must_use]
    pub const fn len(self) -> u64 {
        self.upto - self.after
    }

    /// Always false: a span holds at least one clock.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        false
    }

    /// The part of the span inside `(lo, hi]`, if any.
    #[must_use]
    pub fn within(self, lo: u64, hi: u64) -> Option<Span> {
        let after = self.after.max(lo);
        let upto = self.upto.min(hi);
        (after < upto).then_some(Span { after, upto })
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}]", self.after, self.upto)
    }
}

/// The clocks of one member a node covers.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Coverage {
    /// `(0, prefix]` is covered; 0 = nothing from the start.
    prefix: u64,
    /// Further fragments, sorted, each starting above the prefix with a gap
    /// before it (`after > previous upto`).
    frags: Vec<Span>,
}

impl Coverage {
    /// At most this many fragments beyond the prefix are kept.
    pub const MAX_FRAGMENTS: usize = 32;

    /// Nothing covered.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            prefix: 0,
            frags: Vec::new(),
        }
    }

    /// The prefix `(0, upto]`.
    #[must_use]
    pub const fn upto(upto: u64) -> Self {
        Self {
            prefix: upto,
            frags: Vec::new(),
        }
    }

    /// The union of `spans`, in any order, overlapping or not (then capped).
    #[must_use]
    pub fn from_spans(spans: impl IntoIterator<Item = Span>) -> Self {
        let mut v: Vec<Span> = spans.into_iter().collect();
        v.sort_unstable();
        let mut out = Self::new();
        out.rebuild(v.into_iter());
        out
    }

    /// The end of the interval that starts at 0: every clock up to here is covered.
    #[must_use]
    pub const fn known_upto(&self) -> u64 {
        self.prefix
    }

    /// The highest covered clock (0 if none).
    #[must_use]
    pub fn max_covered(&self) -> u64 {
        self.frags.last().map_or(self.prefix, |s| s.upto)
    }

    /// Whether nothing is covered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.prefix == 0 && self.frags.is_empty()
    }

    /// Whether only a prefix (or nothing) is covered.
    #[must_use]
    pub fn is_prefix(&self) -> bool {
        self.frags.is_empty()
    }

    /// Whether `clock` is covered.
    #[inline]
    #[must_use]
    pub fn contains(&self, clock: u64) -> bool {
        if clock <= self.prefix {
            return clock > 0;
        }
        if self.frags.is_empty() {
            return false;
        }
        // Fragments are few; binary search keeps the worst case logarithmic.
        let i = self.frags.partition_point(|s| s.upto < clock);
        self.frags.get(i).is_some_and(|s| s.contains(clock))
    }

    /// The covered spans in ascending order (the prefix first, if any).
    pub fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let prefix = (self.prefix > 0).then_some(Span {
            after: 0,
            upto: self.prefix,
        });
        prefix.into_iter().chain(self.frags.iter().copied())
    }

    /// Number of spans [`Coverage::spans`] yields.
    #[must_use]
    pub fn span_count(&self) -> usize {
        usize::from(self.prefix > 0) + self.frags.len()
    }

    /// Number of covered clocks.
    #[must_use]
    pub fn clock_count(&self) -> u64 {
        self.spans().map(Span::len).sum()
    }

    /// Whether every clock of `self` is covered by `other`. Linear, allocation-free.
    #[must_use]
    pub fn is_subset_of(&self, other: &Coverage) -> bool {
        if self.frags.is_empty() && other.frags.is_empty() {
            return self.prefix <= other.prefix;
        }
        let mut theirs = other.spans().peekable();
        'mine: for s in self.spans() {
            while let Some(o) = theirs.peek() {
                if o.upto < s.upto {
                    theirs.next();
                    continue;
                }
                // First of theirs reaching s.upto: spans are maximal, so s
                // must lie inside it entirely.
                if o.after <= s.after {
                    continue 'mine;
                }
                return false;
            }
            return false;
        }
        true
    }

    /// Adds every clock of `other`; returns whether anything was added.
    /// Allocates only when it grows by a fragment.
    pub fn union_with(&mut self, other: &Coverage) -> bool {
        if other.is_subset_of(self) {
            return false;
        }
        if self.frags.is_empty() && other.frags.is_empty() {
            self.prefix = other.prefix;
            return true;
        }
        let merged: Vec<Span> = MergeSorted {
            a: self.spans().peekable(),
            b: other.spans().peekable(),
        }
        .collect();
        self.rebuild(merged.into_iter());
        true
    }

    /// Adds the clocks of `span`; returns whether anything was added.
    pub fn insert(&mut self, span: Span) -> bool {
        let single = if span.after == 0 {
            Coverage::upto(span.upto)
        } else {
            Coverage {
                prefix: 0,
                frags: vec![span],
            }
        };
        self.union_with(&single)
    }

    /// The clocks of `self` that `other` does not cover, as sorted spans.
    #[must_use]
    pub fn difference(&self, other: &Coverage) -> Vec<Span> {
        let mut out = Vec::new();
        let theirs: Vec<Span> = other.spans().collect();
        let mut j = 0;
        for s in self.spans() {
            let mut lo = s.after;
            while j < theirs.len() && theirs[j].upto <= lo {
                j += 1;
            }
            let mut k = j;
            while lo < s.upto {
                match theirs.get(k) {
                    Some(o) if o.after < s.upto => {
                        if o.after > lo {
                            out.push(Span {
                                after: lo,
                                upto: o.after,
                            });
                        }
                        lo = lo.max(o.upto);
                        k += 1;
                    }
                    _ => {
                        out.push(Span {
                            after: lo,
                            upto: s.upto,
                        });
                        lo = s.upto;
                    }
                }
            }
        }
        out
    }

    /// Number of clocks of `self` that `other` does not cover.
    #[must_use]
    pub fn missing_from(&self, other: &Coverage) -> u64 {
        if self.is_subset_of(other) {
            return 0;
        }
        self.difference(other).iter().map(|s| s.len()).sum()
    }

    /// Replaces the contents with the normalised union of `sorted` (sorted by
    /// `after`), then applies the fragment cap.
    fn rebuild(&mut self, sorted: impl Iterator<Item = Span>) {
        self.prefix = 0;
        self.frags.clear();
        let mut cur: Option<Span> = None;
        for s in sorted {
            cur = match cur {
                Some(c) if s.after <= c.upto => Some(Span {
                    after: c.after,
                    upto: c.upto.max(s.upto),
                }),
                Some(c) => {
                    self.push_normalised(c);
                    Some(s)
                }
                None => Some(s),
            };
        }
        if let Some(c) = cur {
            self.push_normalised(c);
        }
        self.frags.truncate(Self::MAX_FRAGMENTS);
    }

    fn push_normalised(&mut self, s: Span) {
        if s.after == 0 {
            self.prefix = s.upto;
        } else {
            self.frags.push(s);
        }
    }
}

/// Two-way merge of span iterators sorted by `after`.
struct MergeSorted<A: Iterator<Item = Span>, B: Iterator<Item = Span>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A: Iterator<Item = Span>, B: Iterator<Item = Span>> Iterator for MergeSorted<A, B> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if x <= y => self.a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, None) => None,
        }
    }
}

impl fmt::Debug for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.spans()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(a: u64, b: u64) -> Span {
        Span::new(a, b).unwrap()
    }

    fn cov(spans: &[(u64, u64)]) -> Coverage {
        Coverage::from_spans(spans.iter().map(|&(a, b)| sp(a, b)))
    }

    #[test]
    fn empty_and_reversed_spans_are_refused() {
        assert!(Span::new(3, 3).is_err());
        assert!(Span::new(4, 3).is_err());
    }

    #[test]
    fn adjacent_spans_merge_into_the_prefix() {
        let c = cov(&[(3, 5), (0, 3), (7, 9)]);
        assert_eq!(c.known_upto(), 5);
        assert_eq!(c.spans().collect::<Vec<_>>(), vec![sp(0, 5), sp(7, 9)]);
        assert!(c.contains(5) && !c.contains(6) && c.contains(8) && !c.contains(0));
        assert_eq!(c.clock_count(), 7);
        assert_eq!(c.max_covered(), 9);
    }

    #[test]
    fn union_reports_growth_only_when_it_grows() {
        let mut c = cov(&[(0, 5)]);
        assert!(!c.union_with(&cov(&[(1, 4)])));
        assert!(c.union_with(&cov(&[(5, 6)])));
        assert_eq!(c, cov(&[(0, 6)]));
        assert!(c.union_with(&cov(&[(9, 10)])));
        assert!(c.union_with(&cov(&[(6, 9)])));
        assert_eq!(c, Coverage::upto(10));
    }

    #[test]
    fn subset_needs_every_clock() {
        let big = cov(&[(0, 5), (7, 12)]);
        assert!(cov(&[(1, 5), (8, 9)]).is_subset_of(&big));
        assert!(!cov(&[(4, 8)]).is_subset_of(&big));
        assert!(!cov(&[(11, 13)]).is_subset_of(&big));
        assert!(Coverage::new().is_subset_of(&Coverage::new()));
        assert!(!Coverage::upto(1).is_subset_of(&Coverage::new()));
    }

    #[test]
    fn difference_is_the_gaps() {
        let ours = cov(&[(0, 10), (12, 20)]);
        let theirs = cov(&[(0, 2), (4, 5), (9, 14)]);
        assert_eq!(
            ours.difference(&theirs),
            vec![sp(2, 4), sp(5, 9), sp(14, 20)]
        );
        assert_eq!(ours.missing_from(&theirs), 2 + 4 + 6);
        assert!(ours.difference(&ours).is_empty());
        assert_eq!(
            ours.difference(&Coverage::new()),
            vec![sp(0, 10), sp(12, 20)]
        );
    }

    #[test]
    fn fragment_cap_keeps_the_prefix_and_lowest_fragments() {
        let spans: Vec<Span> = (0..100).map(|i| sp(10 * i + 5, 10 * i + 6)).collect();
        let mut c = Coverage::upto(3);
        for s in spans {
            c.insert(s);
        }
        assert_eq!(c.known_upto(), 3);
        assert_eq!(c.span_count(), 1 + Coverage::MAX_FRAGMENTS);
        assert!(c.contains(6) && !c.contains(10 * 99 + 6));
    }

    #[test]
    fn within_cuts_to_the_window() {
        assert_eq!(sp(2, 10).within(4, 6), Some(sp(4, 6)));
        assert_eq!(sp(2, 10).within(10, 20), None);
        assert_eq!(sp(2, 10).within(0, 3), Some(sp(2, 3)));
    }
}
