//! Scores: the stable hash and the weighted rendezvous key of a
//! `(slice, node)` pair, in integer arithmetic only.
//!
//! Weighted rendezvous hashing ranks the nodes for a slice by
//! `-ln(u) / weight`, `u` a uniform hash of `(slice, node)` in `(0, 1)`:
//! the smallest key wins, and node `n` wins with probability exactly
//! `weight_n / total weight` (the minimum of independent exponential
//! variables). Floating-point `ln` is not guaranteed to round the same on
//! every libm (an aarch64-musl board and an armv7-glibc board could then
//! disagree on a near tie, and so on the assignment), so `-ln(u)` is
//! computed here in fixed point from a table built at compile time with
//! integer operations only: every board computes bit-identical keys.
//!
//! The key is monotone in the hash, so for equal weights the ranking is
//! exactly the hash order. Its precision (about 2^-20 relative for the keys
//! that win) only shapes the distribution, never determinism.

use crate::model::NodeId;

/// A 64-bit finaliser (xor-shift-multiply, the murmur3/splitmix shape with
/// our own pinned constants): every input bit affects every output bit.
#[must_use]
pub const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x
}

/// The per-group salt: so that the same boards do not get the same slices
/// in every group. xxHash3-64 of the group name (a published algorithm,
/// stable everywhere).
#[must_use]
pub fn group_salt(group: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(group.as_bytes())
}

/// A node's seed within a group: computed once per node, then combined with
/// each slice by [`pair_hash`].
#[must_use]
pub(super) const fn node_seed(salt: u64, id: NodeId) -> u64 {
    mix64(mix64(id.as_u64() ^ salt).wrapping_add(0x9e37_79b9_7f4a_7c15))
}

/// The uniform 64-bit hash of `(slice, node)`.
#[must_use]
pub(super) const fn pair_hash(seed: u64, slice: u32) -> u64 {
    mix64(seed ^ (slice as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f))
}

/// Fraction bits of the fixed-point numbers here.
const Q: u32 = 32;
/// Table resolution: log2 of the number of intervals.
const TABLE_BITS: u32 = 10;
const TABLE_LEN: usize = (1 << TABLE_BITS) + 1;

/// `log2(1 + i / 1024)` in Q32 for `i = 0..=1024`, by the digit-by-digit
/// method (square, compare with 2), in integers, at compile time.
const LOG2_TABLE: [u64; TABLE_LEN] = build_table();

const fn log2_frac_exact(mantissa_q62: u128) -> u64 {
    // mantissa in [1, 2) as Q62; returns log2(mantissa) in Q32.
    let one: u128 = 1 << 62;
    let mut m = mantissa_q62;
    let mut out: u64 = 0;
    let mut bit = 0;
    while bit < Q {
        m = (m * m) >> 62;
        out <<= 1;
        if m >= 2 * one {
            m >>= 1;
            out |= 1;
        }
        bit += 1;
    }
    out
}

const fn build_table() -> [u64; TABLE_LEN] {
    let mut t = [0u64; TABLE_LEN];
    let mut i = 0;
    while i < TABLE_LEN {
        if i == TABLE_LEN - 1 {
            t[i] = 1 << Q; // log2(2) = 1
        } else {
            let m = (1u128 << 62) + ((i as u128) << (62 - TABLE_BITS));
            t[i] = log2_frac_exact(m);
        }
        i += 1;
    }
    t
}

/// `log2(x)` in Q32 for `x >= 1` (0 for 0), by table and linear
/// interpolation. Monotone non-decreasing in `x`.
#[must_use]
const fn log2_q32(x: u64) -> u64 {
    if x == 0 {
        return 0;
    }
    let e = 63 - x.leading_zeros();
    // Left-align: the leading 1 at bit 63; the 63 bits below are the fraction.
    let aligned = x << (63 - e);
    let frac = aligned << 1; // fraction in Q64
    let idx = (frac >> (64 - TABLE_BITS)) as usize;
    let rest = (frac << TABLE_BITS) >> (64 - Q); // position inside the interval, Q32
    let lo = LOG2_TABLE[idx];
    let hi = LOG2_TABLE[idx + 1];
    let interp = ((hi - lo) * rest) >> Q;
    ((e as u64) << Q) + lo + interp
}

/// Below this distance from `u = 1` (as `(1 - u) * 2^64`) [`neg_ln_q32`]
/// uses a series instead of the table.
const SERIES_LIMIT: u64 = 1 << 54;

/// `-ln(1 - x)` in Q32 for `x = v / 2^64 < 2^-10`: `x + x^2/2 + x^3/3`
/// (the next term is below 2^-40 of the sum), plus 1 so it is never 0.
const fn series_q32(v: u64) -> u64 {
    let x = v as u128; // Q64
    let x2 = (x * x) >> 64;
    let x3 = (x2 * x) >> 64;
    let sum = x + x2 / 2 + x3 / 3;
    ((sum >> (64 - Q)) as u64) + 1
}

/// The series at its limit: the table branch never goes below it, so the
/// two branches join monotonically.
const SERIES_MAX: u64 = series_q32(SERIES_LIMIT);

/// `-ln(u)` in Q32 for `u = h / 2^64` (`h = 0` counts as 1): an
/// exponential variate from a uniform hash. Non-increasing in `h`; at most
/// about `44.4 * 2^32`, at least 1.
#[must_use]
pub(super) const fn neg_ln_q32(h: u64) -> u64 {
    const LN2_Q32: u128 = 2_977_044_472; // ln 2 * 2^32, rounded
    let v = u64::MAX - h; // (1 - u) * 2^64, less one
    if v < SERIES_LIMIT {
        // Near u = 1, where the winning keys are, `64 - log2(h)` would
        // cancel; the series is exact there.
        return series_q32(v);
    }
    // -ln(u) = ln 2 * (64 - log2(h))
    let l = log2_q32(if h == 0 { 1 } else { h });
    let diff = (64u64 << Q).saturating_sub(l) as u128;
    let t = ((diff * LN2_Q32) >> Q) as u64;
    if t < SERIES_MAX { SERIES_MAX } else { t }
}

/// A rendezvous key: smaller is better. `u128::MAX` for weight 0 (ranked
/// after every weighted node).
#[must_use]
pub(super) const fn weighted_key(hash: u64, inverse_weight: u64) -> u128 {
    if inverse_weight == 0 {
        return u128::MAX;
    }
    (neg_ln_q32(hash) as u128) * (inverse_weight as u128)
}

/// `floor((2^64 - 1) / weight)`, the multiplier [`weighted_key`] takes; 0 for
/// weight 0.
#[must_use]
pub(super) const fn inverse_weight(weight: u32) -> u64 {
    if weight == 0 {
        0
    } else {
        u64::MAX / weight as u64
    }
}

/// The key of `node` for `slice` with `weight`, from scratch.
#[must_use]
pub const fn key(salt: u64, slice: u32, node: NodeId, weight: u32) -> u128 {
    weighted_key(
        pair_hash(node_seed(salt, node), slice),
        inverse_weight(weight),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_matches_exact_values() {
        assert_eq!(log2_q32(1), 0);
        assert_eq!(log2_q32(2), 1 << 32);
        assert_eq!(log2_q32(1 << 40), 40 << 32);
        // log2(3) = 1.584962500721156
        let got = log2_q32(3) as f64 / 4_294_967_296.0;
        assert!((got - 1.584_962_500_721_156).abs() < 1e-6, "{got}");
        let got = log2_q32(u64::MAX) as f64 / 4_294_967_296.0;
        assert!((got - 64.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn neg_ln_is_accurate_and_monotone() {
        let q = 4_294_967_296.0f64;
        let mut prev = u64::MAX;
        // A sweep over the whole range, denser near u = 1 where keys win.
        let mut steps = Vec::new();
        for i in 0..4000u64 {
            steps.push(i.wrapping_mul(0x0041_8937_4bc6_a7ef));
        }
        for i in 0..2000u64 {
            steps.push(u64::MAX - (i << 44));
            steps.push(u64::MAX - (i << 52));
            steps.push(u64::MAX - i * 977);
        }
        steps.sort_unstable();
        steps.dedup();
        for h in steps {
            let got = neg_ln_q32(h);
            assert!(got <= prev, "not monotone at {h:#x}");
            prev = got;
            let two64 = 18_446_744_073_709_551_616.0f64;
            let want = if h > 1 << 63 {
                // ln(1 - x) without cancellation, x = 1 - u
                let x = ((u64::MAX - h) as f64 + 1.0) / two64;
                -(-x).ln_1p()
            } else {
                -(h.max(1) as f64 / two64).ln()
            };
            let err = ((got as f64 / q) - want).abs();
            assert!(err < 3e-7, "h={h:#x} got {} want {want}", got as f64 / q);
        }
        assert!(neg_ln_q32(0) <= 45 << 32);
        assert!(neg_ln_q32(u64::MAX) >= 1);
    }

    #[test]
    fn weights_scale_the_key_and_zero_weight_is_last() {
        let h = 0x1234_5678_9abc_def0;
        assert!(weighted_key(h, inverse_weight(2)) < weighted_key(h, inverse_weight(1)));
        assert_eq!(weighted_key(h, inverse_weight(0)), u128::MAX);
    }

    #[test]
    fn weighted_wins_are_proportional_to_weight() {
        // Three nodes with weights 1, 2, 5 over 40 000 slices.
        let ids = [1u64, 2, 3].map(NodeId::from_u64);
        let weights = [1u32, 2, 5];
        let mut wins = [0u32; 3];
        for s in 0..40_000 {
            let best = (0..3)
                .min_by_key(|&i| (key(7, s, ids[i], weights[i]), ids[i]))
                .unwrap();
            wins[best] += 1;
        }
        for i in 0..3 {
            let share = f64::from(wins[i]) / 40_000.0;
            let want = f64::from(weights[i]) / 8.0;
            assert!((share - want).abs() < 0.01, "{wins:?}");
        }
    }
}
