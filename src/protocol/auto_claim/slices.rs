//! Between slices and key ranges: which slices a set of claimed ranges
//! covers, and the fewest ranges that claim a set of slices.
//!
//! Auto-claim decides per slice, but writes [`KeyRange`] items: adjacent
//! slices are coalesced into one `Add`, so a node holding a run of slices
//! writes one item, and the same set of slices always gives the same items
//! (the items are canonical, so a decision that changes nothing writes
//! nothing).

use crate::model::KeyRange;

use super::policy::Policy;

/// The disjoint union of `ranges`, sorted, with touching ranges joined.
fn union(ranges: &[KeyRange]) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = ranges
        .iter()
        .map(|r| (u64::from(r.start()), u64::from(r.end())))
        .collect();
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The slices entirely inside the union of `ranges`, ascending: the slices a
/// holder of these ranges serves completely.
#[must_use]
pub fn covered(policy: &Policy, ranges: &[KeyRange]) -> Vec<u32> {
    let width = (1u64 << 32) / u64::from(policy.slices());
    let mut out = Vec::new();
    for (a, b) in union(ranges) {
        let first = a.div_ceil(width);
        let end_excl = (b + 1) / width; // slices ending at or before b
        for s in first..end_excl {
            if let Ok(s) = u32::try_from(s) {
                out.push(s);
            }
        }
    }
    out
}

/// The slices that `ranges` touch at all, ascending and distinct.
#[must_use]
pub fn touched(policy: &Policy, ranges: &[KeyRange]) -> Vec<u32> {
    let mut out = Vec::new();
    for (a, b) in union(ranges) {
        let (first, last) = (
            policy.slice_of(u32::try_from(a).unwrap_or(u32::MAX)),
            policy.slice_of(u32::try_from(b).unwrap_or(u32::MAX)),
        );
        for s in first..=last {
            if out.last() != Some(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The fewest ranges claiming exactly the slices in `slices` (ascending,
/// distinct): one per run of adjacent slices.
#[must_use]
pub fn coalesce(policy: &Policy, slices: &[u32]) -> Vec<KeyRange> {
    let mut out = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for &s in slices {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(s) => Some((a, s)),
            Some((a, b)) => {
                out.push(policy.slices_range(a, b));
                Some((s, s))
            }
            None => Some((s, s)),
        };
    }
    if let Some((a, b)) = run {
        out.push(policy.slices_range(a, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> KeyRange {
        KeyRange::new(a, b).unwrap()
    }

    #[test]
    fn coverage_needs_the_whole_slice() {
        let p = Policy::new(2, 4).unwrap(); // slices of 2^30 keys
        let q = 1u32 << 30;
        assert_eq!(covered(&p, &[r(0, q - 1)]), vec![0]);
        assert_eq!(covered(&p, &[r(0, q - 2)]), Vec::<u32>::new());
        assert_eq!(covered(&p, &[r(1, 3 * q - 1)]), vec![1, 2]);
        // Two touching items cover what neither covers alone.
        assert_eq!(covered(&p, &[r(q, q + 5), r(q + 6, 2 * q - 1)]), vec![1]);
        assert_eq!(covered(&p, &[KeyRange::FULL]), vec![0, 1, 2, 3]);
        assert_eq!(touched(&p, &[r(q - 1, q)]), vec![0, 1]);
        assert_eq!(touched(&p, &[r(5, 6), r(7, 8)]), vec![0]);
    }

    #[test]
    fn coalescing_joins_runs_and_round_trips() {
        let p = Policy::new(2, 16).unwrap();
        let slices = [0, 1, 2, 5, 7, 8, 15];
        let ranges = coalesce(&p, &slices);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0], p.slices_range(0, 2));
        assert_eq!(covered(&p, &ranges), slices.to_vec());
        assert_eq!(touched(&p, &ranges), slices.to_vec());
        assert!(coalesce(&p, &[]).is_empty());
        assert_eq!(
            coalesce(&p, &(0..16).collect::<Vec<_>>()),
            vec![KeyRange::FULL]
        );
    }
}
