//! `Seen`: the tree broadcasts this node already handled, so each is
//! forwarded once. Bounded: a FIFO of `(author, clock)` pairs.

use std::collections::{BTreeSet, VecDeque};

use crate::model::NodeId;

/// Recently handled broadcasts.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    cap: usize,
    order: VecDeque<(NodeId, u64)>,
    set: BTreeSet<(NodeId, u64)>,
}

impl Seen {
    /// Remembers at most `cap` broadcasts.
    #[must_use]
    pub(super) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            order: VecDeque::new(),
            set: BTreeSet::new(),
        }
    }

    /// Records `(author, clock)`; returns whether it was new.
    pub(super) fn insert(&mut self, author: NodeId, clock: u64) -> bool {
        if !self.set.insert((author, clock)) {
            return false;
        }
        self.order.push_back((author, clock));
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_its_cap() {
        let mut s = Seen::new(2);
        let a = NodeId::from_u64(1);
        assert!(s.insert(a, 1));
        assert!(!s.insert(a, 1));
        assert!(s.insert(a, 2));
        assert!(s.insert(a, 3));
        assert!(s.insert(a, 1), "the oldest was forgotten");
    }
}
