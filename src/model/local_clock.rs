//! `LocalClock`: the stamp of one write, `(member, counter)`.
//!
//! Only the member itself advances its counter, once per item it writes,
//! across all groups: a member's clocks in one group therefore have gaps where
//! it wrote in other groups. The first write has counter 1; 0 means "nothing
//! written yet" and is not a valid stamp. No two items of one member ever
//! share a clock.

use std::fmt;

use super::error::ModelError;
use super::node_id::NodeId;

/// The clock of one write by one member.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalClock {
    member: NodeId,
    counter: u64,
}

impl LocalClock {
    /// The stamp of `member`'s write number `counter`.
    ///
    /// # Errors
    /// [`ModelError::ZeroClock`] for counter 0.
    pub const fn new(member: NodeId, counter: u64) -> Result<Self, ModelError> {
        if counter == 0 {
            return Err(ModelError::ZeroClock);
        }
        Ok(Self { member, counter })
    }

    /// For a counter already known to be at least 1 (a `TimedItem`'s).
    pub(crate) const fn from_valid(member: NodeId, counter: u64) -> Self {
        Self { member, counter }
    }

    /// The writer.
    #[must_use]
    pub const fn member(self) -> NodeId {
        self.member
    }

    /// The writer's counter at this write (at least 1).
    #[must_use]
    pub const fn counter(self) -> u64 {
        self.counter
    }
}

impl fmt::Debug for LocalClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.member, self.counter)
    }
}

impl fmt::Display for LocalClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_is_one_and_zero_is_refused() {
        let m = NodeId::from_u64(7);
        assert_eq!(LocalClock::new(m, 0), Err(ModelError::ZeroClock));
        let c = LocalClock::new(m, 1).unwrap();
        assert_eq!((c.member(), c.counter()), (m, 1));
    }

    #[test]
    fn orders_by_member_then_counter() {
        let a = LocalClock::new(NodeId::from_u64(1), 9).unwrap();
        let b = LocalClock::new(NodeId::from_u64(2), 1).unwrap();
        let c = LocalClock::new(NodeId::from_u64(2), 2).unwrap();
        assert!(a < b && b < c);
    }
}
