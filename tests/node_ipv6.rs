//! IPv6-only and dual-stack LANs with real `scalesmall run` processes in
//! network namespaces this test creates: nodes started with no network
//! flags (at most `--peer`) pick their interface, listen on and advertise
//! its IPv6 address, multicast on `ff02::77:77` when the interface has no
//! IPv4, reach IPv6 seeds across a router, and warn about a seed they
//! cannot reach, naming it.
//!
//! - one IPv6-only LAN (unique local addresses only, on a bridge): two nodes
//!   converge by multicast alone;
//! - two IPv6-only subnets behind a router (IPv6 default routes, no
//!   multicast across): two nodes converge through `--peer [..]:29999`;
//! - one dual-stack LAN: two dual-stack nodes advertise both families and
//!   converge by IPv4 multicast; an IPv6-only node on the same LAN reaches
//!   them through an IPv6 seed.
//!
//! Needs root (namespaces, `support/lan.rs`); without it each test prints
//! why it skips. Every namespace carries a prefix unique to this run
//! (`ss6-<pid>-<n>-`) and is deleted on drop, also when a test fails; nodes
//! are killed by PID on drop (before their namespaces); every wait has a
//! deadline. Addresses are added with `nodad` so none is tentative. Nothing
//! touches the host's own network.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use support::lan::{lan, routed, skip_unless_root};
use support::procs::{Env, Node};

const DEADLINE: Duration = Duration::from_secs(15);

/// `writer` claims a range of `demo`; every reader (which joins `demo`)
/// lists it as the key's server within the deadline.
fn a_claim_reaches(writer: &Node, readers: &[&Node]) {
    for r in readers {
        let out = r.ctl(&["join", "demo"]);
        assert!(out.status.success(), "join on {}: {out:?}", r.id);
    }
    let out = writer.ctl(&["claim", "demo", "0..99"]);
    assert!(out.status.success(), "claim: {out:?}");
    for r in readers {
        let ok = r.eventually(DEADLINE, || {
            r.servers("demo", "5") == vec![writer.id.clone()]
        });
        assert!(
            ok,
            "the claim of {} did not reach {}; its peers: {}\nlog:\n{}\nwriter's log:\n{}",
            writer.id,
            r.id,
            r.json(&["peers"]),
            r.log_text(),
            writer.log_text()
        );
    }
}

/// Waits until `n`'s log mentions `text` (a warning at start-up, written
/// before the first announce period ends).
fn logs(n: &Node, text: &str) -> bool {
    n.eventually(DEADLINE, || n.log_text().contains(text))
}

#[test]
fn ipv6_only_lan_converges_by_multicast_with_no_flags() {
    if skip_unless_root("ipv6_only_lan_converges_by_multicast_with_no_flags") {
        return;
    }
    let env = Env::loopback();
    let (_ns, hosts) = lan(&[false, false]);
    let a = Node::start_bare(&env, &hosts[0], "a", &[]);
    // b's only seeds cannot be reached: one without a route, one of the
    // family it has no address of. It still converges, by multicast.
    let b = Node::start_bare(
        &env,
        &hosts[1],
        "b",
        &["--peer", "[fd99::9]:29999", "--peer", "10.9.9.9:29999"],
    );
    for (n, me) in [(&a, "[fd77::1]:29999"), (&b, "[fd77::2]:29999")] {
        let banner = n.banner();
        assert!(
            banner.contains(&format!("listening udp+tcp {me} multicast [ff02::77:77%")),
            "{banner}"
        );
        assert!(banner.contains(" on eth0,"), "{banner}");
        assert_eq!(n.addrs(), vec![me.to_owned()]);
    }
    a_claim_reaches(&a, &[&b]);
    assert_eq!(b.peer_addr(&a.id).as_deref(), Some("[fd77::1]:29999"));
    for seed in ["[fd99::9]:29999", "10.9.9.9:29999"] {
        assert!(
            logs(
                &b,
                &format!(
                    "cannot reach a seed; trying again (logged again only once it was reached) seed={seed}"
                )
            ),
            "no warning naming {seed}:\n{}",
            b.log_text()
        );
    }
    assert!(logs(&b, "no IPv4 address to send from"), "{}", b.log_text());
    assert!(!a.log_text().contains("WARN"), "{}", a.log_text());
}

#[test]
fn ipv6_only_subnets_converge_through_ipv6_seeds() {
    if skip_unless_root("ipv6_only_subnets_converge_through_ipv6_seeds") {
        return;
    }
    let env = Env::loopback();
    let (_ns, subnets) = routed(&[1, 1]);
    let (ha, hb) = (&subnets[0][0], &subnets[1][0]);
    let a = Node::start_bare(&env, ha, "a", &["--peer", "[fd77:2::2]:29999"]);
    let b = Node::start_bare(&env, hb, "b", &["--peer", "[fd77:1::2]:29999"]);
    assert_eq!(a.addrs(), vec!["[fd77:1::2]:29999".to_owned()]);
    assert_eq!(b.addrs(), vec!["[fd77:2::2]:29999".to_owned()]);
    a_claim_reaches(&a, &[&b]);
    a_claim_reaches(&b, &[]);
    let ok = a.eventually(DEADLINE, || {
        a.json(&["status"])["converged"] == true && a.servers("demo", "5").len() == 2
    });
    assert!(ok, "a: {}", a.json(&["status"]));
    assert_eq!(a.peer_addr(&b.id).as_deref(), Some("[fd77:2::2]:29999"));
}

#[test]
fn dual_stack_lan_advertises_both_families_and_an_ipv6_only_node_joins_by_seed() {
    if skip_unless_root(
        "dual_stack_lan_advertises_both_families_and_an_ipv6_only_node_joins_by_seed",
    ) {
        return;
    }
    let env = Env::loopback();
    let (_ns, hosts) = lan(&[true, true, false]);
    let a = Node::start_bare(&env, &hosts[0], "a", &[]);
    let b = Node::start_bare(&env, &hosts[1], "b", &[]);
    let c = Node::start_bare(&env, &hosts[2], "c", &["--peer", "[fd77::1]:29999"]);
    assert!(
        a.banner().contains(
            "listening udp+tcp 10.77.0.1:29999 [fd77::1]:29999 multicast 239.255.77.77:29999"
        ),
        "{}",
        a.banner()
    );
    assert_eq!(
        a.addrs(),
        vec!["10.77.0.1:29999".to_owned(), "[fd77::1]:29999".to_owned()]
    );
    assert!(
        c.banner().contains("multicast [ff02::77:77%"),
        "{}",
        c.banner()
    );
    a_claim_reaches(&a, &[&b, &c]);
    // Dual-stack peers use each other's first (IPv4) address; the
    // IPv6-only node is known at its IPv6 one ...
    assert_eq!(b.peer_addr(&a.id).as_deref(), Some("10.77.0.1:29999"));
    assert_eq!(a.peer_addr(&c.id).as_deref(), Some("[fd77::3]:29999"));
    // ... and it stores them at an address of its own family, IPv6.
    assert_eq!(c.peer_addr(&a.id).as_deref(), Some("[fd77::1]:29999"));
}
