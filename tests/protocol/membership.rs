//! Group membership and interest (ALGORITHM.md 8.6): a non-member stores
//! nothing of a group but its name and answers no pull; a joiner pulls the
//! group and is welcomed; a write's tree spans only the members; a leaver
//! lingers so a lost leave can still be pulled from it.

use scalesmall::model::{GroupName, NodeId, WorldClock};
use scalesmall::protocol::{Chatter, Command, Millis, ProtocolConfig, Transmit};
use scalesmall::wire::{Frame, FrameKind, Payload, PeerRef, Pull};

use crate::bench::{
    Bench, addr, connected, expect_connect, frame, from, g, has, of_kind, quiet, sealed,
};

/// The groups `ts`'s announces list.
fn announced_groups(ts: &[Transmit]) -> Vec<String> {
    ts.iter()
        .filter_map(|t| match t {
            Transmit::Multicast { bytes } | Transmit::Unicast { bytes, .. } => {
                match frame(bytes).payload {
                    Payload::Announce(a) => Some(a.groups.entries),
                    _ => None,
                }
            }
            _ => None,
        })
        .flatten()
        .map(|d| d.group.to_string())
        .collect()
}

/// A pull of all of `group` from node `from`, sealed as sequence `seq`.
fn pull_frame(from: u64, group: GroupName, seq: u64, nonce: u8) -> Vec<u8> {
    let f = Frame {
        sender: NodeId::from_u64(from),
        incarnation: 1,
        seq,
        payload: Payload::Pull(Pull {
            group,
            part: NodeId::ALL,
            clock: WorldClock::new(),
        }),
    };
    sealed(&f, nonce)
}

#[test]
fn a_non_member_stores_nothing_of_a_group_but_lists_its_name() {
    let mut b = Bench::star([1, 2], Millis(10));
    b.claim(2, 0);
    let news = b.drain(2);
    b.hear(&news, 2, 1);
    b.deliver_far(&news, 2, 1);
    let ann = b.announce(2);
    b.hear(&ann, 2, 1);
    let a = b.node(1);
    assert!(a.db().message("g").is_none(), "no items, no world clock");
    assert!(a.lookup("g", 5).is_empty());
    assert_eq!(a.groups(), vec![g()], "the name is still listed");
    let fp = b
        .node(2)
        .db()
        .message("g")
        .expect("b holds g")
        .clock()
        .fingerprint();
    assert_eq!(a.interest().get(&g()).and_then(|h| h.fingerprint), Some(fp));
    assert!(a.stats().drops.get("not_member").copied().unwrap_or(0) >= 1);
    // Nor does a advertise g, nor pull it, however long it waits.
    assert!(announced_groups(&b.announce(1)).is_empty());
    let later = b.now.plus(60_000);
    let out = b.at(later).tick(1);
    assert!(!has(&out, FrameKind::Pull), "{out:?}");
    assert!(
        b.node(1).converged(later, 1_000_000),
        "a lacks nothing it wants"
    );
}

#[test]
fn a_non_member_does_not_answer_a_pull_and_a_leaver_forgets_the_group() {
    let now = Millis(10);
    let mut b = Bench::star([1, 2], now);
    b.join(1);
    b.claim(2, 0);
    let news = b.drain(2);
    b.hear(&news, 2, 1);
    assert_eq!(
        b.node(1).lookup("g", 5).len(),
        1,
        "a member stores the write"
    );
    // A member answers a pull ...
    b.datagram(2, 1, &pull_frame(2, g(), 77, 5));
    assert!(has(&b.drain(1), FrameKind::Delta));
    // ... a node that left holds on for a while (so a member that missed
    // the leave can pull it from it) ...
    b.command(1, Command::Leave(g()));
    b.drain(1);
    assert!(b.node(1).holds(&g()), "lingers");
    b.datagram(2, 1, &pull_frame(2, g(), 77, 5));
    assert!(
        has(&b.drain(1), FrameKind::Delta),
        "a lingering leaver still answers"
    );
    b.at(now.plus(19_000)).tick(1);
    assert!(b.node(1).holds(&g()), "at least 20 s");
    // ... then (nobody announces the group, no member is down: at the
    // longest linger, 10 minutes) does not, and keeps only its own
    // retraction.
    b.at(now.plus(599_000)).tick(1);
    assert!(
        b.node(1).holds(&g()),
        "no announcer agreed: up to 10 minutes"
    );
    b.at(now.plus(600_000)).tick(1);
    let a = b.node(1);
    assert!(!a.holds(&g()));
    assert!(a.lookup("g", 5).is_empty());
    let msg = a.db().message("g").expect("own retraction kept");
    assert!(
        msg.items()
            .items()
            .iter()
            .all(|i| i.member() == NodeId::from_u64(1) && !i.live())
    );
    assert!(msg.clock().entry(NodeId::from_u64(2)).is_none());
    // A fresh frame (the replay window refuses the same one).
    b.at(now.plus(605_000))
        .datagram(2, 1, &pull_frame(2, g(), 78, 6));
    assert!(
        !has(&b.drain(1), FrameKind::Delta),
        "no answer for a group it is not a member of"
    );
    let a = b.node(1);
    assert_eq!(a.stats().drops.get("pull_not_member"), Some(&1));
    assert_eq!(a.groups(), vec![g()]);
}

#[test]
fn joining_an_existing_group_pulls_it_and_gets_its_items() {
    let mut b = Bench::star([1, 2], Millis(10));
    b.claim(2, 0);
    b.drain(2);
    // a hears b announce g (so it knows b holds it), then joins.
    let ann = b.announce(2);
    b.hear(&ann, 2, 1);
    b.command(1, Command::Join(g()));
    let out = b.drain(1);
    let pulls = of_kind(&out, FrameKind::Pull);
    assert!(
        pulls
            .iter()
            .any(|t| matches!(t, Transmit::Unicast { to, .. } if *to == addr(2))),
        "the joiner pulls the group at once from its holder: {out:?}"
    );
    b.deliver(&pulls, 1, 2);
    let answer = b.drain(2);
    b.deliver(&answer, 2, 1);
    assert_eq!(b.node(1).lookup("g", 5).len(), 1, "b's claim arrived");
    assert!(
        b.node(1).interest().get(&g()).is_none(),
        "no longer only a name"
    );
    assert_eq!(announced_groups(&b.announce(1)), vec!["g".to_owned()]);
}

#[test]
fn a_far_member_welcomes_a_joiner_it_did_not_know() {
    let mut b = Bench::star([1, 2], Millis(10));
    b.claim(2, 0);
    b.drain(2);
    // a knows no holder of g: its join pulls nobody, but reaches b.
    b.command(1, Command::Join(g()));
    let join = b.drain(1);
    assert!(!has(&join, FrameKind::Pull));
    let later = b.now.plus(10_000);
    b.at(later).deliver_far(&join, 1, 2);
    let welcome = b.drain(2);
    assert_eq!(
        announced_groups(&welcome),
        vec!["g".to_owned()],
        "b tells the joiner it holds g"
    );
    b.deliver(&welcome, 2, 1);
    let due = later.plus(b.node(1).config().pull_quiet);
    let pulls = b.at(due).tick(1);
    assert!(has(&pulls, FrameKind::Pull));
    b.deliver(&pulls, 1, 2);
    let answer = b.drain(2);
    b.deliver(&answer, 2, 1);
    assert_eq!(b.node(1).lookup("g", 5).len(), 1);
}

#[test]
fn the_tree_of_a_write_spans_only_the_groups_members() {
    let mut b = Bench::new(1..=5);
    // a joins first (alone: its join opens no connection).
    b.at(Millis(10)).join(1);
    for p in 2..=5 {
        b.introduce(1, p);
    }
    // 2 and 4 join g, 3 joins another group, 5 nothing; a hears of the
    // joins by TCP (no multicast between any of them).
    for (p, group) in [(2, g()), (3, GroupName::new("h").expect("valid")), (4, g())] {
        b.command(p, Command::Join(group));
        let joined = b.drain(p);
        b.deliver_far(&joined, p, 1);
    }
    b.drain(1);
    b.claim(1, 0);
    let mut to = connected(&b.drain(1));
    to.sort();
    assert_eq!(to, vec![addr(2), addr(4)], "members only");
}

#[test]
fn a_get_only_member_receives_writes_and_a_non_member_only_passes_them_on() {
    let mut b = Bench::new([1, 2, 3]);
    b.at(Millis(10)).join(1);
    b.introduce(1, 2);
    b.introduce(1, 3);
    // b reads g (a `Get`, no claim); a hears of it.
    b.command(2, Command::Join(g()));
    let joined = b.drain(2);
    b.deliver_far(&joined, 2, 1);
    b.drain(1);
    b.claim(1, 0);
    let ts = b.drain(1);
    let conn = expect_connect(&ts, 2); // a tree step to the Get-only member
    let Some(Transmit::Send { bytes, .. }) = b.open(1, conn).into_iter().next() else {
        panic!("a send")
    };
    let inbound = b.accept(2, 1);
    b.tcp(2, inbound, &bytes);
    b.drain(2);
    assert_eq!(
        b.node(2).lookup("g", 5).len(),
        1,
        "the reader holds the write"
    );
    // The same step sent to c (not a member), listing b: c passes it on
    // but stores nothing.
    let Payload::Forward(mut fwd) = frame(&bytes).payload else {
        panic!("a forward")
    };
    fwd.list = vec![PeerRef {
        id: NodeId::from_u64(2),
        addr: addr(2),
    }];
    let f = from(1, 999, Payload::Forward(fwd));
    let inbound = b.accept(3, 1);
    b.tcp(3, inbound, &sealed(&f, 6));
    let out = b.drain(3);
    assert_eq!(connected(&out), vec![addr(2)], "c forwards along its list");
    let c = b.node(3);
    assert!(c.db().message("g").is_none(), "c stores nothing of g");
    assert_eq!(c.groups(), vec![g()]);
}

#[test]
fn a_leave_lost_on_its_way_is_pulled_from_the_lingering_leaver() {
    // a and b share a LAN and a group; a leaves and its leave is lost.
    let mut b = Bench::new([2]);
    b.add(
        1,
        ProtocolConfig {
            announce_period: 1_000,
            ..quiet()
        },
    );
    b.at(Millis(10)).join(1);
    b.claim(2, 0);
    let claimed = b.drain(2);
    b.hear(&claimed, 2, 1);
    b.lan(1, 2);
    // b pulls a's join (its announces differ).
    let t0 = Millis(2_000_100);
    let ann = b.at(t0).tick(1);
    b.hear(&ann, 1, 2);
    let due = t0.plus(b.node(2).config().pull_max_delay);
    pull_round(&mut b, due);
    let a_id = NodeId::from_u64(1);
    let live_of_a = |c: &Chatter| {
        c.db()
            .message("g")
            .is_some_and(|m| m.items().member_items(a_id).iter().any(|i| i.live()))
    };
    assert!(live_of_a(b.node(2)), "b holds a's join");
    let tl = due.plus(1_000);
    b.at(tl).command(1, Command::Leave(g()));
    b.drain(1); // lost
    // a still announces g (with the leave in its fingerprint); b pulls it.
    let ta = tl.plus(2_000);
    let ann = b.at(ta).tick(1);
    b.hear(&ann, 1, 2);
    let due = ta.plus(b.node(2).config().pull_max_delay);
    pull_round(&mut b, due);
    assert!(!live_of_a(b.node(2)), "b took the leave from the leaver");
    assert!(b.node(1).holds(&g()), "a lingers for at least 20 s");
    // Once b announces the same fingerprint, a lets the group go.
    let t2 = tl.plus(30_000);
    let ann = b.at(t2).announce(2);
    b.hear(&ann, 2, 1);
    b.node_mut(1).handle_timeout(t2);
    assert!(!b.node(1).holds(&g()));
}

/// At `due`, b (2) pulls from a (1) and a's answer reaches b.
fn pull_round(b: &mut Bench, due: Millis) {
    let pulls = b.at(due).tick(2);
    b.deliver(&pulls, 2, 1);
    let answer = b.drain(1);
    b.deliver(&answer, 1, 2);
}
