//! `ModelError`: everything the model can refuse.
//!
//! Every constructor and every operation of the model validates its input and
//! returns one of these instead of panicking. Each variant says what was wrong
//! and whether any state changed (it never does: model operations are atomic).

use super::key_range::KeyRange;
use super::node_id::NodeId;

/// Why the model refused a value or an operation. No state was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A key range whose start lies after its end.
    #[error("invalid key range: start {start:#010x} is after end {end:#010x}")]
    InvalidRange {
        /// The requested first key.
        start: u32,
        /// The requested last key.
        end: u32,
    },

    /// A local clock of 0: a member's first write has clock 1.
    #[error("clock 0 is not a write: a member's first write has clock 1")]
    ZeroClock,

    /// A clock span `(after, upto]` that is empty or reversed.
    #[error("invalid clock span ({after}, {upto}]: `after` must be below `upto`")]
    InvalidSpan {
        /// Exclusive lower bound.
        after: u64,
        /// Inclusive upper bound.
        upto: u64,
    },

    /// An item stamped with another member's clock.
    #[error("item of member {item} stamped with a clock of member {clock}")]
    MemberMismatch {
        /// The item's member.
        item: NodeId,
        /// The clock's member.
        clock: NodeId,
    },

    /// Two items of one member at the same clock: a writer never reuses a clock.
    #[error("member {member} has two items at clock {clock}")]
    DuplicateClock {
        /// The member.
        member: NodeId,
        /// The repeated clock.
        clock: u64,
    },

    /// Two items with the same identity (member, kind, range) in one set.
    #[error("member {member} has two {kind} items for range {range}")]
    DuplicateIdentity {
        /// The member.
        member: NodeId,
        /// Serve or read.
        kind: &'static str,
        /// The range.
        range: KeyRange,
    },

    /// An empty group name.
    #[error("group name is empty")]
    EmptyGroupName,

    /// A group name longer than [`crate::model::GroupName::MAX_LEN`] bytes.
    #[error("group name is {len} bytes long; the limit is 255 bytes of UTF-8")]
    GroupNameTooLong {
        /// Its length in bytes.
        len: usize,
    },

    /// Joining or applying messages of two different groups.
    #[error("messages of different groups cannot merge: {ours:?} and {theirs:?}")]
    GroupMismatch {
        /// The group of the receiving message.
        ours: String,
        /// The group of the other message.
        theirs: String,
    },

    /// `release` of a range the node never claimed.
    #[error(
        "{range} is not one of this node's claims in {group:?}; {}",
        describe_overlaps(overlapping)
    )]
    NotClaimed {
        /// The group.
        group: String,
        /// The range asked for.
        range: KeyRange,
        /// The node's live claims overlapping it (release one of these exactly).
        overlapping: Vec<KeyRange>,
    },

    /// The node's own clock would overflow `u64` (it never does in practice:
    /// 2^64 writes); refused rather than wrapped.
    #[error("the local clock is exhausted")]
    ClockExhausted,

    /// `delta_since` was given a byte budget too small for even one item.
    #[error("byte budget {budget} is too small: one chunk needs at least {needed} bytes")]
    BudgetTooSmall {
        /// The budget given.
        budget: usize,
        /// The smallest budget that fits the largest single entry.
        needed: usize,
    },
}

fn describe_overlaps(overlapping: &[KeyRange]) -> String {
    if overlapping.is_empty() {
        "it overlaps none of them".to_owned()
    } else {
        let list: Vec<String> = overlapping.iter().map(ToString::to_string).collect();
        format!("overlapping claims: {}", list.join(", "))
    }
}
