//! A board renumbered while it runs (a new DHCP lease), with real
//! `scalesmall run` processes in network namespaces this test creates: the
//! node notices its interface's new address, binds to it, advertises it,
//! and its peers, on its LAN and behind the router, follow it; writes flow
//! both ways afterwards, though the old address no longer exists (nothing
//! could reach the board without the rebind).
//!
//! Topology (`support/lan.rs`): two IPv6 subnets behind a router, `a` alone
//! in subnet 1 and `b1`, `b2` in subnet 2; `b1` goes from `fd77:2::2` to
//! `fd77:2::9`.
//!
//! Needs root; without it the test prints why it skips. Namespaces carry a
//! prefix unique to this run and are deleted on drop; nodes are killed by
//! PID on drop; every wait has a deadline.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use support::lan::{ip, routed, skip_unless_root};
use support::procs::{Env, Node};

/// The address check runs every 5 s; a peer follows at the announce that
/// comes with the change.
const DEADLINE: Duration = Duration::from_secs(20);

/// `writer` claims `range`; `reader` lists `writer` for `key` in time.
fn claim_reaches(writer: &Node, range: &str, key: &str, reader: &Node) {
    let out = writer.ctl(&["claim", "demo", range]);
    assert!(out.status.success(), "claim on {}: {out:?}", writer.id);
    let ok = reader.eventually(DEADLINE, || {
        reader.servers("demo", key).contains(&writer.id)
    });
    assert!(
        ok,
        "the claim of {} did not reach {}; its peers: {}\nlog:\n{}\nwriter's log:\n{}",
        writer.id,
        reader.id,
        reader.json(&["peers"]),
        reader.log_text(),
        writer.log_text()
    );
}

#[test]
fn a_board_renumbered_while_running_is_followed_by_its_lan_and_far_peers() {
    if skip_unless_root("a_board_renumbered_while_running_is_followed_by_its_lan_and_far_peers") {
        return;
    }
    let env = Env::loopback();
    let (_ns, subnets) = routed(&[1, 2]);
    let (ha, hb1, hb2) = (&subnets[0][0], &subnets[1][0], &subnets[1][1]);
    let a = Node::start_bare(&env, ha, "a", &["--peer", "[fd77:2::2]:29999"]);
    let b1 = Node::start_bare(&env, hb1, "b1", &["--peer", "[fd77:1::2]:29999"]);
    let b2 = Node::start_bare(&env, hb2, "b2", &["--peer", "[fd77:1::2]:29999"]);
    for n in [&a, &b1, &b2] {
        let out = n.ctl(&["join", "demo"]);
        assert!(out.status.success(), "join on {}: {out:?}", n.id);
    }
    claim_reaches(&b1, "0..99", "5", &a);
    assert_eq!(a.peer_addr(&b1.id).as_deref(), Some("[fd77:2::2]:29999"));

    // The new lease: the old address goes, a new one comes.
    ip(&["-n", hb1, "addr", "del", "fd77:2::2/64", "dev", "eth0"]);
    ip(&[
        "-n",
        hb1,
        "addr",
        "add",
        "fd77:2::9/64",
        "dev",
        "eth0",
        "nodad",
    ]);

    let new = "[fd77:2::9]:29999";
    let ok = b1.eventually(DEADLINE, || b1.addrs() == vec![new.to_owned()]);
    assert!(
        ok,
        "b1 still advertises {:?}\nlog:\n{}",
        b1.addrs(),
        b1.log_text()
    );
    assert!(
        b1.log_text().contains("this board's address changed"),
        "{}",
        b1.log_text()
    );
    for n in [&a, &b2] {
        let ok = n.eventually(DEADLINE, || n.peer_addr(&b1.id).as_deref() == Some(new));
        assert!(
            ok,
            "{} holds b1 at {:?}, not {new}; peers: {}\nlog:\n{}",
            n.id,
            n.peer_addr(&b1.id),
            n.json(&["peers"]),
            n.log_text()
        );
    }
    // Writes flow both ways through the new address.
    claim_reaches(&b1, "200..299", "250", &a);
    claim_reaches(&a, "100..199", "150", &b1);
    let st = a.json(&["status"]);
    assert_eq!(st["peers_down"], 0, "a holds nobody down: {st}");
}
