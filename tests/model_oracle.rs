//! The optimised merge path against the reference (`tests/support/reference.rs`),
//! exactly, on random inputs: join, apply and lookup.

mod support;

use proptest::prelude::*;
use scalesmall::model::{NodeId, TopologyDb};
use support::reference::RefState;
use support::strategies::{message, timed_set};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn join_matches_the_reference(a in message(), b in message()) {
        let mut fast = a.clone();
        let changed = fast.join(&b).expect("same group");
        let mut slow = RefState::of(&a);
        slow.join(&RefState::of(&b));
        prop_assert_eq!(RefState::of(&fast), slow.normalised());
        prop_assert_eq!(changed, RefState::of(&a) != RefState::of(&fast));
    }

    #[test]
    fn timed_set_join_reports_what_changed(a in timed_set(), b in timed_set()) {
        let mut x = a.clone();
        let stats = x.join(&b);
        let before: std::collections::BTreeSet<_> = a.items().iter().map(|i| i.identity()).collect();
        let inserted = x.items().iter().filter(|i| !before.contains(&i.identity())).count();
        let replaced = x.items().iter().filter(|i| before.contains(&i.identity()) && !a.items().contains(i)).count();
        prop_assert_eq!((stats.inserted, stats.replaced), (inserted, replaced));
        // Max-seen cache stays exact: the highest item clock per member.
        prop_assert!(x.items().windows(2).all(|w| w[0].cmp_identity(&w[1]).is_lt()));
    }

    /// Apply on arbitrary inputs follows the reference rule too (the history
    /// test checks it on realistic inputs).
    #[test]
    fn apply_matches_the_reference(a in message(), b in message()) {
        let mut fast = a.clone();
        let applied = fast.apply(&b).expect("same group");
        let mut slow = RefState::of(&a);
        slow.apply(&RefState::of(&b), None);
        let slow = slow.normalised();
        prop_assert_eq!(RefState::of(&fast), slow.clone());
        prop_assert_eq!(applied.changed, RefState::of(&a) != slow);
        for &(m, max) in fast.max_seen_table() {
            let want = fast.items().member_items(m).iter().map(|i| i.clock()).max();
            prop_assert_eq!(Some(max), want);
        }
    }

    #[test]
    fn lookup_matches_the_reference(a in message(), key in prop_oneof![0u32..200, Just(1000u32), any::<u32>()]) {
        let mut db = TopologyDb::new(NodeId::from_u64(0xffff));
        db.apply(&a);
        let fast: Vec<(u64, u16, u16)> = db
            .lookup("g", key)
            .iter()
            .map(|s| (s.member.as_u64(), s.priority, s.port))
            .collect();
        prop_assert_eq!(fast, RefState::of(&a).lookup(key));
    }
}
