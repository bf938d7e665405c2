//! `Buckets`: token buckets by key (a peer id, a source address), so one
//! sender cannot make this node spend its time or its uplink on answers.
//!
//! A key-holding attacker can invent member ids at will, so budgets keyed
//! by id alone are not enough: answers to unicast frames (announce
//! replies, acks, pings on another's behalf, pull answers) are also
//! budgeted by the source address, which a flood from one machine shares.
//! The table is capped; at the cap the key used least recently is
//! forgotten (it starts again with a full bucket, which is as generous as
//! a new sender gets anyway).

use std::collections::BTreeMap;

use super::time::Millis;

/// A budget of `rate` events per second sustained, with bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Events per second, sustained.
    pub rate: u64,
    /// Most events at once after a quiet spell.
    pub burst: u64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of an event.
    milli: u64,
    last: Millis,
}

/// Token buckets by key.
#[derive(Clone, Debug)]
pub struct Buckets<K: Ord + Copy> {
    budget: Budget,
    cap: usize,
    buckets: BTreeMap<K, Bucket>,
}

impl<K: Ord + Copy> Buckets<K> {
    /// Buckets with `budget` each, at most `cap` keys remembered.
    #[must_use]
    pub fn new(budget: Budget, cap: usize) -> Self {
        Self {
            budget,
            cap: cap.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// Whether `key` may have one more event now; takes the token if so.
    pub fn allow(&mut self, key: K, now: Millis) -> bool {
        let full = self.budget.burst.max(1).saturating_mul(1000);
        if !self.buckets.contains_key(&key)
            && self.buckets.len() >= self.cap
            && let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k)
        {
            self.buckets.remove(&oldest);
        }
        let b = self.buckets.entry(key).or_insert(Bucket {
            milli: full,
            last: now,
        });
        // `rate` events per 1000 ms is `rate` milli-events per ms.
        b.milli = b
            .milli
            .saturating_add(now.since(b.last).saturating_mul(self.budget.rate))
            .min(full);
        b.last = now;
        if b.milli >= 1000 {
            b.milli -= 1000;
            true
        } else {
            false
        }
    }

    /// Keys remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut b = Buckets::new(Budget { rate: 5, burst: 20 }, 16);
        let burst = (0..100).filter(|_| b.allow(1u8, Millis(0))).count();
        assert_eq!(burst, 20);
        assert!(!b.allow(1, Millis(100)), "half a token after 100 ms");
        assert!(b.allow(1, Millis(200)), "one token after 200 ms at 5/s");
        assert!(b.allow(2, Millis(0)), "other keys have their own bucket");
    }

    #[test]
    fn the_table_is_capped_least_recent_first() {
        let mut b = Buckets::new(Budget { rate: 1, burst: 1 }, 2);
        assert!(b.allow(1u8, Millis(0)));
        assert!(b.allow(2, Millis(1)));
        assert!(b.allow(3, Millis(2)));
        assert_eq!(b.len(), 2);
        // Key 1 was forgotten: it starts again with a full bucket.
        assert!(b.allow(1, Millis(3)));
        assert!(!b.allow(3, Millis(4)), "key 3 was kept and is empty");
    }
}
