//! `Pull`: "this is what I have of a group: send me what I lack".
//!
//! Carries the requester's world clock for the members in `part` (a range of
//! member ids). A clock too large for one datagram is sent in several pulls,
//! each for one range, never relying on IP fragmentation. The responder
//! answers with `delta_since_in` chunks; it may also compare the other way
//! and pull back what it lacks (push-pull).

use core::ops::RangeInclusive;

use crate::model::{GroupName, NodeId, WorldClock};

/// A request for what the requester lacks in one group.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pull {
    /// The group.
    pub group: GroupName,
    /// The members this pull speaks for; `clock` holds only their entries.
    pub part: RangeInclusive<NodeId>,
    /// The requester's coverage of those members.
    pub clock: WorldClock,
}
