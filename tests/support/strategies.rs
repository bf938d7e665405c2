//! proptest strategies for the model's types.
//!
//! Arbitrary messages are built so that, across all of them, a member's
//! clock always names the same identity (a writer never reuses a clock for
//! two identities), while the contents at one clock may differ (the
//! "buggy or replayed writer" tie-break case). Clocks stay small so the
//! reference can expand coverage clock by clock, and fragments stay few so
//! the fragment cap never applies (a capped union is not associative).

use proptest::collection::vec;
use proptest::prelude::*;
use scalesmall::model::{
    Coverage, GroupName, Item, KeyRange, Kind, Message, NodeId, Span, TimedItem, TimedSet,
    WorldClock,
};

pub const MEMBERS: u64 = 4;
pub const MAX_CLOCK: u64 = 48;

pub fn member() -> impl Strategy<Value = NodeId> {
    (1..=MEMBERS).prop_map(NodeId::from_u64)
}

pub fn span() -> impl Strategy<Value = Span> {
    (0..MAX_CLOCK, 1u64..8).prop_map(|(a, len)| Span::new(a, a + len).expect("len >= 1"))
}

pub fn coverage() -> impl Strategy<Value = Coverage> {
    vec(span(), 0..4).prop_map(Coverage::from_spans)
}

pub fn world_clock() -> impl Strategy<Value = WorldClock> {
    vec((member(), coverage()), 0..=MEMBERS as usize).prop_map(|entries| {
        let mut w = WorldClock::new();
        for (m, c) in entries {
            w.cover_all(m, &c);
        }
        w
    })
}

/// The identity member `m` wrote at `clock`: a fixed function, so clocks
/// never collide across messages, while identities repeat (overwrites).
pub fn identity_at(m: NodeId, clock: u64) -> (Kind, KeyRange) {
    let ranges = [
        KeyRange::FULL,
        KeyRange::new(0, 99).expect("valid"),
        KeyRange::new(50, 149).expect("valid"),
        KeyRange::new(1000, 1000).expect("valid"),
    ];
    let i = (m.as_u64() * 7 + clock * 3) % 5;
    match i {
        0 => (Kind::Read, KeyRange::FULL),
        n => (Kind::Serve, ranges[(n - 1) as usize]),
    }
}

pub fn timed_item() -> impl Strategy<Value = TimedItem> {
    (member(), 1..=MAX_CLOCK, any::<bool>(), 0u16..3, 0u16..3).prop_map(
        |(m, clock, live, priority, port)| {
            let (kind, range) = identity_at(m, clock);
            let item = Item {
                member: m,
                kind,
                live,
                range,
                priority,
                port,
            };
            TimedItem::at(item, clock).expect("clock >= 1")
        },
    )
}

pub fn group() -> GroupName {
    GroupName::new("g").expect("valid")
}

/// A valid message of group "g": unique clocks per member, one item per
/// identity (the winner), arbitrary coverage claims.
pub fn message() -> impl Strategy<Value = Message> {
    (world_clock(), vec(timed_item(), 0..12)).prop_map(|(clock, mut items)| {
        items.sort_by_key(|i| (i.member(), i.clock()));
        items.dedup_by_key(|i| (i.member(), i.clock()));
        let set = TimedSet::joined(items);
        Message::new(group(), clock, set.items().to_vec()).expect("valid by construction")
    })
}

pub fn timed_set() -> impl Strategy<Value = TimedSet> {
    vec(timed_item(), 0..16).prop_map(TimedSet::joined)
}
