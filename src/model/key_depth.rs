//! How deeply a group's key space is served: for every key, how many
//! distinct members claim it. The alertable summary of a group's topology
//! (`scalesmall_group_uncovered_keys`, `scalesmall_group_min_live_depth`):
//! the status page draws the same depth, the metrics reduce it to two
//! numbers an alert rule can compare.
//!
//! A member with overlapping claims counts once per key. The sweep sorts
//! each member's ranges, merges them, then walks the start and end points of
//! all members together: O(n log n) in the number of claims, no allocation
//! per key.

use super::KeyRange;

/// Number of keys in the 32-bit key space.
const KEYS: u64 = 1 << 32;

/// The depth profile of a set of claims over the whole key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDepth {
    /// Keys that no member claims.
    pub uncovered: u64,
    /// The smallest number of distinct members over any key (0 when a key
    /// is uncovered).
    pub min: u32,
    /// The largest number of distinct members over any key.
    pub max: u32,
}

impl KeyDepth {
    /// The depth profile of `claims`, pairs of (member, range). Members may
    /// be any ordered id; a member's overlapping ranges count once.
    pub fn of<M: Ord + Copy>(claims: impl IntoIterator<Item = (M, KeyRange)>) -> Self {
        let mut claims: Vec<(M, KeyRange)> = claims.into_iter().collect();
        claims.sort_unstable_by_key(|&(m, r)| (m, r.start(), r.end()));
        // +1 at each merged interval's start, -1 one past its end.
        let mut steps: Vec<(u64, i32)> = Vec::with_capacity(claims.len() * 2);
        let mut open: Option<(M, u64, u64)> = None;
        for (m, r) in claims {
            let (s, e) = (u64::from(r.start()), u64::from(r.end()) + 1);
            open = match open {
                Some((om, os, oe)) if om == m && s <= oe => Some((om, os, oe.max(e))),
                Some((_, os, oe)) => {
                    steps.push((os, 1));
                    steps.push((oe, -1));
                    Some((m, s, e))
                }
                None => Some((m, s, e)),
            };
        }
        if let Some((_, os, oe)) = open {
            steps.push((os, 1));
            steps.push((oe, -1));
        }
        steps.sort_unstable();
        Self::sweep(&steps)
    }

    /// Walks sorted depth steps across `0..KEYS`.
    fn sweep(steps: &[(u64, i32)]) -> Self {
        let mut out = KeyDepth {
            uncovered: 0,
            min: u32::MAX,
            max: 0,
        };
        let (mut at, mut depth) = (0u64, 0i64);
        let mut i = 0;
        while at < KEYS {
            while i < steps.len() && steps[i].0 <= at {
                depth += i64::from(steps[i].1);
                i += 1;
            }
            let next = steps.get(i).map_or(KEYS, |s| s.0.min(KEYS));
            let d = u32::try_from(depth.max(0)).unwrap_or(u32::MAX);
            if d == 0 {
                out.uncovered += next - at;
            }
            out.min = out.min.min(d);
            out.max = out.max.max(d);
            at = next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: u32, e: u32) -> KeyRange {
        KeyRange::new(s, e).expect("test range")
    }

    /// The reference: depth counted key by key over a small key space
    /// scaled up (ranges are multiples of 2^24, so 256 blocks suffice).
    fn reference(claims: &[(u8, u32, u32)]) -> KeyDepth {
        let mut out = KeyDepth {
            uncovered: 0,
            min: u32::MAX,
            max: 0,
        };
        for block in 0..256u32 {
            let key = block << 24;
            let mut members: Vec<u8> = claims
                .iter()
                .filter(|c| c.1 << 24 <= key && key <= (c.2 << 24 | 0x00ff_ffff))
                .map(|c| c.0)
                .collect();
            members.sort_unstable();
            members.dedup();
            let d = u32::try_from(members.len()).expect("few members");
            if d == 0 {
                out.uncovered += 1 << 24;
            }
            out.min = out.min.min(d);
            out.max = out.max.max(d);
        }
        out
    }

    #[test]
    fn nothing_claimed_is_all_uncovered() {
        let d = KeyDepth::of(std::iter::empty::<(u8, KeyRange)>());
        assert_eq!(
            d,
            KeyDepth {
                uncovered: KEYS,
                min: 0,
                max: 0
            }
        );
    }

    #[test]
    fn two_full_claims_give_depth_two_and_overlaps_of_one_member_count_once() {
        let d = KeyDepth::of([
            (1, KeyRange::FULL),
            (2, r(0, 0x7fff_ffff)),
            (2, r(0x4000_0000, u32::MAX)),
            (2, r(0x1000, 0x2000)),
        ]);
        assert_eq!(
            d,
            KeyDepth {
                uncovered: 0,
                min: 2,
                max: 2
            }
        );
    }

    #[test]
    fn a_gap_counts_its_keys() {
        let d = KeyDepth::of([(1, r(0, 9)), (2, r(20, u32::MAX))]);
        assert_eq!(d.uncovered, 10);
        assert_eq!((d.min, d.max), (0, 1));
    }

    proptest! {
        #[test]
        fn the_sweep_agrees_with_counting_key_by_key(
            claims in proptest::collection::vec((0u8..6, 0u32..256, 0u32..256), 0..24)
        ) {
            let claims: Vec<(u8, u32, u32)> =
                claims.into_iter().map(|(m, a, b)| (m, a.min(b), a.max(b))).collect();
            let got = KeyDepth::of(
                claims.iter().map(|&(m, s, e)| (m, r(s << 24, e << 24 | 0x00ff_ffff))),
            );
            prop_assert_eq!(got, reference(&claims));
        }
    }
}
