//! Between slices and key ranges: which slices a set of claimed ranges
//! covers, and the aligned blocks that claim a set of slices.
//!
//! Auto-claim decides per slice, but writes [`KeyRange`] items: a set of
//! slices is written as its aligned power-of-two blocks ([`blocks`]). The
//! items are canonical (the same set of slices always gives the same items,
//! so a decision that changes nothing writes nothing), and they come from a
//! fixed universe of `2 * slices - 1` blocks: a block released and claimed
//! again is the same identity, overwritten, so the retractions an auto node
//! leaves behind can never number more than that, however long it churns
//! (arbitrary runs would leave a new retraction for every run boundary that
//! ever moved, without bound until tombstones are collected).

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

/// The ranges claiming exactly the slices in `slices` (ascending,
/// distinct): each run of adjacent slices cut greedily, left to right, into
/// the largest blocks of `2^k` slices that start at a multiple of `2^k`. At
/// most `2 * log2(run length)` blocks per run.
#[must_use]
pub fn blocks(policy: &Policy, slices: &[u32]) -> Vec<KeyRange> {
    let mut out = Vec::new();
    let mut emit = |a: u32, b: u32| {
        let (mut i, end) = (u64::from(a), u64::from(b) + 1);
        while i < end {
            let align = if i == 0 {
                1u64 << 32
            } else {
                1u64 << i.trailing_zeros()
            };
            let mut size = align;
            while i + size > end {
                size >>= 1;
            }
            let first = u32::try_from(i).unwrap_or(u32::MAX);
            let last = u32::try_from(i + size - 1).unwrap_or(u32::MAX);
            out.push(policy.slices_range(first, last));
            i += size;
        }
    };
    let mut run: Option<(u32, u32)> = None;
    for &s in slices {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(s) => Some((a, s)),
            Some((a, b)) => {
                emit(a, b);
                Some((s, s))
            }
            None => Some((s, s)),
        };
    }
    if let Some((a, b)) = run {
        emit(a, b);
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
    fn blocks_are_aligned_canonical_and_round_trip() {
        let p = Policy::new(2, 16).unwrap();
        let w = (1u64 << 32) / 16;
        let slices = [0, 1, 2, 5, 7, 8, 9, 10, 11, 15];
        let ranges = blocks(&p, &slices);
        // 0-1 | 2 | 5 | 7 | 8-11 | 15
        assert_eq!(
            ranges,
            vec![
                p.slices_range(0, 1),
                p.slice_range(2),
                p.slice_range(5),
                p.slice_range(7),
                p.slices_range(8, 11),
                p.slice_range(15),
            ]
        );
        for r in &ranges {
            let n = (u64::from(r.end()) + 1 - u64::from(r.start())) / w;
            assert!(n.is_power_of_two());
            assert_eq!((u64::from(r.start()) / w) % n, 0, "aligned: {r:?}");
        }
        assert_eq!(covered(&p, &ranges), slices.to_vec());
        assert_eq!(touched(&p, &ranges), slices.to_vec());
        assert!(blocks(&p, &[]).is_empty());
        assert_eq!(
            blocks(&p, &(0..16).collect::<Vec<_>>()),
            vec![KeyRange::FULL]
        );
        assert_eq!(blocks(&p, &(1..16).collect::<Vec<_>>()).len(), 4);
    }

    #[test]
    fn every_set_of_slices_uses_blocks_of_one_fixed_universe() {
        // All 2^8 subsets of 8 slices: at most 2 * 8 - 1 distinct blocks.
        let p = Policy::new(2, 8).unwrap();
        let mut universe = std::collections::BTreeSet::new();
        for mask in 0u32..256 {
            let set: Vec<u32> = (0..8).filter(|i| mask & (1 << i) != 0).collect();
            let bs = blocks(&p, &set);
            assert_eq!(covered(&p, &bs), set);
            universe.extend(bs);
        }
        assert_eq!(universe.len(), 15);
    }
}
