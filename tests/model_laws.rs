//! The merge laws, on arbitrary inputs: join is idempotent, commutative and
//! associative for TimedSet, WorldClock and Message, and any permutation of
//! any multiset of messages (duplicates included) joins to the same state.
//! Coverage (the interval sets under WorldClock) is checked against plain
//! clock sets.

mod support;

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use scalesmall::model::{Coverage, GroupName, Message, ModelError, Span, WorldClock};
use support::strategies::{coverage, message, timed_set, world_clock};

fn config() -> ProptestConfig {
    // PROPTEST_CASES overrides (CI under qemu uses fewer).
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    )
}

fn clocks(c: &Coverage) -> BTreeSet<u64> {
    c.spans().flat_map(|s| s.after() + 1..=s.upto()).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn timed_set_join_is_idempotent(a in timed_set()) {
        let mut x = a.clone();
        prop_assert!(!x.join(&a).changed());
        prop_assert_eq!(x, a);
    }

    #[test]
    fn timed_set_join_is_commutative(a in timed_set(), b in timed_set()) {
        let mut ab = a.clone();
        ab.join(&b);
        let mut ba = b.clone();
        ba.join(&a);
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn timed_set_join_is_associative(a in timed_set(), b in timed_set(), c in timed_set()) {
        let mut left = a.clone();
        left.join(&b);
        left.join(&c);
        let mut bc = b.clone();
        bc.join(&c);
        let mut right = a.clone();
        right.join(&bc);
        prop_assert_eq!(left, right);
    }

    #[test]
    fn world_clock_join_is_idempotent(a in world_clock()) {
        let mut x = a.clone();
        prop_assert!(!x.join(&a));
        prop_assert_eq!(x, a);
    }

    #[test]
    fn world_clock_join_is_commutative(a in world_clock(), b in world_clock()) {
        let mut ab = a.clone();
        ab.join(&b);
        let mut ba = b.clone();
        ba.join(&a);
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn world_clock_join_is_associative(a in world_clock(), b in world_clock(), c in world_clock()) {
        let mut left = a.clone();
        left.join(&b);
        left.join(&c);
        let mut bc = b.clone();
        bc.join(&c);
        let mut right = a.clone();
        right.join(&bc);
        prop_assert_eq!(left, right);
    }

    #[test]
    fn message_join_is_idempotent(a in message()) {
        let mut x = a.clone();
        prop_assert!(!x.join(&a).expect("same group"));
        prop_assert_eq!(x, a);
    }

    #[test]
    fn message_join_is_commutative(a in message(), b in message()) {
        let mut ab = a.clone();
        ab.join(&b).expect("same group");
        let mut ba = b.clone();
        ba.join(&a).expect("same group");
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn message_join_is_associative(a in message(), b in message(), c in message()) {
        let mut left = a.clone();
        left.join(&b).expect("same group");
        left.join(&c).expect("same group");
        let mut bc = b.clone();
        bc.join(&c).expect("same group");
        let mut right = a.clone();
        right.join(&bc).expect("same group");
        prop_assert_eq!(left, right);
    }

    /// Any permutation of any multiset of messages, duplicates included,
    /// joins to the identical state.
    #[test]
    fn any_order_with_duplicates_joins_to_one_state(
        msgs in vec(message(), 1..6),
        dups in vec(any::<prop::sample::Index>(), 0..6),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let mut multiset = msgs.clone();
        for d in &dups {
            multiset.push(d.get(&msgs).clone());
        }
        let mut shuffled = multiset.clone();
        // Fisher-Yates with a proptest-provided seed.
        let mut s = order | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let fold = |list: &[Message]| {
            let mut acc = Message::empty(support::strategies::group());
            for m in list {
                acc.join(m).expect("same group");
            }
            acc
        };
        prop_assert_eq!(fold(&multiset), fold(&shuffled));
    }

    #[test]
    fn coverage_union_is_set_union(a in coverage(), b in coverage()) {
        let mut u = a.clone();
        let grew = u.union_with(&b);
        let want: BTreeSet<u64> = clocks(&a).union(&clocks(&b)).copied().collect();
        prop_assert_eq!(clocks(&u), want.clone());
        prop_assert_eq!(grew, want != clocks(&a));
        prop_assert_eq!(u.clone(), Coverage::from_spans(u.spans()));
    }

    #[test]
    fn coverage_difference_and_subset_match_sets(a in coverage(), b in coverage()) {
        let (sa, sb) = (clocks(&a), clocks(&b));
        let diff: BTreeSet<u64> = a
            .difference(&b)
            .into_iter()
            .flat_map(|s: Span| s.after() + 1..=s.upto())
            .collect();
        prop_assert_eq!(&diff, &sa.difference(&sb).copied().collect());
        prop_assert_eq!(a.is_subset_of(&b), sa.is_subset(&sb));
        prop_assert_eq!(a.missing_from(&b), diff.len() as u64);
        for c in 0..64 {
            prop_assert_eq!(a.contains(c), sa.contains(&c));
        }
        prop_assert_eq!(a.known_upto(), (1..).take_while(|c| sa.contains(c)).last().unwrap_or(0));
    }
}

#[test]
fn messages_of_different_groups_do_not_join() {
    let mut a = Message::empty(GroupName::new("a").expect("valid"));
    let b = Message::new(
        GroupName::new("b").expect("valid"),
        WorldClock::new(),
        vec![],
    )
    .expect("valid");
    assert!(matches!(a.join(&b), Err(ModelError::GroupMismatch { .. })));
    assert!(a.is_empty());
}
