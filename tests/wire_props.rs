//! Property tests of the codec: random frames of every kind round-trip at
//! both versions with `encoded_len` exact; random `delta_since` deltas cut
//! with the codec's sizers fit their budget as whole frames, and their
//! frames decode and reassemble (in any order, with duplicates) to the same
//! state as the unchunked delta. `PROPTEST_CASES` sets the number of cases.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use scalesmall::model::{FixedSizer, Message, ModelError, NodeId, TopologyDb, WorldClock};
use scalesmall::wire::{Codec, Forward, Frame, Payload, VERSION};
use support::wire::{golden_codec, golden_nonce, message, peer_ref, versioned_frame, world_clock};

proptest! {
    #[test]
    fn decode_inverts_encode_and_encoded_len_is_exact((version, frame) in versioned_frame()) {
        let codec = golden_codec();
        let bytes = codec.encode(&frame, version, golden_nonce()).expect("encodes");
        prop_assert_eq!(codec.encoded_len(&frame, version), bytes.len());
        let d = codec.decode(&bytes).expect("decodes");
        prop_assert_eq!(d.version, version);
        prop_assert_eq!(d.frame, frame);
    }
}

/// A database holding `msg` (observer id outside the strategies' range).
fn db_of(msg: &Message) -> TopologyDb {
    let mut db = TopologyDb::new(NodeId::from_u64(0xdead_beef_0000_0001));
    db.apply(msg);
    db
}

/// Joins `chunks` in the order `order` (indices into `chunks`).
fn reassemble(group: &Message, chunks: &[Message], order: &[usize]) -> Message {
    let mut out = Message::empty(group.group().clone());
    for &i in order {
        out.join(&chunks[i]).expect("same group");
    }
    out
}

/// Every index once, shuffled by `seed`, then `dups` repeated.
fn order(n: usize, seed: u64, dups: &[prop::sample::Index]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    if n > 0 {
        v.extend(dups.iter().map(|d| d.index(n)));
    }
    v
}

fn frame_of(sender: NodeId, seq: u64, payload: Payload) -> Frame {
    Frame {
        sender,
        incarnation: 1,
        seq,
        payload,
    }
}

/// Checks chunks against the budget and the unchunked delta.
fn check_chunks(
    codec: &Codec,
    chunks: &[Message],
    unchunked: &[Message],
    budget: usize,
    wrap: &dyn Fn(Message) -> Payload,
    seed: u64,
    dups: &[prop::sample::Index],
) -> Result<(), TestCaseError> {
    let mut decoded = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let f = frame_of(NodeId::from_u64(1), i as u64, wrap(c.clone()));
        let bytes = codec.encode(&f, VERSION, golden_nonce()).expect("encodes");
        prop_assert!(
            bytes.len() <= budget,
            "chunk {} is {} bytes, budget {}",
            i,
            bytes.len(),
            budget
        );
        let d = codec.decode(&bytes).expect("decodes").frame;
        prop_assert_eq!(&d, &f);
        let m = match d.payload {
            Payload::Delta(m) => m,
            Payload::Forward(fw) => fw.message,
            _ => unreachable!(),
        };
        decoded.push(m);
    }
    if let Some(first) = unchunked.first() {
        prop_assert_eq!(unchunked.len(), 1);
        let whole = reassemble(first, unchunked, &[0]);
        let got = reassemble(first, &decoded, &order(decoded.len(), seed, dups));
        prop_assert_eq!(got.clock(), whole.clock());
        prop_assert_eq!(got.items(), whole.items());
    } else {
        prop_assert!(chunks.is_empty());
    }
    Ok(())
}

proptest! {
    #[test]
    fn delta_chunks_fit_the_budget_and_reassemble(
        msg in message(),
        remote in world_clock(),
        budget in 120usize..1500,
        seed in any::<u64>(),
        dups in vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let codec = golden_codec();
        let db = db_of(&msg);
        let g = msg.group().as_str();
        let sizer = codec.delta_sizer(VERSION, budget);
        let chunks = match db.delta_since(g, &remote, budget, &sizer) {
            Err(ModelError::BudgetTooSmall { .. }) => return Ok(()),
            r => r.expect("delta"),
        };
        let unchunked = db.delta_since(g, &remote, usize::MAX / 2, &FixedSizer).expect("delta");
        check_chunks(&codec, &chunks, &unchunked, budget, &Payload::Delta, seed, &dups)?;
    }

    #[test]
    fn forward_chunks_fit_the_budget_and_reassemble(
        msg in message(),
        list in vec(peer_ref(), 0..12),
        author in any::<u64>(),
        budget in 300usize..1500,
        seed in any::<u64>(),
        dups in vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let codec = golden_codec();
        let db = db_of(&msg);
        let g = msg.group().as_str();
        let sizer = codec.forward_sizer(VERSION, budget, &list);
        let chunks = match db.delta_since(g, &WorldClock::new(), budget, &sizer) {
            Err(ModelError::BudgetTooSmall { .. }) => return Ok(()),
            r => r.expect("delta"),
        };
        let unchunked = db.delta_since(g, &WorldClock::new(), usize::MAX / 2, &FixedSizer).expect("delta");
        let author = NodeId::from_u64(author);
        let wrap = |m: Message| Payload::Forward(Forward { author, upto: 7, list: list.clone(), message: m });
        check_chunks(&codec, &chunks, &unchunked, budget, &wrap, seed, &dups)?;
    }
}

/// A realistic catch-up: 64 members with 40 items each at spread-out key
/// ranges and clocks in the thousands; a 1200-byte datagram carries 30+.
#[test]
fn a_datagram_carries_thirty_items_or_more() {
    use scalesmall::model::{Item, KeyRange, Span, TimedItem};
    let codec = golden_codec();
    let mut items = Vec::new();
    let mut clock = WorldClock::new();
    for m in 1..=64u64 {
        let member = NodeId::from_u64(m.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for k in 0..40u64 {
            let start = ((m * 40 + k) * 1_000_003 % (1 << 32)) as u32;
            let r = KeyRange::new(start, start.saturating_add(1 << 24)).expect("valid");
            items.push(
                TimedItem::at(Item::add(member, r, 1, 8080), 1000 + 2 * k + 1).expect("valid"),
            );
        }
        clock.cover(member, Span::new(0, 1080).expect("valid"));
    }
    let msg = Message::new(
        scalesmall::model::GroupName::new("cache").expect("valid"),
        clock,
        items,
    )
    .expect("valid");
    let db = db_of(&msg);
    let sizer = codec.delta_sizer(VERSION, 1200);
    let chunks = db
        .delta_since("cache", &WorldClock::new(), 1200, &sizer)
        .expect("delta");
    let total: usize = chunks.iter().map(|c| c.items().len()).sum();
    assert_eq!(total, 64 * 40);
    let full: Vec<_> = chunks[..chunks.len() - 1]
        .iter()
        .map(|c| c.items().len())
        .collect();
    let min = full.iter().copied().min().unwrap_or(0);
    for (i, c) in chunks.iter().enumerate() {
        let f = frame_of(NodeId::from_u64(1), i as u64, Payload::Delta(c.clone()));
        let bytes = codec
            .encode_datagram(&f, VERSION, golden_nonce())
            .expect("fits the MTU");
        assert!(bytes.len() <= 1200);
    }
    eprintln!("items per 1200-byte delta datagram: {full:?}");
    assert!(min >= 30, "a full chunk carries only {min} items");
}
