//! GC floors and resets (docs/ALGORITHM.md, section 11): scripted cases of
//! each rule, including the example, which a plain join gets wrong
//! and the extended invariant checker catches. `model_history` runs the same
//! rules on random histories against the reference.

mod support;

use scalesmall::model::{FixedSizer, KeyRange, Message, NodeId, TopologyDb, WorldClock};
use support::history::Truth;

const G: &str = "g";

fn r(a: u32, b: u32) -> KeyRange {
    KeyRange::new(a, b).expect("valid range")
}

/// m writes Get@1, A@2, I@3, X@4, then releases I at 5. Returns m, the
/// truth, and m's state as it was after clock 3.
fn example() -> (TopologyDb, Truth, Message) {
    let mut m = TopologyDb::new(NodeId::from_u64(1));
    let mut truth = Truth::default();
    let mut early = None;
    let writes: [&dyn Fn(&mut TopologyDb) -> _; 5] = [
        &|db| db.join(G),
        &|db| db.claim(G, r(0, 9), 0, 0),
        &|db| db.claim(G, r(10, 19), 0, 0),
        &|db| db.claim(G, r(20, 29), 0, 0),
        &|db| db.release(G, r(10, 19)),
    ];
    for (k, w) in writes.iter().enumerate() {
        let written = w(&mut m).expect("valid").expect("a write");
        truth.record(&m, G, &written);
        if k == 2 {
            early = m.message(G).cloned();
        }
    }
    (m, truth, early.expect("written"))
}

/// B holds I@3 and covers (0,3]; A holds everything and has collected the
/// retraction of I@5 (floor 5).
fn b_and_a() -> (TopologyDb, TopologyDb, Truth) {
    let (mut m, truth, early) = example();
    let mut b = TopologyDb::new(NodeId::from_u64(2));
    b.apply(&early);
    let mut a = TopologyDb::new(NodeId::from_u64(3));
    a.apply(m.message(G).expect("written"));
    let floors = m.collect_own(5);
    assert_eq!(floors.len(), 1, "one group's floor rose");
    assert_eq!(m.floor(G, NodeId::from_u64(1)), 5);
    assert!(a.apply(&floors[0]).changed);
    assert_eq!(a.floor(G, NodeId::from_u64(1)), 5);
    let held = a.message(G).expect("held").items().len();
    assert_eq!(held, 3, "the retraction is collected: {:?}", a.message(G));
    truth.check("A", a.message(G)).expect("A is consistent");
    truth.check("B", b.message(G)).expect("B is consistent");
    (b, a, truth)
}

#[test]
fn a_plain_join_of_a_collected_state_is_caught_by_the_checker() {
    let (b, a, truth) = b_and_a();
    let mut joined = b.message(G).cloned().expect("held");
    joined
        .join(a.message(G).expect("held"))
        .expect("same group");
    // I@3 is still live, and clock 5 is covered without its retraction.
    let err = truth
        .check("B joined", Some(&joined))
        .expect_err("the checker must catch a live item whose retraction was collected");
    assert!(err.contains("@5"), "{err}");
}

#[test]
fn a_pull_from_a_collected_node_resets_the_laggard() {
    let (mut b, a, truth) = b_and_a();
    let remote = b.message(G).expect("held").clock().clone();
    let msgs = a.delta_since(G, &remote, 1400, &FixedSizer).expect("fits");
    // The reset comes first and claims (0, 5] with floor 5.
    let reset = &msgs[0];
    let m = NodeId::from_u64(1);
    assert_eq!(reset.floor(m), 5);
    assert_eq!(reset.clock().known_upto(m), 5);
    for msg in &msgs {
        truth
            .check("a delta", Some(msg))
            .expect("carries all it claims");
    }
    // Any order: the reset and the chunks above the floor.
    for msg in msgs.iter().rev() {
        b.apply(msg);
        truth.check("B", b.message(G)).expect("B stays consistent");
    }
    truth.holds_exactly("B", b.message(G)).expect("converged");
    let held = b.message(G).expect("held");
    assert!(
        held.items().items().iter().all(|i| i.range() != r(10, 19)),
        "I is gone: {held:?}"
    );
    assert_eq!(held.floor(m), 5);
}

#[test]
fn a_floor_above_a_message_s_coverage_cuts_what_it_says_below_it() {
    let (mut b, a, truth) = b_and_a();
    let m = NodeId::from_u64(1);
    // A's whole state restricted to clocks above 4 claims (4, 5] only:
    // with floor 5 it may not speak of clocks <= 5 to B.
    let full = a.message(G).expect("held").clone();
    let (group, clock, items) = full.into_parts();
    let mut above = WorldClock::new();
    above.cover(m, scalesmall::model::Span::new(4, 5).expect("span"));
    above.set_floor(m, clock.floor(m));
    let cut = Message::new(group, above, items.items().to_vec()).expect("valid");
    let before = b.message(G).cloned();
    b.apply(&cut);
    // Nothing of m at clocks <= 5 was taken (X@4 is not there), and clock
    // 5 is not covered; B's floor rose only as far as its prefix (3).
    let held = b.message(G).expect("held");
    assert_eq!(held.clock().known_upto(m), 3);
    assert!(!held.clock().covers(m, 5));
    assert!(held.items().items().iter().all(|i| i.clock() <= 3));
    assert_eq!(held.floor(m), 3);
    assert_eq!(
        held.items().len(),
        before.expect("held").items().len(),
        "no live item is collected"
    );
    truth.check("B", Some(held)).expect("consistent");
}

#[test]
fn a_floor_never_passes_the_prefix_and_a_floor_we_have_changes_nothing() {
    let (m, _truth, early) = example();
    let mut msg = early;
    let who = NodeId::from_u64(1);
    assert!(msg.raise_floor(who, 99));
    assert_eq!(msg.floor(who), 3, "capped at known_upto");
    assert!(!msg.raise_floor(who, 2));
    // A floor-only message at or below ours is nothing new (the fast path).
    let mut b = TopologyDb::new(NodeId::from_u64(2));
    b.apply(m.message(G).expect("held"));
    let only = msg.floor_only(who).expect("a floor");
    assert!(b.apply(&only).changed, "takes floor 3");
    assert!(!b.apply(&only).changed, "idempotent");
}

#[test]
fn a_restart_after_collecting_claims_nothing_it_lost() {
    // The reviewer's case: m collects Rmv I@5 (floor 5) and restarts with
    // only its surviving items. Restored coverage ending at the last item
    // (4) with no floor would let the next write's delta claim clock 5
    // without the retraction, leaving I@3 live at B for ever. The floor is
    // persisted, and the restored coverage reaches it.
    let (mut m, truth, early) = example();
    let own = NodeId::from_u64(1);
    m.collect_own(5);
    assert_eq!((m.floor(G, own), m.own_floor()), (5, 5));
    assert!(
        m.message(G)
            .expect("held")
            .items()
            .items()
            .iter()
            .all(|i| i.live()),
        "the retraction is collected at the writer too"
    );
    let mut truth = truth;
    for persisted_floor in [true, false] {
        let restored = TopologyDb::restore(own, m.clock(), m.own_items()).expect("restores");
        let mut restored = if persisted_floor {
            restored.with_own_floors(&m.own_floors())
        } else {
            restored
        };
        let w = restored
            .claim(G, r(30, 39), 0, 0)
            .expect("valid")
            .expect("a write");
        let mut b = TopologyDb::new(NodeId::from_u64(2));
        b.apply(&early);
        let msgs = restored.own_delta(&w, 1400, &FixedSizer).expect("fits");
        let ok = msgs
            .iter()
            .all(|msg| truth.check("a message", Some(msg)).is_ok());
        assert_eq!(
            ok, persisted_floor,
            "without the floor the delta claims clock 5"
        );
        if persisted_floor {
            truth.record(&restored, G, &w);
            let pulled = restored
                .delta_since(G, b.message(G).expect("held").clock(), 1400, &FixedSizer)
                .expect("fits");
            for msg in msgs.iter().chain(&pulled) {
                let mut msg = msg.clone();
                msg.attach_floor(own, restored.floor(G, own));
                b.apply(&msg);
                truth.check("B", b.message(G)).expect("B stays consistent");
            }
            truth.holds_exactly("B", b.message(G)).expect("converged");
        }
    }
}
