//! Deltas: cutting "what the remote lacks" into messages within a byte budget,
//! each of which carries everything it claims.
//!
//! For each member, the plan is: the items held at clocks the remote does not
//! cover (its gaps, not just everything above its `known_upto`), in ascending
//! clock order, and the coverage that may be claimed, our coverage ∩ the
//! remote's gaps. Chunks are filled member by member. Within a chunk, a member
//! claims its claimable coverage only over the chunk's clock window: from the
//! previous chunk's boundary up to one below the clock of its first item that
//! went to the next chunk, or, in the member's last chunk, to the end. Members
//! with nothing to send but coverage to claim get coverage-only entries, so a
//! receiver can always close its gaps. Each message can therefore be applied,
//! and forwarded to a third node, on its own, in any order.
//!
//! The counterexample this avoids: `m` wrote `I@2` and `J@4`; `R` covers
//! `(0,2]` and holds `I@2`; a reply carrying only `J@4` but claiming `(0,4]`,
//! forwarded to `T`, would make `T` cover clock 2 without `I@2`, and
//! coverage-aware apply would then reject `I@2` for ever. Here the reply
//! claims `(2,4]`.
//!
//! Sizes come from a [`ChunkSizer`] that the wire layer implements with its
//! exact encoded lengths (upper bounds for the varint counts), so the model
//! stays independent of the encoding.

use super::coverage::{Coverage, Span};
use super::error::ModelError;
use super::group_name::GroupName;
use super::message::Message;
use super::node_id::NodeId;
use super::timed_item::TimedItem;
use super::timed_set::TimedSet;
use super::world_clock::WorldClock;

/// Encoded sizes, as upper bounds, so chunks stay within a byte budget.
///
/// The encoded length of a message must be at most
/// `message_len(group) + Σ member_len(member, claimable) + Σ item_len(item)`,
/// where a member's entry in a chunk claims a windowed subset of
/// `claimable`: at most as many spans, each within one of them (so a span's
/// bounds never exceed its `upto`).
pub trait ChunkSizer {
    /// A message for `group` with no member and no item (and, for a wire
    /// sizer, the frame around it).
    fn message_len(&self, group: &GroupName) -> usize;
    /// One member's entry: its id and a claim of at most `claimable`.
    fn member_len(&self, member: NodeId, claimable: &[Span]) -> usize;
    /// One item.
    fn item_len(&self, item: &TimedItem) -> usize;
}

/// A generous fixed-size estimate, for tests and for callers without a wire
/// format: 16 bytes plus the name per message, 16 plus 18 per span per member,
/// 40 per item.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedSizer;

impl ChunkSizer for FixedSizer {
    fn message_len(&self, group: &GroupName) -> usize {
        16 + group.as_str().len()
    }
    fn member_len(&self, _member: NodeId, claimable: &[Span]) -> usize {
        16 + 18 * claimable.len()
    }
    fn item_len(&self, _item: &TimedItem) -> usize {
        40
    }
}

/// What to send of one member.
pub(crate) struct MemberPlan<'a> {
    pub member: NodeId,
    /// Coverage we may claim: ours ∩ the remote's gaps (sorted spans).
    pub claim: Vec<Span>,
    /// Items to send, sorted by clock, at most one per clock.
    pub items: Vec<&'a TimedItem>,
}

impl<'a> MemberPlan<'a> {
    /// The plan for `member` given our coverage and items and the remote's
    /// coverage. `None` if there is nothing to send.
    pub(super) fn new(
        member: NodeId,
        ours: Option<&Coverage>,
        theirs: Option<&Coverage>,
        held: &'a [TimedItem],
    ) -> Option<Self> {
        let empty = Coverage::new();
        let theirs = theirs.unwrap_or(&empty);
        let claim = ours.map_or_else(Vec::new, |c| c.difference(theirs));
        let mut items: Vec<&TimedItem> = held
            .iter()
            .filter(|i| !theirs.contains(i.clock()))
            .collect();
        if claim.is_empty() && items.is_empty() {
            return None;
        }
        items.sort_by_key(|i| i.clock());
        // A writer never reuses a clock; if a buggy one did, send one of the
        // two so the message stays valid (deterministic: the first by identity).
        items.dedup_by_key(|i| i.clock());
        Some(Self {
            member,
            claim,
            items,
        })
    }

    /// Number of clocks missing on the remote (for catch-up ordering).
    pub(super) fn missing(&self) -> u64 {
        self.claim.iter().map(|s| s.len()).sum::<u64>() + self.items.len() as u64
    }
}

/// One message under construction.
struct Chunk {
    clock: WorldClock,
    items: Vec<TimedItem>,
    size: usize,
}

impl Chunk {
    fn new(base: usize) -> Self {
        Self {
            clock: WorldClock::new(),
            items: Vec::new(),
            size: base,
        }
    }

    fn claim(&mut self, member: NodeId, spans: &[Span], lo: u64, hi: u64) {
        for s in spans {
            if let Some(part) = s.within(lo, hi) {
                self.clock.cover(member, part);
            }
        }
    }

    fn finish(self, group: &GroupName) -> Message {
        // Items came from one TimedSet (unique identities) and were deduped
        // by clock per member, so the message is valid by construction.
        let set = TimedSet::joined(self.items);
        Message::from_valid(group.clone(), self.clock, set)
    }
}

/// Cuts `plans` into messages of at most `budget` bytes by `sizer`.
pub(crate) fn chunk(
    group: &GroupName,
    plans: &[MemberPlan<'_>],
    budget: usize,
    sizer: &impl ChunkSizer,
) -> Result<Vec<Message>, ModelError> {
    let base = sizer.message_len(group);
    let needed = plans
        .iter()
        .map(|p| {
            sizer.member_len(p.member, &p.claim)
                + p.items.iter().map(|i| sizer.item_len(i)).max().unwrap_or(0)
        })
        .max()
        .map_or(base, |m| base + m);
    if budget < needed {
        return Err(ModelError::BudgetTooSmall { budget, needed });
    }
    let mut out = Vec::new();
    let mut cur = Chunk::new(base);
    for plan in plans {
        let member_len = sizer.member_len(plan.member, &plan.claim);
        // Clocks <= lo were claimed in earlier chunks.
        let mut lo = 0;
        let mut started = false;
        for item in &plan.items {
            let item_len = sizer.item_len(item);
            let need = item_len + if started { 0 } else { member_len };
            if cur.size + need > budget {
                if started {
                    let hi = item.clock() - 1;
                    cur.claim(plan.member, &plan.claim, lo, hi);
                    lo = hi;
                }
                out.push(std::mem::replace(&mut cur, Chunk::new(base)).finish(group));
                started = false;
            }
            if !started {
                cur.size += member_len;
                started = true;
            }
            cur.items.push(**item);
            cur.size += item_len;
        }
        if !started {
            // Coverage only.
            if cur.size + member_len > budget {
                out.push(std::mem::replace(&mut cur, Chunk::new(base)).finish(group));
            }
            cur.size += member_len;
        }
        cur.claim(plan.member, &plan.claim, lo, u64::MAX);
    }
    if !cur.items.is_empty() || !cur.clock.is_empty() {
        out.push(cur.finish(group));
    }
    Ok(out)
}
