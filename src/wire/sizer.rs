//! Chunk sizers: upper bounds on encoded frame sizes, so the model's
//! `delta_since` cuts chunks that fit a byte budget as whole frames.
//!
//! [`crate::model::ChunkSizer`] asks for three sizes; summed over a chunk
//! they must bound the encoded frame, header and tag included. Each bound:
//! - **message**: header, tag, incarnation and seq (10 bytes each at most),
//!   the id table's count, the group name, the member count (and, for a
//!   forward, its author, `upto` and whole distribution list);
//! - **member**: its id table entry (8 bytes, even for the sender, which has
//!   none), its index, the span count, each span's two varints bounded by
//!   the `upto` of the claimable span it lies in (a chunk claims windowed
//!   subsets of `claimable`, each inside one of them), and the item count;
//! - **item**: exact.
//!
//! Counts are bounded through the budget the sizer is made for: every
//! member bound is at least 11 bytes and every item at least 13, so a chunk
//! whose bounds sum to at most `budget` has at most `budget / 11` members
//! and `budget / 13` items per member. That keeps the varints tight (one
//! byte each for a 1200-byte datagram), and is why a sizer must be used with
//! the same budget it was made for.

use crate::model::{ChunkSizer, GroupName, NodeId, Span, TimedItem};

use super::body::{addr_len, item_len, varint_len};
use super::header::{HEADER_LEN, TAG_LEN};
use super::limits::caps::MAX_SPANS;
use super::peer_ref::PeerRef;

/// Incarnation and seq, at most 10 varint bytes each.
const STAMP_MAX: usize = 20;
/// The smallest member bound: table entry, index, span count, item count.
const MIN_MEMBER: usize = 8 + 1 + 1 + 1;
/// The smallest item: clock, flags, start, end, priority, port.
const MIN_ITEM: usize = 1 + 1 + 4 + 4 + 1 + 2;

/// Bounds for a Delta frame (or, with `envelope`, a Forward frame).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameSizer {
    /// Bytes of the frame besides the message: header, tag, stamps, the
    /// forward envelope if any.
    fixed: usize,
    /// Varint length of any id index in the frame.
    index_len: usize,
    /// Varint length of the id table's count.
    ids_count_len: usize,
    /// Varint length of the member count.
    members_count_len: usize,
    /// Varint length of one member's item count.
    items_count_len: usize,
}

impl FrameSizer {
    /// A sizer for Delta frames within `budget`.
    pub(crate) fn delta(budget: usize) -> Self {
        Self::new(budget, 0, 0)
    }

    /// A sizer for Forward frames within `budget` carrying `list`.
    pub(crate) fn forward(budget: usize, list: &[PeerRef]) -> Self {
        // The author and the list enter the id table before the members.
        let extra_ids = 1 + list.len();
        let mut s = Self::new(budget, extra_ids, 0);
        let list_len: usize = list
            .iter()
            .map(|p| 8 + s.index_len + addr_len(&p.addr))
            .sum();
        // author index + 8-byte table entry, upto, list count, list.
        s.fixed += s.index_len + 8 + 10 + varint_len(list.len() as u64) + list_len;
        s
    }

    /// The same with `bytes` more of fixed overhead.
    pub(crate) const fn with_extra(mut self, bytes: usize) -> Self {
        self.fixed += bytes;
        self
    }

    fn new(budget: usize, extra_ids: usize, extra_fixed: usize) -> Self {
        let max_members = budget / MIN_MEMBER;
        let max_ids = (max_members + extra_ids) as u64;
        Self {
            fixed: HEADER_LEN + TAG_LEN + STAMP_MAX + extra_fixed,
            index_len: varint_len(max_ids),
            ids_count_len: varint_len(max_ids),
            members_count_len: varint_len(max_members as u64),
            items_count_len: varint_len((budget / MIN_ITEM) as u64),
        }
    }
}

impl ChunkSizer for FrameSizer {
    fn message_len(&self, group: &GroupName) -> usize {
        let name = group.as_str().len();
        self.fixed + self.ids_count_len + varint_len(name as u64) + name + self.members_count_len
    }

    fn member_len(&self, _member: NodeId, claimable: &[Span]) -> usize {
        let spans: usize = claimable.iter().map(|s| 2 * varint_len(s.upto())).sum();
        let count = claimable.len().min(MAX_SPANS) as u64;
        8 + self.index_len + varint_len(count) + spans + self.items_count_len
    }

    fn item_len(&self, item: &TimedItem) -> usize {
        item_len(item)
    }
}
