//! `Freshness`: per sender, the last `(incarnation, seq)` accepted, so a
//! replayed announce or probe cannot fake liveness or reachability.
//!
//! A frame passes if its pair is greater than the last one accepted from its
//! sender (lexicographically: a higher incarnation, after a restart, resets
//! `seq`). Only kinds with [`crate::wire::FrameKind::needs_freshness`] go
//! through it; CRDT payloads are idempotent. The table is a `BTreeMap` (no
//! `HashMap`: its `RandomState` reads OS entropy) capped at a number of
//! senders: when full, the sender heard from least recently is forgotten
//! (its next frame is accepted whatever its pair, as after a restart).

use std::collections::BTreeMap;

use crate::model::NodeId;

use super::error::WireError;

/// Last accepted `(incarnation, seq)` per sender.
#[derive(Clone, Debug)]
pub struct Freshness {
    cap: usize,
    /// sender -> (incarnation, seq, tick of last acceptance)
    last: BTreeMap<NodeId, (u64, u64, u64)>,
    /// tick -> sender, for evicting the least recently accepted.
    by_tick: BTreeMap<u64, NodeId>,
    tick: u64,
}

impl Freshness {
    /// Default number of senders remembered.
    pub const DEFAULT_CAP: usize = 4096;

    /// Remembers at most `cap` senders (at least 1).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            last: BTreeMap::new(),
            by_tick: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Accepts and records `(incarnation, seq)` from `sender` if it is newer
    /// than the last one accepted.
    ///
    /// # Errors
    /// [`WireError::Replayed`] if not; nothing is recorded then.
    pub fn check(&mut self, sender: NodeId, incarnation: u64, seq: u64) -> Result<(), WireError> {
        if let Some(&(inc, s, tick)) = self.last.get(&sender) {
            if (incarnation, seq) <= (inc, s) {
                return Err(WireError::Replayed);
            }
            self.by_tick.remove(&tick);
        } else if self.last.len() >= self.cap {
            if let Some((_, oldest)) = self.by_tick.pop_first() {
                self.last.remove(&oldest);
            }
        }
        self.tick += 1;
        self.last.insert(sender, (incarnation, seq, self.tick));
        self.by_tick.insert(self.tick, sender);
        Ok(())
    }

    /// Forgets `sender` (it left or expired).
    pub fn forget(&mut self, sender: NodeId) {
        if let Some((_, _, tick)) = self.last.remove(&sender) {
            self.by_tick.remove(&tick);
        }
    }

    /// Number of senders remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no sender is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    #[test]
    fn only_increasing_pairs_pass() {
        let mut f = Freshness::default();
        assert_eq!(f.check(n(1), 1, 5), Ok(()));
        assert_eq!(f.check(n(1), 1, 5), Err(WireError::Replayed));
        assert_eq!(f.check(n(1), 1, 4), Err(WireError::Replayed));
        assert_eq!(f.check(n(1), 1, 6), Ok(()));
        // A restart: higher incarnation, seq starts over.
        assert_eq!(f.check(n(1), 2, 0), Ok(()));
        assert_eq!(f.check(n(1), 1, 100), Err(WireError::Replayed));
        // Other senders are independent.
        assert_eq!(f.check(n(2), 1, 1), Ok(()));
    }

    #[test]
    fn evicts_the_least_recently_accepted_when_full() {
        let mut f = Freshness::new(2);
        f.check(n(1), 1, 1).unwrap();
        f.check(n(2), 1, 1).unwrap();
        f.check(n(1), 1, 2).unwrap();
        f.check(n(3), 1, 1).unwrap();
        assert_eq!(f.len(), 2);
        // 2 was forgotten; 1 was not.
        assert_eq!(f.check(n(1), 1, 2), Err(WireError::Replayed));
        assert_eq!(f.check(n(2), 1, 1), Ok(()));
        f.forget(n(2));
        assert_eq!(f.len(), 1);
    }
}
