//! A dead board and a split, told apart by `status`, as an operator would:
//! real `scalesmall run` processes with no network flags but `--peer`, in
//! three IPv6 subnets behind a router made of network namespaces
//! (`support/lan.rs`): board `a` alone in subnet 1, `b1` and `b2` in subnet
//! 2, `c1` and `c2` in subnet 3 (each subnet one multicast island).
//!
//! At once `b2` is killed (a dead board: `b1` still answers for its
//! island) and the router's link to subnet 3 goes down (a split: all of
//! that island is cut off). `a` then shows one alive and three down, and
//! exactly one island unreachable. `b1` shows `b2` down in its own island
//! (not unreachable) and subnet 3 unreachable if it knew any of it. One failure-detector
//! verdict (probe, suspicion, down: about 9 s) bounds the wait.
//!
//! Needs root; without it the test prints why it skips. Namespaces carry a
//! prefix unique to this run and are deleted on drop; nodes are killed by
//! PID on drop; every wait has a deadline.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lan::{ip, routed, router, skip_unless_root};
use support::procs::{Env, Node};

const VERDICT: Duration = Duration::from_secs(30);

/// `[alive, suspect, down, unreachable islands]` in `n`'s status.
fn split_view(n: &Node) -> [u64; 4] {
    let st: Value = n.json(&["status"]);
    let g = |k: &str| st[k].as_u64().unwrap_or(u64::MAX);
    [
        g("peers_alive"),
        g("peers_suspect"),
        g("peers_down"),
        g("unreachable_islands"),
    ]
}

/// Whether `n` knows that peer `id` hears its multicast.
fn hears_us(n: &Node, id: &str) -> bool {
    n.json(&["peers"])["peers"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["id"] == id && p["hears_us"] == true))
}

fn wait_view(n: &Node, want: [u64; 4], what: &str) {
    let ok = n.eventually(VERDICT, || split_view(n) == want);
    assert!(
        ok,
        "{what}: {} shows {:?}, not {want:?}; peers: {}\nlog:\n{}",
        n.id,
        split_view(n),
        n.json(&["peers"]),
        n.log_text()
    );
}

#[test]
fn a_dead_board_is_one_peer_down_and_a_split_is_an_island_unreachable() {
    if skip_unless_root("a_dead_board_is_one_peer_down_and_a_split_is_an_island_unreachable") {
        return;
    }
    let env = Env::loopback();
    let (ns, subnets) = routed(&[1, 2, 2]);
    let to_a = ["--peer", "[fd77:1::2]:29999"];
    let a = Node::start_bare(
        &env,
        &subnets[0][0],
        "a",
        &["--peer", "[fd77:2::2]:29999", "--peer", "[fd77:3::2]:29999"],
    );
    let b1 = Node::start_bare(&env, &subnets[1][0], "b1", &to_a);
    let mut b2 = Node::start_bare(&env, &subnets[1][1], "b2", &to_a);
    let c1 = Node::start_bare(&env, &subnets[2][0], "c1", &to_a);
    let c2 = Node::start_bare(&env, &subnets[2][1], "c2", &to_a);
    wait_view(&a, [4, 0, 0, 0], "all up");
    // The boards of each subnet have told each other that they hear each
    // other's multicast (boards up for more than a moment): the islands
    // are known.
    for (n, other) in [(&b1, &b2), (&b2, &b1), (&c1, &c2), (&c2, &c1)] {
        let ok = n.eventually(VERDICT, || hears_us(n, &other.id));
        assert!(
            ok,
            "{} never heard {} hear it: {}",
            n.id,
            other.id,
            n.json(&["peers"])
        );
    }

    b2.kill9();
    ip(&["-n", &router(&ns), "link", "set", "r3", "down"]);
    wait_view(&a, [1, 0, 3, 1], "b2 dead, subnet 3 cut off");
    let human = String::from_utf8_lossy(&a.ctl(&["status"]).stdout).into_owned();
    assert!(
        human.contains("4 known: 1 alive, 0 suspect, 3 down;"),
        "{human}"
    );
    assert!(human.contains("islands     1 unreachable"), "{human}");
    // From b1: a alive, b2 down but its own island (a dead board is not
    // a split), and subnet 3 unreachable if b1 had learned any of it (far
    // members learn of each other through representatives, in time).
    let ok = b1.eventually(VERDICT, || {
        let known_c = b1.json(&["peers"])["peers"].as_array().map_or(0, |ps| {
            ps.iter()
                .filter(|p| {
                    p["addr"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("[fd77:3::"))
                })
                .count() as u64
        });
        split_view(&b1) == [1, 0, 1 + known_c, u64::from(known_c > 0)]
    });
    assert!(
        ok,
        "b1 shows {:?}: {}",
        split_view(&b1),
        b1.json(&["peers"])
    );
    // converged is kept as it was: agreement with the peers heard lately.
    assert_eq!(a.json(&["status"])["converged"], true);
}
