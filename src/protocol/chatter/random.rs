//! Randomness helpers over the seeded generator.

use super::*;

/// `ms` spread by up to `percent` either way.
pub(super) fn jittered(rng: &mut ChaCha8Rng, ms: u64, percent: u64) -> u64 {
    let spread = ms.saturating_mul(percent) / 100;
    if spread == 0 {
        return ms.max(1);
    }
    let r = rng.next_u64() % (2 * spread + 1);
    (ms - spread + r).max(1)
}

pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = (rng.next_u64() % items.len() as u64) as usize;
    items.get(i).copied()
}

pub(super) fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
